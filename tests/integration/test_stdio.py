"""`zoho-mcp serve --sandbox` as a real subprocess over stdio: the mcp client library, and raw JSON-RPC."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import JSONRPCMessage
from pydantic import TypeAdapter

from serve_helpers import free_port, repo_root, serve_command, server_env

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


JSON_RPC: TypeAdapter[Any] = TypeAdapter(JSONRPCMessage)
#: An id of the seeded sandbox (seed 42), and one above 2**63 that Zoho does not have.
SEEDED_ID = "2867825000000103864"
HUGE_ID = "9999999999999999999"


def test_every_stdout_line_is_json_rpc(tmp_path: Path) -> None:
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("w") as stderr_file:
        lines, returncode = _raw_session(tmp_path, stderr_file)
    assert returncode == 0
    assert lines
    for line in lines:
        assert line.strip(), "blank line on stdout"
        JSON_RPC.validate_json(line)  # raises unless it is one JSON-RPC 2.0 message
        assert json.loads(line)["jsonrpc"] == "2.0"
    errors = [line for line in stderr_path.read_text().splitlines() if line.strip()]
    assert errors and all(isinstance(json.loads(line), dict) for line in errors)  # logs: JSON, on stderr


def _raw_session(tmp_path: Path, stderr_file: Any) -> tuple[list[str], int]:
    proc = subprocess.Popen(
        serve_command("--sandbox"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
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
        # Ids as bare JSON numbers, written as the literal bytes a client would send: they arrive exact.
        for request_id, number in ((5, SEEDED_ID), (6, HUGE_ID)):
            raw = ('{"jsonrpc": "2.0", "id": %d, "method": "tools/call", "params": {"name": "get_account", '
                   '"arguments": {"account_id": %s}}}\n' % (request_id, number))
            proc.stdin.write(raw)
            proc.stdin.flush()
        found = read_until(5)["result"]
        assert found.get("isError") is not True, found
        assert found["structuredContent"]["account"]["id"] == SEEDED_ID
        missing = read_until(6)["result"]
        assert missing["isError"] is True
        assert missing["content"][0]["text"].startswith(f"NOT_FOUND: no account has id '{HUGE_ID}'")
        proc.stdin.close()
        proc.wait(timeout=30)
        lines.extend(proc.stdout.read().splitlines(keepends=True))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return lines, proc.returncode


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


def test_the_mcp_json_sandbox_entry_runs_as_written(tmp_path: Path) -> None:
    """The entry newcomers copy into their client: its command (the installed console script) and args."""
    entry = json.loads((repo_root() / "mcp.json").read_text())["mcpServers"]["zoho-crm-sandbox"]
    command = Path(sys.executable).parent / entry["command"]
    assert command.exists(), f"{entry['command']} is not installed beside {sys.executable}"
    params = StdioServerParameters(command=str(command), args=entry["args"], env=server_env(**entry.get("env", {})),
                                   cwd=str(tmp_path))

    async def run() -> tuple[set[str], Any]:
        with tempfile.TemporaryFile("w+") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as c:
                names = {t.name for t in (await c.list_tools()).tools}
                return names, await c.call_tool("get_account", {"account_id": SEEDED_ID})

    names, result = anyio.run(run)
    assert names == {"get_account", "search_accounts", "bulk_read_accounts", "bulk_update"}
    assert not result.is_error and result.structured_content["account"]["id"] == SEEDED_ID


def test_unexpanded_config_placeholders_are_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    """Claude Desktop passes "${ZOHO_CLIENT_ID}" through as it is; say so instead of failing on every call."""
    env = server_env(ZOHO_CLIENT_ID="${ZOHO_CLIENT_ID}", ZOHO_CLIENT_SECRET="${ZOHO_CLIENT_SECRET}",
                     ZOHO_REFRESH_TOKEN="1000.abc.def", ZOHO_MCP_URL="${ZOHO_MCP_URL}")
    done = subprocess.run(serve_command(), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for name in ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_MCP_URL"):
        assert name in lines[0]
    assert "ZOHO_REFRESH_TOKEN" not in lines[0] and "placeholders" in lines[0]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_stdio_server_cleanly_while_stdin_stays_open(tmp_path: Path, signum: int) -> None:
    """Ctrl-C or SIGTERM with the client still attached: exit 0 (SIGNAL_EXIT_CODE), logged, cleaned up."""
    temp = tmp_path / "tmp"  # where `serve --sandbox` puts its state folder, so the test can see it go
    temp.mkdir()
    proc = subprocess.Popen(serve_command("--sandbox"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=server_env(TMPDIR=str(temp)), cwd=tmp_path, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        assert list(temp.glob("zoho-mcp-sandbox-*")), "the sandbox state folder should exist while serving"
        proc.send_signal(signum)
        try:
            returncode = proc.wait(timeout=15)  # a hang guard, not a timing assertion
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server ignored {signal.Signals(signum).name} while stdin was open")
        stdout, stderr = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert returncode == 0, stderr[-2000:]
    assert stdout == ""
    assert "Traceback" not in stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    names = [e.get("event") for e in events]
    stopping = [e for e in events if e.get("event") == "server_stopping"]
    assert stopping and stopping[0]["signal"] == signal.Signals(signum).name
    assert "gateway_closed" in names and "server_stopped" in names
    assert names.index("gateway_closed") < names.index("server_stopped")
    assert not list(temp.glob("zoho-mcp-sandbox-*")), "the sandbox state folder was left behind"


@pytest.mark.parametrize(("state_dir", "problem"), [("/proc/nope", "cannot be created"),
                                                    ("/etc/passwd", "is not a directory")])
def test_a_bad_state_dir_is_one_clear_line_and_exit_2(tmp_path: Path, state_dir: str, problem: str) -> None:
    env = server_env(ZOHO_STATE_DIR=state_dir, ZOHO_CLIENT_ID="1000.X", ZOHO_CLIENT_SECRET="s",
                     ZOHO_REFRESH_TOKEN="1000.r.t", ENABLE_TIER1_MCP="false")
    done = subprocess.run(serve_command(), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "ZOHO_STATE_DIR" in lines[0] and state_dir in lines[0] and problem in lines[0]


def test_sigterm_stops_serve_over_http_with_the_same_cleanup(tmp_path: Path) -> None:
    """uvicorn re-raises the SIGTERM it handled, which used to kill `serve` before it removed the sandbox's
    state folder (exit -15); now it cleans up and exits 0, as over stdio."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    proc = subprocess.Popen(serve_command("--sandbox", "--transport", "http", "--port", str(port)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=server_env(TMPDIR=str(temp)), cwd=tmp_path, text=True)
    try:
        for _ in range(600):  # a hang guard while the server starts
            if proc.poll() is not None:
                break
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the HTTP server did not start"
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=15)
        stdout, stderr = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert returncode == 0, stderr[-2000:]
    assert stdout == "" and "Traceback" not in stderr
    assert "Application shutdown complete" in stderr  # uvicorn's own log of the graceful stop
    assert not list(temp.glob("zoho-mcp-sandbox-*")), "the sandbox state folder was left behind"
