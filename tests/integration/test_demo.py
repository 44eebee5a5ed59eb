"""`zoho-mcp demo` end to end: exit 0, and a transcript that shows every tool, health and the failover."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from serve_helpers import server_env

pytestmark = pytest.mark.slow


def test_demo_runs_every_tool_and_shows_the_failover(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "zoho_mcp", "demo"], env=server_env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    transcript = done.stdout
    assert done.returncode == 0, transcript + done.stderr[-3000:]
    for tool in ("get_account", "search_accounts", "bulk_read_accounts", "bulk_update"):
        assert f"→ {tool}(" in transcript, tool
    assert "zoho://health" in transcript
    assert "mcp 503 → sdk 200" in transcript
    assert "circuit=open" in transcript
    assert "failover" in transcript
    assert "requests that reached the sandbox meanwhile: 0" in transcript
    assert "sandbox-client-secret" not in transcript and "sandbox-mcp-key" not in transcript
