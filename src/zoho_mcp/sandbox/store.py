"""The module-generic record store and Zoho's per-record write rules.

Records are kept whole (every field present, null when unset) exactly as GET returns them; a write
validates each value against the module's field metadata and answers one result element per record.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zoho_mcp.sandbox.clock import format_zoho_time, parse_zoho_time
from zoho_mcp.sandbox.data import MODULE_FIELDS, FieldDef, SeedData, empty_record, finish_record

ID_RE = re.compile(r"^[0-9]{1,19}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INT32 = 2**31 - 1


def well_formed_id(value: Any) -> str | None:
    """The id as a string if it looks like a Zoho id (digits, ≤19, fits int64), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not ID_RE.match(value) or int(value) >= 2**63 or int(value) == 0:
        return None
    return value


class InvalidValue(Exception):
    def __init__(self, field: FieldDef) -> None:
        super().__init__(field.api_name)
        self.field = field


def coerce(field: FieldDef, value: Any, store: RecordStore) -> Any:
    """The stored form of `value` for `field`, or InvalidValue (Zoho: INVALID_DATA + expected_data_type)."""
    if value is None:
        return None
    t = field.data_type
    if t in ("text", "textarea", "phone", "website", "picklist", "autonumber", "email", "profileimage"):
        if not isinstance(value, str):
            raise InvalidValue(field)
        if field.length is not None and len(value) > field.length:
            raise InvalidValue(field)
        if t == "email" and value and not _EMAIL_RE.match(value):
            raise InvalidValue(field)
        return value
    if t == "integer":
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,10}", value.strip()):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > INT32:
            raise InvalidValue(field)
        return value
    if t == "bigint":
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not re.fullmatch(r"-?\d{1,19}", str(value)):
            raise InvalidValue(field)
        return str(value)
    if t in ("currency", "double", "decimal", "percent"):
        if isinstance(value, str):
            try:
                value = float(value) if value.strip() else None
            except ValueError:
                raise InvalidValue(field) from None
            if value is None:
                raise InvalidValue(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidValue(field)
        if abs(value) >= 1e16:
            raise InvalidValue(field)
        return value
    if t == "boolean":
        if not isinstance(value, bool):
            raise InvalidValue(field)
        return value
    if t == "date":
        if not isinstance(value, str) or not _DATE_RE.match(value):
            raise InvalidValue(field)
        try:
            datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            raise InvalidValue(field) from None
        return value
    if t == "datetime":
        if not isinstance(value, str) or parse_zoho_time(value) is None:
            raise InvalidValue(field)
        return value
    if t in ("lookup", "ownerlookup", "userlookup"):
        ref_id = value.get("id") if isinstance(value, dict) else value
        ref = well_formed_id(ref_id)
        if ref is None:
            raise InvalidValue(field)
        if t == "lookup":
            target = store.get(field.lookup_module or "", ref)
            if target is None:
                raise InvalidValue(field)
            return {"name": store.display_name(field.lookup_module or "", target), "id": ref}
        user = store.user(ref)
        if user is None:
            raise InvalidValue(field)
        return {"name": user["full_name"], "id": user["id"], "email": user["email"]}
    if t == "multiselectpicklist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidValue(field)
        return value
    raise InvalidValue(field)


@dataclass
class WriteContext:
    now: float
    offset: str
    user: dict[str, Any]
    unmodified_since: datetime | None = None


def record_error(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "details": details, "message": message, "status": "error"}


class RecordStore:
    """All modules' records, keyed by id, plus the org's users."""

    def __init__(self, seed: SeedData) -> None:
        self.seed = seed
        self.users = {u["id"]: u for u in seed.users.users}
        self.modules: dict[str, dict[str, dict[str, Any]]] = {
            m: {r["id"]: r for r in recs} for m, recs in seed.records.items()
        }
        self.fields: dict[str, dict[str, FieldDef]] = {m: {f.api_name: f for f in fs} for m, fs in MODULE_FIELDS.items()}
        self._ordered: dict[str, list[dict[str, Any]]] = {}

    def has_module(self, module: str) -> bool:
        return module in self.modules

    def get(self, module: str, record_id: str) -> dict[str, Any] | None:
        records = self.modules.get(module)
        return None if records is None else records.get(record_id)

    def user(self, user_id: str) -> dict[str, Any] | None:
        return self.users.get(user_id)

    def ids(self, module: str) -> list[str]:
        return list(self.modules.get(module, {}))

    def ordered(self, module: str, sort_by: str = "id", descending: bool = True) -> list[dict[str, Any]]:
        key = f"{module}|{sort_by}|{descending}"
        cached = self._ordered.get(key)
        if cached is None:
            records = list(self.modules[module].values())
            if sort_by == "id":
                records.sort(key=lambda r: int(r["id"]), reverse=descending)
            else:
                records.sort(key=lambda r: (r.get(sort_by) or "", int(r["id"])), reverse=descending)
            self._ordered[key] = cached = records
        return cached

    def display_name(self, module: str, record: dict[str, Any]) -> str:
        for key in ("Account_Name", "Deal_Name", "Full_Name", "Last_Name"):
            value = record.get(key)
            if isinstance(value, str):
                return value
        return str(record.get("id"))

    def field_types(self, module: str) -> dict[str, str]:
        return {name: f.data_type for name, f in self.fields[module].items()}

    def update(self, module: str, index: int, item: Any, ctx: WriteContext, path_id: str | None = None) -> dict[str, Any]:
        """Apply one element of a PUT body; the result element Zoho puts at the same index of `data[]`."""
        if not isinstance(item, dict):
            return record_error("INVALID_DATA", "invalid data",
                                {"expected_data_type": "jsonobject", "json_path": f"$.data[{index}]"})
        raw_id = path_id if path_id is not None else item.get("id")
        if raw_id is None:
            return record_error("MANDATORY_NOT_FOUND", "required field not found",
                                {"api_name": "id", "json_path": f"$.data[{index}].id"})
        record_id = well_formed_id(raw_id)
        record = self.get(module, record_id) if record_id else None
        if record is None:
            return record_error("INVALID_DATA", "the id given seems to be invalid", {"id": str(raw_id)})
        if record.get("Locked__s"):
            return record_error("RECORD_LOCKED", "You cannot perform this operation as the record is locked.", {})
        if ctx.unmodified_since is not None:
            modified = parse_zoho_time(record["Modified_Time"])
            if modified is not None and modified > ctx.unmodified_since:
                return record_error(
                    "ALREADY_MODIFIED",
                    "record updated time has already passed if-unmodified-since time",
                    {"id": record_id, "Modified_Time": record["Modified_Time"],
                     "Modified_By": {k: record["Modified_By"][k] for k in ("name", "id")}},
                )
        fields = self.fields[module]
        changes: dict[str, Any] = {}
        for key, value in item.items():
            if key == "id" or key.startswith("$"):
                continue
            field = fields.get(key)
            if field is None or field.read_only or key in ("Owner",) and value is None:
                continue
            if field.mandatory and (value is None or value == ""):
                return record_error("MANDATORY_NOT_FOUND", "required field not found",
                                    {"api_name": key, "json_path": f"$.data[{index}].{key}"})
            try:
                changes[key] = coerce(field, value, self)
            except InvalidValue as exc:
                return record_error("INVALID_DATA", "invalid data", {
                    "api_name": exc.field.api_name,
                    "expected_data_type": exc.field.expected_data_type,
                    "json_path": f"$.data[{index}].{exc.field.api_name}",
                })
        stamp = format_zoho_time(ctx.now, ctx.offset)
        author = {"name": ctx.user["full_name"], "id": ctx.user["id"], "email": ctx.user["email"]}
        record.update(changes)
        record["Modified_Time"] = stamp
        record["Modified_By"] = author
        record["Last_Activity_Time"] = stamp
        finish_record(module, record)
        if any(k in changes for k in ("Account_Name", "Deal_Name", "Last_Name", "First_Name")):
            self._rename_lookups(module, record)
        self._ordered = {}
        return {
            "code": "SUCCESS",
            "details": {
                "Modified_Time": stamp,
                "Modified_By": {"name": author["name"], "id": author["id"]},
                "Created_Time": record["Created_Time"],
                "id": record_id,
                "Created_By": {k: record["Created_By"][k] for k in ("name", "id")},
            },
            "message": "record updated",
            "status": "success",
        }

    def insert(self, module: str, index: int, item: Any, ctx: WriteContext) -> dict[str, Any]:
        """POST /{module}: a new record (the sandbox uses it for tests that need fresh data)."""
        if not isinstance(item, dict):
            return record_error("INVALID_DATA", "invalid data",
                                {"expected_data_type": "jsonobject", "json_path": f"$.data[{index}]"})
        fields = self.fields[module]
        record = empty_record(module)
        for f in fields.values():
            if f.mandatory and item.get(f.api_name) in (None, ""):
                return record_error("MANDATORY_NOT_FOUND", "required field not found",
                                    {"api_name": f.api_name, "json_path": f"$.data[{index}].{f.api_name}"})
        for key, value in item.items():
            field = fields.get(key)
            if field is None or field.read_only:
                continue
            try:
                record[key] = coerce(field, value, self)
            except InvalidValue as exc:
                return record_error("INVALID_DATA", "invalid data", {
                    "api_name": exc.field.api_name, "expected_data_type": exc.field.expected_data_type,
                    "json_path": f"$.data[{index}].{exc.field.api_name}"})
        stamp = format_zoho_time(ctx.now, ctx.offset)
        author = {"name": ctx.user["full_name"], "id": ctx.user["id"], "email": ctx.user["email"]}
        record_id = self.seed.minter.mint()
        record.update({"id": record_id, "Created_Time": stamp, "Modified_Time": stamp, "Created_By": author,
                       "Modified_By": author, "Tag": [], "Locked__s": False})
        if record.get("Owner") is None:
            record["Owner"] = author
        finish_record(module, record)
        self.modules[module][record_id] = record
        self._ordered = {}
        return {"code": "SUCCESS", "details": {"Modified_Time": stamp, "Modified_By": {"name": author["name"], "id": author["id"]},
                                               "Created_Time": stamp, "id": record_id,
                                               "Created_By": {"name": author["name"], "id": author["id"]}},
                "message": "record added", "status": "success"}

    def _rename_lookups(self, module: str, target: dict[str, Any]) -> None:
        name = self.display_name(module, target)
        for other, records in self.modules.items():
            for f in self.fields[other].values():
                if f.lookup_module != module:
                    continue
                for rec in records.values():
                    ref = rec.get(f.api_name)
                    if isinstance(ref, dict) and ref.get("id") == target["id"]:
                        ref["name"] = name
