"""On-demand benchmarks (not tests): run them as modules, e.g. ``python -m bench.bulk_write --help``."""
