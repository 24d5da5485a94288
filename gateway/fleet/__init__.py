"""The modems as the gateway sees them: one supervised handle per modem, its send worker,
its inbound and report consumer, discovery, identity, balance and technician passthrough."""
