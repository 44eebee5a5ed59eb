"""Tier 1's translation layer: operations → Zoho MCP tool arguments, tool results → normalised results.

Pure functions, so every shape Zoho's hosted MCP may answer with (JSON text, empty text or `{}` for a
REST 204, an error envelope, a re-wrapped `{"data": {...}, "status": "success"}`, `isError` text,
JSON-RPC errors, transport failures) is tested without a server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mcp_types import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    REQUEST_TIMEOUT,
    CallToolResult,
)

from zoho_mcp.logs import redact
from zoho_mcp.tiers import zoho_json
from zoho_mcp.tiers.base import (
    MAX_PER_PAGE,
    AuthError,
    BusinessError,
    ConfigurationError,
    RateLimitedError,
    SearchRecords,
    TransientError,
    WriteResult,
    ZohoError,
)
from zoho_mcp.tiers.delivery import maybe_sent, not_sent

TIER = "mcp"

TOOL_GET_RECORD = "ZohoCRM_Get_Record"
TOOL_GET_RECORDS = "ZohoCRM_Get_Records"
TOOL_SEARCH_RECORDS = "ZohoCRM_Search_Records"
TOOL_UPDATE_RECORDS = "ZohoCRM_Update_Records"
TOOL_GET_FIELDS = "ZohoCRM_Get_Fields"

#: Zoho's hosted MCP answers a rotated or mistyped key with this text.
APIKEY_ERROR_TEXT = "apikey parsing exception"

#: JSON-RPC error code of the errors our own HTTP transport guard synthesises (see mcp_transport.py).
TRANSPORT_ERROR_CODE = -32090
#: Key under `error.data` where the guard records what happened on the HTTP level.
GUARD_KEY = "zoho_mcp_http"

_AUTH_CODES = {"INVALID_TOKEN", "INVALID_OAUTHTOKEN", "AUTHENTICATION_FAILURE", "OAUTH_SCOPE_MISMATCH"}
_TRANSIENT_CODES = {"INTERNAL_ERROR", "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}
_MISSING_TEXT = ("unknown tool", "tool not found", "no such tool")


# ---------------------------------------------------------------------------------------------
# Arguments (the Zoho MCP platform mirrors the HTTP request: path_variables / query_params / body)
# ---------------------------------------------------------------------------------------------


def get_record_args(module: str, record_id: str, fields: Sequence[str] | None) -> dict[str, Any]:
    args: dict[str, Any] = {"path_variables": {"module": module, "recordID": record_id}}
    if fields:
        args["query_params"] = {"fields": ",".join(fields)}
    return args


def get_records_args(module: str, ids: Sequence[str], fields: Sequence[str] | None) -> dict[str, Any]:
    query: dict[str, Any] = {"ids": ",".join(ids), "page": 1, "per_page": MAX_PER_PAGE}
    if fields:
        query["fields"] = ",".join(fields)
    return {"path_variables": {"module": module}, "query_params": query}


def probe_args(module: str) -> dict[str, Any]:
    return {"path_variables": {"module": module}, "query_params": {"page": 1, "per_page": 1}}


def search_args(op: SearchRecords) -> dict[str, Any]:
    query: dict[str, Any] = dict(op.query_params())
    query["page"] = op.page
    query["per_page"] = op.per_page
    return {"path_variables": {"module": op.module}, "query_params": query}


def update_args(module: str, records: Sequence[Mapping[str, Any]], trigger: Sequence[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"data": [dict(r) for r in records]}
    if trigger is not None:
        body["trigger"] = list(trigger)
    return {"path_variables": {"module": module}, "body": body}


def resolve_tool_name(wanted: str, available: frozenset[str] | None) -> str | None:
    """The server's name for `wanted`: exact, else the same name ignoring case, `_` and the `ZohoCRM_` prefix.

    So `ZohoCRM_Get_Records` also finds `Get_Records` or Zoho CRM's own `getRecords`. None when the
    server lists no such tool; `wanted` itself when the server did not list its tools.
    """
    if available is None or wanted in available:
        return wanted
    key = _tool_key(wanted)
    matches = sorted(name for name in available if _tool_key(name) == key)
    return matches[0] if matches else None


def _tool_key(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith("zohocrm_"):
        lowered = lowered[len("zohocrm_") :]
    return lowered.replace("_", "")


# ---------------------------------------------------------------------------------------------
# Tool results
# ---------------------------------------------------------------------------------------------


def result_text(result: CallToolResult) -> str:
    return "".join(getattr(block, "text", "") for block in result.content if getattr(block, "type", "") == "text")


def tool_payload(result: CallToolResult, *, allow_record_errors: bool = False) -> dict[str, Any] | None:
    """The Zoho JSON a tool result carries; None for a REST 204 (empty text or `{}`).

    Raises the classified `ZohoError` for an error envelope or an `isError` result. With
    `allow_record_errors`, an `isError` result that still carries per-record `data` (an update whose
    records all failed: REST 400 with a data list) is returned as data, as the REST tier does.
    """
    text = result_text(result)
    body: Any
    if text.strip():
        body = _loads(text)
    elif isinstance(result.structured_content, Mapping) and result.structured_content:
        body = dict(result.structured_content)
    else:
        body = None
    if body is _NOT_JSON:
        raise _text_error(text, is_error=result.is_error)
    if body is not None and not isinstance(body, Mapping):
        raise TransientError(
            "Zoho's MCP tool answered with JSON that is not an object", code="INVALID_RESPONSE", tier=TIER
        )
    body = _unwrap(body) if body is not None else None
    if result.is_error:
        if allow_record_errors and body and isinstance(body.get("data"), list) and "code" not in body:
            return dict(body)
        if body and "code" in body:
            raise error_from_envelope(body)
        raise _text_error(text, is_error=True)
    if not body:
        return None
    if is_error_envelope(body):
        raise error_from_envelope(body)
    return dict(body)


class _NotJson:
    pass


_NOT_JSON: Any = _NotJson()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


def _unwrap(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """Some Zoho MCP products re-wrap the REST answer as `{"data": {...answer...}, "status": "success"}`."""
    inner = body.get("data")
    if isinstance(inner, Mapping) and set(body) <= {"data", "status"}:
        return inner
    return body


def is_error_envelope(body: Mapping[str, Any]) -> bool:
    """`{"code","message","details","status":"error"}`; a proxy may drop `status`, never `code` and `message`."""
    if "code" not in body or isinstance(body.get("data"), list):
        return False
    return str(body.get("status", "")).lower() == "error" or "message" in body


def error_from_envelope(body: Mapping[str, Any], *, status: int | None = None) -> ZohoError:
    """Classify a Zoho request-level error envelope whose HTTP status the MCP layer did not pass on."""
    code = str(body.get("code") or "ERROR")
    message = str(body.get("message") or "Zoho's MCP server returned an error")
    raw = body.get("details")
    details = dict(raw) if isinstance(raw, Mapping) else {}
    if APIKEY_ERROR_TEXT in message.lower() or APIKEY_ERROR_TEXT in code.lower():
        return wrong_key_error()
    cls: type[ZohoError]
    if code == "TOO_MANY_REQUESTS" or status == 429:
        cls = RateLimitedError
    elif code in _AUTH_CODES or status in (401, 403):
        cls = AuthError
    elif code in _TRANSIENT_CODES or (status is not None and status >= 500):
        cls = TransientError
    else:
        cls = BusinessError
    return cls(message, code=code, details=details, status=status, tier=TIER)


def wrong_key_error() -> ConfigurationError:
    return ConfigurationError(
        "Zoho's MCP server rejected the key in ZOHO_MCP_URL (APIKey parsing Exception): the key is wrong, "
        "rotated or revoked; copy the server URL again from the Zoho MCP console",
        code="MCP_KEY_INVALID",
        tier=TIER,
    )


def _text_error(text: str, *, is_error: bool) -> ZohoError:
    snippet = redact(" ".join(text.split())[:200])
    lowered = text.lower()
    if APIKEY_ERROR_TEXT in lowered:
        return wrong_key_error()
    if any(m in lowered for m in _MISSING_TEXT):
        return ConfigurationError(
            f"Zoho's MCP server does not offer the tool this tier needs ({snippet}); add it to the server "
            "in the Zoho MCP console",
            code="MCP_TOOL_MISSING",
            tier=TIER,
        )
    if "unauthori" in lowered or "invalid oauth" in lowered:
        return AuthError(f"Zoho's MCP server refused the call: {snippet}", code="MCP_UNAUTHORIZED", tier=TIER)
    if is_error:
        return TransientError(f"Zoho's MCP tool failed: {snippet or 'no message'}", code="MCP_TOOL_ERROR", tier=TIER)
    return TransientError(
        f"Zoho's MCP tool answered with text that is not JSON: {snippet}", code="INVALID_RESPONSE", tier=TIER
    )


# ---------------------------------------------------------------------------------------------
# Normalised results
# ---------------------------------------------------------------------------------------------


#: What the shared REST-JSON parsing (`zoho_json`) names in its INVALID_RESPONSE errors.
SOURCE = zoho_json.Source(TIER, "Zoho's MCP tool")


def write_results(chunk: Sequence[Mapping[str, Any]], body: Mapping[str, Any] | None) -> list[WriteResult]:
    """One result per input record, matched by position (Zoho answers in request order)."""
    if body is None:
        raise TransientError(
            "Zoho's MCP tool answered an update with no content; whether it was applied is unknown",
            code="INVALID_RESPONSE",
            tier=TIER,
        )
    data = body.get("data")
    if not isinstance(data, list):
        raise SOURCE.invalid("an update without a data list")
    return zoho_json.write_results(chunk, data)


# ---------------------------------------------------------------------------------------------
# JSON-RPC errors and exceptions from the client
# ---------------------------------------------------------------------------------------------

#: Error codes after which the connection is not worth keeping: the next call reconnects.
CONNECTION_LEVEL_CODES = frozenset(
    {"CONNECT_ERROR", "CONNECTION_RESET", "TIMEOUT", "SESSION_EXPIRED", "CONNECT_TIMEOUT"}
)


def error_from_mcp_error(code: int, message: str, data: Any) -> ZohoError:
    """Classify a JSON-RPC error (`MCPError`): from Zoho's server, the mcp transport, or our HTTP guard."""
    guard = data.get(GUARD_KEY) if isinstance(data, Mapping) else None
    if isinstance(guard, Mapping):
        return _error_from_guard(guard, code=code, message=message)
    text = redact(" ".join(str(message).split())[:200])
    lowered = text.lower()
    if APIKEY_ERROR_TEXT in lowered:
        return wrong_key_error()
    if isinstance(data, Mapping) and "code" in data and "message" in data:
        return error_from_envelope(data)
    if "unauthori" in lowered or "forbidden" in lowered:
        return AuthError(f"Zoho's MCP server refused the call: {text}", code="MCP_UNAUTHORIZED", tier=TIER)
    if code == REQUEST_TIMEOUT:
        return maybe_sent(TransientError("Zoho's MCP server did not answer in time", code="TIMEOUT", tier=TIER))
    if code == CONNECTION_CLOSED:
        return maybe_sent(
            TransientError(f"the connection to Zoho's MCP server closed ({text})", code="CONNECTION_RESET", tier=TIER)
        )
    if code == METHOD_NOT_FOUND or any(m in lowered for m in _MISSING_TEXT):
        return ConfigurationError(
            f"Zoho's MCP server does not support what this tier needs ({text}); check the tools of the server "
            "behind ZOHO_MCP_URL",
            code="MCP_TOOL_MISSING",
            tier=TIER,
        )
    if code == INVALID_PARAMS:
        return ConfigurationError(
            f"Zoho's MCP server refused the tool arguments ({text}); its tool schema differs from the Zoho MCP "
            "platform's",
            code="MCP_INVALID_PARAMS",
            tier=TIER,
        )
    if code == INVALID_REQUEST and "session" in lowered:
        return TransientError("Zoho's MCP session expired", code="SESSION_EXPIRED", tier=TIER)
    if code in (INTERNAL_ERROR, PARSE_ERROR):
        return TransientError(f"Zoho's MCP server failed: {text}", code="MCP_INTERNAL_ERROR", tier=TIER)
    return TransientError(f"Zoho's MCP server returned error {code}: {text}", code="MCP_ERROR", tier=TIER)


def _error_from_guard(guard: Mapping[str, Any], *, code: int, message: str) -> ZohoError:
    kind = str(guard.get("kind", ""))
    detail = redact(str(guard.get("detail", "")))[:120]
    status = guard.get("status") if isinstance(guard.get("status"), int) else None
    if kind == "timeout":
        return maybe_sent(
            TransientError(f"Zoho's MCP server did not answer in time ({detail})", code="TIMEOUT", tier=TIER)
        )
    if kind == "connect":
        code = {"ConnectTimeout": "CONNECT_TIMEOUT", "PoolTimeout": "POOL_TIMEOUT"}.get(detail, "CONNECT_ERROR")
        return not_sent(
            TransientError(f"could not connect to Zoho's MCP server ({detail})", code=code, tier=TIER)
        )
    if kind == "network":
        return maybe_sent(
            TransientError(f"the connection to Zoho's MCP server broke ({detail})", code="CONNECTION_RESET", tier=TIER)
        )
    # kind == "http": the endpoint answered with an HTTP error status.
    body = guard.get("body")
    if isinstance(body, Mapping) and "code" in body and not isinstance(body.get("data"), list):
        return error_from_envelope(body, status=status)
    text = redact(" ".join(str(message).split())[:200])
    if APIKEY_ERROR_TEXT in text.lower() or APIKEY_ERROR_TEXT in detail.lower():
        return wrong_key_error()
    if status in (401, 403):
        return AuthError(
            f"Zoho's MCP server refused the credentials (HTTP {status}): set ZOHO_MCP_TOKEN to a valid bearer "
            "token, or use a server URL with 'Authorization via Connection'",
            code="MCP_UNAUTHORIZED",
            status=status,
            tier=TIER,
        )
    if status == 404:
        return TransientError(
            "Zoho's MCP server no longer knows this session (HTTP 404)", code="SESSION_EXPIRED", status=404, tier=TIER
        )
    if status == 429:
        return RateLimitedError(
            "Zoho's MCP server is throttling (HTTP 429)", code="TOO_MANY_REQUESTS", status=429, tier=TIER
        )
    if status is not None and status >= 500:
        return TransientError(
            f"Zoho's MCP server failed (HTTP {status})", code=f"HTTP_{status}", status=status, tier=TIER
        )
    return TransientError(
        f"Zoho's MCP server answered HTTP {status}: {text}", code=f"HTTP_{status}", status=status, tier=TIER
    )


def first_leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside (nested) exception groups: the actual failure."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def error_from_exception(exc: BaseException) -> ZohoError:
    """Classify anything the mcp client raised that is not an `MCPError` (groups are unwrapped first)."""
    import anyio
    import httpx2
    from mcp.shared.exceptions import MCPError

    leaf = first_leaf(exc)
    if isinstance(leaf, ZohoError):
        return leaf
    if isinstance(leaf, MCPError):
        return error_from_mcp_error(leaf.code, leaf.message, leaf.data)
    name = type(leaf).__name__
    if isinstance(leaf, httpx2.ConnectTimeout):
        return not_sent(
            TransientError(f"connecting to Zoho's MCP server timed out ({name})", code="CONNECT_TIMEOUT", tier=TIER)
        )
    if isinstance(leaf, httpx2.PoolTimeout):
        return not_sent(
            TransientError(f"no free connection to Zoho's MCP server ({name})", code="POOL_TIMEOUT", tier=TIER)
        )
    if isinstance(leaf, (httpx2.TimeoutException, TimeoutError)):
        return maybe_sent(TransientError(f"Zoho's MCP server did not answer in time ({name})", code="TIMEOUT", tier=TIER))
    if isinstance(leaf, httpx2.ConnectError):
        return not_sent(
            TransientError(f"could not connect to Zoho's MCP server ({name})", code="CONNECT_ERROR", tier=TIER)
        )
    if isinstance(leaf, httpx2.HTTPStatusError):
        status = leaf.response.status_code
        return _error_from_guard({"kind": "http", "status": status}, code=0, message=f"HTTP {status}")
    if isinstance(
        leaf, (httpx2.TransportError, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)
    ):
        return maybe_sent(
            TransientError(f"the connection to Zoho's MCP server broke ({name})", code="CONNECTION_RESET", tier=TIER)
        )
    return maybe_sent(
        TransientError(
            f"unexpected failure talking to Zoho's MCP server: {name}: {redact(str(leaf))[:200]}",
            code="MCP_CLIENT_ERROR",
            tier=TIER,
        )
    )
