"""Zoho's org limits (reference §9): concurrency by edition over in-flight calls, sub-concurrency
for heavy calls, daily credits, 429 TOO_MANY_REQUESTS and X-API-CREDITS-REMAINING."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.conftest import SandboxAdmin


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {token}"}


@contextmanager
def hung_requests(admin: SandboxAdmin, token: str, n: int, method: str = "GET", body: Any = None) -> Iterator[None]:
    """`n` requests held in flight by a hang fault; released (and joined) on exit."""
    rid = admin.record_ids()[0]
    url = f"{admin.base_url}/crm/v2/Accounts" + ("" if method == "PUT" else f"/{rid}")

    def call() -> None:
        try:
            httpx.request(method, url, json=body, headers=_auth(token), timeout=30)
        except httpx.TransportError:
            pass

    start = admin.limits()["in_flight"]
    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while admin.limits()["in_flight"] < start + n and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield
    finally:
        admin.clear_faults()
        for t in threads:
            t.join(5)


@pytest.mark.parametrize(("edition", "limit"), [
    pytest.param("free", 5, id="free"),
    pytest.param("standard", 10, id="standard"),
    pytest.param("professional", 15, id="professional"),
    pytest.param("enterprise", 20, id="enterprise"),
    pytest.param("ultimate", 25, id="ultimate"),
])
def test_concurrency_by_edition(admin: SandboxAdmin, sandbox_token: str, edition: str, limit: int) -> None:
    admin.configure(edition=edition)
    assert admin.limits()["concurrency_limit"] == limit
    admin.fault("crm", mode="hang")
    with hung_requests(admin, sandbox_token, limit):
        assert admin.limits()["in_flight"] == limit
        rid = admin.record_ids()[0]
        response = httpx.get(f"{admin.base_url}/crm/v2/Accounts/{rid}", headers=_auth(sandbox_token))
        assert response.status_code == 429
        body = response.json()
        assert body["code"] == "TOO_MANY_REQUESTS" and body["status"] == "error"
        assert "concurrency" in body["message"]
        assert "Retry-After" not in response.headers
    assert admin.limits()["in_flight"] == 0


def test_heavy_calls_have_sub_concurrency(admin: SandboxAdmin, sandbox_token: str) -> None:
    admin.configure(sub_concurrency=2)
    ids = admin.record_ids()[:11]
    heavy = {"data": [{"id": i, "Phone": "1"} for i in ids]}
    admin.fault("crm", mode="hang", path=r"^/crm/v2/Accounts$")
    with hung_requests(admin, sandbox_token, 2, method="PUT", body=heavy):
        assert admin.limits()["heavy_in_flight"] == 2
        response = httpx.put(f"{admin.base_url}/crm/v2/Accounts", json=heavy, headers=_auth(sandbox_token))
        assert response.status_code == 429 and "sub-concurrency" in response.json()["message"]
        light = httpx.put(f"{admin.base_url}/crm/v2/Accounts/{ids[0]}", json={"data": [{"Phone": "2"}]}, headers=_auth(sandbox_token))
        assert light.status_code == 200, "light calls are not capped by sub-concurrency"


def test_daily_credits_and_remaining_header(admin: SandboxAdmin, sandbox_token: str) -> None:
    admin.configure(credits_per_day=10)
    rid = admin.record_ids()[0]
    url = f"{admin.base_url}/crm/v2/Accounts/{rid}"
    headers_seen = []
    for _ in range(10):
        response = httpx.get(url, headers=_auth(sandbox_token))
        assert response.status_code == 200
        headers_seen.append(response.headers.get("X-API-CREDITS-REMAINING"))
    assert headers_seen[:4] == [None] * 4
    assert headers_seen[4:] == ["5", "4", "3", "2", "1", "0"]
    exhausted = httpx.get(url, headers=_auth(sandbox_token))
    assert exhausted.status_code == 429
    assert exhausted.json()["code"] == "TOO_MANY_REQUESTS" and "24 hour" in exhausted.json()["message"]
    admin.configure(token_ttl=10**6)
    admin.advance_clock(86_401)
    assert httpx.get(url, headers=_auth(sandbox_token)).status_code in (200, 401)


@pytest.mark.parametrize(("records", "cost"), [
    pytest.param(1, 1, id="1-record"),
    pytest.param(10, 1, id="10-records"),
    pytest.param(11, 2, id="11-records"),
    pytest.param(100, 10, id="100-records"),
])
def test_write_credits(admin: SandboxAdmin, sandbox_token: str, records: int, cost: int) -> None:
    ids = admin.record_ids()[:records]
    before = admin.limits()["credits_used"]
    httpx.put(f"{admin.base_url}/crm/v2/Accounts", json={"data": [{"id": i} for i in ids]}, headers=_auth(sandbox_token))
    assert admin.limits()["credits_used"] - before == cost


def test_auth_failures_cost_nothing(admin: SandboxAdmin) -> None:
    httpx.get(f"{admin.base_url}/crm/v2/Accounts", headers=_auth("nope"))
    assert admin.limits()["credits_used"] == 0
