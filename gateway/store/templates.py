"""The ``templates`` table: named message texts, body and replies sealed under their name."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from gateway.crypto import KeyRing
from gateway.errors import Conflict, NotFound
from gateway.store.base import Template
from gateway.store.sealing import aad, dump_json

_COLUMNS = "name, category, body_enc, replies_enc, created_at, updated_at"


def _decode(keyring: KeyRing, row: Sequence[Any]) -> Template:
    name, category, body_enc, replies_enc, created_at, updated_at = row
    replies = (
        None
        if replies_enc is None
        else json.loads(keyring.open(replies_enc, aad=aad("templates", "replies", name)))
    )
    return Template(
        name=name,
        category=category,
        body=keyring.open(body_enc, aad=aad("templates", "body", name)).decode(),
        replies=replies,
        created_at=created_at,
        updated_at=updated_at,
    )


def _sealed(keyring: KeyRing, template: Template) -> tuple[bytes, bytes | None]:
    name = template.name
    body = keyring.seal(template.body.encode(), aad=aad("templates", "body", name))
    replies = (
        None
        if template.replies is None
        else keyring.seal(dump_json(template.replies), aad=aad("templates", "replies", name))
    )
    return body, replies


def insert(conn: sqlite3.Connection, keyring: KeyRing, template: Template) -> None:
    body, replies = _sealed(keyring, template)
    cursor = conn.execute(
        f"INSERT INTO templates ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "  # noqa: S608
        "ON CONFLICT (name) DO NOTHING",
        (template.name, template.category, body, replies, template.created_at, template.updated_at),
    )
    if cursor.rowcount != 1:
        raise Conflict(f"a template named {template.name!r} exists", field="name")


def replace(conn: sqlite3.Connection, keyring: KeyRing, template: Template) -> Template:
    body, replies = _sealed(keyring, template)
    row = conn.execute(
        "UPDATE templates SET category = ?, body_enc = ?, replies_enc = ?, updated_at = ? "
        "WHERE name = ? RETURNING created_at",
        (template.category, body, replies, template.updated_at, template.name),
    ).fetchone()
    if row is None:
        raise NotFound("no such template")
    return Template(
        name=template.name,
        category=template.category,
        body=template.body,
        replies=template.replies,
        created_at=row[0],
        updated_at=template.updated_at,
    )


def select(conn: sqlite3.Connection, keyring: KeyRing, name: str | None) -> list[Template]:
    where, params = ("WHERE name = ?", (name,)) if name is not None else ("", ())
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM templates {where} ORDER BY name",  # noqa: S608
        params,
    ).fetchall()
    return [_decode(keyring, row) for row in rows]


def delete(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("DELETE FROM templates WHERE name = ?", (name,)).rowcount == 1
