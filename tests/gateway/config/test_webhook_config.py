"""``[[webhooks]]`` tables: validated with the dotted key named on error."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import EventKind, parse_webhooks
from gateway.errors import ConfigError
from gateway.webhooks.subscriptions import configured_subscription


def test_a_full_table_and_a_secret_file(tmp_path: Path) -> None:
    (tmp_path / "hook.secret").write_text("s3cret-from-a-file-0001\n")
    found = parse_webhooks(
        [
            {"name": "ehr", "url": "https://ehr.local/sms", "events": ["message.sent"],
             "secret": "0123456789abcdef"},
            {"name": "portal", "url": "http://127.0.0.1:9000/in", "events": ["inbound.received"],
             "secret_file": "hook.secret", "format": "twilio", "account_sid": "AC1",
             "max_attempts": 3},
        ],
        base_dir=tmp_path,
    )  # fmt: skip
    assert [w.name for w in found] == ["ehr", "portal"]
    assert found[1].secret == "s3cret-from-a-file-0001"
    assert found[1].events == (EventKind.INBOUND_RECEIVED,)
    sub = configured_subscription(found[1])
    assert sub.id == "cfg_portal"
    assert sub.from_config
    assert sub.max_attempts == 3
    assert "s3cret" not in repr(found[1])


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"url": "ftp://x", "events": ["modem.up"], "secret": "0123456789abcdef"}, "url"),
        ({"url": "http://x", "events": ["modem.sideways"], "secret": "0123456789abcdef"}, "events"),
        ({"url": "http://x", "events": ["modem.up"], "secret": "short"}, "secret"),
        ({"url": "http://x", "events": ["modem.up"]}, "secret"),
        ({"url": "http://x", "events": ["modem.up"], "secret_file": "missing"}, "secret_file"),
        (
            {"url": "http://x", "events": ["modem.up"], "secret": "0123456789abcdef", "x": 1},
            "x",
        ),
        (
            {
                "url": "http://x",
                "events": ["modem.up"],
                "secret": "0123456789abcdef",
                "format": "soap",
            },
            "format",
        ),
    ],
)
def test_bad_tables_name_the_key(tmp_path: Path, table: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_webhooks([table], base_dir=tmp_path)
    assert caught.value.field == f"webhooks[0].{field}"


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    table = {"name": "a", "url": "http://x", "events": ["modem.up"], "secret": "0123456789abcdef"}
    with pytest.raises(ConfigError) as caught:
        parse_webhooks([table, table], base_dir=tmp_path)
    assert caught.value.field == "webhooks[1].name"
