"""Pure parts of the token manager: Zoho's token-endpoint answers, ttl shapes, the state file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from zoho_mcp.config import Settings
from zoho_mcp.logs import known_secrets
from zoho_mcp.tiers.auth import TokenManager, _ttl_from, token_error_from_response
from zoho_mcp.tiers.base import AuthError, ConfigurationError, TransientError
from zoho_mcp.tiers.token_store import StoredToken, TokenStore, store_key

ACCOUNTS = "https://accounts.zoho.eu"


@pytest.mark.parametrize(
    ("body", "code", "env"),
    [
        ({"error": "invalid_client"}, "INVALID_CLIENT", "ZOHO_CLIENT_ID"),
        ({"error": "invalid_client_secret"}, "INVALID_CLIENT_SECRET", "ZOHO_CLIENT_SECRET"),
        ({"error": "invalid_code"}, "INVALID_REFRESH_TOKEN", "ZOHO_REFRESH_TOKEN"),
    ],
)
def test_http_200_token_errors_name_the_variable_to_fix(body: dict, code: str, env: str) -> None:
    err = token_error_from_response(200, body, accounts_url=ACCOUNTS)
    assert isinstance(err, AuthError)
    assert err.code == code
    assert env in err.message
    assert ACCOUNTS in err.message
    assert not err.retryable


def test_token_throttle_is_an_auth_error_with_the_wait() -> None:
    body = {
        "error_description": "You have made too many requests continuously. Please try again after some time.",
        "error": "Access Denied",
        "status": "failure",
    }
    err = token_error_from_response(400, body, accounts_url=ACCOUNTS)
    assert isinstance(err, AuthError)
    assert err.code == "TOKEN_THROTTLED"
    assert err.details["retry_in"] == 600.0


def test_token_endpoint_5xx_and_garbage() -> None:
    assert isinstance(token_error_from_response(503, None, accounts_url=ACCOUNTS), TransientError)
    err = token_error_from_response(200, None, accounts_url=ACCOUNTS)
    assert isinstance(err, AuthError) and err.code == "TOKEN_RESPONSE_INVALID"
    err = token_error_from_response(200, {"error": "something_new"}, accounts_url=ACCOUNTS)
    assert err.code == "TOKEN_REQUEST_FAILED" and "something_new" in err.message


@pytest.mark.parametrize(
    ("body", "ttl"),
    [
        ({"expires_in": 3600}, 3600.0),
        ({"expires_in": 3600000, "expires_in_sec": 3600}, 3600.0),
        ({"expires_in": 3600000}, 3600.0),
        ({"expires_in": "2"}, 2.0),
        ({}, 3600.0),
    ],
)
def test_ttl_shapes(body: dict, ttl: float) -> None:
    assert _ttl_from(body) == ttl


def test_store_round_trip_is_private_and_keyed_without_the_secret(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    key = store_key(ACCOUNTS, "1000.CID", "1000.very.secret.refresh")
    assert "very.secret" not in key
    store.save(key, StoredToken("1000.abc.def", "https://www.zohoapis.eu", expires_at=200.0, minted_at=100.0))
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    got = store.load(key, now=150.0)
    assert got is not None and got.value == "1000.abc.def" and got.api_domain == "https://www.zohoapis.eu"
    assert "1000.abc.def" not in repr(got)
    assert store.load(store_key(ACCOUNTS, "1000.OTHER", "1000.very.secret.refresh"), now=150.0) is None
    assert store.load(key, now=250.0) is None  # expired rows are ignored (and dropped)
    assert store.load(key, now=150.0) is None
    raw = store.path.read_bytes()
    assert b"very.secret" not in raw


def test_store_request_window(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    for at in (1.0, 2.0, 700.0):
        store.record_request("k", at)
    assert store.recent_requests("k", since=100.0) == [700.0]
    store.set_blocked_until("k", 900.0)
    assert TokenStore(tmp_path).blocked_until("k") == 900.0


def test_delete_only_the_given_token(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    store.save("k", StoredToken("tok-a-123456", None, 10.0, 0.0))
    store.delete("k", token="tok-b-123456")
    assert store.load("k", now=1.0) is not None
    store.delete("k", token="tok-a-123456")
    assert store.load("k", now=1.0) is None


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        client_id="1000.UNITCLIENT",
        client_secret="unit-secret-value-0001",
        refresh_token="1000.unitrefresh.0001",
        accounts_url_override="http://127.0.0.1:9",
        api_domain_override="http://127.0.0.1:9",
        state_dir=tmp_path,
        **extra,
    )


def test_repr_hides_secrets_and_secrets_are_registered(tmp_path: Path) -> None:
    mgr = TokenManager(_settings(tmp_path, access_token="1000.unitaccess.0001"))
    text = repr(mgr)
    for secret in ("unit-secret-value-0001", "1000.unitrefresh.0001", "1000.unitaccess.0001"):
        assert secret not in text
        assert secret in known_secrets()
    assert mgr.api_domain == "http://127.0.0.1:9"


@pytest.mark.anyio
async def test_initial_access_token_is_used_without_a_request(tmp_path: Path) -> None:
    mgr = TokenManager(_settings(tmp_path, access_token="1000.unitaccess.0002"))
    try:
        assert await mgr.get_token() == "1000.unitaccess.0002"
        assert mgr.token_requests == 0
    finally:
        await mgr.aclose()


@pytest.mark.anyio
async def test_missing_credentials_are_a_configuration_error(tmp_path: Path) -> None:
    mgr = TokenManager(Settings(state_dir=tmp_path, client_id="1000.X"))
    try:
        with pytest.raises(ConfigurationError) as info:
            await mgr.get_token()
        assert "ZOHO_CLIENT_SECRET" in str(info.value) and "ZOHO_REFRESH_TOKEN" in str(info.value)
        assert mgr.token_requests == 0
    finally:
        await mgr.aclose()


@pytest.mark.anyio
async def test_unreachable_accounts_server_is_transient(tmp_path: Path) -> None:
    mgr = TokenManager(_settings(tmp_path))
    try:
        with pytest.raises(TransientError) as info:
            await mgr.get_token()
        assert info.value.code in ("TOKEN_CONNECT_ERROR", "TOKEN_TIMEOUT")
        assert "unit-secret-value-0001" not in str(info.value)
    finally:
        await mgr.aclose()


@pytest.mark.anyio
async def test_local_window_caps_token_requests(tmp_path: Path) -> None:
    """Even against a dead accounts server, the 11th attempt in 10 minutes is refused locally."""
    now = [1_000.0]
    mgr = TokenManager(_settings(tmp_path), clock=lambda: now[0])
    try:
        for _ in range(10):
            with pytest.raises(TransientError):
                await mgr.get_token()
            now[0] += 1.0
        with pytest.raises(AuthError) as info:
            await mgr.get_token()
        assert info.value.code == "TOKEN_REQUEST_LIMIT"
        assert 580 <= info.value.details["retry_in"] <= 600
        assert mgr.token_requests == 10
        # a restart on the same state dir remembers the window
        again = TokenManager(_settings(tmp_path), clock=lambda: now[0])
        with pytest.raises(AuthError):
            await again.get_token()
        assert again.token_requests == 0
        await again.aclose()
        now[0] += 600.0
        with pytest.raises(TransientError):
            await mgr.get_token()
    finally:
        await mgr.aclose()


@pytest.mark.anyio
async def test_processes_sharing_a_state_dir_share_the_ten_request_window(tmp_path: Path) -> None:
    """Two managers on one state dir (two processes of one deployment) together stay within 10."""
    now = [50_000.0]
    first = TokenManager(_settings(tmp_path), clock=lambda: now[0])
    second = TokenManager(_settings(tmp_path), clock=lambda: now[0])
    try:
        for _ in range(5):  # both have loaded the (empty) window before either asks
            for mgr in (first, second):
                with pytest.raises(TransientError):
                    await mgr.get_token()
                now[0] += 1.0
        for mgr in (first, second):
            with pytest.raises(AuthError) as info:
                await mgr.get_token()
            assert info.value.code == "TOKEN_REQUEST_LIMIT"
        assert first.token_requests + second.token_requests == 10
    finally:
        await first.aclose()
        await second.aclose()
