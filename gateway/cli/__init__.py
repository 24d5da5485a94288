"""The ``smsgw`` command: the daemon's entry point, offline administration, and a client
of the running daemon's API."""
