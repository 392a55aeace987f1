"""keras-adapters benchmarks: `python -m benchmarks --help`."""
