"""Helpers for the tests that spawn `python -m zoho_mcp serve` as a real subprocess."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

#: Variables that would point a spawned server somewhere else (or change its behaviour).
_SETTING_PREFIXES = ("ZOHO_", "ENABLE_TIER", "ENABLE_FAILOVER", "CIRCUIT_BREAKER_", "RETRY_", "MAX_RETRY",
                     "HEALTH_CHECK_", "HEDGE_", "TIER1_", "TIER2_", "TIER3_", "LOG_LEVEL")


def server_env(**extra: str) -> dict[str, str]:
    """The current environment minus every zoho-mcp setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTING_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "zoho_mcp", "serve", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
