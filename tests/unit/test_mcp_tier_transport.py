"""The HTTP guard under Tier 1: every failed POST becomes a JSON-RPC error for that request alone."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest

from zoho_mcp.tiers.mcp_parse import GUARD_KEY, TRANSPORT_ERROR_CODE, error_from_mcp_error
from zoho_mcp.tiers.mcp_transport import GuardedTransport

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/mcp/guard-test-key/message"
RPC = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "ZohoCRM_Get_Records"}}


def _client(handler: Callable[[httpx2.Request], httpx2.Response]) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=GuardedTransport(httpx2.MockTransport(handler)))


def _raising(exc_type: type[Exception]) -> Callable[[httpx2.Request], httpx2.Response]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise exc_type("boom", request=request)  # type: ignore[call-arg]

    return handler


async def _post(client: httpx2.AsyncClient) -> httpx2.Response:
    async with client:
        return await client.post(URL, json=RPC)


def _error(response: httpx2.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert payload["jsonrpc"] == "2.0" and payload["id"] == 7
    return dict(payload["error"])


@pytest.mark.parametrize(
    ("exc", "kind", "code", "sent"),
    [
        (httpx2.ConnectError, "connect", "CONNECT_ERROR", False),
        (httpx2.ConnectTimeout, "connect", "CONNECT_TIMEOUT", False),
        (httpx2.PoolTimeout, "connect", "POOL_TIMEOUT", False),
        (httpx2.ReadTimeout, "timeout", "TIMEOUT", True),
        (httpx2.WriteTimeout, "timeout", "TIMEOUT", True),
        (httpx2.RemoteProtocolError, "network", "CONNECTION_RESET", True),
        (httpx2.ReadError, "network", "CONNECTION_RESET", True),
        (httpx2.WriteError, "network", "CONNECTION_RESET", True),
    ],
)
async def test_transport_failures_become_json_rpc_errors(exc: type[Exception], kind: str, code: str, sent: bool) -> None:
    response = await _post(_client(_raising(exc)))
    assert response.status_code >= 400
    error = _error(response)
    assert error["code"] == TRANSPORT_ERROR_CODE
    assert error["data"][GUARD_KEY]["kind"] == kind
    assert error["data"][GUARD_KEY]["sent"] is sent
    zerr = error_from_mcp_error(error["code"], error["message"], error["data"])
    assert zerr.code == code
    assert zerr.details["sent"] is sent  # False only when the POST provably never left


async def test_a_real_refused_connection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx2.AsyncClient(transport=GuardedTransport()) as client:
        response = await client.post(f"http://127.0.0.1:{port}/mcp/k/message", json=RPC)
    error = _error(response)
    assert error["data"][GUARD_KEY]["kind"] == "connect"
    zerr = error_from_mcp_error(error["code"], error["message"], error["data"])
    assert zerr.code == "CONNECT_ERROR" and zerr.details["sent"] is False


async def test_other_methods_are_not_guarded() -> None:
    async with _client(_raising(httpx2.ConnectError)) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get(URL)


async def test_success_passes_through_with_content_encoding() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "result": {"content": []}}).encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200, headers={"content-type": "application/json", "content-encoding": "gzip"}, content=gzip.compress(body)
        )

    response = await _post(_client(handler))
    assert response.status_code == 200
    assert response.json()["result"] == {"content": []}


async def test_event_stream_passes_through() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=b"event: message\ndata: {}\n\n"
        )

    async with _client(handler) as client, client.stream("POST", URL, json=RPC) as response:
        assert b"".join([c async for c in response.aiter_bytes()]).startswith(b"event: message")


class _BreaksMidBody(httpx2.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"jsonrpc": "2.0", "id": 7, "res'
        raise httpx2.ReadError("connection reset by peer")


async def test_a_connection_dropped_mid_body_is_a_network_error() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "application/json"}, stream=_BreaksMidBody())

    error = _error(await _post(_client(handler)))
    assert error["data"][GUARD_KEY]["kind"] == "network"


async def test_http_401_without_json_rpc_body_keeps_the_status() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(401, headers={"www-authenticate": "Bearer"}, json={"error": "invalid_token"})

    response = await _post(_client(handler))
    assert response.status_code == 401
    guard = _error(response)["data"][GUARD_KEY]
    assert guard["kind"] == "http" and guard["status"] == 401 and guard["body"] == {"error": "invalid_token"}


async def test_http_error_with_json_rpc_body_keeps_the_error_and_adds_the_status() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            400, json={"jsonrpc": "2.0", "id": None, "error": {"code": -32602, "message": "bad", "data": {"x": 1}}}
        )

    error = _error(await _post(_client(handler)))
    assert error["code"] == -32602 and error["message"] == "bad"
    assert error["data"]["x"] == 1
    assert error["data"][GUARD_KEY]["status"] == 400


async def test_html_error_page_text_is_kept_short_and_redacted() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(502, text="<html>bad gateway for /mcp/guard-test-key/message</html>" + "x" * 5000)

    guard = _error(await _post(_client(handler)))["data"][GUARD_KEY]
    assert guard["status"] == 502
    assert "guard-test-key" not in guard["detail"]
    assert len(guard["detail"]) <= 200
