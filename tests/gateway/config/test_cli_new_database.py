"""``smsgw init --new-database``: the one explicit way past a lost database."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main as cli

CONFIG = """
[store]
data_dir = "data"
durable = false

[[modems]]
name = "m1"
port = "/dev/null"
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "smsgw.toml"
    path.write_text(CONFIG)
    assert cli.main(["init", "--config", str(path)]) == cli.EXIT_OK
    return path


def test_a_lost_database_is_refused_until_started_over(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_path)]
    data = config_path.parent / "data"
    capsys.readouterr()
    assert cli.main(["init", "--new-database", *args]) == cli.EXIT_ERROR
    assert "move it away first" in capsys.readouterr().err

    for suffix in ("", "-wal", "-shm"):
        (data / f"smsgw.db{suffix}").unlink(missing_ok=True)
    assert cli.main(["keys", "list", *args]) == cli.EXIT_KEY
    err = capsys.readouterr().err
    assert "init --new-database" in err
    assert "store_missing" in err
    assert not (data / "smsgw.db").exists()

    assert cli.main(["init", "--new-database", *args]) == cli.EXIT_OK
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(token) >= 20
    assert cli.main(["keys", "list", *args]) == cli.EXIT_OK
    assert "admin" in capsys.readouterr().out
    assert cli.main(["audit", "verify", *args]) == cli.EXIT_OK
