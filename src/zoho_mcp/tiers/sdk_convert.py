"""Between zcrmsdk 3.1.0's objects and the tier contract's plain shapes, both ways.

Out: the SDK turns Zoho's JSON into `Record`/`User`/`Choice`/`datetime` objects; `plain()` turns them
back into what Zoho sent (API names as keys, ids as strings, ISO datetimes with Zoho's own offset —
see `sdk_patches` — lookups as `{name, id, ...}` dicts), so a record read through the SDK equals the
same record read over REST.

In: the SDK type-checks every value of a record to write against its field-metadata cache (a
picklist must be a `Choice`, a currency a `float`, a lookup a `Record`…) and fails the *whole* batch
on the first mismatch. `sdk_value()` converts plain JSON values to those types; a value that cannot
be converted becomes that record's own `INVALID_DATA` result, the answer Zoho gives for it, so one
bad record never sinks the other 99.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import dateutil.parser
from zcrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zcrmsdk.src.com.zoho.crm.api.record import Record
from zcrmsdk.src.com.zoho.crm.api.users import User
from zcrmsdk.src.com.zoho.crm.api.util import Choice

from zoho_mcp.tiers.base import normalise_record

_CHOICE = "zcrmsdk.src.com.zoho.crm.api.util.Choice"
_RECORD = "zcrmsdk.src.com.zoho.crm.api.record.Record"
_USER = "zcrmsdk.src.com.zoho.crm.api.users.User"

#: SDK type -> the `expected_data_type` Zoho reports in INVALID_DATA for it.
_EXPECTED: dict[str, str] = {
    "String": "text",
    "Integer": "integer",
    "Long": "bigint",
    "Double": "double",
    "Float": "double",
    "Boolean": "boolean",
    "DateTime": "datetime",
    "Date": "date",
    "List": "jsonarray",
    _CHOICE: "picklist",
    _RECORD: "jsonobject",
    _USER: "jsonobject",
}


# ---------------------------------------------------------------------------------------------
# SDK objects -> plain values
# ---------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Any value the SDK produced, as the JSON value Zoho sent."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Choice):
        return plain(value.get_value())
    if isinstance(value, Record):  # also User, and lookups
        return {str(k): plain(v) for k, v in (value.get_key_values() or {}).items()}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return _object_to_dict(value)


_json_details: dict[str, Any] | None = None


def _member_table() -> Mapping[str, Any]:
    """The SDK's class-member table (`json_details.json`), loaded by `Initializer` or read here."""
    global _json_details
    if Initializer.json_details is not None:
        return Initializer.json_details  # type: ignore[no-any-return]
    if _json_details is None:
        import json
        from pathlib import Path

        import zcrmsdk

        _json_details = json.loads((Path(zcrmsdk.__file__).parent / "src" / "json_details.json").read_text("utf-8"))
    return _json_details


def _object_to_dict(obj: Any) -> Any:
    """An SDK data class (Tag, Layout, Consent…) read back through the SDK's own member table."""
    cls = type(obj)
    key = f"{cls.__module__.rpartition('.')[0]}.{cls.__name__}"
    details = _member_table().get(key)
    if not isinstance(details, Mapping):
        return None
    out: dict[str, Any] = {}
    for member, info in details.items():
        value = getattr(obj, f"_{cls.__name__}__{member}", None)
        if value is not None and isinstance(info, Mapping):
            out[str(info.get("name", member))] = plain(value)
    return out


def record_dict(record: Any) -> dict[str, Any]:
    """One SDK record as the contract's record: plain dict, every id a string."""
    value = plain(record)
    if not isinstance(value, Mapping):
        return {}
    return normalise_record(value)


def details_dict(details: Any) -> dict[str, Any]:
    value = plain(details)
    return normalise_record(value) if isinstance(value, Mapping) else {}


def choice_text(value: Any, default: str = "") -> str:
    value = plain(value)
    return default if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# plain values -> SDK objects (for writes)
# ---------------------------------------------------------------------------------------------


class Unconvertible(ValueError):
    """A value the SDK would refuse for its field; carries Zoho's INVALID_DATA details."""

    def __init__(self, api_name: str, expected: str) -> None:
        self.api_name = api_name
        self.expected = expected
        super().__init__(f"{api_name}: expected {expected}")

    def details(self, index: int) -> dict[str, Any]:
        """Zoho's details for this error, `index` being the record's position in the request."""
        return {"api_name": self.api_name, "expected_data_type": self.expected, "json_path": f"$.data[{index}].{self.api_name}"}


def _lookup(value: Any, cls: type[Record], api_name: str) -> Record:
    """A lookup as the SDK wants it: a Record (or User) carrying only the id Zoho needs."""
    raw_id = value.get("id") if isinstance(value, Mapping) else value
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or not str(raw_id).strip().isdigit():
        raise Unconvertible(api_name, "jsonobject")
    rec = cls()
    rec.set_id(int(str(raw_id).strip()))
    return rec


def _scalar(value: Any, sdk_type: str, api_name: str) -> Any:
    expected = _EXPECTED.get(sdk_type, "text")
    if sdk_type == "String":
        if isinstance(value, str):
            return value
    elif sdk_type in ("Integer", "Long"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
    elif sdk_type in ("Double", "Float"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
    elif sdk_type == "Boolean":
        if isinstance(value, bool):
            return value
    elif sdk_type == "DateTime":
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                parsed = dateutil.parser.isoparse(value)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                return parsed
    elif sdk_type == "Date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
    else:
        return value
    raise Unconvertible(api_name, expected)


def sdk_value(api_name: str, value: Any, detail: Mapping[str, Any] | None) -> Any:
    """`value` in the type the SDK demands for field `api_name` (per its cached metadata)."""
    if value is None or not detail:
        return value
    sdk_type = str(detail.get("type", ""))
    structure = str(detail.get("structure_name", ""))
    if sdk_type == "List":
        if not isinstance(value, list):
            raise Unconvertible(api_name, "jsonarray")
        if structure == _CHOICE:
            return [v if isinstance(v, Choice) else Choice(v) for v in value]
        if structure in (_RECORD, _USER):
            cls = User if structure == _USER else Record
            return [_lookup(v, cls, api_name) for v in value]
        return value
    if sdk_type == _CHOICE or structure == _CHOICE:
        if isinstance(value, Choice):
            return value
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return Choice(value)
        raise Unconvertible(api_name, "picklist")
    if sdk_type == _USER or structure == _USER:
        return _lookup(value, User, api_name)
    if sdk_type == _RECORD or structure == _RECORD:
        return _lookup(value, Record, api_name)
    if sdk_type in _EXPECTED:
        return _scalar(value, sdk_type, api_name)
    return value


#: System fields Zoho maintains itself (read-only); the SDK types them by its own class table and
#: would refuse plain values for them, while Zoho ignores them in a write. They are left out.
SYSTEM_FIELDS = frozenset({"Created_Time", "Modified_Time", "Created_By", "Modified_By", "Tag"})


def build_record(data: Mapping[str, Any], fields: Mapping[str, Any]) -> Record:
    """An SDK `Record` for one input record (`data["id"]` already validated as 18-19 digits)."""
    rec = Record()
    rec.set_id(int(str(data["id"])))
    for key, value in data.items():
        key = str(key)
        if key == "id" or key in SYSTEM_FIELDS:
            continue
        rec.add_key_value(key, sdk_value(key, value, fields.get(key)))
    return rec


def reindex_json_path(details: dict[str, Any], sent_position: int, input_index: int) -> dict[str, Any]:
    """Zoho's `json_path` names the element of the request actually sent; point it at the input."""
    path = details.get("json_path")
    prefix = f"$.data[{sent_position}]"
    if isinstance(path, str) and path.startswith(prefix) and sent_position != input_index:
        details = {**details, "json_path": f"$.data[{input_index}]" + path[len(prefix) :]}
    return details
