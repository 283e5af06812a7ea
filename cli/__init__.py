"""The command-line face: parses arguments, authenticates, calls ``commands/`` and ``projections/``."""
