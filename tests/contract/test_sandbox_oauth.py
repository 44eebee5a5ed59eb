"""OAuth contract of the sandbox, one row per behaviour of reference §3 (Zoho Accounts)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import SandboxAdmin, mint_token, shared_http
from zoho_mcp.sandbox.app import SandboxServer
from zoho_mcp.sandbox.config import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN

# Reference §3.2, word for word: the documented throttle error.
THROTTLE_BODY = {"error_description": "You have made too many requests continuously. Please try again after some time.",
                 "error": "Access Denied", "status": "failure"}
INVALID_TOKEN = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}

GOOD = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}

TOKEN_FAILURES = [
    pytest.param({"client_id": "1000.WRONG"}, 200, {"error": "invalid_client"}, id="wrong-client-id"),
    pytest.param({"client_secret": "nope"}, 200, {"error": "invalid_client_secret"}, id="wrong-client-secret"),
    pytest.param({"refresh_token": "1000.revoked.1"}, 200, {"error": "invalid_code"}, id="unknown-refresh-token"),
    pytest.param({"refresh_token": ""}, 200, {"error": "invalid_code"}, id="empty-refresh-token"),
    pytest.param({"grant_type": "password"}, 200, {"error": "unsupported_grant_type"}, id="unsupported-grant"),
    pytest.param({"grant_type": "authorization_code", "code": "bad"}, 200, {"error": "invalid_code"}, id="bad-grant-code"),
]


@pytest.mark.parametrize(("change", "status", "body"), TOKEN_FAILURES)
def test_token_failures_are_http_200_with_error_key(clean_sandbox: SandboxServer, change: dict[str, str], status: int, body: dict[str, Any]) -> None:
    response = shared_http().post(f"{clean_sandbox.base_url}/oauth/v2/token", data={**GOOD, **change})
    assert response.status_code == status
    assert response.json() == body
    assert "access_token" not in response.json()


@pytest.mark.parametrize("where", ["form", "query", "mixed"])
def test_refresh_grant_accepts_query_or_form(clean_sandbox: SandboxServer, where: str) -> None:
    url = f"{clean_sandbox.base_url}/oauth/v2/token"
    if where == "form":
        response = httpx.post(url, data=GOOD)
    elif where == "query":
        response = httpx.post(url, params=GOOD)
    else:
        response = httpx.post(url, params={"grant_type": "refresh_token", "client_id": CLIENT_ID},
                              data={"client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "scope", "api_domain", "token_type", "expires_in"}
    assert body["api_domain"] == clean_sandbox.base_url
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"].startswith("1000.")
    assert response.headers["content-type"] == "application/json;charset=UTF-8"


def test_grant_code_exchange_returns_refresh_token(clean_sandbox: SandboxServer) -> None:
    info = clean_sandbox.info
    response = httpx.post(f"{clean_sandbox.base_url}/oauth/v2/token", data={
        "grant_type": "authorization_code", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "code": info["grant_code"], "redirect_uri": "http://localhost/cb"})
    assert response.json()["refresh_token"] == REFRESH_TOKEN


def test_legacy_token_shape_knob(admin: SandboxAdmin) -> None:
    admin.configure(legacy_token_shape=True)
    body = mint_token(admin.base_url).json()
    assert body["expires_in"] == 3_600_000 and body["expires_in_sec"] == 3600


def _get(base: str, token: str) -> httpx.Response:
    http = shared_http()
    ids = http.get(f"{base}/__sandbox__/records/Accounts").json()["ids"]
    return http.get(f"{base}/crm/v2/Accounts/{ids[0]}", headers={"Authorization": f"Zoho-oauthtoken {token}"})


def test_access_token_expires_with_the_sandbox_clock(admin: SandboxAdmin) -> None:
    admin.configure(token_ttl=2)
    token = mint_token(admin.base_url).json()["access_token"]
    assert _get(admin.base_url, token).status_code == 200
    admin.advance_clock(2.5)
    expired = _get(admin.base_url, token)
    assert expired.status_code == 401
    assert expired.json() == INVALID_TOKEN


def test_eleventh_token_evicts_the_oldest(admin: SandboxAdmin) -> None:
    admin.configure(token_requests_per_window=20)  # the throttle would stop the 11th request first
    tokens = [mint_token(admin.base_url).json()["access_token"] for _ in range(11)]
    assert len(set(tokens)) == 11
    assert admin.tokens()["live"] == 10
    evicted = _get(admin.base_url, tokens[0])
    assert evicted.status_code == 401
    assert evicted.headers["content-type"] == "application/json;charset=UTF-8"
    assert evicted.json() == INVALID_TOKEN
    assert all(_get(admin.base_url, t).status_code == 200 for t in tokens[1:])


def test_ten_tokens_evict_nothing(admin: SandboxAdmin) -> None:
    tokens = [mint_token(admin.base_url).json()["access_token"] for _ in range(10)]
    assert all(_get(admin.base_url, t).status_code == 200 for t in tokens)


def test_token_requests_are_throttled_per_window(admin: SandboxAdmin) -> None:
    for _ in range(10):
        assert "access_token" in mint_token(admin.base_url).json()
    throttled = mint_token(admin.base_url)
    assert throttled.status_code == 400
    assert throttled.headers["content-type"] == "application/json;charset=UTF-8"
    assert throttled.json() == THROTTLE_BODY
    admin.advance_clock(599)
    assert mint_token(admin.base_url).json() == THROTTLE_BODY, "blocked for the rest of the window"
    admin.advance_clock(2)
    assert "access_token" in mint_token(admin.base_url).json()


def test_revoked_refresh_token_gives_invalid_code(admin: SandboxAdmin) -> None:
    token = mint_token(admin.base_url).json()["access_token"]
    httpx.post(f"{admin.base_url}/oauth/v2/token/revoke", params={"token": REFRESH_TOKEN}).raise_for_status()
    assert mint_token(admin.base_url).json() == {"error": "invalid_code"}
    assert _get(admin.base_url, token).status_code == 401


def test_user_info_for_old_sdk(clean_sandbox: SandboxServer, sandbox_token: str) -> None:
    response = httpx.get(f"{clean_sandbox.base_url}/oauth/user/info", headers={"Authorization": f"Zoho-oauthtoken {sandbox_token}"})
    assert response.json()["Email"] == clean_sandbox.info["user_email"]


def test_oauth_is_journaled(admin: SandboxAdmin) -> None:
    mint_token(admin.base_url, client_id="x")
    assert admin.journal() == [{"surface": "oauth", "client": "other", "method": "POST", "path": "/oauth/v2/token", "status": 200}]
