"""The store's secure messages on a real SQLite file: hashes only for the secrets, one
lock at the fifth wrong answer, codes once and in time, content erased by expiry or
retention with the record kept, and values resealed by key rotation."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.core.secure_tokens import code_hash, dob_hash, token_hash
from gateway.crypto import KeyRing
from gateway.ids import new_id
from gateway.store.secure_records import (
    CODE,
    DOB,
    NewSecureMessage,
    SecureAttachment,
    SecureState,
)
from gateway.store.sqlite import SqliteStore
from tests.gateway.store.conftest import key_ids_in_use

NUMBER = "+15551230077"
TEXT = "Your scan shows nothing to worry about."
PDF = b"%PDF-1.4 scan of the knee"


def secure(
    store: SqliteStore, *, method: str = DOB, expires_in: float = 3600.0
) -> NewSecureMessage:
    secure_id = new_id("sec")
    return NewSecureMessage(
        id=secure_id,
        token_hash=token_hash(store.number_hash, f"token-{secure_id}"),
        to=NUMBER,
        text=TEXT,
        attachments=(SecureAttachment("knee.pdf", "application/pdf", PDF),),
        method=method,
        dob_hash=dob_hash(store.number_hash, secure_id, "1984-03-09") if method == DOB else None,
        expires_at=time.time() + expires_in,
        category="care",
        tags=("results",),
        metadata={"visit": "v-17"},
    )


async def test_found_by_the_token_hash_and_nothing_secret_in_clear(
    store: SqliteStore, db_path: Path
) -> None:
    new = secure(store)
    await store.add_secure_message(new)
    found = await store.find_secure_message(token_hash(store.number_hash, f"token-{new.id}"))
    assert found is not None
    assert found.id == new.id
    assert found.to == NUMBER
    assert found.tags == ("results",)
    assert found.metadata == {"visit": "v-17"}
    assert await store.find_secure_message(token_hash(store.number_hash, "other")) is None
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob("smsgw.db*"))
    for clear in (TEXT.encode(), PDF, NUMBER.encode(), b"knee.pdf", b"1984-03-09", b"v-17"):
        assert clear not in raw


async def test_the_fifth_wrong_answer_locks_and_the_right_one_then_fails(
    store: SqliteStore,
) -> None:
    new = secure(store)
    await store.add_secure_message(new)
    wrong = dob_hash(store.number_hash, new.id, "1990-01-01")
    right = dob_hash(store.number_hash, new.id, "1984-03-09")
    outcomes = [await store.verify_secure(new.id, wrong, time.time(), 5) for _ in range(5)]
    assert [o.ok for o in outcomes] == [False] * 5
    assert [o.record.failures for o in outcomes] == [1, 2, 3, 4, 5]
    assert [o.record.locked_at is not None for o in outcomes] == [False] * 4 + [True]
    assert outcomes[-1].record.state(time.time()) is SecureState.LOCKED
    late = await store.verify_secure(new.id, right, time.time(), 5)
    assert not late.ok
    assert late.record.verified_at is None


async def test_a_code_works_once_and_only_in_its_time(store: SqliteStore) -> None:
    new = secure(store, method=CODE)
    await store.add_secure_message(new)
    now = time.time()
    code = code_hash(store.number_hash, new.id, "123456")
    await store.set_secure_code(new.id, code, now + 600)
    assert (await store.verify_secure(new.id, code, now, 5)).ok
    assert not (await store.verify_secure(new.id, code, now, 5)).ok  # used
    await store.set_secure_code(new.id, code, now + 600)
    assert not (await store.verify_secure(new.id, code, now + 601, 5)).ok  # too late


async def test_expiry_and_retention_erase_the_content_and_keep_the_record(
    store: SqliteStore, db_path: Path
) -> None:
    expiring = secure(store, expires_in=60)
    old = secure(store)
    for made in (expiring, old):
        await store.add_secure_message(made)
    cutoff = time.time()
    young = secure(store)
    await store.add_secure_message(young)
    assert await store.erase_secure(time.time() + 61) == 1
    assert await store.read_secure(expiring.id, time.time()) is None
    assert await store.secure_attachment(expiring.id, 1) is None
    record = await store.get_secure_message(expiring.id)
    assert record is not None
    assert record.erased_at is not None
    assert record.state(time.time()) is SecureState.EXPIRED
    # The retention purge: made before the cutoff, content gone; the younger one kept.
    await store.purge(cutoff)
    assert await store.read_secure(old.id, time.time()) is None
    assert await store.get_secure_message(old.id) is not None
    content = await store.read_secure(young.id, time.time())
    assert content is not None
    assert content.text == TEXT
    assert [a.filename for a in content.attachments] == ["knee.pdf"]
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob("smsgw.db*"))
    assert raw.count(b"%PDF") == 0  # sealed, never in clear


async def test_rotation_reseals_secure_messages(
    store: SqliteStore, db_path: Path, key_path: Path, keyring: KeyRing
) -> None:
    new = secure(store)
    await store.add_secure_message(new)
    rotated = keyring.rotate(key_path)
    assert await store.rotate_key(batch=5) == 2  # the message and its attachment
    assert key_ids_in_use(db_path) == {rotated}
    content = await store.read_secure(new.id, time.time())
    assert content is not None
    assert content.text == TEXT
    attachment = await store.secure_attachment(new.id, 1)
    assert attachment is not None
    assert attachment.content == PDF
