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

from tests.conftest import SandboxAdmin, mint_token, shared_http


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {token}"}


@contextmanager
def hung_requests(admin: SandboxAdmin, token: str, n: int, method: str = "GET", body: Any = None) -> Iterator[None]:
    """`n` requests held in flight by a hang fault; released (and joined) on exit."""
    rid = admin.record_ids()[0]
    url = f"{admin.base_url}/crm/v2/Accounts" + ("" if method == "PUT" else f"/{rid}")

    def call() -> None:
        try:
            shared_http().request(method, url, json=body, headers=_auth(token), timeout=30)
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
        response = shared_http().get(f"{admin.base_url}/crm/v2/Accounts/{rid}", headers=_auth(sandbox_token))
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/json;charset=UTF-8"
        assert response.json() == {"code": "TOO_MANY_REQUESTS", "details": {}, "status": "error",
                                   "message": "The concurrency limit of the user for the app is exceeded"}
        assert "Retry-After" not in response.headers
    assert admin.limits()["in_flight"] == 0


HEAVY = [
    pytest.param("PUT", 11, None, True, id="put-11-records-is-heavy"),
    pytest.param("PUT", 10, None, False, id="put-10-records-is-light"),
    pytest.param("GET", 0, {"sort_by": "Modified_Time"}, True, id="list-with-sort-by-is-heavy"),
    pytest.param("GET", 0, {"cvid": "1"}, True, id="list-with-cvid-is-heavy"),
    pytest.param("GET", 0, {"page": "2"}, False, id="plain-list-is-light"),
]


@pytest.mark.parametrize(("method", "records", "params", "heavy"), HEAVY)
def test_heavy_calls_have_sub_concurrency_10(admin: SandboxAdmin, sandbox_token: str, method: str, records: int,
                                             params: dict[str, str] | None, heavy: bool) -> None:
    """Ten heavy PUTs held in flight (the default sub-concurrency; the ultimate edition allows 25 calls):
    one more heavy call gets 429, a light one still runs. The probe goes to Leads, which is not held."""
    admin.configure(edition="ultimate")
    assert admin.limits()["sub_concurrency_limit"] == 10
    big = {"data": [{"id": i, "Phone": "1"} for i in admin.record_ids()[:11]]}
    admin.fault("crm", mode="hang", path=r"^/crm/v2/Accounts$")
    with hung_requests(admin, sandbox_token, 10, method="PUT", body=big):
        assert admin.limits()["heavy_in_flight"] == 10
        http, url = shared_http(), f"{admin.base_url}/crm/v2/Leads"
        if method == "PUT":
            response = http.put(url, json={"data": [{"id": "1"}] * records}, headers=_auth(sandbox_token))
        else:
            response = http.get(url, params=params, headers=_auth(sandbox_token))
        if heavy:
            assert response.status_code == 429
            assert response.json() == {"code": "TOO_MANY_REQUESTS", "details": {}, "status": "error",
                                       "message": "The sub-concurrency limit of the user for the app is exceeded"}
        else:
            assert response.status_code in (200, 204, 400), response.text


def test_daily_credits_and_remaining_header(admin: SandboxAdmin, sandbox_token: str) -> None:
    admin.configure(credits_per_day=10)
    rid = admin.record_ids()[0]
    url = f"{admin.base_url}/crm/v2/Accounts/{rid}"
    headers_seen = []
    http = shared_http()
    for _ in range(10):
        response = http.get(url, headers=_auth(sandbox_token))
        assert response.status_code == 200
        headers_seen.append(response.headers.get("X-API-CREDITS-REMAINING"))
    assert headers_seen[:4] == [None] * 4
    assert headers_seen[4:] == ["5", "4", "3", "2", "1", "0"]
    exhausted = http.get(url, headers=_auth(sandbox_token))
    assert exhausted.status_code == 429
    assert exhausted.json() == {"code": "TOO_MANY_REQUESTS", "details": {}, "status": "error",
                                "message": "Number of API requests for the 24 hour period is exceeded"}
    assert exhausted.headers["X-API-CREDITS-REMAINING"] == "0"
    assert "Retry-After" not in exhausted.headers
    admin.advance_clock(86_401)  # the rolling 24 h window has passed: credits are back
    fresh = mint_token(admin.base_url).json()["access_token"]
    again = http.get(url, headers=_auth(fresh))
    assert again.status_code == 200
    assert "X-API-CREDITS-REMAINING" not in again.headers


@pytest.mark.parametrize(("records", "cost"), [
    pytest.param(1, 1, id="1-record"),
    pytest.param(10, 1, id="10-records"),
    pytest.param(11, 2, id="11-records"),
    pytest.param(100, 10, id="100-records"),
])
def test_write_credits(admin: SandboxAdmin, sandbox_token: str, records: int, cost: int) -> None:
    ids = admin.record_ids()[:records]
    before = admin.limits()["credits_used"]
    response = shared_http().put(f"{admin.base_url}/crm/v2/Accounts", json={"data": [{"id": i} for i in ids]}, headers=_auth(sandbox_token))
    assert response.status_code == 200
    assert admin.limits()["credits_used"] - before == cost


@pytest.mark.parametrize("path", ["/crm/v2/Accounts", "/crm/v2/Accounts/search?word=Acme", "/crm/v2/settings/fields?module=Accounts",
                                  "/crm/v2/Accounts/1234567890123456789", "/crm/v2/Nope"])
def test_every_call_costs_one_credit(admin: SandboxAdmin, sandbox_token: str, path: str) -> None:
    shared_http().get(f"{admin.base_url}{path}", headers=_auth(sandbox_token))
    assert admin.limits()["credits_used"] == 1


def test_retry_after_knob(admin: SandboxAdmin, sandbox_token: str) -> None:
    admin.configure(credits_per_day=0, emit_retry_after=True)
    response = shared_http().get(f"{admin.base_url}/crm/v2/Accounts", headers=_auth(sandbox_token))
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_auth_failures_cost_nothing(admin: SandboxAdmin) -> None:
    assert shared_http().get(f"{admin.base_url}/crm/v2/Accounts", headers=_auth("nope")).status_code == 401
    assert shared_http().get(f"{admin.base_url}/crm/v2/Accounts").status_code == 401
    assert admin.limits()["credits_used"] == 0
