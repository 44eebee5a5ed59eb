"""Evaluate parsed criteria against sandbox records with Zoho's semantics (reference §7.4).

The fake must be as strict as Zoho where clients can get it wrong (unknown fields, operators a type
does not allow, unparsable numbers/dates — e.g. a datetime whose ``+`` arrived as a space) and as
lenient as Zoho where agents rely on it (``equals`` on text is a case-insensitive *contains*).

Choices where the reference is silent, applied consistently:

* ``not_equal`` is the exact complement of ``equals`` (same field, same value), so for any record
  exactly one of the two matches; in particular an empty (null) field matches ``not_equal``.
* ``equals`` is *contains* only on free-text types (text, textarea, email, phone, website); picklists,
  autonumbers and lookups compare whole values, case-insensitively. ``in`` is an OR of ``equals``.
* Multi-select picklists: ``equals "A;B"`` needs every listed option selected; ``starts_with``
  matches if any selected option starts with the value.
* Lookups (``{"name","id"}``) match on the id exactly or on the name case-insensitively.
* Datetimes without an offset (only possible on the record side) are taken as UTC; a date value
  against a datetime field compares on that calendar date for ``equals``/``not_equal``/``in`` and as
  midnight UTC for ordering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from zoho_mcp.criteria import (
    INVALID_QUERY,
    INVALID_QUERY_MESSAGE,
    Condition,
    CriteriaError,
    Group,
    Node,
    allowed_operators,
    iter_conditions,
)

__all__ = ["matches", "validate"]

_FREE_TEXT = frozenset({"text", "textarea", "email", "phone", "website"})
_INTEGER = frozenset({"integer", "bigint"})
_NUMERIC = frozenset({"integer", "bigint", "double", "currency", "decimal", "percent"})
_LOOKUP = frozenset({"lookup", "ownerlookup", "userlookup"})


# --------------------------------------------------------------------------- value parsing


def _parse_number(text: str, data_type: str) -> Decimal | None:
    try:
        num = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    if not num.is_finite() or (data_type in _INTEGER and num != num.to_integral_value()):
        return None
    return num


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if len(text.strip()) == 10 else None
    except ValueError:
        return None


def _parse_datetime(text: str, *, require_offset: bool) -> datetime | None:
    text = text.strip()
    if len(text) <= 10 or "T" not in text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        if require_offset:
            return None
        dt = dt.replace(tzinfo=UTC)
    return dt


def _parse_bool(text: str) -> bool | None:
    low = text.strip().lower()
    return True if low == "true" else False if low == "false" else None


_EXPECTED: dict[str, tuple[Callable[[str], object | None], str]] = {
    "date": (_parse_date, "a date as YYYY-MM-DD, e.g. 2024-02-01"),
    "datetime": (
        lambda t: _parse_datetime(t, require_offset=True) or _parse_date(t),
        "an ISO-8601 datetime with offset, e.g. 2024-02-01T18:52:56+00:00 (URL-encode '+' as %2B)",
    ),
    "boolean": (_parse_bool, "true or false"),
}


def _check_value(cond: Condition, data_type: str) -> None:
    for item in cond.values:
        if data_type in _NUMERIC:
            ok = _parse_number(item, data_type) is not None
            what = "a whole number" if data_type in _INTEGER else "a number, e.g. 1500.50"
        elif data_type in _EXPECTED:
            parser, what = _EXPECTED[data_type]
            ok = parser(item) is not None
        else:
            continue
        if not ok:
            raise CriteriaError(
                INVALID_QUERY,
                INVALID_QUERY_MESSAGE,
                {
                    "api_name": cond.field,
                    "expected_data_type": data_type,
                    "reason": f"invalid value {item!r} for {data_type} field {cond.field}; expected {what}",
                },
            )


def validate(node: Node, field_types: Mapping[str, str], *, strict_v2: bool = False) -> None:
    """Reject what Zoho rejects after parsing: unknown fields, operators the field type does not
    allow (``strict_v2`` = ``/crm/v2``'s equals/starts_with only), and values of the wrong type.

    ``field_types`` maps API name to Zoho ``data_type`` (a formula field: its return type)."""
    for cond in iter_conditions(node):
        data_type = field_types.get(cond.field)
        if data_type is None:
            raise CriteriaError(
                INVALID_QUERY,
                INVALID_QUERY_MESSAGE,
                {"api_name": cond.field, "reason": f"invalid field api name {cond.field!r} for this module"},
            )
        allowed = allowed_operators(data_type, strict_v2=strict_v2)
        if not allowed:
            raise CriteriaError(
                INVALID_QUERY,
                INVALID_QUERY_MESSAGE,
                {"api_name": cond.field, "reason": f"{data_type} field {cond.field} is not searchable"},
            )
        if cond.operator not in allowed:
            raise CriteriaError(
                INVALID_QUERY,
                INVALID_QUERY_MESSAGE,
                {
                    "operator": cond.operator,
                    "reason": f"operator {cond.operator!r} is not supported for {data_type} field {cond.field}"
                    f"{' on /crm/v2' if strict_v2 else ''}; allowed: {', '.join(sorted(allowed))}",
                },
            )
        _check_value(cond, data_type)


# --------------------------------------------------------------------------- matching


def matches(node: Node, record: Mapping[str, Any], field_types: Mapping[str, str]) -> bool:
    """Whether ``record`` satisfies ``node``. Assumes ``validate`` passed; values that still cannot be
    interpreted simply do not match (never raise), so a search can run over messy data."""
    if isinstance(node, Group):
        results = (matches(item, record, field_types) for item in node.items)
        return all(results) if node.op == "and" else any(results)
    return _match_condition(node, record.get(node.field), field_types.get(node.field, "text"))


def _match_condition(cond: Condition, actual: Any, data_type: str) -> bool:
    op = cond.operator
    if op == "not_equal":
        return not _equals(actual, cond.value, data_type)
    if op == "equals":
        return _equals(actual, cond.value, data_type)
    if op == "in":
        return any(_equals(actual, v, data_type) for v in cond.values)
    if actual is None or actual == "" or actual == []:
        return False
    if op == "starts_with":
        return any(s.casefold().startswith(cond.value.casefold()) for s in _strings(actual, data_type))
    left = _ordered(actual, data_type)
    if left is None:
        return False
    bounds = [_ordered(v, data_type, criterion=True) for v in cond.values]
    if any(b is None for b in bounds):
        return False
    try:
        if op == "between":
            return bounds[0] <= left <= bounds[1]  # type: ignore[operator]
        right = bounds[0]
        return {
            "greater_than": left > right,  # type: ignore[operator]
            "greater_equal": left >= right,  # type: ignore[operator]
            "less_than": left < right,  # type: ignore[operator]
            "less_equal": left <= right,  # type: ignore[operator]
        }.get(op, False)
    except TypeError:
        return False


def _strings(actual: Any, data_type: str) -> list[str]:
    """The string forms a record value offers for text-like comparison."""
    if actual is None:
        return []
    if isinstance(actual, Mapping):
        return [str(actual[k]) for k in ("name", "id") if actual.get(k) is not None]
    if isinstance(actual, list):
        return [s for item in actual for s in _strings(item, data_type)]
    if data_type == "multiselectpicklist" and isinstance(actual, str):
        return [part.strip() for part in actual.split(";") if part.strip()]
    if isinstance(actual, bool):
        return ["true" if actual else "false"]
    return [str(actual)]


def _equals(actual: Any, value: str, data_type: str) -> bool:
    if actual is None or actual == "" or actual == []:
        return False
    if data_type in _NUMERIC or data_type in ("date", "datetime"):
        if data_type == "datetime" and _parse_date(value) is not None:
            left_dt = _ordered(actual, data_type)
            return isinstance(left_dt, datetime) and left_dt.date() == _parse_date(value)
        left, right = _ordered(actual, data_type), _ordered(value, data_type, criterion=True)
        return left is not None and right is not None and left == right
    if data_type == "boolean":
        want = _parse_bool(value)
        have = actual if isinstance(actual, bool) else _parse_bool(str(actual))
        return want is not None and have is want
    needle = value.casefold()
    if data_type in _LOOKUP:
        if isinstance(actual, Mapping):
            return str(actual.get("id", "")) == value or str(actual.get("name") or "").casefold() == needle
        return str(actual).casefold() == needle
    if data_type == "multiselectpicklist":
        selected = {s.casefold() for s in _strings(actual, data_type)}
        wanted = {p.strip().casefold() for p in value.split(";") if p.strip()}
        return bool(wanted) and wanted <= selected
    if data_type in _FREE_TEXT:
        return any(needle in s.casefold() for s in _strings(actual, data_type))
    return any(s.casefold() == needle for s in _strings(actual, data_type))


def _ordered(raw: Any, data_type: str, *, criterion: bool = False) -> Decimal | date | datetime | str | None:
    """A comparable form of a record value or criterion value for ordered types."""
    if raw is None or isinstance(raw, bool):
        return None
    if data_type in _NUMERIC:
        if isinstance(raw, int | float | Decimal):
            try:
                return Decimal(str(raw)) if not isinstance(raw, Decimal) else raw
            except InvalidOperation:
                return None
        return _parse_number(str(raw), "decimal")
    if data_type == "date":
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        return _parse_date(str(raw))
    if data_type == "datetime":
        if isinstance(raw, datetime):
            return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        text = str(raw)
        dt = _parse_datetime(text, require_offset=False)
        if dt is None and (d := _parse_date(text)) is not None:
            dt = datetime(d.year, d.month, d.day, tzinfo=UTC)
        return dt
    return str(raw).casefold() if not criterion or isinstance(raw, str) else None
