"""``/v1/conversations``: patients' threads for the staff inbox, and reading them.

The list shows each patient's number masked (as logs do): it is a list of who wrote,
read at a glance, and no one's content. A thread shows everything, so reading it is
audited (the key, the conversation and the ids shown; never a text), as every read of
patient data is. What a key may see follows the read scope: a key with ``read`` sees the
conversations it started (it sent the number a message) and, in them, its own messages
and the texts that came after; ``read_all`` and ``admin`` see every one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from aiohttp import web

from gateway.errors import NotFound
from gateway.http.context import API_KEY, CONTEXT, reader
from gateway.http.feature import Feature, Route
from gateway.http.openapi_builders import (
    PAGE_PARAMS,
    STR,
    STR_OR_NULL,
    TIME,
    TIME_OR_NULL,
    Schema,
    error_responses,
    json_content,
    object_schema,
    page_schema,
    param,
    ref,
    secured,
)
from gateway.http.resources import (
    JsonObject,
    inbound_json,
    json_response,
    message_json,
    page_json,
)
from gateway.http.validation import MAX_ID_CHARS, page_cursor, page_limit, query_params
from gateway.redact import redact_number
from gateway.store.base import ALL_CATEGORIES, Conversation, Inbound, Message, Scope
from gateway.store.secure_records import SMS
from gateway.timefmt import rfc3339

LIST_PATH: Final = "/v1/conversations"
ITEM_PATH: Final = "/v1/conversations/{id}"
READ_PATH: Final = "/v1/conversations/{id}/read"
PAGE_PARAMS_ALLOWED: Final = frozenset({"limit", "cursor"})
CONVERSATION_READ: Final = "conversation.read"

Suppressed = Mapping[bytes, frozenset[str | None]]


def conversation_json(
    conversation: Conversation, suppressed: Suppressed, *, full_number: bool
) -> JsonObject:
    """``full_number`` only in a thread (an audited read); a list shows it masked."""
    categories = suppressed.get(conversation.number_hash, frozenset())
    pending = conversation.open_reply
    return {
        "id": conversation.id,
        "number": conversation.number if full_number else redact_number(conversation.number),
        "modem": conversation.modem,
        "last_at": rfc3339(conversation.last_at),
        "unread": conversation.unread,
        "read_at": rfc3339(conversation.read_at),
        "open_reply": None
        if pending is None
        else {
            "message_id": pending.message_id,
            "replies": dict(pending.replies),
            "until": rfc3339(pending.until),
        },
        "opted_out": sorted(ALL_CATEGORIES if c is None else c for c in categories),
    }


def thread_item(item: Message | Inbound) -> JsonObject:
    if isinstance(item, Message):
        return {
            "direction": "outbound",
            "id": item.id,
            "at": rfc3339(item.created_at),
            "channel": SMS,
            "message": message_json(item, with_body=True),
        }
    return {
        "direction": "inbound",
        "id": item.id,
        "at": rfc3339(item.received_at),
        "channel": item.channel,
        "inbound": inbound_json(item),
    }


async def _suppressed(request: web.Request, conversations: Iterable[Conversation]) -> Suppressed:
    store = request.app[CONTEXT].service.store
    return await store.suppressed_categories([c.number_hash for c in conversations])


def _conversation_id(request: web.Request) -> str:
    conversation_id = request.match_info["id"]
    if len(conversation_id) > MAX_ID_CHARS:
        raise NotFound("no such conversation")
    return conversation_id


async def list_conversations(request: web.Request) -> web.Response:
    params = query_params(request.query, PAGE_PARAMS_ALLOWED)
    page = await request.app[CONTEXT].service.store.list_conversations(
        cursor=page_cursor(params), limit=page_limit(params), owner=reader(request[API_KEY])
    )
    suppressed = await _suppressed(request, page.items)
    return json_response(
        page_json(page, [conversation_json(c, suppressed, full_number=False) for c in page.items])
    )


async def get_conversation(request: web.Request) -> web.Response:
    params = query_params(request.query, PAGE_PARAMS_ALLOWED)
    key = request[API_KEY]
    store = request.app[CONTEXT].service.store
    thread = await store.conversation_thread(
        _conversation_id(request),
        cursor=page_cursor(params),
        limit=page_limit(params),
        owner=reader(key),
    )
    if thread is None:
        raise NotFound("no such conversation")
    items = [thread_item(item) for item in thread.items]
    # Written before the answer leaves: a read the trail could not record is not served.
    await store.audit(
        key.id,
        CONVERSATION_READ,
        {"ids": [item["id"] for item in items]},
        subject=thread.conversation.id,
    )
    suppressed = await _suppressed(request, [thread.conversation])
    return json_response(
        {
            "conversation": conversation_json(thread.conversation, suppressed, full_number=True),
            "items": items,
            "next_cursor": thread.next_cursor,
        }
    )


async def mark_read(request: web.Request) -> web.Response:
    conversation = await request.app[CONTEXT].service.store.mark_conversation_read(
        _conversation_id(request), owner=reader(request[API_KEY])
    )
    suppressed = await _suppressed(request, [conversation])
    return json_response(conversation_json(conversation, suppressed, full_number=False))


# OpenAPI -------------------------------------------------------------------------------

_AUTH_ERRORS: Final = ("401", "403")
_SCOPE_NOTE: Final = (
    "A key with read sees the conversations it started (it sent the number a message) "
    "and, in them, its own messages and the texts that came after; read_all and admin "
    "see every one."
)


def _conversation_schema() -> Schema:
    return object_schema(
        {
            "id": STR,
            "number": {
                "type": "string",
                "description": "masked (+1•••••••67) in the list; in full in a thread",
            },
            "modem": {**STR_OR_NULL, "description": "the modem the patient last wrote to"},
            "last_at": {**TIME, "description": "the newest message, either way"},
            "unread": {
                "type": "integer",
                "minimum": 0,
                "description": "texts from the patient since the thread was last marked read",
            },
            "read_at": TIME_OR_NULL,
            "open_reply": {
                "type": ["object", "null"],
                "properties": {
                    "message_id": STR,
                    "replies": {"type": "object", "additionalProperties": STR},
                    "until": TIME,
                },
                "required": ["message_id", "replies", "until"],
                "additionalProperties": False,
                "description": "the newest message still waiting for the patient's answer "
                "(the one a text would answer now)",
            },
            "opted_out": {
                "type": "array",
                "items": STR,
                "description": "categories the number opted out of ('*': every one)",
            },
        }
    )


def _item_schema(direction: str, key: str, schema: str) -> Schema:
    return object_schema(
        {
            "direction": {"type": "string", "enum": [direction]},
            "id": STR,
            "at": TIME,
            "channel": {
                "type": "string",
                "description": "how it came or went: sms, or secure_page for an answer "
                "typed on a secure message's page",
            },
            key: ref(schema),
        }
    )


def _schemas() -> dict[str, Schema]:
    return {
        "Conversation": _conversation_schema(),
        "ConversationPage": page_schema("Conversation"),
        "ConversationThread": object_schema(
            {
                "conversation": ref("Conversation"),
                "items": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            _item_schema("outbound", "message", "Message"),
                            _item_schema("inbound", "inbound", "Inbound"),
                        ]
                    },
                    "description": "oldest first: the newest `limit` before the cursor",
                },
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "pass as cursor for earlier items; null at the start",
                },
            }
        ),
    }


def _paths() -> dict[str, Any]:
    conversation_id = param("id", "path", STR, "conversation id", required=True)
    return {
        LIST_PATH: {
            "get": secured(
                {
                    "operationId": "list_conversations",
                    "summary": "Patients' threads, the newest activity first",
                    "description": _SCOPE_NOTE,
                    "parameters": list(PAGE_PARAMS),
                    "responses": {
                        "200": json_content("ConversationPage", "one page"),
                        **error_responses("400", *_AUTH_ERRORS),
                    },
                },
                Scope.READ,
            )
        },
        ITEM_PATH: {
            "get": secured(
                {
                    "operationId": "get_conversation",
                    "summary": "One thread: messages and texts in order, replies linked",
                    "description": f"{_SCOPE_NOTE} Audited (conversation.read: the key, "
                    "the conversation and the ids shown). A conversation this key may "
                    "not see answers 404.",
                    "parameters": [conversation_id, *PAGE_PARAMS],
                    "responses": {
                        "200": json_content("ConversationThread", "the thread"),
                        **error_responses("400", *_AUTH_ERRORS, "404"),
                    },
                },
                Scope.READ,
            )
        },
        READ_PATH: {
            "post": secured(
                {
                    "operationId": "mark_conversation_read",
                    "summary": "Mark a thread read: its unread count goes back to 0",
                    "parameters": [conversation_id],
                    "responses": {
                        "200": json_content("Conversation", "the conversation"),
                        **error_responses(*_AUTH_ERRORS, "404"),
                    },
                },
                Scope.READ,
            )
        },
    }


FEATURE: Final = Feature(
    "conversations",
    routes=(
        Route("GET", LIST_PATH, list_conversations, Scope.READ),
        Route("GET", ITEM_PATH, get_conversation, Scope.READ),
        Route("POST", READ_PATH, mark_read, Scope.READ),
    ),
    paths=_paths(),
    schemas=_schemas(),
)
