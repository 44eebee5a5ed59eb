"""`zoho-mcp sandbox` as a user runs it: every flag applied, one startup line on stderr, nothing on stdout."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from zoho_mcp.sandbox.app import build_app
from zoho_mcp.sandbox.config import SandboxConfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_flags_and_startup_line() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoho_mcp", "sandbox", "--host", "127.0.0.1", "--port", str(port), "--seed", "7",
         "--accounts", "12", "--edition", "free", "--token-ttl", "60", "--latency-ms", "150"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ZOHO_SANDBOX_KNOBS": '{"mcp_require_bearer": true, "missing_record_mode": "400"}'})
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as http:
            deadline = time.monotonic() + 20
            info = None
            while info is None:
                try:
                    info = http.get("/__sandbox__/info", timeout=1).json()
                except httpx.HTTPError:
                    assert time.monotonic() < deadline and proc.poll() is None, "sandbox did not start"
                    time.sleep(0.05)
            # --host/--port: it answers there, and says so
            assert info["api_domain"] == info["accounts_url"] == base
            # --seed/--accounts: the very data an in-process sandbox with the same seed holds
            ids = http.get("/__sandbox__/records/Accounts").json()["ids"]
            expected = build_app(SandboxConfig(seed=7, accounts=12)).state.store
            assert ids == expected.ids("Accounts") and len(ids) == 12
            assert http.get(f"/__sandbox__/records/Accounts/{ids[0]}").json() == expected.get("Accounts", ids[0])
            # --edition: Zoho's free-edition concurrency and credits are enforced
            limits = http.get("/__sandbox__/limits").json()
            assert (limits["concurrency_limit"], limits["credits_per_day"]) == (5, 5000)
            # --token-ttl: tokens say so and expire by it
            token = http.post("/oauth/v2/token", data={"grant_type": "refresh_token", "client_id": info["client_id"],
                                                       "client_secret": info["client_secret"],
                                                       "refresh_token": info["refresh_token"]}).json()
            assert token["expires_in"] == 60
            auth = {"Authorization": f"Zoho-oauthtoken {token['access_token']}"}
            # --latency-ms: every CRM call takes at least that long (a lower bound cannot flake)
            started = time.perf_counter()
            assert http.get(f"/crm/v2/Accounts/{ids[0]}", headers=auth).status_code == 200
            assert time.perf_counter() - started >= 0.15
            # any other knob, from ZOHO_SANDBOX_KNOBS; a reset goes back to these start values
            http.post("/__sandbox__/reset").raise_for_status()
            config = http.get("/__sandbox__/config").json()
            assert (config["mcp_require_bearer"], config["missing_record_mode"], config["latency_ms"]) == (True, "400", 150)
            token = http.post("/oauth/v2/token", data={"grant_type": "refresh_token", "client_id": info["client_id"],
                                                       "client_secret": info["client_secret"],
                                                       "refresh_token": info["refresh_token"]}).json()
            auth = {"Authorization": f"Zoho-oauthtoken {token['access_token']}"}
            http.post("/__sandbox__/clock", json={"advance": 61}).raise_for_status()
            assert http.get(f"/crm/v2/Accounts/{ids[0]}", headers=auth).json()["code"] == "INVALID_TOKEN"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert out == ""
    first = json.loads(err.splitlines()[0])
    assert first["event"] == "sandbox_started" and first["api_domain"] == base



def test_bad_start_knob_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from zoho_mcp.cli import build_parser
    from zoho_mcp.sandbox.app import run_sandbox_cli

    monkeypatch.setenv("ZOHO_SANDBOX_KNOBS", '{"edition": "gold"}')
    with pytest.raises(SystemExit) as stopped:
        run_sandbox_cli(build_parser().parse_args(["sandbox", "--port", "0"]))
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "ZOHO_SANDBOX_KNOBS" in lines[0] and "edition" in lines[0]
