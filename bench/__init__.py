"""Benchmarks that print figures (run from the repository root); not part of the test run."""
