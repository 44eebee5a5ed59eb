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
    repaired = transcript[transcript.index("Repair Tier 1"):]
    assert "mcp  circuit=closed" in repaired, repaired  # the recovery is shown, not only claimed
    assert "its circuit closed again" in repaired
    assert "failover" in transcript
    assert "requests that reached the sandbox meanwhile: 0" in transcript
    assert "sandbox-client-secret" not in transcript and "sandbox-mcp-key" not in transcript


def test_long_error_lines_are_cut_at_a_word_boundary() -> None:
    from zoho_mcp.demo import clip

    line = "INVALID_ARGUMENTS: search_accounts was called with invalid arguments: filters[0].operator: unknown operator"
    short = clip(line, 60)
    assert len(short) <= 60 and short.endswith("…")
    assert line.startswith(short[:-1]) and line[len(short) - 1] == " "  # no word cut in half
    assert clip("short", 60) == "short"
