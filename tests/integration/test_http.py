"""Streamable HTTP: /mcp, /healthz, /metrics; the token rule for non-loopback binds; DNS-rebinding checks."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from serve_helpers import free_port, serve_command, server_env

pytestmark = pytest.mark.slow

TOKEN = "test-server-token-0123456789abcdef"


class Served:
    """A running `serve --transport http` subprocess, with its stderr (JSON logs) in a file."""

    def __init__(self, proc: subprocess.Popen[str], port: int, stderr: Path) -> None:
        self.proc, self.port, self.stderr = proc, port, stderr

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _start(tmp_path: Path, *args: str, **env: str) -> Served:
    port = free_port()
    stderr = tmp_path / f"stderr-{port}.log"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            serve_command("--sandbox", "--transport", "http", "--port", str(port), *args),
            env=server_env(**env),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {stderr.read_text()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return Served(proc, port, stderr)
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start")


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Started once for the module: the tests below only read from it."""
    served = _start(tmp_path_factory.mktemp("open"))
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[int]:
    served = _start(tmp_path, "--host", "0.0.0.0", ZOHO_MCP_SERVER_TOKEN=TOKEN)
    try:
        yield served.port
    finally:
        served.stop()


def _primary_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it is not loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.255", 9))
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def _tools(url: str, headers: dict[str, str] | None = None) -> set[str]:
    async with httpx2.AsyncClient(headers=headers or {}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            r = await c.call_tool("search_accounts", {"word": "Inc", "per_page": 1})
            assert not r.is_error, r.content
            return names


def test_loopback_http_serves_mcp_healthz_and_metrics(open_server: Served) -> None:
    base = open_server.base
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    names = anyio.run(_tools, f"{base}/mcp")
    assert "bulk_update" in names
    metrics = httpx.get(f"{base}/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}  # raises on bad syntax
    assert families
    samples = [s for f in families.values() for s in f.samples]
    assert any(s.labels.get("tier") for s in samples), sorted(families)  # per-tier gateway metrics


def test_binds_loopback_by_default(open_server: Served) -> None:
    listening = [r for r in open_server.logs() if r.get("event") == "http_listening"]
    assert listening and listening[0]["url"] == f"http://127.0.0.1:{open_server.port}/mcp"
    address = _primary_address()
    if address is not None:  # reachable on loopback only: this machine's own address is refused
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{address}:{open_server.port}/healthz", timeout=2)


def test_http_is_stateless(open_server: Served) -> None:
    """No session: a request needs no Mcp-Session-Id and none is handed out, so any replica can answer."""
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2025-11-25"}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
    first = httpx.post(f"{open_server.base}/mcp", json=init, headers=headers)
    assert first.status_code == 200
    assert "mcp-session-id" not in first.headers
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "get_account", "arguments": {"account_id": "2867825000000103864"}}}
    second = httpx.post(f"{open_server.base}/mcp", json=call, headers=headers)  # a fresh request, no session
    assert second.status_code == 200, second.text
    assert "mcp-session-id" not in second.headers
    assert '"2867825000000103864"' in second.text and '"isError":true' not in second.text.replace(" ", "")


def test_foreign_host_and_origin_are_refused(open_server: Served) -> None:
    url = f"{open_server.base}/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    assert httpx.post(url, json=body, headers={**headers, "host": "evil.example"}).status_code == 421
    assert httpx.post(url, json=body, headers={**headers, "origin": "http://evil.example"}).status_code == 403
    allowed = httpx.post(url, json=body, headers={**headers, "origin": f"http://localhost:{open_server.port}"})
    assert allowed.status_code not in (403, 421)


def test_non_loopback_bind_without_token_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        serve_command("--sandbox", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())),
        env=server_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ZOHO_MCP_SERVER_TOKEN" in lines[0]


@pytest.mark.parametrize("token", ["", "q7Zx9w"])
def test_non_loopback_bind_with_a_blank_or_short_token_is_refused(tmp_path: Path, token: str) -> None:
    done = subprocess.run(
        serve_command("--sandbox", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())),
        env=server_env(ZOHO_MCP_SERVER_TOKEN=token), cwd=tmp_path, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "ZOHO_MCP_SERVER_TOKEN" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert token not in done.stderr or not token


def test_with_a_token_every_request_needs_it(token_server: int) -> None:
    base = f"http://127.0.0.1:{token_server}"
    for path in ("/healthz", "/metrics"):
        refused = httpx.get(base + path)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert httpx.get(base + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(base + path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert httpx.post(f"{base}/mcp", json=body).status_code == 401
    assert TOKEN not in httpx.post(f"{base}/mcp", json=body).text
    names = anyio.run(_tools, f"{base}/mcp", {"Authorization": f"Bearer {TOKEN}"})
    assert names == {"get_account", "search_accounts", "bulk_read_accounts", "bulk_update"}


def test_get_mcp_has_no_stream_to_offer_and_says_so(open_server: Served) -> None:
    """Stateless: no standalone SSE stream, so GET answers 405 at once instead of an event stream that never ends."""
    response = httpx.get(f"{open_server.base}/mcp", headers={"accept": "text/event-stream"}, timeout=5)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in response.text


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_probes_get_the_same_host_and_origin_checks_as_mcp(open_server: Served, path: str) -> None:
    url = f"{open_server.base}{path}"
    assert httpx.get(url, headers={"host": "evil.example"}).status_code == 421
    assert httpx.get(url, headers={"origin": "http://evil.example"}).status_code == 403
    assert httpx.get(url, headers={"origin": f"http://localhost:{open_server.port}"}).status_code == 200
    assert httpx.get(url).status_code == 200


def test_stateless_http_does_not_offer_resource_subscriptions(open_server: Served) -> None:
    """Notifications can never reach a stateless HTTP client, so subscribing is neither advertised nor accepted."""
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2025-11-25"}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
    first = httpx.post(f"{open_server.base}/mcp", json=init, headers=headers)
    assert first.status_code == 200, first.text
    capabilities = _json_rpc(first.text)["result"]["capabilities"]
    assert not capabilities["resources"].get("subscribe")
    sub = {"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": "zoho://health"}}
    answer = _json_rpc(httpx.post(f"{open_server.base}/mcp", json=sub, headers=headers).text)
    assert "error" in answer and "result" not in answer


def _json_rpc(text: str) -> dict[str, Any]:
    """The JSON-RPC message of a response body, plain JSON or a single SSE event."""
    text = text.strip()
    if text.startswith("{"):
        return json.loads(text)
    data = [line.removeprefix("data:").strip() for line in text.splitlines() if line.startswith("data:")]
    return json.loads(data[-1])
