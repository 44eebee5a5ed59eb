"""CRM REST v2 semantics, free of any web framework: one request in, one `Reply` out.

Both the REST surface and the hosted-MCP surface call `CrmApi.handle`, so they cannot drift apart,
and both draw credits and concurrency slots from the same org limits.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zoho_mcp.criteria import CriteriaError, parse_criteria
from zoho_mcp.sandbox import criteria as sandbox_criteria
from zoho_mcp.sandbox.clock import parse_zoho_time
from zoho_mcp.sandbox.data import MODULE_LABELS, field_metadata
from zoho_mcp.sandbox.limits import Slot, credits_for
from zoho_mcp.sandbox.responses import (
    Reply,
    authentication_failure,
    error,
    invalid_method,
    invalid_module,
    invalid_param,
    invalid_token,
    invalid_url,
    no_permission,
    scope_mismatch,
)
from zoho_mcp.sandbox.state import SandboxState
from zoho_mcp.sandbox.store import WriteContext, well_formed_id

VERSIONS = frozenset({"v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8"})
MAX_PER_PAGE = 200
MAX_FIELDS = 50
MAX_IDS = 100
MAX_WRITE = 100
SEARCH_PARAMS = ("criteria", "email", "phone", "word")

Delay = Callable[[], Awaitable[Reply | None]]
_DIGITS = re.compile(r"[0-9]{1,12}")
# A JSON parse error, or nesting deep enough to exhaust the parser's recursion: both are bad input.
BAD_JSON = (ValueError, UnicodeDecodeError, RecursionError)


@dataclass
class CrmRequest:
    method: str
    path: str  # full path, e.g. /crm/v2/Accounts/123
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


def _records_in(body: bytes) -> int:
    """How many records a write carries (for credits and heavy-call accounting); 0 if unreadable."""
    if not body:
        return 0
    try:
        parsed = json.loads(body)
    except BAD_JSON:
        return 0
    data = parsed.get("data") if isinstance(parsed, dict) else None
    return len(data) if isinstance(data, list) else 0


_OPERATION = {"GET": "READ", "PUT": "UPDATE", "POST": "CREATE", "DELETE": "DELETE", "PATCH": "UPDATE"}


def scope_allows(scope: str, method: str, path: str) -> bool:
    """Zoho's OAuth scopes (reference §3.5): ZohoCRM.modules.ALL or ZohoCRM.modules.{module}.{op|ALL};
    search also needs ZohoSearch.securesearch.READ; settings, users and org have their own scopes."""
    granted = {s.lower() for s in scope.split()}
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3:
        return True  # a bad URL: let routing answer INVALID_URL_PATTERN
    head = parts[2]
    if head == "settings":
        what = parts[3] if len(parts) > 3 else ""
        return bool(granted & {"zohocrm.settings.all", f"zohocrm.settings.{what}.all", f"zohocrm.settings.{what}.read"})
    if head in ("users", "org") and len(parts) == 3:
        return bool(granted & {f"zohocrm.{head}.all", f"zohocrm.{head}.read"})
    op = _OPERATION.get(method, "ALL").lower()
    module = head.lower()
    writes = {"update", "create"}
    ok = bool(granted & {"zohocrm.modules.all", f"zohocrm.modules.{module}.all", f"zohocrm.modules.{module}.{op}"}
              | ({f"zohocrm.modules.{module}.write"} & granted if op in writes else set()))
    if ok and len(parts) > 3 and parts[3] == "search":
        ok = "zohosearch.securesearch.read" in granted
    return ok


def _names(csv: str) -> set[str]:
    return {n.strip() for n in csv.split(",") if n.strip()}


def _is_heavy(req: CrmRequest, n_records: int) -> bool:
    """Zoho's heavy calls (sub-concurrency 10): writes of more than 10 records, get-records with cvid/sort_by."""
    if n_records > 10:
        return True
    return req.method == "GET" and bool(req.query.get("sort_by") or req.query.get("cvid"))


def _parse_positive(query: Mapping[str, str], name: str, default: int) -> int | Reply:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not _DIGITS.fullmatch(text) or int(text) < 1:  # ASCII only: "²".isdigit() is True but int() fails
        return invalid_param(name)
    return int(text)


class CrmApi:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    # ------------------------------------------------------------------ entry points

    def authenticate(self, headers: Mapping[str, str]) -> Reply | None:
        raw = headers.get("authorization")
        if not raw:
            return authentication_failure()
        scheme, _, token = raw.strip().partition(" ")
        if scheme.lower() != "zoho-oauthtoken" or not token.strip():
            return invalid_token()
        if not self.state.tokens.validate(token.strip()):
            return invalid_token()
        return None

    async def handle(self, req: CrmRequest, *, authenticate: bool = True, delay: Delay | None = None) -> Reply:
        """Auth, then a concurrency slot and credits, then (holding the slot) latency/hang, then the call."""
        if authenticate:
            denied = self.authenticate(req.headers)
            if denied is None:
                token = req.headers["authorization"].strip().partition(" ")[2].strip()
                if not scope_allows(self.state.tokens.scope_of(token), req.method, req.path):
                    denied = scope_mismatch()
            if denied is not None:
                return denied
        state = self.state
        config = state.config
        n_records = _records_in(req.body) if req.method in ("PUT", "POST") else 0
        acquired = state.limits.acquire(config, heavy=_is_heavy(req, n_records), cost=credits_for(req.method, n_records))
        if isinstance(acquired, Reply):
            return acquired
        slot: Slot = acquired
        try:
            if delay is not None:
                interrupted = await delay()
                if interrupted is not None:
                    return interrupted
            if config.latency_ms > 0:
                await asyncio.sleep(config.latency_ms / 1000.0)
            reply = self.route(req)
        finally:
            state.limits.release(slot)
        reply.headers.update(state.limits.headers(config))
        return reply

    # ------------------------------------------------------------------ routing

    def route(self, req: CrmRequest) -> Reply:
        parts = [p for p in req.path.split("/") if p]
        if len(parts) < 3 or parts[0] != "crm" or parts[1] not in VERSIONS:
            return invalid_url()
        rest = parts[2:]
        method = req.method
        if rest[0] == "settings":
            if len(rest) == 2 and rest[1] == "modules":
                return self.modules() if method == "GET" else invalid_method()
            if len(rest) == 2 and rest[1] == "fields":
                return self.fields(req.query) if method == "GET" else invalid_method()
            return invalid_url()
        if rest[0] == "users" and len(rest) == 1:
            return self.users() if method == "GET" else invalid_method()
        if rest[0] == "org" and len(rest) == 1:
            return self.org() if method == "GET" else invalid_method()
        module = rest[0]
        if len(rest) > 2:
            return invalid_url()
        if not self.state.store.has_module(module):
            return invalid_module()
        if module in _names(self.state.config.denied_modules):
            return no_permission(module, "Permission denied to read" if rest[1:] == ["search"] else "permission denied")
        if len(rest) == 1:
            if method == "GET":
                return self.list_records(module, req.query)
            if method == "PUT":
                return self.update_records(module, req)
            if method == "POST":
                return self.insert_records(module, req)
            return invalid_method()
        if rest[1] == "search":
            return self.search(module, req.query, parts[1]) if method == "GET" else invalid_method()
        if method == "GET":
            return self.get_record(module, rest[1], req.query, req.headers.get("if-modified-since"))
        if method == "PUT":
            return self.update_records(module, req, path_id=rest[1])
        return invalid_method()

    # ------------------------------------------------------------------ metadata

    def modules(self) -> Reply:
        store = self.state.store
        mods = []
        for name, (singular, plural) in MODULE_LABELS.items():
            mods.append({
                "api_name": name, "module_name": name, "id": store.seed.module_ids[name], "api_supported": True,
                "singular_label": singular, "plural_label": plural, "generated_type": "default",
                "creatable": True, "editable": True, "deletable": True, "viewable": True,
                "global_search_supported": True, "visibility": 1, "modified_time": None, "sequence_number": len(mods) + 1,
            })
        return Reply(200, {"modules": mods})

    def fields(self, query: Mapping[str, str]) -> Reply:
        module = query.get("module")
        if not module:
            return error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param_name": "module"})
        store = self.state.store
        if not store.has_module(module):
            return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"param_name": "module"})
        return Reply(200, {"fields": field_metadata(module, store.seed.field_ids[module])})

    def users(self) -> Reply:
        users = [dict(u) for u in self.state.store.seed.users.users]
        return Reply(200, {"users": users[:1] if users else [], "info": {"per_page": 200, "count": 1, "page": 1, "more_records": False}})

    def org(self) -> Reply:
        seed = self.state.store.seed
        return Reply(200, {"org": [{"id": seed.org_id, "company_name": "Sandbox Org", "primary_email": self.state.admin_user["email"],
                                    "currency": "EUR", "iso_code": "EUR", "time_zone": "Europe/Berlin",
                                    "license_details": {"paid_type": self.state.config.edition}}]})

    # ------------------------------------------------------------------ reads

    def _fields_filter(self, module: str, query: Mapping[str, str]) -> list[str] | Reply | None:
        raw = query.get("fields")
        if raw is None or raw.strip() == "":
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        if len(names) > MAX_FIELDS:
            return error(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_FIELDS, "param_name": "fields"})
        return names

    @staticmethod
    def _project(record: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
        if names is None:
            return record
        out = {n: record[n] for n in names if n in record}
        out["id"] = record["id"]
        return out

    def get_record(self, module: str, raw_id: str, query: Mapping[str, str], modified_since: str | None = None) -> Reply:
        record_id = well_formed_id(raw_id)
        if record_id is None:
            return error(400, "INVALID_DATA", "the id given seems to be invalid", {"resource_path_index": 1})
        names = self._fields_filter(module, query)
        if isinstance(names, Reply):
            return names
        record = self.state.store.get(module, record_id)
        if record is None:
            if self.state.config.missing_record_mode == "400":
                return error(400, "INVALID_DATA", "the id given seems to be invalid", {"id": record_id})
            return Reply(204)
        if modified_since:
            since = parse_zoho_time(modified_since)
            if since is None:
                return error(400, "INVALID_DATA", "invalid data", {"header_name": "If-Modified-Since"})
            modified = parse_zoho_time(record["Modified_Time"])
            if modified is not None and modified <= since:
                return Reply(304)
        return Reply(200, {"data": [self._project(record, names)]})

    def _page(self, query: Mapping[str, str]) -> tuple[int, int] | Reply:
        page = _parse_positive(query, "page", 1)
        if isinstance(page, Reply):
            return page
        per_page = _parse_positive(query, "per_page", MAX_PER_PAGE)
        if isinstance(per_page, Reply):
            return per_page
        if per_page > MAX_PER_PAGE:
            return error(400, "INVALID_DATA", "invalid data", {"param_name": "per_page", "maximum_length": MAX_PER_PAGE})
        return page, per_page

    def _paged(self, records: list[dict[str, Any]], page: int, per_page: int, names: list[str] | None,
               limit_code: str, limit_message: str, extra_info: dict[str, Any] | None = None) -> Reply:
        reachable = self.state.config.search_reachable
        start = (page - 1) * per_page
        if start >= reachable:
            return error(400, limit_code, limit_message, {"limit": str(reachable)} if limit_code == "LIMIT_REACHED" else {"limit": reachable})
        end = min(start + per_page, reachable)
        chunk = records[start:end]
        if not chunk:
            return Reply(204)
        info: dict[str, Any] = {"per_page": per_page, "count": len(chunk), "page": page}
        if extra_info:
            info.update(extra_info)
        info["more_records"] = len(records) > end and end < reachable
        return Reply(200, {"data": [self._project(r, names) for r in chunk], "info": info})

    def list_records(self, module: str, query: Mapping[str, str]) -> Reply:
        names = self._fields_filter(module, query)
        if isinstance(names, Reply):
            return names
        store = self.state.store
        raw_ids = query.get("ids")
        if raw_ids is not None:
            ids = [i.strip() for i in raw_ids.split(",") if i.strip()]
            if not ids:
                return invalid_param("ids")
            if len(ids) > MAX_IDS:
                return error(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_IDS, "param_name": "ids"})
            found: list[dict[str, Any]] = []
            seen: set[str] = set()
            for raw in ids:
                rid = well_formed_id(raw)
                if rid is None:
                    return error(400, "INVALID_DATA", "the id given seems to be invalid", {"id": raw, "param_name": "ids"})
                rec = store.get(module, rid)
                if rec is not None and rid not in seen:
                    seen.add(rid)
                    found.append(rec)
            if not found:
                return Reply(204)
            return Reply(200, {"data": [self._project(r, names) for r in found],
                               "info": {"per_page": MAX_PER_PAGE, "count": len(found), "page": 1, "more_records": False}})
        paging = self._page(query)
        if isinstance(paging, Reply):
            return paging
        sort_by = query.get("sort_by") or "id"
        if sort_by not in ("id", "Created_Time", "Modified_Time"):
            return invalid_param("sort_by")
        sort_order = query.get("sort_order") or "desc"
        if sort_order not in ("asc", "desc"):
            return invalid_param("sort_order")
        records = store.ordered(module, sort_by, sort_order == "desc")
        return self._paged(records, *paging, names, "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                           "discrete pagination limit exceeded", {"sort_by": sort_by, "sort_order": sort_order})

    def search(self, module: str, query: Mapping[str, str], version: str) -> Reply:
        if module in _names(self.state.config.unsearchable_modules):
            return error(400, "NOT_SUPPORTED", "module not supported for search", {"module": module})
        present = [p for p in SEARCH_PARAMS if query.get(p) not in (None, "")]
        if not present:
            return error(400, "EXPECTED_PARAM_MISSING", "mandatory param missing", {"param_names": list(SEARCH_PARAMS)})
        names = self._fields_filter(module, query)
        if isinstance(names, Reply):
            return names
        paging = self._page(query)
        if isinstance(paging, Reply):
            return paging
        store = self.state.store
        field_types = store.field_types(module)
        records = store.ordered(module)
        kind = present[0]  # criteria > email > phone > word
        value = query[kind]
        if kind == "criteria":
            limit = 15 if version == "v8" else self.state.config.search_max_conditions
            try:
                node = parse_criteria(value, max_conditions=limit)
                sandbox_criteria.validate(node, field_types, strict_v2=self.state.config.strict_v2_operators and version == "v2")
            except CriteriaError as exc:
                return Reply(400, exc.to_body())
            hits = [r for r in records if sandbox_criteria.matches(node, r, field_types)]
        elif kind == "email":
            needle = value.strip().casefold()
            if len(needle) < 2:
                return self._short_value()
            email_fields = [n for n, t in field_types.items() if t == "email"]
            hits = [r for r in records if any(isinstance(r.get(f), str) and r[f].casefold() == needle for f in email_fields)]
        elif kind == "phone":
            digits = "".join(c for c in value if c.isdigit())
            if len(value.strip()) < 3 or not digits or any(c not in "+0123456789 -().\t" for c in value):
                return self._short_value()
            phone_fields = [n for n, t in field_types.items() if t == "phone"]
            hits = [r for r in records if any(isinstance(r.get(f), str) and digits in "".join(c for c in r[f] if c.isdigit())
                                              for f in phone_fields)]
        else:
            word = value.strip()
            if len(word) < 2 or len(word) > 100:
                return self._short_value()
            needle = word.casefold()
            text_fields = [n for n, f in store.fields[module].items()
                           if f.searchable and f.data_type in ("text", "textarea", "email", "phone", "website", "picklist")]
            hits = [r for r in records if any(isinstance(r.get(f), str) and needle in r[f].casefold() for f in text_fields)]
        return self._paged(hits, *paging, names, "LIMIT_REACHED", "maximum response iteration limit reached")

    @staticmethod
    def _short_value() -> Reply:
        return error(400, "INVALID_DATA",
                     "The search value contains special characters or does not contain at least two characters")

    # ------------------------------------------------------------------ writes

    def _write_body(self, req: CrmRequest) -> list[Any] | Reply:
        try:
            parsed = json.loads(req.body) if req.body else None
        except BAD_JSON:
            return error(400, "INVALID_DATA", "body", {"expected_data_type": "jsonobject"})
        if parsed is None:
            return error(400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "data"})
        if not isinstance(parsed, dict):
            return error(400, "INVALID_DATA", "body", {"expected_data_type": "jsonobject"})
        if "data" not in parsed or parsed["data"] is None:
            return error(400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "data"})
        data = parsed["data"]
        if not isinstance(data, list):
            return error(400, "INVALID_DATA", "invalid data", {"api_name": "data", "expected_data_type": "jsonarray"})
        if not data:
            return error(400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "data"})
        if len(data) > MAX_WRITE:
            return error(400, "LIMIT_EXCEEDED", "Record count exceeded", {"limit": MAX_WRITE})
        trigger = parsed.get("trigger")
        if trigger is not None and (not isinstance(trigger, list) or not all(isinstance(t, str) for t in trigger)):
            return error(400, "INVALID_DATA", "invalid data", {"api_name": "trigger", "expected_data_type": "jsonarray"})
        return data

    def _write_context(self, req: CrmRequest) -> WriteContext | Reply:
        state = self.state
        ctx = WriteContext(now=state.clock.now(), offset=state.config.user_offset, user=state.admin_user)
        header = req.headers.get("if-unmodified-since")
        if header:
            parsed = parse_zoho_time(header)
            if parsed is None:
                return error(400, "INVALID_DATA", "invalid data", {"header_name": "If-Unmodified-Since"})
            ctx.unmodified_since = parsed
        return ctx

    def _aggregate(self, results: list[dict[str, Any]]) -> Reply:
        ok = sum(1 for r in results if r["status"] == "success")
        if ok == len(results):
            status = 200
        elif ok == 0:
            status = 412 if any(r["code"] == "ALREADY_MODIFIED" for r in results) else 400
        else:
            status = self.state.config.partial_status
        return Reply(status, {"data": results})

    def update_records(self, module: str, req: CrmRequest, path_id: str | None = None) -> Reply:
        if path_id is not None and well_formed_id(path_id) is None:
            return error(400, "INVALID_DATA", "the id given seems to be invalid", {"resource_path_index": 1})
        data = self._write_body(req)
        if isinstance(data, Reply):
            return data
        if path_id is not None and len(data) != 1:
            return error(400, "INVALID_DATA", "only one record can be updated through this URL", {"api_name": "data"})
        ctx = self._write_context(req)
        if isinstance(ctx, Reply):
            return ctx
        store = self.state.store
        results = [store.update(module, i, item, ctx, path_id=path_id) for i, item in enumerate(data)]
        return self._aggregate(results)

    def insert_records(self, module: str, req: CrmRequest) -> Reply:
        data = self._write_body(req)
        if isinstance(data, Reply):
            return data
        ctx = self._write_context(req)
        if isinstance(ctx, Reply):
            return ctx
        results = [self.state.store.insert(module, i, item, ctx) for i, item in enumerate(data)]
        reply = self._aggregate(results)
        if reply.status == 200:
            reply.status = 201
        return reply

