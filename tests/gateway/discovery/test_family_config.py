"""Config: glob ports (families) and imei are validated with the key named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import Config, parse_config
from gateway.errors import ConfigError

GLOB = "/dev/serial/by-id/usb-Quectel*-if02-port0"


Tables = list[dict[str, Any]]


def load(tmp_path: Path, modems: Tables, routes: Tables | None = None) -> Config:
    data = {"store": {"data_dir": str(tmp_path)}, "modems": modems, "routes": routes or []}
    return parse_config(data, base_dir=tmp_path, path=tmp_path / "smsgw.toml")


def field_of(tmp_path: Path, modems: Tables, routes: Tables | None = None) -> str | None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, modems, routes)
    return caught.value.field


def test_a_glob_port_is_a_family_and_a_path_is_not(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        [
            {"name": "sticks", "port": GLOB, "tags": ["bulk"], "imei": "350000000000011"},
            {"name": "desk", "port": "/dev/serial/by-id/usb-Huawei_E3372-if00"},
            {"name": "remote", "port": "socket://192.0.2.1:4001"},
        ],
        [{"name": "bulk", "tags": ["bulk"]}],
    )
    sticks, desk, remote = config.modems
    assert sticks.is_family
    assert sticks.imei == "350000000000011"
    assert not desk.is_family
    assert desk.imei is None
    assert not remote.is_family


def test_bad_imei_and_long_family_names_are_refused(tmp_path: Path) -> None:
    assert field_of(tmp_path, [{"name": "a", "port": GLOB, "imei": "35000"}]) == "modems[0].imei"
    assert field_of(tmp_path, [{"name": "a", "port": GLOB, "imei": 350000000000011}]) == (
        "modems[0].imei"
    )
    simulated = {"name": "a", "simulate": "quectel", "imei": "350000000000011"}
    assert field_of(tmp_path, [simulated]) == "modems[0].imei"
    assert field_of(tmp_path, [{"name": "f" * 24, "port": GLOB}]) == "modems[0].name"
    load(tmp_path, [{"name": "f" * 24, "port": "/dev/ttyACM0"}])  # a plain path may use all 32


def test_a_device_name_of_a_family_is_reserved(tmp_path: Path) -> None:
    family = {"name": "sticks", "port": GLOB}
    clash = {"name": "sticks-a1", "port": "/dev/x"}
    assert field_of(tmp_path, [family, clash]) == "modems[1].name"
    assert field_of(tmp_path, [clash, family]) == "modems[0].name"
    load(tmp_path, [family, {"name": "sticks-a-b", "port": "/dev/x"}])  # suffixes have no "-"
    load(tmp_path, [family, {"name": "sticks-b", "port": GLOB}])  # a family is no device


def test_a_route_may_not_name_a_family(tmp_path: Path) -> None:
    modems: Tables = [
        {"name": "sticks", "port": GLOB, "tags": ["bulk"]},
        {"name": "desk", "port": "/dev/x"},
    ]
    assert field_of(tmp_path, modems, [{"name": "r", "modems": ["sticks"]}]) == (
        "routes[0].modems[0]"
    )
    load(tmp_path, modems, [{"name": "r", "modems": ["desk"]}, {"name": "s", "tags": ["bulk"]}])
