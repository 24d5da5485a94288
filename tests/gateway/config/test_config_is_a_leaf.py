"""Reading a config loads nothing but the config: the CLI's ``check`` and every test rely on it."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys, gateway.config; "
    "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('gateway', 'drivers')))); "
    "print('aiohttp' in sys.modules)"
)


def test_importing_config_loads_only_errors_and_the_profile_table() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=30
    )
    modules, aiohttp_loaded = done.stdout.splitlines()
    assert modules.split() == [
        "drivers",
        "drivers.quirks",  # data: the one table of vendor profile names
        "gateway",
        "gateway.config",
        "gateway.errors",
    ]
    assert aiohttp_loaded == "False"
