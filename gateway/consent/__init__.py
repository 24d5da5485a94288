"""Patient consent: opt-out keywords, the send gate, and the confirmations they get."""
