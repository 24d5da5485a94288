"""The simulators' network side on a real Unix socket: what it takes, what it refuses,
and a daemon whose data directory is too deep for a socket still starts."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.errors import NoSimulatedNetwork, NotSimulated, ValidationError
from gateway.fleet.patient_line import serving, socket_path, text_in


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Short: a Unix socket's path holds at most 108 bytes, and pytest's tmp_path may not.
    path = Path(tempfile.mkdtemp(prefix="pl"))
    (path / "sim").mkdir(mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path)


async def test_a_text_reaches_the_named_simulated_modem(data_dir: Path) -> None:
    delivered: list[tuple[str, str, str]] = []
    path = socket_path(data_dir)
    async with serving(path, {"sim-a"}, lambda *args: delivered.append(args)):
        assert path.stat().st_mode & 0o077 == 0
        await text_in(data_dir, "sim-a", "+15551234567", "C")
        with pytest.raises(NotSimulated):
            await text_in(data_dir, "front-desk", "+15551234567", "C")
        with pytest.raises(ValidationError):
            await text_in(data_dir, "sim-a", "+15551234567", "x" * 1601)
        with pytest.raises(ValidationError):
            await text_in(data_dir, "sim-a", "15551234567", "C")
    assert delivered == [("sim-a", "+15551234567", "C")]
    assert not path.exists()
    with pytest.raises(NoSimulatedNetwork):
        await text_in(data_dir, "sim-a", "+15551234567", "C")


async def test_a_socket_path_too_long_leaves_the_line_off(data_dir: Path) -> None:
    deep = data_dir / ("d" * 120)
    (deep / "sim").mkdir(parents=True)
    async with serving(socket_path(deep), {"sim-a"}, lambda *args: None):
        with pytest.raises(NoSimulatedNetwork):
            await text_in(deep, "sim-a", "+15551234567", "C")
