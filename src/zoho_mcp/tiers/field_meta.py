"""Zoho's `settings/fields` answer as the contract's `FieldsResult`, the same from every tier.

REST and the hosted MCP hand back the JSON itself; the SDK tier builds the same plain entries from
its `Field` objects and passes them through here, so the three answers compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zoho_mcp.tiers.base import FieldInfo, FieldsResult, TransientError

FIELDS_PATH = "/crm/v2/settings/fields"


def field_info(entry: Mapping[str, Any]) -> FieldInfo | None:
    """One field entry, or None when it has no API name (nothing a tool could refer to)."""
    name = entry.get("api_name")
    if not isinstance(name, str) or not name:
        return None
    length = entry.get("length")
    return FieldInfo(
        api_name=name,
        data_type=str(entry.get("data_type") or ""),
        label=str(entry.get("field_label") or entry.get("display_label") or ""),
        read_only=bool(entry.get("read_only") or entry.get("field_read_only")),
        length=length if isinstance(length, int) and not isinstance(length, bool) else None,
    )


def fields_from_entries(entries: Iterable[Mapping[str, Any]]) -> FieldsResult:
    infos = (field_info(e) for e in entries if isinstance(e, Mapping))
    return FieldsResult(fields=[f for f in infos if f is not None])


def fields_from_body(body: Any, *, tier: str, status: int | None = None) -> FieldsResult:
    """`{"fields": [...]}` → FieldsResult; None (a 204) is a module without fields."""
    if body is None:
        return FieldsResult(fields=[])
    fields = body.get("fields") if isinstance(body, Mapping) else None
    if not isinstance(fields, list):
        raise TransientError(
            "Zoho answered the field-metadata request without a fields list",
            code="INVALID_RESPONSE",
            status=status,
            tier=tier,
        )
    return fields_from_entries(fields)
