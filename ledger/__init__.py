"""jamsos-ledger write model: values, rules, events and aggregates. No I/O lives here."""
