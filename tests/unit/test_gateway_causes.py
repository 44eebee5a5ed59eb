"""An open circuit never hides why it opened: the cause travels to the caller and the tool message.

Reproduces the UAT run: fake credentials, accounts server and API on a port where nothing listens,
MCP disabled, a fresh state dir; the first calls (with probes) open the breakers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_gateway_fakes import ID, REFRESH, FakeTier, fresh_logging, make_gateway, settings, three
from zoho_mcp.gateway import build_gateway
from zoho_mcp.resilience.errors import AllTiersFailed, CircuitOpenError, ErrorCategory
from zoho_mcp.tiers.base import AuthError, GetRecords, TransientError
from zoho_mcp.tiers.token_store import TokenStore, store_key
from zoho_mcp.tools.errors import failure_from_exception

pytestmark = pytest.mark.anyio
__all__ = ["fresh_logging"]  # autouse fixture, imported to apply here

READ = GetRecords("Accounts", (ID,))


async def _fail(gw: object, times: int) -> AllTiersFailed:
    last: AllTiersFailed | None = None
    for _ in range(times):
        try:
            await gw.execute(READ)  # type: ignore[attr-defined]
        except AllTiersFailed as exc:
            last = exc
    assert last is not None
    return last


async def test_unreachable_accounts_server_is_named_behind_open_circuits(tmp_path: Path) -> None:
    s = settings(
        enable_mcp=False,
        accounts_url_override="http://127.0.0.1:9",
        api_domain_override="http://127.0.0.1:9",
        state_dir=tmp_path,
        breaker_failure_threshold=2,
    )
    gw = await build_gateway(s)
    try:
        await gw.check_health()  # the background probes of the UAT run
        exc = await _fail(gw, 3)
        assert all(isinstance(c, CircuitOpenError) for c in exc.causes.values())
        for cause in exc.causes.values():
            assert cause.cause is not None and cause.cause_info is not None  # type: ignore[union-attr]
            assert cause.cause_info["code"] == "TOKEN_CONNECT_ERROR"  # type: ignore[index]
        failure = failure_from_exception(exc, tool="get_account")
        text = failure.text()
        assert "(SDK, REST)" in text and "MCP" not in text.split("\n")[0]
        assert "rest: circuit open since the last failure: TOKEN_CONNECT_ERROR" in text
        assert "ZOHO_ACCOUNTS_URL" in (failure.hint or "")
        assert failure.details["tiers"]["rest"]["code"] == "TOKEN_CONNECT_ERROR"
        assert "sandbox" not in text and s.client_secret.get_secret_value() not in text  # type: ignore[union-attr]
        # ...and none of those attempts used Zoho's token-request allowance (item 2)
        key = store_key(s.accounts_url, "1000.FAKECLIENT", REFRESH)
        assert TokenStore(tmp_path).recent_requests(key, since=0.0) == []
    finally:
        await gw.aclose()


async def test_circuit_open_error_keeps_the_last_counted_failure() -> None:
    bad = AuthError("Zoho refused the client secret: check ZOHO_CLIENT_SECRET", code="INVALID_CLIENT_SECRET", tier="sdk")
    tiers = three(mcp=(TransientError("down", code="HTTP_503", status=503, tier="mcp"),), sdk=(bad,), rest=(bad,))
    gw, _, _ = make_gateway(tiers, breaker_failure_threshold=1, retry_max_attempts=1)
    await _fail(gw, 1)
    exc = await _fail(gw, 1)
    assert set(exc.causes) == {"mcp", "sdk", "rest"}
    sdk = exc.causes["sdk"]
    assert isinstance(sdk, CircuitOpenError) and sdk.cause is bad
    assert sdk.cause_info == {
        "category": "auth",
        "code": "INVALID_CLIENT_SECRET",
        "message": "Zoho refused the client secret: check ZOHO_CLIENT_SECRET",
    }
    assert "INVALID_CLIENT_SECRET" in str(sdk) and "next trial" in str(sdk)
    assert exc.as_dict()["sdk"]["cause"]["code"] == "INVALID_CLIENT_SECRET"


async def test_an_auth_cause_behind_open_circuits_is_not_called_temporary() -> None:
    bad = AuthError("refresh token refused: set ZOHO_REFRESH_TOKEN", code="INVALID_REFRESH_TOKEN")
    tiers = {"sdk": FakeTier("sdk", bad), "rest": FakeTier("rest", bad)}
    gw, _, _ = make_gateway(tiers, enable_mcp=False, breaker_failure_threshold=1, retry_max_attempts=1)
    await _fail(gw, 1)
    exc = await _fail(gw, 1)
    assert all(isinstance(c, CircuitOpenError) for c in exc.causes.values())
    assert exc.category is ErrorCategory.AUTH
    failure = failure_from_exception(exc, tool="get_account")
    assert failure.code == "ZOHO_AUTH_FAILED"
    assert "temporary" not in failure.text()
    assert "INVALID_REFRESH_TOKEN" in failure.message and "(SDK, REST)" in failure.message


async def test_a_failed_probe_is_the_cause_shown() -> None:
    tiers = three()
    tiers["rest"].probe_error = AuthError("bad client: check ZOHO_CLIENT_ID", code="INVALID_CLIENT")
    gw, _, _ = make_gateway(tiers, breaker_failure_threshold=1)
    await gw.check_health()
    assert gw.breakers["rest"].state == "open"
    err = gw.breakers["rest"].open_error()
    assert err.cause_info is not None and err.cause_info["code"] == "INVALID_CLIENT"
