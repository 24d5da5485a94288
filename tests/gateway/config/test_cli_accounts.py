"""``smsgw keys`` and ``smsgw demo`` print each key's Twilio AccountSid, and take it
wherever they take the key id; ``smsgw simulate text`` without a running demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main as cli
from gateway.cli.demo_banner import smsgw_command
from gateway.compat.sids import account_sid, to_sid
from tests.gateway.config.test_cli import config_path as config_path  # the fixture
from tests.gateway.config.test_cli import needs_store


@needs_store
def test_keys_print_and_take_the_account_sid(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_path)]
    assert cli.main(["init", *args]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["keys", "create", "--name", "portal", *args]) == cli.EXIT_OK
    created = capsys.readouterr().out
    key_id = created.split()[3]
    assert f"AccountSid:  {account_sid(key_id)}" in created
    assert f"API key sid: {to_sid(key_id, 'SK')}" in created

    assert cli.main(["keys", "list", *args]) == cli.EXIT_OK
    line = next(r for r in capsys.readouterr().out.splitlines() if r.startswith(key_id))
    assert account_sid(key_id) in line

    assert cli.main(["keys", "revoke", account_sid(key_id), *args]) == cli.EXIT_OK
    assert f"revoked API key {key_id}" in capsys.readouterr().out


@needs_store
def test_simulate_text_without_a_running_demo_says_so(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "text", "--config", str(config_path), "--modem", "m1"]
    assert cli.main([*argv, "--from", "+15551234567", "hi"]) == cli.EXIT_UNREACHABLE
    assert "smsgw demo" in capsys.readouterr().err
    assert cli.main([*argv, "--from", "not a number", "hi"]) == cli.EXIT_USAGE


def test_the_printed_command_is_the_path_that_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv_bin = tmp_path / "clone" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    script = venv_bin / "smsgw"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(venv_bin / "python"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert smsgw_command(tmp_path / "clone") == ".venv/bin/smsgw"
    assert smsgw_command(tmp_path / "elsewhere") == str(script)
    monkeypatch.setenv("PATH", f"{venv_bin}:/usr/bin")
    assert smsgw_command(tmp_path / "clone") == "smsgw"
