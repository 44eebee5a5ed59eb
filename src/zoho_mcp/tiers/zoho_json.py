"""Zoho CRM's REST v2 JSON bodies → normalised results, parsed once for every tier that sees them.

The REST tier reads the JSON from HTTP and the hosted MCP tier gets the very same JSON as tool text,
so both share these pure functions; the SDK tier, which gets objects instead, shares the pieces that
do not depend on the body (result assembly, page info, `NO_RESULT`, the missing-id rule). A body of
`None` means Zoho answered with no content (a 204).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zoho_mcp.logs import redact
from zoho_mcp.tiers.base import (
    BusinessError,
    GetResult,
    PageInfo,
    SearchRecords,
    SearchResult,
    TransientError,
    WriteResult,
    ZohoError,
    normalise_record,
)

_ID_WORD = re.compile(r"\bid\b")


@dataclass(frozen=True, slots=True)
class Source:
    """Who answered, so a body without the documented shape becomes an error naming the tier."""

    tier: str | None = None
    name: str = "Zoho"
    status: int | None = None

    def invalid(self, what: str) -> TransientError:
        http = f" HTTP {self.status}" if self.status is not None else ""
        return TransientError(
            f"{self.name} answered{http} {what}", code="INVALID_RESPONSE", status=self.status, tier=self.tier
        )


def as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def data_list(body: Mapping[str, Any] | None, source: Source = Source()) -> list[Mapping[str, Any]]:
    if body is None:
        return []
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise source.invalid("without a data list")
    return [d for d in data if isinstance(d, Mapping)]


def records_by_id(
    body: Mapping[str, Any] | None, source: Source = Source(), *, default_id: str | None = None
) -> dict[str, dict[str, Any]]:
    """Normalised records keyed by id; `default_id` names a record that came back without one (single GET)."""
    found: dict[str, dict[str, Any]] = {}
    for rec in data_list(body, source):
        if default_id is not None and "id" not in rec:
            rec = {**rec, "id": default_id}
        norm = normalise_record(rec)
        if "id" in norm:
            found[norm["id"]] = norm
    return found


def get_result(wanted: Sequence[str], found: Mapping[str, dict[str, Any]]) -> GetResult:
    return GetResult(records=[found[i] for i in wanted if i in found], missing=[i for i in wanted if i not in found])


def is_missing_id(code: Any, message: Any) -> bool:
    """Zoho (and some proxies) answer a well-formed unknown id with 400 INVALID_DATA instead of a 204."""
    return code == "INVALID_DATA" and _ID_WORD.search(str(message).lower()) is not None


def is_missing_id_error(err: ZohoError) -> bool:
    return isinstance(err, BusinessError) and is_missing_id(err.code, err.message)


def empty_search(op: SearchRecords) -> SearchResult:
    return SearchResult(records=[], page=PageInfo(page=op.page, per_page=op.per_page, count=0, more_records=False))


def search_page(op: SearchRecords, records: list[dict[str, Any]], info: Any) -> SearchResult:
    """`records` with Zoho's `info` block; what it leaves out defaults to what was asked for."""
    info = info if isinstance(info, Mapping) else {}
    return SearchResult(
        records=records,
        page=PageInfo(
            page=as_int(info.get("page"), op.page),
            per_page=as_int(info.get("per_page"), op.per_page),
            count=as_int(info.get("count"), len(records)),
            more_records=bool(info.get("more_records", False)),
        ),
    )


def search_result(op: SearchRecords, body: Mapping[str, Any] | None, source: Source = Source()) -> SearchResult:
    if body is None:
        return empty_search(op)
    return search_page(op, [normalise_record(r) for r in data_list(body, source)], body.get("info"))


def no_result(rid: str) -> WriteResult:
    return WriteResult(id=rid, status="error", code="NO_RESULT", message="Zoho returned no result for this record")


def write_results(chunk: Sequence[Mapping[str, Any]], data: Sequence[Any]) -> list[WriteResult]:
    """One result per input record, matched by position (Zoho answers in request order)."""
    out: list[WriteResult] = []
    for index, record in enumerate(chunk):
        rid = str(record["id"])
        elem = data[index] if index < len(data) and isinstance(data[index], Mapping) else None
        if elem is None:
            out.append(no_result(rid))
            continue
        ok = str(elem.get("status", "")).lower() == "success"
        details = elem.get("details")
        out.append(
            WriteResult(
                id=rid,
                status="success" if ok else "error",
                code=str(elem.get("code") or ("SUCCESS" if ok else "ERROR")),
                message=redact(str(elem.get("message") or "")),
                details=normalise_record(details) if isinstance(details, Mapping) else {},
            )
        )
    return out
