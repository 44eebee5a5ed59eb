"""Pure parts of the token manager: Zoho's token-endpoint answers, ttl shapes, the state file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio
import httpx
import pytest

from zoho_mcp.config import Settings
from zoho_mcp.logs import known_secrets
from zoho_mcp.resilience.errors import ErrorCategory
from zoho_mcp.tiers.auth import (
    FAILURE_BACKOFF_MAX,
    FAILURE_BACKOFF_MIN,
    TokenManager,
    TokenRequestLimited,
    _ttl_from,
    token_error_from_response,
)
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


def test_token_throttle_is_a_limit_not_a_credentials_error() -> None:
    body = {
        "error_description": "You have made too many requests continuously. Please try again after some time.",
        "error": "Access Denied",
        "status": "failure",
    }
    err = token_error_from_response(400, body, accounts_url=ACCOUNTS)
    assert isinstance(err, TokenRequestLimited) and not isinstance(err, AuthError)
    assert err.category is ErrorCategory.TRANSIENT and not err.counts_as_failure and not err.retryable
    assert err.code == "TOKEN_THROTTLED"
    assert err.details["retry_in"] == 600.0 and err.details["sent"] is False


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


class _TokenEndpoint:
    """A token endpoint on httpx's in-process transport: answers 503 (a request that reached Zoho)
    or a token, and counts what it received."""

    def __init__(self) -> None:
        self.requests = 0
        self.ok = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.ok:
            return httpx.Response(200, json={"access_token": f"1000.unit.tok{self.requests}", "expires_in": 3600})
        return httpx.Response(503, text="unavailable")

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


@pytest.mark.anyio
async def test_local_window_caps_token_requests(tmp_path: Path) -> None:
    """Requests that reached the accounts server count: the 11th in 10 minutes is refused locally,
    as a transient limit with its wait (not a credentials error), and a restart remembers it."""
    now = [1_000.0]
    endpoint = _TokenEndpoint()
    mgr = TokenManager(_settings(tmp_path), clock=lambda: now[0], http=endpoint.client())
    try:
        for _ in range(10):
            with pytest.raises(TransientError):
                await mgr.get_token()
            now[0] += FAILURE_BACKOFF_MAX
        with pytest.raises(TokenRequestLimited) as info:
            await mgr.get_token()
        assert not isinstance(info.value, AuthError)
        assert info.value.code == "TOKEN_REQUEST_LIMIT"
        assert info.value.details["sent"] is False
        assert 280 <= info.value.details["retry_in"] <= 600
        assert endpoint.requests == 10 and mgr.token_requests == 10
        # a restart on the same state dir remembers the window
        again = TokenManager(_settings(tmp_path), clock=lambda: now[0], http=endpoint.client())
        with pytest.raises(TokenRequestLimited):
            await again.get_token()
        assert again.token_requests == 0
        await again.aclose()
        now[0] += 600.0
        with pytest.raises(TransientError) as later:
            await mgr.get_token()
        assert later.value.code == "TOKEN_ENDPOINT_ERROR"
    finally:
        await mgr.aclose()


@pytest.mark.anyio
async def test_processes_sharing_a_state_dir_share_the_ten_request_window(tmp_path: Path) -> None:
    """Two managers on one state dir (two processes of one deployment) together stay within 10."""
    now = [50_000.0]
    endpoint = _TokenEndpoint()
    first = TokenManager(_settings(tmp_path), clock=lambda: now[0], http=endpoint.client())
    second = TokenManager(_settings(tmp_path), clock=lambda: now[0], http=endpoint.client())
    try:
        for _ in range(5):  # both have loaded the (empty) window before either asks
            for mgr in (first, second):
                with pytest.raises(TransientError):
                    await mgr.get_token()
                now[0] += FAILURE_BACKOFF_MAX
        for mgr in (first, second):
            with pytest.raises(TokenRequestLimited) as info:
                await mgr.get_token()
            assert info.value.code == "TOKEN_REQUEST_LIMIT"
        assert first.token_requests + second.token_requests == 10 == endpoint.requests
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.anyio
async def test_requests_that_never_reached_zoho_do_not_use_the_window(tmp_path: Path) -> None:
    """UAT: connect-refused token requests filled the 10-per-10-minutes window and locked out the
    next process for ~590 s. A connect error provably never reached Zoho: it must not count."""
    now = [2_000.0]
    mgr = TokenManager(_settings(tmp_path), clock=lambda: now[0])  # nothing listens on port 9
    try:
        for _ in range(15):
            with pytest.raises(TransientError) as info:
                await mgr.get_token()
            assert info.value.code == "TOKEN_CONNECT_ERROR"
            assert info.value.details["sent"] is False
            now[0] += FAILURE_BACKOFF_MAX
        assert mgr.token_requests == 15  # every one was really attempted...
        store = TokenStore(tmp_path)
        key = store_key("http://127.0.0.1:9", "1000.UNITCLIENT", "1000.unitrefresh.0001")
        assert store.recent_requests(key, since=0.0) == []  # ...but none used Zoho's allowance
        fresh = TokenManager(_settings(tmp_path), clock=lambda: now[0])
        with pytest.raises(TransientError) as after_restart:
            await fresh.get_token()
        assert after_restart.value.code == "TOKEN_CONNECT_ERROR"  # not TOKEN_REQUEST_LIMIT
        await fresh.aclose()
    finally:
        await mgr.aclose()


@pytest.mark.anyio
async def test_failed_refresh_backs_off_for_every_caller_then_resets(tmp_path: Path) -> None:
    """After a failed refresh, concurrent and immediately following callers share its error without
    a new request, for 1 s doubling to 30 s; a success resets the backoff."""
    now = [3_000.0]
    endpoint = _TokenEndpoint()
    mgr = TokenManager(_settings(tmp_path), clock=lambda: now[0], http=endpoint.client())
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await mgr.get_token()
        except TransientError as exc:
            errors.append(exc)

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(call)
        assert len(errors) == 10 and all(e.code == "TOKEN_ENDPOINT_ERROR" for e in errors)  # type: ignore[attr-defined]
        assert endpoint.requests == 1
        for _ in range(5):  # retries, other tiers, probes: same answer, no request
            with pytest.raises(TransientError) as info:
                await mgr.refresh_after_401("1000.unit.old")
            assert info.value.code == "TOKEN_ENDPOINT_ERROR"
            assert 0 < info.value.details["retry_in"] <= FAILURE_BACKOFF_MIN
        assert endpoint.requests == 1
        # the backoff grows: 1 s, 2 s, 4 s ... capped at 30 s
        waits = []
        for _ in range(6):
            before = endpoint.requests
            step = 0.0
            while endpoint.requests == before:
                now[0] += 0.5
                step += 0.5
                with pytest.raises(TransientError):
                    await mgr.get_token()
            waits.append(step)
        assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
        endpoint.ok = True
        now[0] += FAILURE_BACKOFF_MAX
        token = await mgr.get_token()
        endpoint.ok = False
        await mgr.invalidate(token)
        with pytest.raises(TransientError):
            await mgr.get_token()
        now[0] += FAILURE_BACKOFF_MIN  # back to the shortest backoff after a success
        with pytest.raises(TransientError):
            await mgr.get_token()
        assert endpoint.requests == 1 + 6 + 1 + 2  # ten: within Zoho's window
    finally:
        await mgr.aclose()
