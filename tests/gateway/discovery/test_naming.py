"""Family member names: derived from the by-id link alone, so they survive replugs."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.config import FAMILY_NAME_MAX, ModemConfig, RateConfig
from gateway.fleet.discovery import FamilyWatch, member_config, member_name

NAME_RE = re.compile(r"[a-z0-9_-]{1,32}")
BY_ID = "/dev/serial/by-id"


def test_the_usb_serial_number_names_the_device() -> None:
    path = f"{BY_ID}/usb-Quectel_EC25_0123456789AB-if02-port0"
    assert member_name("sticks", path) == "sticks-0123456789ab"
    assert member_name("sticks", f"{BY_ID}/usb-SimTech__Incorporated_SIM7600_XY12-if03") == (
        "sticks-xy12"
    )


def test_a_name_that_would_not_fit_or_has_no_serial_uses_a_stable_hash() -> None:
    long_family = "f" * FAMILY_NAME_MAX
    path = f"{BY_ID}/usb-Quectel_EC25_0123456789AB-if02-port0"
    hashed = member_name(long_family, path)
    assert re.fullmatch(rf"{long_family}-[0-9a-f]{{8}}", hashed)
    assert member_name(long_family, path) == hashed  # stable
    assert member_name(long_family, f"{BY_ID}/usb-Quectel_EC25_0123456789AC-if02-port0") != hashed
    odd = member_name("sticks", f"{BY_ID}/usb-Acme_Modem_12.34-if00")
    assert re.fullmatch(r"sticks-[0-9a-f]{8}", odd)
    assert re.fullmatch(r"sticks-[0-9a-f]{8}", member_name("sticks", "/dev/ttyUSB3"))
    for name in (hashed, odd):
        assert NAME_RE.fullmatch(name)


def test_a_member_inherits_the_family_settings() -> None:
    family = ModemConfig(
        name="sticks",
        port=f"{BY_ID}/usb-Quectel*-if02-port0",
        profile="quectel",
        pin="1234",
        smsc="+15550000000",
        tags=("bulk",),
        command_timeout=3.0,
        cmgs_timeout=30.0,
        rate=RateConfig(per_minute=4),
        imei="350000000000011",
    )
    assert family.is_family
    member = member_config(family, f"{BY_ID}/usb-Quectel_EC25_S1-if02-port0")
    assert member.name == "sticks-s1"
    assert member.port == f"{BY_ID}/usb-Quectel_EC25_S1-if02-port0"
    assert not member.is_family
    for key in ("profile", "pin", "smsc", "tags", "command_timeout", "cmgs_timeout", "rate"):
        assert getattr(member, key) == getattr(family, key), key
    assert member.imei == family.imei


def test_scan_reports_each_path_once_and_refuses_a_taken_name(tmp_path: Path) -> None:
    family = ModemConfig(name="sticks", port=str(tmp_path / "usb-Sim_*"))
    watch = FamilyWatch(family)
    (tmp_path / "usb-Sim_Modem_S1-if00-port0").touch()
    (tmp_path / "usb-Sim_Modem_S1-if02-port0").touch()  # the same stick, another interface
    (tmp_path / "usb-Sim_Modem_S2-if00-port0").touch()
    (tmp_path / "usb-Sim_Modem_S3-if00-port0").touch()
    found = watch.scan({"sticks-s3"})  # a plain modem already has that name
    assert [(m.name, Path(str(m.port)).name) for m in found] == [
        ("sticks-s1", "usb-Sim_Modem_S1-if00-port0"),
        ("sticks-s2", "usb-Sim_Modem_S2-if00-port0"),
    ]
    assert watch.scan(set()) == []  # nothing new, and a vanished path is not reported again
    (tmp_path / "usb-Sim_Modem_S2-if00-port0").unlink()
    (tmp_path / "usb-Sim_Modem_S2-if00-port0").touch()
    (tmp_path / "usb-Sim_Modem_S4-if00-port0").touch()
    assert [m.name for m in watch.scan(set())] == ["sticks-s4"]
