"""The templates table: sealed under their name, replaced in place, re-sealed by a key
rotation so the old key can be retired."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.errors import Conflict, NotFound
from gateway.store.base import Template
from gateway.store.rotation import finish_rotation
from gateway.store.sqlite import SqliteStore

from .conftest import key_ids_in_use

TEMPLATE = Template(
    name="flu-shot",
    category="reminder",
    body="Hola {name}, la vacuna de la gripe ya está disponible.",
    replies={"S": "yes", "N": "no"},
    created_at=100.0,
    updated_at=100.0,
)


async def test_a_template_round_trips_and_is_replaced_in_place(store: SqliteStore) -> None:
    await store.add_template(TEMPLATE)
    with pytest.raises(Conflict):
        await store.add_template(TEMPLATE)
    assert await store.get_template("flu-shot") == TEMPLATE
    replaced = await store.replace_template(
        Template("flu-shot", "care", "Hi {name}", None, created_at=200.0, updated_at=200.0)
    )
    assert (replaced.created_at, replaced.updated_at, replaced.replies) == (100.0, 200.0, None)
    assert await store.list_templates() == [replaced]
    with pytest.raises(NotFound):
        await store.replace_template(Template("other", "care", "x", None, 1.0, 1.0))
    assert await store.delete_template("flu-shot")
    assert not await store.delete_template("flu-shot")
    assert await store.get_template("flu-shot") is None


async def test_a_rotation_reseals_templates(
    db_path: Path, key_path: Path, keyring: KeyRing, store: SqliteStore
) -> None:
    await store.add_template(TEMPLATE)
    old_id = keyring.current
    new_id = keyring.rotate(key_path)
    result = await finish_rotation(store, keyring, key_path, batch=10)
    assert result.retired == (old_id,)
    assert result.rewritten == 1  # one row: its body and replies
    assert key_ids_in_use(db_path) == {new_id}
    assert await store.get_template("flu-shot") == TEMPLATE
