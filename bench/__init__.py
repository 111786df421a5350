"""Benchmark harness: batchd side by side with moto and localbatch (run with ``python -m bench``)."""
