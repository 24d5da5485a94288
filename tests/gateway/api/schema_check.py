"""A checker for the JSON Schema keywords ``gateway/api/openapi.py`` uses, and no more.

An unknown keyword fails loudly, so the document cannot grow a keyword this
checker would silently ignore.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

KNOWN_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "$ref",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "maxProperties",
        "propertyNames",
        "pattern",
        "format",
        "description",
        "default",
        "oneOf",
        "dependentRequired",
    }
)
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


def errors(
    document: dict[str, Any], schema: dict[str, Any], value: Any, at: str = "$"
) -> list[str]:
    """Every place where ``value`` breaks ``schema`` (empty when it conforms)."""
    unknown = set(schema) - KNOWN_KEYWORDS
    if unknown:
        return [f"{at}: schema uses unsupported keywords {sorted(unknown)}"]
    if "$ref" in schema:
        return errors(document, resolve(document, schema["$ref"]), value, at)
    found: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, n) for n in names):
            return [f"{at}: {value!r:.60} is not of type {names}"]
    if "oneOf" in schema:
        matching = sum(not errors(document, sub, value, at) for sub in schema["oneOf"])
        if matching != 1:
            found.append(f"{at}: matches {matching} of oneOf's schemas, not exactly one")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r:.60} not in enum {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            found.append(f"{at}: shorter than minLength")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{at}: longer than maxLength")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{at}: does not match its pattern")
        if schema.get("format") == "date-time":
            if not _DATE_TIME.fullmatch(value):
                found.append(f"{at}: {value!r} is not a UTC RFC 3339 date-time")
            else:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{at}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{at}: above maximum")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            found.append(f"{at}: fewer than minItems")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(f"{at}: more than maxItems")
        if "items" in schema:
            for i, item in enumerate(value):
                found += errors(document, schema["items"], item, f"{at}[{i}]")
    if isinstance(value, dict):
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            found.append(f"{at}: more than maxProperties")
        for name, needed in schema.get("dependentRequired", {}).items():
            if name in value and not set(needed) <= set(value):
                found.append(f"{at}: {name!r} needs {needed}")
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{at}: missing required {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if "propertyNames" in schema:
                found += errors(document, schema["propertyNames"], name, f"{at}.<{name}>")
            if name in properties:
                found += errors(document, properties[name], item, f"{at}.{name}")
            elif extra is False:
                found.append(f"{at}: unexpected property {name!r}")
            elif isinstance(extra, dict):
                found += errors(document, extra, item, f"{at}.{name}")
    return found
