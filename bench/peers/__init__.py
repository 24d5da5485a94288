"""smsgw side by side with Gammu SMSD and SMS Server Tools on the same simulated modems.

Run from the repository root: ``.venv/bin/python -m bench.peers`` (see BENCHMARKS.md).
"""
