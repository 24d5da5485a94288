"""A send or an estimate that names ``template`` plus ``variables`` instead of ``body``.

The template is rendered into ``body`` before the request's shape is checked, so a
templated send is measured, limited and stored exactly as the same text written out;
its category is the template's unless the request names one.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.core.templates import parse_template, render, variables_of
from gateway.errors import ValidationError
from gateway.store.base import Store, Template

TEMPLATE_FIELDS: Final = frozenset({"template", "variables"})


async def expand_template(obj: object, store: Store, prefix: str = "") -> object:
    """``obj`` with ``template`` and ``variables`` replaced by the rendered ``body``;
    anything else (not an object, no template) is handed on unchanged."""
    if not isinstance(obj, dict):
        return obj
    return await expand_object(obj, store, prefix)


async def expand_object(obj: dict[str, Any], store: Store, prefix: str = "") -> dict[str, Any]:
    """A request object with its template rendered into ``body`` (as it is, without one)."""
    if TEMPLATE_FIELDS.isdisjoint(obj):
        return obj
    expanded = dict(obj)
    name, variables = expanded.pop("template", None), expanded.pop("variables", None)
    if name is None:
        raise ValidationError("variables need a template", field=f"{prefix}template")
    if "body" in expanded:
        raise ValidationError("give body or template, not both", field=f"{prefix}body")
    template = await find_template(store, name, f"{prefix}template")
    values = variables_of(variables, prefix)
    expanded["body"] = render(parse_template(template.body), values, prefix)
    expanded.setdefault("category", template.category)
    if template.replies:  # the answers the template expects, unless the send names its own
        expanded.setdefault("replies", dict(template.replies))
    return expanded


async def expand_batch(obj: dict[str, Any], store: Store) -> dict[str, Any]:
    """A batch request with each item's template rendered (items keep their positions)."""
    items = obj.get("messages")
    if not isinstance(items, list):
        return obj
    return {
        **obj,
        "messages": [
            await expand_template(item, store, f"messages[{i}].") for i, item in enumerate(items)
        ],
    }


async def find_template(store: Store, name: object, field: str) -> Template:
    if not isinstance(name, str) or not name:
        raise ValidationError("template must be a template's name", field=field)
    template = await store.get_template(name[:100])
    if template is None:
        raise ValidationError("no template of that name", field=field)
    return template
