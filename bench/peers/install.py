"""The peers' Debian packages: installed when missing (as root), else what to install."""

from __future__ import annotations

import os
import shutil
import subprocess

# Debian package -> the program this bench runs from it.
PACKAGES = {"gammu-smsd": "gammu-smsd", "gammu": "gammu", "smstools": "smsd"}


def missing() -> list[str]:
    return [package for package, program in PACKAGES.items() if shutil.which(program) is None]


def ensure_installed() -> None:
    """Install the peers with apt-get when run as root; otherwise say what is needed."""
    need = missing()
    if not need:
        return
    if os.geteuid() != 0:
        raise SystemExit(
            f"missing: {' '.join(need)}; run as root, or: sudo apt-get install {' '.join(need)}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need], check=True, env=env
    )
    # Debian starts the packaged services; they would hold /dev/ttyS0 and /var/spool/sms.
    for service in ("gammu-smsd", "smstools"):
        subprocess.run(["systemctl", "stop", service], check=False, capture_output=True)
    still = missing()
    if still:
        raise SystemExit(f"could not install: {' '.join(still)}")
