"""`zoho-mcp serve --sandbox` as a real subprocess over stdio: the mcp client library, and raw JSON-RPC."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from serve_helpers import serve_command, server_env

pytestmark = pytest.mark.slow


def _params(*args: str, cwd: Path, **env: str) -> StdioServerParameters:
    cmd = serve_command(*args)
    return StdioServerParameters(command=cmd[0], args=cmd[1:], env=server_env(**env), cwd=str(cwd))


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_serve_sandbox_over_stdio_with_the_mcp_client(tmp_path: Path, mode: str) -> None:
    with tempfile.TemporaryFile("w+") as errlog:
        with anyio.fail_after(60):
            async with Client(stdio_client(_params("--sandbox", cwd=tmp_path), errlog=errlog), mode=mode) as c:
                names = {t.name for t in (await c.list_tools()).tools}
                assert names == {"get_account", "search_accounts", "bulk_read_accounts", "bulk_update"}
                r = await c.call_tool("search_accounts", {"word": "Inc", "per_page": 2})
                assert not r.is_error, r.content
                accounts = r.structured_content["accounts"]  # type: ignore[index]
                assert accounts
                first = accounts[0]["id"]
                r = await c.call_tool("get_account", {"account_id": first})
                assert not r.is_error and r.structured_content["account"]["id"] == first  # type: ignore[index]
                r = await c.call_tool("bulk_read_accounts", {"account_ids": [first]})
                assert not r.is_error
                r = await c.call_tool("bulk_update", {"updates": [{"id": first, "fields": {"Phone": "1"}}]})
                assert not r.is_error and r.structured_content["summary"]["succeeded"] == 1  # type: ignore[index]
                r = await c.call_tool("get_account", {"account_id": "abc"})
                assert r.is_error
                health = await c.read_resource("zoho://health", cache_mode="bypass")
                doc = json.loads(health.contents[0].text)  # type: ignore[union-attr]
                assert set(doc["tiers"]) == {"mcp", "sdk", "rest"}
        errlog.seek(0)
        records = [json.loads(line) for line in errlog.read().splitlines() if line.strip()]  # all JSON
        started = [r for r in records if r.get("event") == "sandbox_started"]
        assert started and started[0]["admin_url"].endswith("/__sandbox__")


def test_every_stdout_line_is_json_rpc(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        serve_command("--sandbox"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=server_env(),
        cwd=tmp_path,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []

    def send(message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()

    def read_until(request_id: int) -> dict[str, Any]:
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            assert line, "server closed stdout early"
            lines.append(line)
            msg = json.loads(line)
            if msg.get("id") == request_id:
                return dict(msg)

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
        init = read_until(1)
        assert init["result"]["serverInfo"]["name"] == "zoho-mcp"
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert len(read_until(2)["result"]["tools"]) == 4
        send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "search_accounts", "arguments": {"word": "Inc", "per_page": 1}, "_meta": {"progressToken": 7}}})
        result = read_until(3)["result"]
        assert result.get("isError") is not True
        assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
        send({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "get_account", "arguments": {"account_id": "x"}}})
        assert read_until(4)["result"]["isError"] is True
        proc.stdin.close()
        proc.wait(timeout=30)
        lines.extend(proc.stdout.read().splitlines(keepends=True))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert lines
    for line in lines:
        if not line.strip():
            continue
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0"
        assert ("id" in message) or ("method" in message)


def test_read_only_flag_removes_bulk_update(tmp_path: Path) -> None:
    async def run() -> set[str]:
        with tempfile.TemporaryFile("w+") as errlog:
            async with Client(stdio_client(_params("--sandbox", "--read-only", cwd=tmp_path), errlog=errlog)) as c:
                return {t.name for t in (await c.list_tools()).tools}

    assert anyio.run(run) == {"get_account", "search_accounts", "bulk_read_accounts"}


def test_read_only_env_removes_bulk_update(tmp_path: Path) -> None:
    async def run() -> set[str]:
        with tempfile.TemporaryFile("w+") as errlog:
            params = _params("--sandbox", cwd=tmp_path, ZOHO_MCP_READ_ONLY="true")
            async with Client(stdio_client(params, errlog=errlog)) as c:
                return {t.name for t in (await c.list_tools()).tools}

    assert "bulk_update" not in anyio.run(run)


def test_missing_credentials_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(serve_command(), env=server_env(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for name in ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "ZOHO_MCP_URL"):
        assert name in lines[0]
    assert "--sandbox" in lines[0]


def test_invalid_setting_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(serve_command("--sandbox"), env=server_env(MAX_RETRY_ATTEMPTS="many"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "MAX_RETRY_ATTEMPTS" in done.stderr and len(done.stderr.strip().splitlines()) == 1
