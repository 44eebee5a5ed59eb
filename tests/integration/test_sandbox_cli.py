"""`zoho-mcp sandbox` as a user runs it: flags honoured, one startup line on stderr, nothing on stdout."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_flags_and_startup_line() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoho_mcp", "sandbox", "--port", str(port), "--seed", "7", "--accounts", "12",
         "--edition", "free", "--token-ttl", "60", "--latency-ms", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        info = None
        while info is None:
            try:
                info = httpx.get(f"{base}/__sandbox__/info", timeout=1).json()
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, "sandbox did not start"
                time.sleep(0.1)
        assert info["accounts"] == 12 and info["seed"] == 7 and info["edition"] == "free"
        assert info["concurrency"] == 5 and info["token_ttl"] == 60 and info["api_domain"] == base
        token = httpx.post(f"{base}/oauth/v2/token", data={"grant_type": "refresh_token", "client_id": info["client_id"],
                                                           "client_secret": info["client_secret"],
                                                           "refresh_token": info["refresh_token"]}).json()
        assert token["expires_in"] == 60
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert out == ""
    first = json.loads(err.splitlines()[0])
    assert first["event"] == "sandbox_started" and first["api_domain"] == base
