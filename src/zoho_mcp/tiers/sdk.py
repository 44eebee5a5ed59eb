"""Tier 2: Zoho's official Python SDK, zcrmsdk 3.1.0 (CRM API v2), driven from worker threads.

The SDK is synchronous and keeps its configuration in process-global state, so this tier:
- initialises it once per process (`Initializer.initialize`, under a lock; later tiers never call it
  again), and gives each `SdkTier` its own `Initializer` object (environment, user, token store,
  field-cache path) that is bound to the worker thread for exactly one call through
  `Initializer.LOCAL` — the slot `switch_user` uses — and unbound in `finally`, so a reused thread
  never carries another tier's settings. Several tiers (tests create one per test) can therefore run
  one after another or side by side. A deployment still serves one Zoho org and user per process:
  the SDK's metadata helpers share class-level flags and one lock across all of them;
- runs every SDK call in a worker thread under the tier's own `CapacityLimiter` (size: the org's
  concurrency), never anyio's default one, with real HTTP timeouts inside the SDK (`sdk_http`),
  because no anyio timeout can interrupt a blocked thread;
- hands the SDK the shared `TokenManager`'s access token (`sdk_token_store`): the SDK never mints a
  token, and never sees the client secret or the refresh token. A 401 INVALID_TOKEN makes the tier ask
  the manager for `refresh_after_401` and retry that one SDK call once;
- builds the SDK's environment from the token's `api_domain` (falling back to the configured one), so
  every data centre works, including those the SDK has no class for, and any sandbox;
- converts ids to int only at the SDK call (record ids are 19 digits), and everything the SDK returns
  back to the contract's shapes (`sdk_convert`), equal to what the REST tier returns;
- maps `None` responses (the SDK swallows parse errors), `APIException` objects and `SDKException`
  into the `ZohoError` family, always with `tier="sdk"`; a transport failure says whether the request
  left (`details["sent"]`, see `delivery`): requests raises `ConnectionError` both for a refused
  connect and for a reset after sending, so the two are told apart by urllib3's cause.
The SDK's own `X-ZOHO-SDK` header is left as it is. Its logger gets no file: records propagate to the
process's JSON logging (with redaction).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import requests
import urllib3.exceptions
from zcrmsdk.src.com.zoho.api.logger import Logger
from zcrmsdk.src.com.zoho.crm.api.dc import DataCenter
from zcrmsdk.src.com.zoho.crm.api.exception import SDKException
from zcrmsdk.src.com.zoho.crm.api.fields import APIException as FieldsAPIException
from zcrmsdk.src.com.zoho.crm.api.fields import FieldsOperations
from zcrmsdk.src.com.zoho.crm.api.fields import ResponseWrapper as FieldsResponseWrapper
from zcrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zcrmsdk.src.com.zoho.crm.api.param import Param
from zcrmsdk.src.com.zoho.crm.api.parameter_map import ParameterMap
from zcrmsdk.src.com.zoho.crm.api.record import (
    ActionWrapper,
    APIException,
    BodyWrapper,
    GetRecordParam,
    GetRecordsParam,
    RecordOperations,
    ResponseWrapper,
    SearchRecordsParam,
    SuccessResponse,
)
from zcrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zcrmsdk.src.com.zoho.crm.api.user_signature import UserSignature
from zcrmsdk.src.com.zoho.crm.api.util import APIResponse
from zcrmsdk.src.com.zoho.crm.api.util.utility import Utility

from zoho_mcp.config import Settings
from zoho_mcp.logs import get_logger
from zoho_mcp.tiers import sdk_http, sdk_patches
from zoho_mcp.tiers.auth import TokenManager
from zoho_mcp.tiers.base import (
    MAX_RECORDS_PER_CALL,
    ConfigurationError,
    DescribeFields,
    FieldsResult,
    GetRecords,
    GetResult,
    Operation,
    Probe,
    ProbeResult,
    Result,
    SearchRecords,
    SearchResult,
    TierName,
    TransientError,
    UpdateRecords,
    UpdateResult,
    WriteResult,
    ZohoError,
    check_record_id,
    error_from_zoho_body,
)
from zoho_mcp.tiers.delivery import after_chunks, dispatch, maybe_sent, not_sent
from zoho_mcp.tiers.field_meta import fields_from_entries
from zoho_mcp.tiers.sdk_convert import (
    Unconvertible,
    build_record,
    choice_text,
    details_dict,
    record_dict,
    reindex_json_path,
)
from zoho_mcp.tiers.sdk_token_store import ManagedTokenStore, handed_token, placeholder_token
from zoho_mcp.tiers.zoho_json import empty_search, get_result, is_missing_id_error, no_result, search_page

log = get_logger(__name__)

TIER: TierName = "sdk"
#: Used when the configured user email does not pass the SDK's (strict, lower-case) email check;
#: the SDK uses it only to name its field-cache file.
FALLBACK_EMAIL = "zoho-mcp@localhost"
#: SDKException codes for requests the SDK refused locally, before sending anything.
_LOCAL_REFUSALS = frozenset(
    {
        "TYPE_ERROR",
        "DATA_TYPE_ERROR",
        "MANDATORY_VALUE_ERROR",
        "UNACCEPTED_VALUES_ERROR",
        "MAXIMUM_LENGTH_ERROR",
        "MINIMUM_LENGTH_ERROR",
        "REGEX_MISMATCH_ERROR",
        "UNIQUE_KEY_ERROR",
        "PARAMETER_NONE_ERROR",
    }
)
_INVALID_TOKEN_CODES = frozenset({"INVALID_TOKEN", "INVALID_OAUTHTOKEN", "HTTP_401"})

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Process-wide SDK state
# ---------------------------------------------------------------------------------------------

_process_lock = threading.Lock()


def _silence_sdk_file_logging() -> None:
    """`SDKLogger` always adds a FileHandler; drop it so SDK records reach only the JSON log."""
    sdk_logger = logging.getLogger("SDKLogger")
    for handler in list(sdk_logger.handlers):
        if isinstance(handler, logging.FileHandler):
            sdk_logger.removeHandler(handler)
            handler.close()
    sdk_logger.setLevel(logging.WARNING)
    sdk_logger.propagate = True


def _initialise_process(init: Initializer) -> None:
    """Patch and initialise zcrmsdk once per process; a second call is a no-op."""
    with _process_lock:
        sdk_patches.apply()
        if Initializer.initializer is not None and Initializer.json_details is not None:
            return
        Initializer.initialize(
            user=init.user,
            environment=init.environment,
            token=init.token,
            store=init.store,
            sdk_config=init.sdk_config,
            resource_path=init.resource_path,
            logger=Logger.get_instance(Logger.Levels.WARNING, os.devnull),
        )
        _silence_sdk_file_logging()


def _sdk_email(email: str) -> str:
    candidate = (email or "").strip().lower()
    try:
        UserSignature(email=candidate)
        return candidate
    except Exception:  # noqa: BLE001 - SDKException for a shape the SDK's regex refuses
        return FALLBACK_EMAIL


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class _TokenRejected(Exception):
    """Zoho answered 401 INVALID_TOKEN: the caller refreshes once and retries the SDK call."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        self.body = dict(body)
        super().__init__("invalid oauth token")


def _retag(exc: ZohoError) -> ZohoError:
    """A copy of a shared component's error (the token manager's) that names this tier."""
    return type(exc)(exc.message, code=exc.code, details=exc.details, status=exc.status, tier=TIER)


def _classify_body(status: int, body: Mapping[str, Any]) -> ZohoError:
    if status == 401 and str(body.get("code") or f"HTTP_{status}") in _INVALID_TOKEN_CODES:
        raise _TokenRejected(status, body)
    return error_from_zoho_body(status, body, tier=TIER)


def _api_exception_error(status: int, exc: Any) -> ZohoError:
    body = {
        "code": choice_text(exc.get_code(), f"HTTP_{status}"),
        "message": choice_text(exc.get_message(), f"Zoho returned HTTP {status}"),
        "details": details_dict(exc.get_details()),
    }
    return _classify_body(status, body)


def _no_object_error(status: int | None, what: str) -> ZohoError:
    """The SDK gave no parsed object: a body it could not read (it returns None), or none at all."""
    if status is not None and status >= 400:
        return _classify_body(status, {"code": f"HTTP_{status}", "message": f"Zoho answered HTTP {status} ({what})"})
    shown = f"HTTP {status}" if status is not None else "no response"
    return TransientError(
        f"zcrmsdk could not read Zoho's answer to {what} ({shown})", code="SDK_UNREADABLE_RESPONSE", status=status, tier=TIER
    )


def _root_cause(exc: SDKException) -> BaseException | None:
    cause: BaseException | None = exc.cause
    seen = 0
    while isinstance(cause, SDKException) and cause.cause is not None and seen < 5:
        cause, seen = cause.cause, seen + 1
    return cause


def _sdk_exception_error(exc: SDKException, *, what: str, read_timeout: float) -> ZohoError:
    cause = _root_cause(exc)
    if isinstance(cause, ZohoError):
        # Only the token store raises our own errors inside the SDK, before the request is built.
        return not_sent(_retag(cause))
    if isinstance(cause, requests.Timeout):
        if isinstance(cause, requests.ConnectTimeout):
            return not_sent(TransientError(f"connecting to Zoho timed out ({what})", code="CONNECT_TIMEOUT", tier=TIER))
        return maybe_sent(
            TransientError(f"Zoho did not answer within {read_timeout:g} s ({what})", code="TIMEOUT", tier=TIER)
        )
    if isinstance(cause, requests.ConnectionError):
        if _never_connected(cause):
            return not_sent(
                TransientError(f"could not connect to Zoho ({what}: {type(cause).__name__})", code="CONNECT_ERROR", tier=TIER)
            )
        return maybe_sent(
            TransientError(
                f"the connection to Zoho broke ({what}: {type(cause).__name__})", code="CONNECTION_RESET", tier=TIER
            )
        )
    if isinstance(cause, requests.RequestException):
        return maybe_sent(
            TransientError(f"the request to Zoho failed ({what}: {type(cause).__name__})", code="TRANSPORT_ERROR", tier=TIER)
        )
    if isinstance(cause, sdk_http.SdkTokenMintingError):
        return not_sent(ConfigurationError(str(cause), code="SDK_TOKEN_MINTING", tier=TIER))
    status = sdk_http.last_status()
    code = str(exc.code or "")
    if code == "API_EXCEPTION" and isinstance(exc.details, Mapping):
        # Raised by the SDK's field-metadata fetch, with Zoho's code/message but not the HTTP status.
        body = {k: v for k, v in exc.details.items() if k in ("code", "message", "details")}
        return _classify_body(status or 400, body)
    if status is not None and (status >= 500 or status in (401, 403, 429)):
        return _no_object_error(status, what)
    reason = code or (type(cause).__name__ if cause is not None else "error")
    message = f"zcrmsdk failed ({what}): {reason}"
    if code in _LOCAL_REFUSALS:
        refused = ConfigurationError(
            message + " — the SDK refused the request locally; another tier can send it",
            code=f"SDK_{code}",
            details={"sdk_code": code},
            tier=TIER,
        )
        return not_sent(refused)
    return maybe_sent(TransientError(message, code=f"SDK_{code or 'ERROR'}", status=status, tier=TIER))


def _never_connected(exc: requests.ConnectionError) -> bool:
    """requests raises ConnectionError both for "could not connect" and for "connection broke".

    With requests' `Retry(0, read=False)`, a failed connect arrives as `MaxRetryError` whose reason is
    urllib3's `NewConnectionError` (refused, unreachable, DNS) or `ConnectTimeoutError`; a reset after
    sending is re-raised as `ProtocolError` instead. Only the former proves nothing left.
    """
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, urllib3.exceptions.MaxRetryError):
        inner = inner.reason
    return isinstance(inner, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


def _sdk_int_id(value: str) -> int:
    """The one place ids become ints: zcrmsdk insists on int, everything else keeps strings."""
    return int(check_record_id(value))


# ---------------------------------------------------------------------------------------------
# The tier
# ---------------------------------------------------------------------------------------------


class SdkTier:
    """`Tier` over zcrmsdk 3.1.0; shares the process's `TokenManager` with the REST tier."""

    name: TierName = TIER

    def __init__(self, settings: Settings, auth: TokenManager) -> None:
        self.settings = settings
        self.auth = auth
        self._limiter = anyio.CapacityLimiter(max(settings.org_concurrency, 1))
        self._resource_path = self._prepare_resource_path(settings)
        self._user = UserSignature(email=_sdk_email(settings.user_email))
        self._store = ManagedTokenStore(auth.get_token_blocking)
        self._token = placeholder_token(settings.client_id or "zoho-mcp")
        self._sdk_config = SDKConfig(auto_refresh_fields=False, pick_list_validation=False)
        self._bindings: dict[str, Initializer] = {}
        self._bindings_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SdkTier(api_domain={self.auth.api_domain!r})"

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        return self._limiter

    async def execute(self, op: Operation) -> Result:
        return await dispatch(self, op)

    async def aclose(self) -> None:
        """Nothing to release: the worker threads are anyio's; the TokenManager belongs to its owner."""

    # --- operations --------------------------------------------------------------------------

    async def _get(self, op: GetRecords) -> GetResult:
        wanted = list(dict.fromkeys(op.ids))
        found: dict[str, dict[str, Any]] = {}
        if len(wanted) == 1:
            found.update(await self._call(lambda: self._get_one(op.module, wanted[0], op.fields), f"GET {op.module}/{{id}}"))
        else:
            for start in range(0, len(wanted), MAX_RECORDS_PER_CALL):
                chunk = wanted[start : start + MAX_RECORDS_PER_CALL]
                found.update(
                    await self._call(lambda chunk=chunk: self._get_many(op.module, chunk, op.fields), f"GET {op.module}?ids=")
                )
        return get_result(wanted, found)

    async def _search(self, op: SearchRecords) -> SearchResult:
        return await self._call(lambda: self._search_sync(op), f"GET {op.module}/search")

    async def _update(self, op: UpdateRecords) -> UpdateResult:
        """Chunks of 100, one after another; a request-level failure of a chunk raises (updates are
        idempotent, so the caller may retry the whole operation)."""
        results: list[WriteResult] = []
        for chunk in op.chunks(MAX_RECORDS_PER_CALL):
            try:
                results.extend(
                    await self._call(lambda chunk=chunk: self._update_chunk(op.module, chunk, op.trigger), f"PUT {op.module}")
                )
            except ZohoError as exc:
                raise after_chunks(exc, len(results)) from None
        return UpdateResult(results=results)

    async def _probe(self, op: Probe) -> ProbeResult:
        return await self._call(lambda: self._probe_sync(op.module), f"GET {op.module}")

    async def _describe(self, op: DescribeFields) -> FieldsResult:
        return await self._call(lambda: self._describe_sync(op.module), "GET settings/fields")

    # --- SDK calls (worker thread, tier bound) --------------------------------------------------

    def _get_one(self, module: str, rid: str, fields: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        params = ParameterMap()
        if fields:
            params.add(GetRecordParam.fields, ",".join(fields))
        resp = RecordOperations().get_record(_sdk_int_id(rid), module, params)
        status, obj = self._unpack(resp, f"GET {module}/{{id}}")
        if status == 204:
            return {}
        if isinstance(obj, APIException):
            err = _api_exception_error(status, obj)
            if status == 400 and is_missing_id_error(err):
                return {}  # some Zoho hosts answer an unknown id with 400 instead of 204
            raise err
        return self._records_by_id(obj, status, module, default_id=rid)

    def _get_many(self, module: str, ids: Sequence[str], fields: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        params = ParameterMap()
        for rid in ids:
            params.add(GetRecordsParam.ids, _sdk_int_id(rid))
        if fields:
            params.add(GetRecordsParam.fields, ",".join(fields))
        resp = RecordOperations().get_records(module, params)
        status, obj = self._unpack(resp, f"GET {module}?ids=")
        if status == 204:
            return {}
        if isinstance(obj, APIException):
            raise _api_exception_error(status, obj)
        return self._records_by_id(obj, status, module)

    def _search_sync(self, op: SearchRecords) -> SearchResult:
        params = ParameterMap()
        query = op.query_params()
        for key, param in (
            ("criteria", SearchRecordsParam.criteria),
            ("email", SearchRecordsParam.email),
            ("phone", SearchRecordsParam.phone),
            ("word", SearchRecordsParam.word),
        ):
            if key in query:
                params.add(param, query[key])
        params.add(SearchRecordsParam.page, op.page)
        params.add(SearchRecordsParam.per_page, op.per_page)
        if op.fields:
            # zcrmsdk 3.1 has no `fields` for search; a bare Param is sent without type checks.
            params.add(Param("fields"), ",".join(op.fields))
        resp = RecordOperations().search_records(op.module, params)
        status, obj = self._unpack(resp, f"GET {op.module}/search")
        if status == 204:
            return empty_search(op)
        if isinstance(obj, APIException):
            raise _api_exception_error(status, obj)
        if not isinstance(obj, ResponseWrapper):
            raise _no_object_error(status, f"GET {op.module}/search")
        info = obj.get_info()
        return search_page(
            op,
            [record_dict(r) for r in (obj.get_data() or [])],
            {
                "page": info.get_page(),
                "per_page": info.get_per_page(),
                "count": info.get_count(),
                "more_records": info.get_more_records(),
            }
            if info
            else None,
        )

    def _update_chunk(
        self, module: str, chunk: Sequence[Mapping[str, Any]], trigger: Sequence[str] | None
    ) -> list[WriteResult]:
        fields = self._field_details(module)
        results: list[WriteResult | None] = [None] * len(chunk)
        sent: list[int] = []
        records = []
        for index, data in enumerate(chunk):
            try:
                records.append(build_record(data, fields))
                sent.append(index)
            except Unconvertible as bad:
                results[index] = WriteResult(
                    id=str(data["id"]), status="error", code="INVALID_DATA", message="invalid data", details=bad.details(index)
                )
        if records:
            body = BodyWrapper()
            body.set_data(records)
            if trigger is not None:
                body.set_trigger(list(trigger))
            resp = RecordOperations().update_records(module, body)
            status, obj = self._unpack(resp, f"PUT {module}")
            if isinstance(obj, APIException):
                raise _api_exception_error(status, obj)
            if not isinstance(obj, ActionWrapper):
                raise _no_object_error(status, f"PUT {module}")
            items = obj.get_data() or []
            for position, index in enumerate(sent):
                rid = str(chunk[index]["id"])
                item = items[position] if position < len(items) else None
                result = self._write_result(rid, item)
                result.details = reindex_json_path(result.details, position, index)
                results[index] = result
        return [r for r in results if r is not None]

    def _describe_sync(self, module: str) -> FieldsResult:
        resp = FieldsOperations(module).get_fields(ParameterMap())
        status, obj = self._unpack(resp, "GET settings/fields")
        if status == 204:
            return FieldsResult(fields=[])
        if isinstance(obj, FieldsAPIException):
            raise _api_exception_error(status, obj)
        if not isinstance(obj, FieldsResponseWrapper):
            raise _no_object_error(status, "GET settings/fields")
        return fields_from_entries(
            {
                "api_name": f.get_api_name(),
                "data_type": choice_text(f.get_data_type()),
                "field_label": choice_text(f.get_field_label()),
                "read_only": bool(f.get_read_only()) or bool(f.get_field_read_only()),
                "length": f.get_length(),
            }
            for f in (obj.get_fields() or [])
        )

    def _probe_sync(self, module: str) -> ProbeResult:
        params = ParameterMap()
        params.add(GetRecordsParam.page, 1)
        params.add(GetRecordsParam.per_page, 1)
        resp = RecordOperations().get_records(module, params)
        status, obj = self._unpack(resp, f"GET {module}")
        if isinstance(obj, APIException):
            raise _api_exception_error(status, obj)
        if status in (200, 204):
            return ProbeResult(ok=True, detail=f"HTTP {status} from {self.auth.api_domain} via zcrmsdk")
        raise _no_object_error(status, f"GET {module}")

    # --- SDK response helpers ------------------------------------------------------------------

    @staticmethod
    def _unpack(resp: APIResponse | None, what: str) -> tuple[int, Any]:
        if resp is None:
            # The SDK swallowed a parse failure and returned None; the status is all we have.
            raise _no_object_error(sdk_http.last_status(), what)
        return int(resp.get_status_code()), resp.get_object()

    @staticmethod
    def _records_by_id(obj: Any, status: int, module: str, default_id: str | None = None) -> dict[str, dict[str, Any]]:
        if not isinstance(obj, ResponseWrapper):
            raise _no_object_error(status, f"GET {module}")
        out: dict[str, dict[str, Any]] = {}
        for rec in obj.get_data() or []:
            norm = record_dict(rec)
            rid = str(norm.get("id") or default_id or "")
            if rid:
                out[rid] = norm
        return out

    @staticmethod
    def _write_result(rid: str, item: Any) -> WriteResult:
        if isinstance(item, SuccessResponse):
            return WriteResult(
                id=rid,
                status="success",
                code=choice_text(item.get_code(), "SUCCESS"),
                message=choice_text(item.get_message()),
                details=details_dict(item.get_details()),
            )
        if isinstance(item, APIException):
            ok = choice_text(item.get_status()).lower() == "success"
            return WriteResult(
                id=rid,
                status="success" if ok else "error",
                code=choice_text(item.get_code(), "SUCCESS" if ok else "ERROR"),
                message=choice_text(item.get_message()),
                details=details_dict(item.get_details()),
            )
        return no_result(rid)

    @staticmethod
    def _field_details(module: str) -> Mapping[str, Any]:
        """The SDK's cached field metadata for `module` (fetched by the SDK on first use)."""
        Utility.get_fields(module)
        try:
            cache = Initializer.get_json(Utility.get_file_name())
        except (OSError, ValueError):
            return {}
        fields = cache.get(module.lower()) if isinstance(cache, Mapping) else None
        return fields if isinstance(fields, Mapping) else {}

    # --- plumbing --------------------------------------------------------------------------------

    @staticmethod
    def _prepare_resource_path(settings: Settings) -> str:
        path = Path(settings.resolved_state_dir()) / "zcrmsdk"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return str(path)

    def _binding(self) -> Initializer:
        """This tier's SDK configuration for the current API domain (the token's, once known)."""
        api_domain = (self.auth.api_domain or self.settings.api_domain).rstrip("/")
        with self._bindings_lock:
            init = self._bindings.get(api_domain)
            if init is None:
                init = Initializer()
                init.environment = DataCenter.Environment(api_domain, self.settings.token_url, api_domain)
                init.user = self._user
                init.token = self._token
                init.store = self._store
                init.sdk_config = self._sdk_config
                init.resource_path = self._resource_path
                init.request_proxy = None
                self._bindings[api_domain] = init
        return init

    def _in_thread(self, init: Initializer, token: str, fn: Callable[[], T], what: str) -> T:
        _initialise_process(init)
        previous = getattr(Initializer.LOCAL, "init", None)
        Initializer.LOCAL.init = init
        timeout = self.settings.sdk_timeout
        try:
            with sdk_http.call_scope(timeout), handed_token(token):
                try:
                    return fn()
                except (ZohoError, _TokenRejected):
                    raise
                except SDKException as exc:
                    raise _sdk_exception_error(exc, what=what, read_timeout=timeout) from None
                except requests.RequestException as exc:
                    raise _sdk_exception_error(SDKException(cause=exc), what=what, read_timeout=timeout) from None
                except Exception as exc:  # noqa: BLE001 - the SDK's own bugs must not escape as non-Zoho errors
                    log.warning("zcrmsdk raised an unexpected error", tier=TIER, error=type(exc).__name__, what=what)
                    raise maybe_sent(
                        TransientError(
                            f"zcrmsdk failed unexpectedly ({what}: {type(exc).__name__})",
                            code="SDK_INTERNAL_ERROR",
                            status=sdk_http.last_status(),
                            tier=TIER,
                        )
                    ) from None
        finally:
            Initializer.LOCAL.init = previous

    async def _run(self, token: str, fn: Callable[[], T], what: str) -> T:
        init = self._binding()
        return await anyio.to_thread.run_sync(
            self._in_thread, init, token, fn, what, limiter=self._limiter, abandon_on_cancel=True
        )

    async def _token_or_raise(self) -> str:
        try:
            return await self.auth.get_token()
        except ZohoError as exc:
            raise not_sent(_retag(exc)) from None

    async def _call(self, fn: Callable[[], T], what: str = "zcrmsdk call") -> T:
        """One SDK call with the shared token; after a 401 INVALID_TOKEN, one refresh and one retry."""
        token = await self._token_or_raise()
        try:
            return await self._run(token, fn, what)
        except _TokenRejected:
            log.info("zoho refused the access token; refreshing once", tier=TIER)
        try:
            token = await self.auth.refresh_after_401(token)
        except ZohoError as exc:
            # The one request that left was refused by Zoho's OAuth check: nothing was applied.
            raise not_sent(_retag(exc)) from None
        try:
            return await self._run(token, fn, what)
        except _TokenRejected as again:
            raise self.auth.dc_mismatch_error(again.body, tier=TIER, status=again.status) from None


__all__ = ["SdkTier"]
