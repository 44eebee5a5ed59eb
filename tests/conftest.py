"""Shared fixtures. The fixtures that start the sandbox live here and only here.

- `sandbox` (session): one started `SandboxServer` (default config: seed 42, 500 accounts,
  enterprise edition, token_ttl 3600). State persists across tests unless a test asks for
  `clean_sandbox`.
- `clean_sandbox` (function): `POST /__sandbox__/reset` first (data reseeded; faults, journal,
  tokens, clock, run-time knobs cleared), then the same server.
- `sandbox_settings` (function): a `Settings` pointed at the clean sandbox, with fast timeouts.
- `admin` (function): `SandboxAdmin`, a small sync client for the admin API of the clean sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from zoho_mcp.config import Settings, sandbox_connection
from zoho_mcp.sandbox.app import SandboxConfig, SandboxServer


# Building an httpx client loads the CA bundle (~35 ms); with one SSL context built here, a client
# costs ~0.3 ms. Fixtures ran several clients per test, which was most of the sandbox suite's time.
SSL_CONTEXT = httpx.create_ssl_context()
_shared: httpx.Client | None = None


def shared_http() -> httpx.Client:
    """One process-wide keep-alive client for sandbox calls from fixtures and tests (thread-safe)."""
    global _shared
    if _shared is None or _shared.is_closed:
        _shared = httpx.Client(timeout=10.0, verify=SSL_CONTEXT)
    return _shared


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SandboxAdmin:
    """Sync helper over `/__sandbox__/…`; every method raises on an unexpected status."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=f"{base_url}/__sandbox__", timeout=10.0, verify=SSL_CONTEXT)

    def close(self) -> None:
        self.http.close()

    def _ok(self, response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def info(self) -> dict[str, Any]:
        return dict(self._ok(self.http.get("/info")))

    def fault(
        self,
        surface: str,
        mode: str = "error",
        status: int | None = None,
        client: str = "any",
        path: str | None = None,
        count: int | None = None,
        latency_ms: float = 0.0,
        probability: float = 1.0,
        body: Any = None,
    ) -> str:
        rule: dict[str, Any] = {
            "surface": surface, "mode": mode, "client": client, "path": path, "count": count,
            "latency_ms": latency_ms, "probability": probability,
        }
        if status is not None:
            rule["status"] = status
        if body is not None:
            rule["body"] = body
        return str(self._ok(self.http.post("/faults", json=rule))["id"])

    def faults(self) -> list[dict[str, Any]]:
        return list(self._ok(self.http.get("/faults")))

    def clear_faults(self, fault_id: str | None = None) -> None:
        self._ok(self.http.delete(f"/faults/{fault_id}" if fault_id else "/faults"))

    def journal(self, surface: str | None = None) -> list[dict[str, Any]]:
        params = {"surface": surface} if surface else None
        return list(self._ok(self.http.get("/journal", params=params)))

    def clear_journal(self) -> None:
        self._ok(self.http.delete("/journal"))

    def record(self, module: str, record_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"/records/{module}/{record_id}")
        if response.status_code == 404:
            return None
        return dict(self._ok(response))

    def record_ids(self, module: str = "Accounts") -> list[str]:
        return list(self._ok(self.http.get(f"/records/{module}"))["ids"])

    def reset(self) -> None:
        self._ok(self.http.post("/reset"))

    def advance_clock(self, seconds: float) -> None:
        self._ok(self.http.post("/clock", json={"advance": seconds}))

    def configure(self, **knobs: Any) -> dict[str, Any]:
        return dict(self._ok(self.http.post("/config", json=knobs)))

    def limits(self) -> dict[str, Any]:
        return dict(self._ok(self.http.get("/limits")))

    def tokens(self) -> dict[str, Any]:
        return dict(self._ok(self.http.get("/tokens")))

    def revoke(self, token: str) -> None:
        self._ok(self.http.post("/tokens/revoke", json={"token": token}))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(SandboxConfig(token_ttl=3600.0)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_sandbox(sandbox: SandboxServer) -> SandboxServer:
    shared_http().post(f"{sandbox.base_url}/__sandbox__/reset").raise_for_status()
    return sandbox


@pytest.fixture
def admin(clean_sandbox: SandboxServer) -> Iterator[SandboxAdmin]:
    helper = SandboxAdmin(clean_sandbox.base_url)
    try:
        yield helper
    finally:
        try:
            helper.clear_faults()
        finally:
            helper.close()


@pytest.fixture
def sandbox_settings(clean_sandbox: SandboxServer, tmp_path: Path) -> Settings:
    info = clean_sandbox.info
    return Settings(
        **sandbox_connection(info),  # type: ignore[arg-type]
        state_dir=tmp_path / "state",
        mcp_timeout=5.0,
        sdk_timeout=5.0,
        rest_timeout=5.0,
        retry_base_delay=0.0,
        retry_max_delay=0.0,
        retry_jitter=False,
        health_check_interval=3600.0,
        health_check_timeout=2.0,
    )


def mint_token(base_url: str, **overrides: str) -> httpx.Response:
    """POST the sandbox's documented credentials (refresh grant, form body) to its token endpoint."""
    from zoho_mcp.sandbox.config import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN

    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN, **overrides}
    return shared_http().post(f"{base_url}/oauth/v2/token", data=form)


@pytest.fixture
def sandbox_token(clean_sandbox: SandboxServer) -> str:
    """A fresh access token for the clean sandbox."""
    return str(mint_token(clean_sandbox.base_url).json()["access_token"])


@pytest.fixture
def crm_client(clean_sandbox: SandboxServer, sandbox_token: str) -> Iterator[httpx.Client]:
    """httpx.Client on the clean sandbox's base URL, already carrying `Zoho-oauthtoken <token>`."""
    with httpx.Client(base_url=clean_sandbox.base_url, timeout=10.0, verify=SSL_CONTEXT,
                      headers={"Authorization": f"Zoho-oauthtoken {sandbox_token}"}) as client:
        yield client
