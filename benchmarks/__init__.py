"""Benchmarks that print figures (speed, memory); `python -m benchmarks` runs them all and writes results.md."""
