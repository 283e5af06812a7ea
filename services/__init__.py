"""Services around the ledger over a message broker: the outbox relay, the command consumer, an example subscriber."""
