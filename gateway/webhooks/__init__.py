"""Signed webhooks delivered from a durable outbox in the store.

``events`` says what an event holds, ``signing`` how a subscriber checks it,
``outbox`` how it waits on disk, ``delivery`` how it leaves, ``emitter`` where
it comes from, ``subscriptions`` who receives it and ``api`` how subscriptions
are managed over HTTP.
"""
