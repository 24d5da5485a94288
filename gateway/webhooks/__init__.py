"""Signed webhooks delivered from a durable outbox in the store.

``events`` says what an event holds, ``signing`` how a subscriber checks it,
``emitter`` which receivers a change reaches (the fan-out the store calls inside
the change's transaction; the outbox itself is ``gateway.store.outbox``),
``delivery`` how it leaves, ``subscriptions`` who receives it and ``api`` how
subscriptions are managed over HTTP.
"""
