"""Versioned schema: an ordered list of steps, the applied version kept in ``meta``.

Each step runs in its own transaction together with the version bump, so a crash
during an upgrade leaves the store at the previous version, never in between.
New steps are appended; a step, once released, is never edited.

Columns ending in ``_enc`` hold values sealed by :mod:`gateway.crypto` with the
associated data ``<table>.<column>.<row id>``; columns ending in ``_hash`` hold
keyed hashes for lookups. Phone numbers and texts exist in no other form.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Final

from gateway.errors import StoreError

_V1: Final = (
    """CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        recipient_enc BLOB NOT NULL,
        recipient_hash BLOB NOT NULL,
        body_enc BLOB NOT NULL,
        metadata_enc BLOB,
        priority INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        send_at REAL NOT NULL,
        expires_at REAL,
        encoding TEXT NOT NULL,
        segment_count INTEGER NOT NULL,
        concat_ref INTEGER NOT NULL,
        request_report INTEGER NOT NULL,
        route TEXT,
        -- Tags are the integrator's operational labels ("reminder", "clinic-3"), kept
        -- in clear so they can be filtered on; the API documents that they must not
        -- carry PHI.
        tags TEXT,
        modem TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error_code TEXT,
        last_error_text TEXT,
        sent_at REAL,
        delivered_at REAL,
        api_key_id TEXT,
        idempotency_key TEXT,
        request_hash TEXT
    )""",
    "CREATE INDEX messages_state ON messages (state, priority)",
    "CREATE INDEX messages_recipient ON messages (recipient_hash)",
    """CREATE UNIQUE INDEX messages_idempotency
        ON messages (coalesce(api_key_id, ''), idempotency_key)
        WHERE idempotency_key IS NOT NULL""",
    # No PDU is stored: it contains the text. The daemon encodes again at send time
    # from the body and the message's fixed concat_ref.
    """CREATE TABLE segments (
        message_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        state TEXT NOT NULL,
        modem TEXT,
        reference INTEGER,
        sent_at REAL,
        report_status INTEGER,
        reported_at REAL,
        PRIMARY KEY (message_id, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX segments_report ON segments (modem, reference, sent_at)",
    """CREATE TABLE reports (
        id INTEGER PRIMARY KEY,
        modem TEXT NOT NULL,
        reference INTEGER NOT NULL,
        recipient_hash BLOB NOT NULL,
        status INTEGER NOT NULL,
        at REAL NOT NULL,
        message_id TEXT,
        seq INTEGER
    )""",
    "CREATE INDEX reports_unmatched ON reports (at) WHERE message_id IS NULL",
    "CREATE INDEX reports_at ON reports (at)",
    """CREATE TABLE inbound (
        id TEXT PRIMARY KEY,
        modem TEXT NOT NULL,
        sender_enc BLOB NOT NULL,
        sender_hash BLOB NOT NULL,
        text_enc BLOB NOT NULL,
        encoding TEXT NOT NULL,
        received_at REAL NOT NULL,
        sent_at REAL,
        parts INTEGER NOT NULL,
        complete INTEGER NOT NULL,
        conversation_id TEXT NOT NULL
    )""",
    "CREATE INDEX inbound_sender ON inbound (sender_hash)",
    # Keyed hash of each part's dedupe key: a part read again after a crash is a no-op.
    """CREATE TABLE inbound_seen (
        key_hash BLOB PRIMARY KEY,
        at REAL NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE inbound_parts (
        id TEXT PRIMARY KEY,
        modem TEXT NOT NULL,
        sender_hash BLOB NOT NULL,
        concat_ref INTEGER NOT NULL,
        concat_total INTEGER NOT NULL,
        concat_seq INTEGER NOT NULL,
        sender_enc BLOB NOT NULL,
        text_enc BLOB NOT NULL,
        encoding TEXT NOT NULL,
        received_at REAL NOT NULL,
        sent_at REAL,
        UNIQUE (modem, sender_hash, concat_ref, concat_total, concat_seq)
    )""",
    "CREATE INDEX inbound_parts_age ON inbound_parts (received_at)",
    """CREATE TABLE conversations (
        sender_hash BLOB PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        modem TEXT NOT NULL,
        last_at REAL NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        secret_hash BLOB NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL
    )""",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        modem TEXT,
        detail_enc BLOB
    )""",
    "CREATE INDEX events_at ON events (at)",
    """CREATE TABLE webhook_outbox (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        subscriber TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload_enc BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        delivered_at REAL,
        last_error TEXT
    )""",
    "CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL",
    # Hash-chained: each row's hash covers the previous row's hash and its own content.
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT,
        detail_enc BLOB,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL
    )""",
)


def _webhooks(conn: sqlite3.Connection) -> None:
    """The outbox's state, ordering and dedupe columns, delivery attempts, API-made
    subscriptions and compatibility specs. Databases that ran the webhook integration
    before it joined the migrations have some of these already, so each is added only
    where missing."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(webhook_outbox)")}
    for name, decl in (
        ("order_key", "TEXT NOT NULL DEFAULT ''"),
        ("state", "TEXT NOT NULL DEFAULT 'pending'"),
        ("source", "TEXT"),
    ):
        if name not in present:
            conn.execute(f"ALTER TABLE webhook_outbox ADD COLUMN {name} {decl}")
    for statement in _V2:
        conn.execute(statement)


_V2: Final = (
    """CREATE UNIQUE INDEX IF NOT EXISTS webhook_outbox_source
        ON webhook_outbox (subscriber, kind, source) WHERE source IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS webhook_outbox_head
        ON webhook_outbox (subscriber, order_key, id) WHERE state = 'pending'""",
    """CREATE INDEX IF NOT EXISTS webhook_outbox_pending
        ON webhook_outbox (next_at) WHERE state = 'pending'""",
    """CREATE TABLE IF NOT EXISTS webhook_attempts (
        id INTEGER PRIMARY KEY,
        delivery_id TEXT NOT NULL,
        at REAL NOT NULL,
        attempt INTEGER NOT NULL,
        status INTEGER,
        error TEXT,
        duration REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON webhook_attempts (delivery_id)",
    """CREATE TABLE IF NOT EXISTS webhook_subscriptions (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        format TEXT NOT NULL,
        account_sid TEXT,
        secret_enc BLOB NOT NULL,
        created_at REAL NOT NULL
    )""",
    # What a message sent through a compatibility endpoint needs later (status callback
    # URL, the token that signs it, DLR URL and mask); messages point here by ``ref``.
    """CREATE TABLE IF NOT EXISTS compat_messages (
        ref TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        spec_enc BLOB NOT NULL,
        created_at REAL NOT NULL
    )""",
)

# Sends counted in each modem's rate windows (gateway.core.ratelimit), one row a send,
# kept only as long as the modem's longest window: a restart must not reset a cap.
_RATE_WINDOWS: Final = (
    """CREATE TABLE rate_sends (
        modem TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX rate_sends_modem_at ON rate_sends (modem, at)",
)

# Received PDUs that do not decode, kept (sealed: they may hold a text) so the modem's
# storage can be freed; an admin sees each as an ``inbound.undecodable`` event.
_UNDECODABLE: Final = (
    """CREATE TABLE inbound_raw (
        id TEXT PRIMARY KEY,
        modem TEXT NOT NULL,
        pdu_enc BLOB NOT NULL,
        chars INTEGER NOT NULL,
        received_at REAL NOT NULL
    )""",
    "CREATE INDEX inbound_raw_at ON inbound_raw (received_at)",
)

# Every message has a category (gateway.config.CategoryConfig); rows from before have
# the default one. Categories are configuration names, not PHI, so they stay in clear.
_CATEGORIES: Final = (
    "ALTER TABLE messages ADD COLUMN category TEXT NOT NULL DEFAULT 'care'",
    "CREATE INDEX messages_category ON messages (category, id)",
)
# The category a key's Twilio- and Kannel-shaped sends take (they cannot name one).
_KEY_CATEGORY: Final = ("ALTER TABLE api_keys ADD COLUMN default_category TEXT",)
# One after-hours auto-reply per conversation and closed period (named by its start).
_AUTO_REPLIES: Final = (
    """CREATE TABLE auto_replies (
        conversation_id TEXT NOT NULL,
        period_start REAL NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (conversation_id, period_start)
    )""",
    "CREATE INDEX auto_replies_at ON auto_replies (at)",
)
# The opt-out list (gateway.consent): numbers by keyed hash, one row per category
# suppressed ('*': all). Lookups never need the number, which is sealed for the admin.
_SUPPRESSIONS: Final = (
    """CREATE TABLE suppressions (
        id TEXT PRIMARY KEY,
        number_hash BLOB NOT NULL,
        number_enc BLOB NOT NULL,
        category TEXT NOT NULL,
        source TEXT NOT NULL,
        reason_enc BLOB,
        created_at REAL NOT NULL,
        modem TEXT,
        UNIQUE (number_hash, category)
    )""",
)
# Per-key client limits (gateway.store.api_keys); changed_at moves the key cache's
# fingerprint when limits change, last_used_at is written in batches.
_KEY_LIMITS: Final = (
    "ALTER TABLE api_keys ADD COLUMN requests_per_minute INTEGER",
    "ALTER TABLE api_keys ADD COLUMN messages_per_day INTEGER",
    "ALTER TABLE api_keys ADD COLUMN expires_at REAL",
    "ALTER TABLE api_keys ADD COLUMN networks TEXT",
    "ALTER TABLE api_keys ADD COLUMN changed_at REAL",
    "ALTER TABLE api_keys ADD COLUMN last_used_at REAL",
)
# A key's messages of the last 24 hours, counted for its daily quota (gateway.store.quotas).
_KEY_QUOTA_INDEX: Final = ("CREATE INDEX messages_by_key ON messages (api_key_id, created_at)",)
# Tags and idempotency keys carry integrators' appointment and patient ids: from here on
# they are stored as keyed hashes (lookups) and the tags also sealed (display). The old
# clear columns stay, emptied: rows written before are converted at open, with the key
# ring (gateway.store.client_fields.convert_legacy), which a migration step lacks.
_CLIENT_FIELDS: Final = (
    "ALTER TABLE messages ADD COLUMN tags_enc BLOB",
    "ALTER TABLE messages ADD COLUMN tag_hashes TEXT",
    "ALTER TABLE messages ADD COLUMN idempotency_hash BLOB",
    "DROP INDEX messages_idempotency",
    """CREATE UNIQUE INDEX messages_idempotency_hash
        ON messages (coalesce(api_key_id, ''), idempotency_hash)
        WHERE idempotency_hash IS NOT NULL""",
)

Step = Callable[[sqlite3.Connection], None]


def _statements(statements: tuple[str, ...]) -> Step:
    def run(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return run


# Twilio callback specs and rows kept the client's API token (sealed). Opening them takes
# the key ring, which migrations do not have: this step flags them, and the store drops
# the tokens when it opens (gateway.store.compat.drop_tokens) and clears the flag.
_COMPAT_TOKENS: Final = (
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('compat_tokens_pending', '1')",
)

# Message templates (gateway.store.templates): keyed by their name, body and replies
# sealed (clinic text).
_TEMPLATES: Final = (
    """CREATE TABLE templates (
        name TEXT PRIMARY KEY,
        category TEXT NOT NULL,
        body_enc BLOB NOT NULL,
        replies_enc BLOB,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
)
# Expected replies (gateway.store.expected_replies): what a message asks the patient to
# answer (sealed) and the answer it got; an inbound text names the message it answered.
_EXPECTED_REPLIES: Final = (
    """CREATE TABLE expected_replies (
        message_id TEXT PRIMARY KEY,
        recipient_hash BLOB NOT NULL,
        replies_enc BLOB NOT NULL,
        reply_window REAL NOT NULL,
        value_enc BLOB,
        inbound_id TEXT,
        received_at REAL,
        nudged_at REAL
    ) WITHOUT ROWID""",
    """CREATE INDEX expected_replies_open ON expected_replies (recipient_hash)
        WHERE inbound_id IS NULL""",
    "ALTER TABLE inbound ADD COLUMN in_reply_to TEXT",
    "ALTER TABLE inbound ADD COLUMN reply_value_enc BLOB",
)
# Reads at a million rows (gateway.store.messages.select_messages): each filter of the
# message list has an index that ends in the id the list is ordered by, so a page is read
# in order instead of a million ids sorted. Tags get a table of their own (the first 16
# hex digits of each tag hash, a message's rows kept by triggers). ``message_counts``
# holds the counts by state, priority and modem ('' for none), kept by triggers as rows
# change, so the metrics read a few dozen rows rather than count the table; the oldest
# due message is the head of a partial index of the queued ones.
_UNCOUNT: Final = (
    "UPDATE message_counts SET n = n - 1 "
    "WHERE state = old.state AND priority = old.priority AND modem = coalesce(old.modem, '');"
)
_COUNT: Final = (
    "INSERT INTO message_counts (state, priority, modem, n) "
    "VALUES (new.state, new.priority, coalesce(new.modem, ''), 1) "
    "ON CONFLICT (state, priority, modem) DO UPDATE SET n = n + 1;"
)
_TAG_ROWS: Final = "SELECT substr(value, 1, 16), {0}.id FROM json_each({0}.tag_hashes)"
_UNTAG: Final = (
    "DELETE FROM message_tags WHERE message_id = old.id "
    "AND tag_key IN (SELECT substr(value, 1, 16) FROM json_each(old.tag_hashes));"
)
_READS_AT_SCALE: Final = (
    "DROP INDEX messages_state",
    "CREATE INDEX messages_state ON messages (state, id)",
    "CREATE INDEX messages_owner ON messages (api_key_id, id)",
    "CREATE INDEX messages_owner_state ON messages (api_key_id, state, id)",
    "CREATE INDEX messages_modem ON messages (modem, id) WHERE modem IS NOT NULL",
    "CREATE INDEX messages_due ON messages (send_at) WHERE state = 'queued'",
    """CREATE TABLE message_tags (
        tag_key TEXT NOT NULL,
        message_id TEXT NOT NULL,
        PRIMARY KEY (tag_key, message_id)
    ) WITHOUT ROWID""",
    """INSERT OR IGNORE INTO message_tags (tag_key, message_id)
        SELECT substr(tag.value, 1, 16), messages.id FROM messages, json_each(messages.tag_hashes)
        AS tag WHERE messages.tag_hashes IS NOT NULL""",
    f"""CREATE TRIGGER message_tags_insert AFTER INSERT ON messages
        WHEN new.tag_hashes IS NOT NULL BEGIN
        INSERT OR IGNORE INTO message_tags (tag_key, message_id) {_TAG_ROWS.format("new")};
    END""",
    f"""CREATE TRIGGER message_tags_update AFTER UPDATE OF tag_hashes ON messages
        WHEN old.tag_hashes IS NOT new.tag_hashes BEGIN
        {_UNTAG}
        INSERT OR IGNORE INTO message_tags (tag_key, message_id) {_TAG_ROWS.format("new")};
    END""",
    f"""CREATE TRIGGER message_tags_delete AFTER DELETE ON messages
        WHEN old.tag_hashes IS NOT NULL BEGIN
        {_UNTAG}
    END""",
    """CREATE TABLE message_counts (
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        modem TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (state, priority, modem)
    ) WITHOUT ROWID""",
    """INSERT INTO message_counts (state, priority, modem, n)
        SELECT state, priority, coalesce(modem, ''), count(*) FROM messages GROUP BY 1, 2, 3""",
    f"""CREATE TRIGGER message_counts_insert AFTER INSERT ON messages BEGIN
        {_COUNT}
    END""",
    f"""CREATE TRIGGER message_counts_update AFTER UPDATE OF state, priority, modem ON messages
        WHEN old.state IS NOT new.state OR old.priority IS NOT new.priority
            OR old.modem IS NOT new.modem BEGIN
        {_UNCOUNT}
        {_COUNT}
    END""",
    f"""CREATE TRIGGER message_counts_delete AFTER DELETE ON messages BEGIN
        {_UNCOUNT}
    END""",
)
# Conversations (gateway.store.conversations): one per patient's number, for outbound
# messages too, so the staff inbox lists threads. ``modem`` becomes nullable (a thread a
# message started has no modem the patient wrote to yet), which takes a rebuild.
# ``last_at`` is the newest message either way; ``inbound_at`` the newest text from the
# patient, which the sticky-modem rule compares. The sealed number is filled at open
# (gateway.store.conversations.seal_legacy_numbers), which needs the key ring. A thread
# is read by the number's hash (messages_recipient, inbound_sender): no index is added
# to what every message writes.
_CONVERSATIONS: Final = (
    """CREATE TABLE conversations_new (
        sender_hash BLOB PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        modem TEXT,
        last_at REAL NOT NULL,
        inbound_at REAL,
        number_enc BLOB,
        unread INTEGER NOT NULL DEFAULT 0,
        read_at REAL
    ) WITHOUT ROWID""",
    """INSERT INTO conversations_new (sender_hash, id, modem, last_at, inbound_at)
        SELECT sender_hash, id, modem, last_at, last_at FROM conversations""",
    "DROP TABLE conversations",
    "ALTER TABLE conversations_new RENAME TO conversations",
    "CREATE INDEX conversations_recent ON conversations (last_at, id)",
    "ALTER TABLE messages ADD COLUMN conversation_id TEXT",
    """UPDATE messages SET conversation_id =
        (SELECT id FROM conversations WHERE sender_hash = messages.recipient_hash)""",
    """UPDATE conversations SET last_at = max(last_at, coalesce(
        (SELECT max(created_at) FROM messages WHERE recipient_hash = conversations.sender_hash),
        0))""",
)
# Secure messages (gateway.store.secure_messages): content behind a link, sealed and erased
# at expiry; the token, date of birth and one-time code only as keyed hashes. An inbound
# text names the channel it came by (an answer typed on the secure page, or an SMS).
_SECURE_MESSAGES: Final = (
    """CREATE TABLE secure_messages (
        id TEXT PRIMARY KEY,
        token_hash BLOB NOT NULL UNIQUE,
        recipient_enc BLOB NOT NULL,
        recipient_hash BLOB NOT NULL,
        message_id TEXT,
        api_key_id TEXT,
        method TEXT NOT NULL,
        dob_hash BLOB,
        code_hash BLOB,
        code_expires_at REAL,
        text_enc BLOB,
        tags_enc BLOB NOT NULL,
        metadata_enc BLOB NOT NULL,
        category TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        opened_at REAL,
        verified_at REAL,
        read_at REAL,
        answered_at REAL,
        locked_at REAL,
        revoked_at REAL,
        erased_at REAL
    )""",
    "CREATE INDEX secure_messages_live ON secure_messages (expires_at) WHERE erased_at IS NULL",
    """CREATE TABLE secure_attachments (
        id TEXT PRIMARY KEY,
        secure_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        filename_enc BLOB NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_enc BLOB NOT NULL,
        UNIQUE (secure_id, seq)
    )""",
    "ALTER TABLE inbound ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms'",
)
# Broadcasts (gateway.store.broadcasts): one text to many patients. Each recipient row
# keeps its input (number and variables, sealed) and, once expanded, the id of the message
# made for it: written in the transaction that adds the message, so an expansion cut
# short resumes at the first row without one and never makes a second.
_BROADCASTS: Final = (
    """CREATE TABLE broadcasts (
        id TEXT PRIMARY KEY,
        name_enc BLOB NOT NULL,
        body_enc BLOB NOT NULL,
        replies_enc BLOB,
        reply_window REAL,
        template TEXT,
        columns TEXT NOT NULL,
        category TEXT NOT NULL,
        api_key_id TEXT,
        state TEXT NOT NULL,
        send_at REAL,
        total INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE broadcast_recipients (
        id TEXT PRIMARY KEY,
        broadcast_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        recipient_enc BLOB NOT NULL,
        recipient_hash BLOB,
        variables_enc BLOB,
        state TEXT NOT NULL,
        error_code TEXT,
        message_id TEXT
    ) WITHOUT ROWID""",
    """CREATE INDEX broadcast_recipients_pending ON broadcast_recipients (broadcast_id, seq)
        WHERE state = 'pending'""",
    """CREATE INDEX broadcast_recipients_number
        ON broadcast_recipients (broadcast_id, recipient_hash)""",
    """CREATE INDEX broadcast_recipients_message ON broadcast_recipients (message_id)
        WHERE message_id IS NOT NULL""",
)
MIGRATIONS: Final[tuple[tuple[str, Step], ...]] = (
    ("initial schema", _statements(_V1)),
    ("webhooks: outbox states and order, attempts, subscriptions, compatibility", _webhooks),
    ("rate windows: sends counted per modem", _statements(_RATE_WINDOWS)),
    ("undecodable inbound PDUs kept sealed", _statements(_UNDECODABLE)),
    ("messages: category", _statements(_CATEGORIES)),
    ("api keys: default category", _statements(_KEY_CATEGORY)),
    ("auto-replies: one per conversation and closed period", _statements(_AUTO_REPLIES)),
    ("suppressions: the opt-out list by keyed hash", _statements(_SUPPRESSIONS)),
    ("Twilio callback tokens flagged to be dropped", _statements(_COMPAT_TOKENS)),
    ("API keys: rate, daily quota, expiry, networks, last use", _statements(_KEY_LIMITS)),
    ("messages by key and time, for daily quotas", _statements(_KEY_QUOTA_INDEX)),
    ("tags and idempotency keys as keyed hashes, tags sealed", _statements(_CLIENT_FIELDS)),
    ("templates: named texts with variables, sealed", _statements(_TEMPLATES)),
    ("expected replies, and the message an inbound text answered", _statements(_EXPECTED_REPLIES)),
    ("reads at scale: list indexes by id, tags table, counts kept", _statements(_READS_AT_SCALE)),
    ("conversations: outbound threads, sealed number, unread count", _statements(_CONVERSATIONS)),
    ("secure messages, and the channel of an inbound text", _statements(_SECURE_MESSAGES)),
    ("broadcasts and their recipients, sealed", _statements(_BROADCASTS)),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; returns the version found before."""
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    found = int(row[0]) if row else 0
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {found}, newer than this gateway "
            f"understands ({SCHEMA_VERSION}); upgrade the gateway"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        _description, step = MIGRATIONS[version - 1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(version),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found
