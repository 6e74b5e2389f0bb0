"""Benchmarks of the course's attention variants: ``python -m benchmarks.bench_attention`` (or ``make bench``)."""
