"""mmlab benchmarks: run them with `python -m benchmarks.run` (see benchmarks/README.md)."""
