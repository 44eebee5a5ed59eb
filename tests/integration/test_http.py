"""Streamable HTTP: /mcp, /healthz, /metrics; the token rule for non-loopback binds; DNS-rebinding checks."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from serve_helpers import free_port, serve_command, server_env

pytestmark = pytest.mark.slow

TOKEN = "test-server-token-0123456789abcdef"


def _start(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        serve_command("--sandbox", "--transport", "http", "--port", str(port), *args),
        env=server_env(**env),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc, port
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


@pytest.fixture
def open_server(tmp_path: Path) -> Iterator[int]:
    proc, port = _start(tmp_path)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[int]:
    proc, port = _start(tmp_path, "--host", "0.0.0.0", ZOHO_MCP_SERVER_TOKEN=TOKEN)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _tools(url: str, headers: dict[str, str] | None = None) -> set[str]:
    async with httpx2.AsyncClient(headers=headers or {}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            r = await c.call_tool("search_accounts", {"word": "Inc", "per_page": 1})
            assert not r.is_error, r.content
            return names


def test_loopback_http_serves_mcp_healthz_and_metrics(open_server: int) -> None:
    base = f"http://127.0.0.1:{open_server}"
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    names = anyio.run(_tools, f"{base}/mcp")
    assert "bulk_update" in names
    metrics = httpx.get(f"{base}/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in metrics.text


def test_foreign_host_and_origin_are_refused(open_server: int) -> None:
    url = f"http://127.0.0.1:{open_server}/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    assert httpx.post(url, json=body, headers={**headers, "host": "evil.example"}).status_code == 421
    assert httpx.post(url, json=body, headers={**headers, "origin": "http://evil.example"}).status_code == 403


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
