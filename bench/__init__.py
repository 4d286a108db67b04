"""Benchmarks that run against the local stack and the sandbox and print one table.

Run with ``make bench`` (all) or ``uv run python -m bench.burst``; results go to
docs/benchmarks.md with the machine, the versions and the command."""
