"""The gateway's domain: what a message is allowed to be, which modem may send it, and when."""
