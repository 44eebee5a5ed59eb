"""The shared TokenManager against the sandbox's real token endpoint and CRM API."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from zoho_mcp.config import Settings
from zoho_mcp.logs import configure_logging
from zoho_mcp.sandbox.app import SandboxConfig, SandboxServer
from zoho_mcp.tiers.auth import TokenManager, TokenRequestLimited
from zoho_mcp.tiers.base import AuthError, GetRecords
from zoho_mcp.tiers.rest import RestTier

pytestmark = pytest.mark.anyio


def oauth_requests(admin: Any) -> list[dict[str, Any]]:
    return [e for e in admin.journal() if e["surface"] == "oauth"]


def crm_requests(admin: Any) -> list[dict[str, Any]]:
    return [e for e in admin.journal() if e["surface"] == "crm"]


async def test_single_flight_under_100_concurrent_callers(sandbox_settings: Settings, admin: Any) -> None:
    now = [1_000_000.0]
    mgr = TokenManager(sandbox_settings, clock=lambda: now[0])
    tokens: list[str] = []

    async def call() -> None:
        tokens.append(await mgr.get_token())

    try:
        async with anyio.create_task_group() as tg:  # cold start: no token yet
            for _ in range(100):
                tg.start_soon(call)
        assert len(tokens) == 100 and len(set(tokens)) == 1
        assert len(oauth_requests(admin)) == 1
        first = tokens[0]
        tokens.clear()
        now[0] += 3601  # expired
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(call)
    finally:
        await mgr.aclose()
    assert len(tokens) == 100 and len(set(tokens)) == 1 and tokens[0] != first
    assert len(oauth_requests(admin)) == 2  # one per expiry, whatever the number of callers
    assert mgr.api_domain == admin.info()["api_domain"]


async def test_fifty_concurrent_401s_cause_one_refresh(sandbox_settings: Settings, admin: Any) -> None:
    mgr = TokenManager(sandbox_settings)
    try:
        old = await mgr.get_token()
        new_tokens: list[str] = []

        async def after_401() -> None:
            new_tokens.append(await mgr.refresh_after_401(old))

        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(after_401)
        assert len(set(new_tokens)) == 1 and new_tokens[0] != old
        assert len(oauth_requests(admin)) == 2
    finally:
        await mgr.aclose()


async def test_proactive_refresh_before_expiry(sandbox_settings: Settings, admin: Any) -> None:
    now = [1_000_000.0]
    mgr = TokenManager(sandbox_settings, clock=lambda: now[0])
    try:
        first = await mgr.get_token()
        now[0] += 3600 - 120  # two minutes before expiry: still used
        assert await mgr.get_token() == first
        now[0] += 90  # 30 s before expiry: inside the 60 s margin, refreshed ahead of time
        second = await mgr.get_token()
        assert second != first
        assert len(oauth_requests(admin)) == 2
    finally:
        await mgr.aclose()


async def test_short_ttl_refreshes_in_the_last_tenth(sandbox_settings: Settings, admin: Any) -> None:
    admin.configure(token_ttl=10)
    now = [2_000_000.0]
    mgr = TokenManager(sandbox_settings, clock=lambda: now[0])
    try:
        first = await mgr.get_token()
        now[0] += 8.5
        assert await mgr.get_token() == first
        now[0] += 0.7  # 0.8 s before expiry: inside 10% of a 10 s lifetime
        assert await mgr.get_token() != first
    finally:
        await mgr.aclose()
    assert len(oauth_requests(admin)) == 2


@pytest.mark.parametrize(
    ("override", "codes", "env"),
    [
        ({"client_id": "1000.WRONGCLIENT"}, {"INVALID_CLIENT"}, "ZOHO_CLIENT_ID"),
        ({"client_secret": "wrong-secret-value-9999"}, {"INVALID_CLIENT", "INVALID_CLIENT_SECRET"}, "ZOHO_CLIENT"),
        ({"refresh_token": "1000.revoked.9999"}, {"INVALID_REFRESH_TOKEN"}, "ZOHO_REFRESH_TOKEN"),
    ],
)
async def test_http_200_token_errors_are_clear(
    sandbox_settings: Settings, admin: Any, override: dict[str, str], codes: set[str], env: str
) -> None:
    settings = sandbox_settings.model_copy(update={k: _secretish(k, v) for k, v in override.items()})
    mgr = TokenManager(settings)
    try:
        with pytest.raises(AuthError) as info:
            await mgr.get_token()
    finally:
        await mgr.aclose()
    assert info.value.code in codes
    assert env in str(info.value)
    assert "wrong-secret-value-9999" not in str(info.value)
    assert [e["status"] for e in oauth_requests(admin)] == [200]


async def test_waiting_callers_share_one_failure(sandbox_settings: Settings, admin: Any) -> None:
    settings = sandbox_settings.model_copy(update={"client_id": "1000.WRONGCLIENT"})
    mgr = TokenManager(settings)
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await mgr.get_token()
        except AuthError as exc:
            errors.append(exc)

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(call)
    finally:
        await mgr.aclose()
    assert len(errors) == 20 and all(e.code == "INVALID_CLIENT" for e in errors)  # type: ignore[attr-defined]
    assert len(oauth_requests(admin)) == 1


async def test_zoho_throttle_is_reported_and_remembered(sandbox_settings: Settings, admin: Any) -> None:
    admin.configure(token_requests_per_window=1)
    now = [5_000.0]
    mgr = TokenManager(sandbox_settings, clock=lambda: now[0])
    try:
        first = await mgr.get_token()
        with pytest.raises(TokenRequestLimited) as info:
            await mgr.refresh_after_401(first)
        assert info.value.code == "TOKEN_THROTTLED" and "10 minutes" in info.value.message
        assert not isinstance(info.value, AuthError) and info.value.details["sent"] is False
        now[0] += 5
        with pytest.raises(TokenRequestLimited) as again:
            await mgr.get_token()
        assert again.value.code == "TOKEN_THROTTLED"
    finally:
        await mgr.aclose()
    assert len(oauth_requests(admin)) == 2  # the second throttled attempt never left the process


async def test_never_more_than_ten_token_requests_in_ten_minutes(sandbox_settings: Settings, admin: Any) -> None:
    admin.configure(token_requests_per_window=1000, max_active_tokens=1000)
    now = [10_000.0]
    mgr = TokenManager(sandbox_settings, clock=lambda: now[0])
    try:
        token = await mgr.get_token()
        for _ in range(30):
            now[0] += 1
            try:
                token = await mgr.refresh_after_401(token)
            except TokenRequestLimited as exc:
                assert exc.code == "TOKEN_REQUEST_LIMIT"
                assert exc.details["retry_in"] > 500
        assert len(oauth_requests(admin)) == 10
        now[0] += 600
        await mgr.refresh_after_401(token)
        assert len(oauth_requests(admin)) == 11
    finally:
        await mgr.aclose()


async def test_restart_reuses_the_persisted_token(sandbox_settings: Settings, admin: Any) -> None:
    first = TokenManager(sandbox_settings)
    token = await first.get_token()
    await first.aclose()
    assert first.state_file is not None
    assert stat.S_IMODE(os.stat(first.state_file).st_mode) == 0o600
    raw = Path(first.state_file).read_bytes()
    assert sandbox_settings.refresh_token is not None
    assert sandbox_settings.refresh_token.get_secret_value().encode() not in raw

    second = TokenManager(sandbox_settings)
    try:
        assert await second.get_token() == token
        assert second.api_domain == admin.info()["api_domain"]
    finally:
        await second.aclose()
    assert len(oauth_requests(admin)) == 1


async def test_expired_persisted_token_is_ignored(sandbox_settings: Settings, admin: Any) -> None:
    now = [100_000.0]
    first = TokenManager(sandbox_settings, clock=lambda: now[0])
    token = await first.get_token()
    await first.aclose()
    now[0] += 3601
    second = TokenManager(sandbox_settings, clock=lambda: now[0])
    try:
        assert await second.get_token() != token
    finally:
        await second.aclose()
    assert len(oauth_requests(admin)) == 2


async def test_initial_access_token_from_settings(sandbox_settings: Settings, admin: Any, sandbox_token: str) -> None:
    settings = sandbox_settings.model_copy(update={"access_token": _secretish("access_token", sandbox_token)})
    mgr = TokenManager(settings)
    try:
        assert await mgr.get_token() == sandbox_token
    finally:
        await mgr.aclose()
    assert len(oauth_requests(admin)) == 1  # only the fixture's own mint


async def test_stray_token_from_another_data_centre_is_replaced_once(
    sandbox_settings: Settings, admin: Any
) -> None:
    """A token minted by another DC's accounts server is refused by this API; one refresh fixes it."""
    other = SandboxServer(SandboxConfig(accounts=5)).start()
    try:
        foreign = httpx.post(
            f"{other.base_url}/oauth/v2/token",
            data={"grant_type": "refresh_token", "client_id": other.info["client_id"],
                  "client_secret": other.info["client_secret"], "refresh_token": other.info["refresh_token"]},
        ).json()["access_token"]
    finally:
        other.stop()
    settings = sandbox_settings.model_copy(update={"access_token": _secretish("access_token", foreign)})
    mgr = TokenManager(settings)
    tier = RestTier(settings, mgr)
    rid = admin.record_ids("Accounts")[0]
    try:
        result = await tier.execute(GetRecords("Accounts", (rid,)))
    finally:
        await tier.aclose()
        await mgr.aclose()
    assert [r["id"] for r in result.records] == [rid]  # type: ignore[union-attr]
    assert [e["status"] for e in crm_requests(admin)] == [401, 200]
    assert len(oauth_requests(admin)) == 1


async def test_fresh_token_refused_by_the_api_hints_at_the_data_centre(
    sandbox_settings: Settings, admin: Any
) -> None:
    admin.fault(
        surface="crm", mode="error", status=401,
        body={"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"},
    )
    mgr = TokenManager(sandbox_settings)
    tier = RestTier(sandbox_settings, mgr)
    rid = admin.record_ids("Accounts")[0]
    try:
        with pytest.raises(AuthError) as info:
            await tier.execute(GetRecords("Accounts", (rid,)))
    finally:
        await tier.aclose()
        await mgr.aclose()
    err = info.value
    assert err.code == "INVALID_TOKEN" and err.tier == "rest"
    assert "ZOHO_DATA_CENTER" in err.message and "api_domain" in err.message
    assert len(crm_requests(admin)) == 2  # one retry, never a loop
    assert len(oauth_requests(admin)) == 2  # the first token and the one refresh


async def test_blocking_accessor_from_worker_threads(sandbox_settings: Settings, admin: Any) -> None:
    mgr = TokenManager(sandbox_settings)
    try:
        results = []

        async def in_thread() -> None:
            results.append(await anyio.to_thread.run_sync(mgr.get_token_blocking))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(in_thread)
        # and from a plain thread the SDK might start itself
        box: list[str] = []
        plain = threading.Thread(target=lambda: box.append(mgr.get_token_blocking()))
        await anyio.to_thread.run_sync(lambda: (plain.start(), plain.join()))
        assert len(set(results + box)) == 1
        assert len(oauth_requests(admin)) == 1
        with pytest.raises(RuntimeError):
            await mgr.invalidate(results[0])
            mgr.get_token_blocking()  # on the loop thread: refused instead of deadlocking
    finally:
        await mgr.aclose()


async def test_no_secret_in_logs_reprs_or_errors(
    sandbox_settings: Settings, admin: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import io

    import structlog

    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved_levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "uvicorn", "uvicorn.error")}
    saved_propagate = {n: logging.getLogger(n).propagate for n in ("uvicorn", "uvicorn.error")}
    saved_handlers = {n: list(logging.getLogger(n).handlers) for n in ("uvicorn", "uvicorn.error")}
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    caplog.set_level(logging.DEBUG)
    mgr = TokenManager(sandbox_settings)
    tier = RestTier(sandbox_settings, mgr)
    rid = admin.record_ids("Accounts")[0]
    texts: list[str] = []
    try:
        token = await mgr.get_token()
        await tier.execute(GetRecords("Accounts", (rid,)))
        texts += [repr(mgr), str(mgr), repr(tier)]
        admin.fault(surface="crm", mode="error", status=401,
                    body={"code": "INVALID_TOKEN", "details": {}, "message": f"bad {token}", "status": "error"})
        with pytest.raises(AuthError) as info:
            await tier.execute(GetRecords("Accounts", (rid,)))
        texts += [str(info.value), repr(info.value), str(info.value.to_dict())]
        bad = TokenManager(sandbox_settings.model_copy(update={"client_id": "1000.WRONG"}))
        with pytest.raises(AuthError) as info2:
            await bad.get_token()
        await bad.aclose()
        texts += [str(info2.value), repr(info2.value), repr(bad)]
    finally:
        await tier.aclose()
        await mgr.aclose()
        structlog.configure(**saved_structlog)
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for n, lvl in saved_levels.items():
            logging.getLogger(n).setLevel(lvl)
        for n, prop in saved_propagate.items():
            logging.getLogger(n).propagate = prop
            logging.getLogger(n).handlers[:] = saved_handlers[n]
        logging.captureWarnings(False)
    texts.append(stream.getvalue())
    texts.append(caplog.text)
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    assert captured.out == ""
    secrets = [token, sandbox_settings.client_secret.get_secret_value(), sandbox_settings.refresh_token.get_secret_value()]  # type: ignore[union-attr]
    assert "zoho access token refreshed" in stream.getvalue()
    for text in texts:
        for secret in secrets:
            assert secret not in text


def _secretish(key: str, value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value) if key in ("client_secret", "refresh_token", "access_token") else value
