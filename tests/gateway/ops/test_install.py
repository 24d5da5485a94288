"""Installation: the steps at the top of systemd/smsgw.service (and in README.md) work as
written on a clean Debian, the unit passes ``systemd-analyze``, the key file stays where
the sandboxed daemon can rewrite it, and the udev rules claim only modems.

The steps are run for real, as root, in a scratch root: an overlay of this machine's
``/`` inside a private mount namespace, so that nothing reaches the real ``/etc``,
``/var`` or systemd. Two things there need a running service manager or udev daemon
(``systemctl daemon-reload``/``--now`` and ``udevadm control``/``trigger``): those calls
are recorded instead of made, and the unit's sandbox is stood in for by making the
scratch root read-only except for the unit's writable paths.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.ops.fakes import REPO_ROOT

UNIT = REPO_ROOT / "systemd" / "smsgw.service"
README = REPO_ROOT / "README.md"
EXAMPLE_CONFIG = REPO_ROOT / "config" / "smsgw.example.toml"
UDEV_RULES = REPO_ROOT / "config" / "99-smsgw-modems.rules"

EXEC_START_BINARY = "/opt/smsgw/bin/smsgw"
SERVICE_USER = "smsgw"
# The highest `systemd-analyze security` exposure the unit may reach (it was 1.6).
EXPOSURE_CEILING = 1.5
# USB vendor ids of modems (their serial ports are modems only) and of generic USB-serial
# bridges (used by every kind of device: claimed only for a device the technician names).
MODEM_VENDORS = {"2c7c", "1e0e", "12d1"}
GENERIC_BRIDGES = {"1a86": "CH340", "10c4": "CP210x", "0403": "FTDI"}

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
needs_systemd_analyze = pytest.mark.skipif(
    not os.access(SYSTEMD_ANALYZE, os.X_OK),
    reason=f"systemd-analyze not found at {SYSTEMD_ANALYZE} (Debian package systemd)",
)


# reading the unit -------------------------------------------------------------------


def unit_directives(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of every section, values in order (comments skipped)."""
    found: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a Key=value line in the unit: {raw!r}"
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def words(directives: dict[str, list[str]], key: str) -> list[str]:
    return [w for value in directives.get(key, []) for w in value.split()]


def install_steps(unit_text: str) -> list[str]:
    """The commands of the ``# Install`` block at the top of the unit.

    Steps are comment lines indented by three spaces after the ``# Install`` line; a
    note after a step (``# ...`` or ``(...)`` set off by two spaces) is not part of it."""
    lines = iter(unit_text.splitlines())
    for line in lines:
        if line.startswith("# Install"):
            break
    else:
        raise AssertionError("no '# Install' block at the top of the unit")
    steps: list[str] = []
    for line in lines:
        if not line.startswith("#   "):
            if steps:
                break
            continue
        step = re.sub(r"\s{2,}(#.*|\(.*\))$", "", line[4:]).strip()
        if step:
            steps.append(step)
    assert steps, "the '# Install' block lists no steps"
    return steps


def readme_install_steps(readme_text: str) -> list[str]:
    """The commands of the first ``sh`` block in README.md's systemd section."""
    section = readme_text.partition("### systemd")[2]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "README.md's systemd section has no ```sh block of install steps"
    steps = []
    for line in match.group(1).splitlines():
        step = re.sub(r"(^|\s{2,})#.*$", "", line).strip()
        if step:
            steps.append(step)
    return steps


def writable_paths(directives: dict[str, list[str]]) -> list[str]:
    """What the sandboxed daemon may write: ReadWritePaths= and its StateDirectory=."""
    paths = [p.lstrip("-") for p in words(directives, "ReadWritePaths")]
    paths += [f"/var/lib/{d}" for d in words(directives, "StateDirectory")]
    return list(dict.fromkeys(paths))


# the unit ---------------------------------------------------------------------------

# Hardening the unit had before this test was written: none of it may go.
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "ProtectProc": "invisible",
    "ProcSubset": "pid",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RemoveIPC": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "SystemCallArchitectures": "native",
    "DevicePolicy": "closed",
    "UMask": "0077",
    "StateDirectoryMode": "0700",
}


def test_unit_keeps_its_hardening_and_waits_for_synchronised_time() -> None:
    d = unit_directives(UNIT.read_text())
    for key, value in HARDENING.items():
        assert value in d.get(key, []), f"{key}={value} is gone from the unit"
    assert {"@system-service", "~@privileged @resources"} <= set(d["SystemCallFilter"])
    assert set(words(d, "DeviceAllow")) >= {"char-ttyUSB", "char-ttyACM", "char-ttyS"}
    assert set(words(d, "RestrictAddressFamilies")) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # Purges and expiries act on the wall clock: start once it has been synchronised.
    assert "time-sync.target" in words(d, "After")
    assert "time-sync.target" in words(d, "Wants")
    # The API's sockets (and idle clients) must not run the daemon out of descriptors.
    (limit,) = d.get("LimitNOFILE", ["(unset)"])
    assert limit.isdigit(), f"LimitNOFILE={limit}"
    assert int(limit) >= 65536, f"LimitNOFILE={limit}"
    assert d["ExecStart"][0].split()[0] == EXEC_START_BINARY


def test_readme_lists_the_units_install_steps() -> None:
    assert readme_install_steps(README.read_text()) == install_steps(UNIT.read_text())


def test_key_file_is_kept_where_the_sandboxed_daemon_can_rewrite_it() -> None:
    """Rotation rewrites the key file (a new file renamed over it, in its directory):
    every key_file the example config names must be inside a writable path of the unit,
    and so must the data directory and the default key file."""
    writable = writable_paths(unit_directives(UNIT.read_text()))
    assert writable

    def inside_writable(path: str) -> bool:
        return any(path == w or path.startswith(w.rstrip("/") + "/") for w in writable)

    text = EXAMPLE_CONFIG.read_text()
    data_dirs = re.findall(r'^data_dir = "([^"]+)"', text, re.M)
    key_files = re.findall(r'^(?:# )?key_file = "([^"]+)"', text, re.M)
    assert data_dirs
    assert key_files
    for path in data_dirs + key_files + [f"{data_dirs[0]}/smsgw.key"]:
        assert inside_writable(path), f"{path} is not under the unit's {writable}"
    for doc in (README.read_text(), UNIT.read_text()):
        assert not re.search(r"/etc/smsgw/\S*\.key", doc), "a key file under /etc is suggested"


# udev -------------------------------------------------------------------------------


def udev_rules(text: str) -> Iterator[str]:
    """Active rules (continuation lines joined)."""
    for line in text.replace("\\\n", "").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            yield line


def test_udev_rules_claim_modems_and_only_named_generic_adapters() -> None:
    text = UDEV_RULES.read_text()
    claiming = [r for r in udev_rules(text) if "GROUP=" in r or "ID_MM_DEVICE_IGNORE" in r]
    vendors = set()
    for rule in claiming:
        match = re.search(r'ATTRS\{idVendor\}=="([0-9a-f]{4})"', rule)
        assert match, f"a rule that claims ports without naming a vendor: {rule}"
        vendor = match.group(1)
        vendors.add(vendor)
        if vendor in GENERIC_BRIDGES:
            # One device, named by its serial number or its place on the USB bus.
            assert re.search(r'ATTRS\{serial\}=="[^"*?]+"|KERNELS=="[^"*?]+"', rule), (
                f"every {GENERIC_BRIDGES[vendor]} adapter is claimed, not just a modem: {rule}"
            )
        else:
            assert vendor in MODEM_VENDORS, f"unknown vendor {vendor}: {rule}"
    assert vendors >= MODEM_VENDORS, "a modem vendor's rule is gone"
    # Each generic adapter has a commented example the technician can fill in.
    examples = [ln for ln in text.splitlines() if ln.startswith("#") and "GROUP=" in ln]
    for vendor, name in GENERIC_BRIDGES.items():
        assert any(f'"{vendor}"' in ln for ln in examples), f"no opt-in example for {name}"


# systemd-analyze --------------------------------------------------------------------


def unit_with_binary(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart names a stand-in binary that exists."""
    binary = tmp_path / "bin" / "smsgw"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    text = UNIT.read_text()
    assert EXEC_START_BINARY in text
    unit = tmp_path / "units" / "smsgw.service"
    unit.parent.mkdir()
    unit.write_text(text.replace(EXEC_START_BINARY, str(binary)))
    return unit


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    unit = unit_with_binary(tmp_path)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # warnings too (unknown keys, ...)


def exposure(unit: Path, root: Path) -> float:
    """The overall exposure `systemd-analyze security` gives the unit, within ``root``."""
    installed = root / "etc" / "systemd" / "system" / unit.name
    installed.parent.mkdir(parents=True)
    shutil.copy(unit, installed)
    binary = root / EXEC_START_BINARY.lstrip("/")
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", f"--root={root}", "--no-pager", unit.name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


@needs_systemd_analyze
def test_security_exposure_stays_low(tmp_path: Path) -> None:
    score = exposure(UNIT, tmp_path / "root")
    assert score <= EXPOSURE_CEILING, f"exposure {score} (at most {EXPOSURE_CEILING})"
    # The measure works: an unhardened unit scores far higher.
    bare = tmp_path / "bare" / "smsgw.service"
    bare.parent.mkdir()
    bare.write_text(f"[Service]\nExecStart={EXEC_START_BINARY} run\n")
    assert exposure(bare, tmp_path / "bare-root") > 9.0


# the steps, run in a scratch root -----------------------------------------------------


def can_use_mount_namespaces() -> str | None:
    """Why the steps cannot be run here, or None."""
    if os.geteuid() != 0:
        return "needs root: overlay mounts, useradd and chown in a scratch root"
    for tool in ("unshare", "chroot", "mount", "useradd", "runuser", "install"):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian packages util-linux, passwd, coreutils)"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"mount namespaces are not permitted here: {probe.stderr.strip()}"
    return None


SCRATCH_ROOT_SCRIPT = """\
set -eu
scratch={scratch}
root=$scratch/root
mkdir -p $scratch/upper $scratch/work $root
mount -t overlay overlay -o lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work $root
mount -t proc proc $root/proc
mount --rbind /dev $root/dev
mount -t tmpfs tmpfs $root/run
mount -t tmpfs tmpfs $root/tmp
for path in {host_paths}; do
    mkdir -p $root$path
    mount --bind -o ro $path $root$path
done
# A clean start even on a machine where smsgw was installed before.
chroot $root /bin/sh -ec 'rm -rf /etc/smsgw /var/lib/smsgw /opt/smsgw \\
    /etc/udev/rules.d/99-smsgw-modems.rules /etc/systemd/system/smsgw.service
    ! id smsgw >/dev/null 2>&1 || userdel smsgw'
mkdir -p $root/shim
cp $scratch/shim/* $root/shim/
echo '--- install steps'
chroot $root /usr/bin/env -i PATH=/shim:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \\
    DEBIAN_FRONTEND=noninteractive /bin/sh -c 'cd {repo} && /bin/sh -ex /shim/steps.sh' </dev/null
echo '--- the unit sandbox: read-only but for {writable}'
for path in {writable}; do mount --bind $root$path $root$path; done
mount -o remount,bind,ro $root
as_service() {{
    chroot $root /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \\
        runuser -u {user} -- /opt/smsgw/bin/smsgw "$@" --config /etc/smsgw/smsgw.toml </dev/null
}}
key=$(sed -n 's/^key_file = "\\(.*\\)"$/\\1/p' $root/etc/smsgw/smsgw.toml)
key=$root${{key:-/var/lib/smsgw/smsgw.key}}
before=$(sha256sum < $key)
as_service rotate-key
[ "$(sha256sum < $key)" != "$before" ] || {{ echo 'rotate-key left the key file'; exit 1; }}
as_service keys list
touch $root/etc/sandbox-probe 2>/dev/null && {{ echo 'the root is not read-only'; exit 1; }}
echo '--- done'
"""

# The install's one network step, made offline: the venv gets this checkout and the test's
# own dependencies through a .pth file instead of from PyPI, and the console script pip
# would write.
OFFLINE_PIP_INSTALL = """\
#!/bin/sh
set -eu
venv=/opt/smsgw
site=$($venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\\n' {paths} > "$site/smsgw-under-test.pth"
cat > $venv/bin/smsgw <<'EOF'
#!/opt/smsgw/bin/python
import sys
from gateway.cli.main import main
sys.exit(main())
EOF
chmod 0755 $venv/bin/smsgw
echo "pip install $* (offline stand-in)" >> /shim/calls.log
"""

# Calls that need a running systemd or udevd are recorded; `enable` runs for real.
SYSTEMCTL = """\
#!/bin/sh
echo "systemctl $*" >> /shim/calls.log
case "$1" in
    daemon-reload) exit 0 ;;
    enable) shift; [ "$1" = --now ] && shift; exec /usr/bin/systemctl enable "$@" ;;
    *) exec /usr/bin/systemctl "$@" ;;
esac
"""
UDEVADM = """\
#!/bin/sh
echo "udevadm $*" >> /shim/calls.log
"""


def host_python_matches_chroot_python() -> bool:
    result = subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() == str(sys.version_info[:2])


def as_written(step: str) -> str:
    """A step as it runs in the scratch root: pip's download replaced, nothing else."""
    return re.sub(r"/opt/smsgw/bin/pip install \S+", "/bin/sh /shim/pip-install", step)


@pytest.mark.timeout(240)
def test_install_steps_work_as_written_in_a_scratch_root(tmp_path: Path) -> None:
    reason = can_use_mount_namespaces()
    if reason:
        pytest.skip(reason)
    if not host_python_matches_chroot_python():
        pytest.skip("/usr/bin/python3 differs from the test's Python: its packages won't load")
    steps = install_steps(UNIT.read_text())
    assert any("/opt/smsgw/bin/pip install" in s for s in steps)
    lines = []
    for step in steps:
        lines.append(as_written(step))
        if "smsgw.example.toml" in step:
            # The technician's edit ("then edit"): take the example's key_file suggestion.
            lines.append("sed -i 's|^# key_file = |key_file = |' /etc/smsgw/smsgw.toml")
            lines.append("grep -q '^key_file = ' /etc/smsgw/smsgw.toml")

    scratch = tmp_path / "scratch"
    shim = scratch / "shim"
    shim.mkdir(parents=True)
    repo = str(REPO_ROOT)
    paths = sysconfig.get_paths()
    site_dirs = sorted({paths["purelib"], paths["platlib"]})
    (shim / "steps.sh").write_text("\n".join(lines) + "\n")
    (shim / "pip-install").write_text(
        OFFLINE_PIP_INSTALL.format(paths=" ".join(shlex.quote(p) for p in [repo, *site_dirs]))
    )
    for name, body in (("systemctl", SYSTEMCTL), ("udevadm", UDEVADM)):
        (shim / name).write_text(body)
        (shim / name).chmod(0o755)
    writable = writable_paths(unit_directives(UNIT.read_text()))
    script = SCRATCH_ROOT_SCRIPT.format(
        scratch=shlex.quote(str(scratch)),
        host_paths=" ".join(shlex.quote(p) for p in sorted({repo, *site_dirs})),
        repo=shlex.quote(repo),
        writable=" ".join(shlex.quote(p) for p in writable),
        user=SERVICE_USER,
    )
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    output = textwrap.indent(result.stdout + result.stderr, "  ")
    assert result.returncode == 0, f"the install steps failed:\n{output}"
    assert "--- done" in result.stdout, output

    # What the steps left behind, as seen in the overlay's upper layer.
    upper = scratch / "upper"
    passwd = (upper / "etc" / "passwd").read_text()
    uid = int(next(ln for ln in passwd.splitlines() if ln.startswith("smsgw:")).split(":")[2])

    def mode_and_owner(path: str) -> tuple[int, int]:
        info = (upper / path.lstrip("/")).stat()
        return info.st_mode & 0o7777, info.st_uid

    assert mode_and_owner("/etc/smsgw/smsgw.toml") == (0o640, 0)
    assert mode_and_owner("/var/lib/smsgw") == (0o700, uid)
    assert mode_and_owner("/var/lib/smsgw/smsgw.key") == (0o600, uid)
    assert mode_and_owner("/var/lib/smsgw/smsgw.db") == (0o600, uid)
    wants = upper / "etc" / "systemd" / "system" / "multi-user.target.wants" / "smsgw.service"
    assert wants.is_symlink()
    docs = unit_directives(UNIT.read_text()).get("Documentation", [])
    for doc in (w for value in docs for w in value.split() if w.startswith("file://")):
        assert (upper / doc.removeprefix("file:///")).is_file(), f"{doc} is not installed"
    # Recorded, not made (no service manager or udev daemon in the scratch root).
    calls = (upper / "shim" / "calls.log").read_text().splitlines()
    assert "systemctl daemon-reload" in calls
    assert "systemctl enable --now smsgw" in calls
