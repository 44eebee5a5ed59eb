"""An httpx2 transport that turns every failed MCP POST into a JSON-RPC error for that request alone.

Why: the mcp client posts each request from a task of the connection's task group. A transport
exception there (connect error, reset, read timeout) crashes the whole group, which fails every
call in flight on the shared connection, and an HTTP error status reaches the caller only as
`INTERNAL_ERROR "Server returned an error response"`, without the status. This guard answers the
failed POST with an `application/json` JSON-RPC error instead; the mcp transport delivers it to the
one waiting caller, and `error.data["zoho_mcp_http"]` says what happened (connect / timeout / network /
http + status), so the tier can classify it precisely and decide to reconnect.

Only POSTs are guarded: the GET event stream and the closing DELETE already handle their failures.
JSON bodies are read here in full, so a connection dropped mid-body is caught too; event streams
pass through (the mcp transport resolves a broken stream as "Connection closed").
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

from zoho_mcp.logs import redact
from zoho_mcp.tiers.mcp_parse import GUARD_KEY, TRANSPORT_ERROR_CODE

#: Error bodies larger than this are cut before parsing (they are only ever classified).
_MAX_ERROR_BODY = 64 * 1024


class GuardedTransport(httpx2.AsyncBaseTransport):
    """Wraps a real transport; see the module docstring."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._inner = inner if inner is not None else httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method != "POST":
            return await self._inner.handle_async_request(request)
        try:
            response = await self._inner.handle_async_request(request)
            content_type = response.headers.get("content-type", "").lower()
            if response.status_code < 400 and content_type.startswith("text/event-stream"):
                return response
            raw, headers = await _read_raw(response)
        except (httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.ConnectError, httpx2.UnsupportedProtocol) as exc:
            return _synthetic(request, kind="connect", detail=type(exc).__name__)
        except httpx2.TimeoutException as exc:
            return _synthetic(request, kind="timeout", detail=type(exc).__name__)
        except httpx2.TransportError as exc:
            return _synthetic(request, kind="network", detail=type(exc).__name__)
        if response.status_code < 400:
            return httpx2.Response(
                status_code=response.status_code,
                headers=headers,
                content=raw,
                request=request,
                extensions=response.extensions,
            )
        return _http_error(request, response.status_code, headers, raw)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _synthetic(
    request: httpx2.Request, *, kind: str, detail: str, status: int = 599, body: Any = None
) -> httpx2.Response:
    guard: dict[str, Any] = {"kind": kind, "detail": detail}
    if kind != "http":
        # "connect": the POST never left (no connection, connect/pool timeout); otherwise it may have.
        guard["sent"] = kind != "connect"
    if kind == "http":
        guard["status"] = status
    if body is not None:
        guard["body"] = body
    message = {
        "timeout": "request to the MCP server timed out",
        "connect": "could not connect to the MCP server",
        "network": "the connection to the MCP server broke",
    }.get(kind, f"the MCP server answered HTTP {status}")
    payload = {
        "jsonrpc": "2.0",
        "id": _request_id(request),
        "error": {"code": TRANSPORT_ERROR_CODE, "message": message, "data": {GUARD_KEY: guard}},
    }
    return httpx2.Response(
        status_code=status if kind == "http" else 599,
        headers={"content-type": "application/json"},
        content=json.dumps(payload).encode(),
        request=request,
    )


async def _read_raw(response: httpx2.Response) -> tuple[bytes, httpx2.Headers]:
    """The body as sent (still content-encoded) with its headers; a body already read is taken decoded."""
    try:
        try:
            return b"".join([chunk async for chunk in response.aiter_raw()]), response.headers
        finally:
            await response.aclose()
    except httpx2.StreamConsumed:
        headers = httpx2.Headers(response.headers)
        headers.pop("content-encoding", None)
        return response.content, headers


def _http_error(request: httpx2.Request, status: int, headers: httpx2.Headers, raw: bytes) -> httpx2.Response:
    """An HTTP error status: keep a JSON-RPC error the server sent, adding the status; else synthesise one."""
    text = _decode(headers, raw[:_MAX_ERROR_BODY])
    try:
        parsed: Any = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict) and "jsonrpc" in parsed:
        error = dict(parsed["error"])
        data = error.get("data")
        guard = {"kind": "http", "status": status, "detail": redact(str(error.get("message", "")))[:200]}
        if data is None:
            error["data"] = {GUARD_KEY: guard}
        elif isinstance(data, dict):
            error["data"] = {**data, GUARD_KEY: guard}
        payload = {"jsonrpc": "2.0", "id": _request_id(request), "error": error}
        return httpx2.Response(
            status_code=status,
            headers={"content-type": "application/json"},
            content=json.dumps(payload).encode(),
            request=request,
        )
    body = parsed if isinstance(parsed, dict) else None
    detail = redact(" ".join(text.split())[:200]) if body is None else ""
    return _synthetic(request, kind="http", detail=detail, status=status, body=body)


def _decode(headers: httpx2.Headers, raw: bytes) -> str:
    encoding = headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate"):
        import zlib

        try:
            raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        except zlib.error:
            return ""
    return raw.decode("utf-8", errors="replace")


def _request_id(request: httpx2.Request) -> Any:
    try:
        message = json.loads(request.content)
    except (ValueError, httpx2.RequestNotRead):
        return None
    return message.get("id") if isinstance(message, dict) else None
