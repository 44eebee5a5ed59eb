"""Smoke test with the MCP Inspector's CLI (a third-party client) against `zoho-mcp serve --sandbox`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from serve_helpers import server_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("npx") is None, reason="node/npx is not installed: the Inspector CLI needs it"),
]

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


@pytest.fixture(scope="module", autouse=True)
def inspector_installed() -> None:
    """Fetch the Inspector once. Only a missing node, or an npm registry it cannot reach, skips the tests;
    once it runs, a hang or an error of ours fails them."""
    try:
        done = subprocess.run(["npx", "-y", INSPECTOR, "--version"], capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.skip("npx could not fetch the Inspector within 300 s (npm registry unreachable?)")
    if done.returncode != 0:
        pytest.skip(f"npx could not fetch the Inspector (npm registry unreachable?): {done.stderr[-300:]}")


def inspector(tmp_path: Path, *args: str) -> dict[str, Any]:
    cmd = ["npx", "-y", INSPECTOR, "--cli", sys.executable, "-m", "zoho_mcp", "serve", "--sandbox", *args]
    done = subprocess.run(cmd, env=server_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout))


def test_inspector_lists_the_tools(tmp_path: Path) -> None:
    listing = inspector(tmp_path, "--method", "tools/list")
    tools = {t["name"]: t for t in listing["tools"]}
    assert set(tools) == {"get_account", "search_accounts", "bulk_read_accounts", "bulk_update"}
    assert tools["get_account"]["annotations"]["readOnlyHint"] is True
    assert tools["bulk_update"]["annotations"]["destructiveHint"] is True
    assert "outputSchema" in tools["search_accounts"]


def test_inspector_calls_get_account(tmp_path: Path, admin: Any) -> None:
    # The sandbox is seeded deterministically, so the served sandbox holds the same ids as this one.
    account_id = admin.record_ids("Accounts")[0]
    result = inspector(
        tmp_path, "--method", "tools/call", "--tool-name", "get_account", "--tool-arg", f'account_id="{account_id}"'
    )
    assert result.get("isError") is not True, result
    assert result["structuredContent"]["account"]["id"] == account_id


def test_inspector_strict_finds_no_schema_portability_problems(tmp_path: Path) -> None:
    """`--strict` reports each tool-schema portability problem on stderr (exit 6 on errors); there must be none."""
    cmd = ["npx", "-y", INSPECTOR, "--cli", sys.executable, "-m", "zoho_mcp", "serve", "--sandbox",
           "--method", "tools/list", "--strict"]
    done = subprocess.run(cmd, env=server_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    problems = [line for line in done.stderr.splitlines() if line.strip() and not line.lstrip().startswith("{")]
    assert problems == [], problems
    tools = {t["name"]: t for t in json.loads(done.stdout)["tools"]}
    assert all(t["inputSchema"].get("additionalProperties") is False for t in tools.values())
