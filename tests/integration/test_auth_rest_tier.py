"""REST-tier behaviour the contract suite does not cover: transport failures, odd bodies, credits,
and the factory's shared TokenManager — all against the sandbox."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from zoho_mcp.config import Settings
from zoho_mcp.tiers.auth import TokenManager
from zoho_mcp.tiers.base import (
    BusinessError,
    GetRecords,
    GetResult,
    InvalidRequestError,
    SearchRecords,
    TransientError,
    UpdateRecords,
)
from zoho_mcp.tiers.factory import build_tiers, close_tiers
from zoho_mcp.tiers.rest import RestTier

pytestmark = pytest.mark.anyio


@pytest.fixture
async def rest(sandbox_settings: Settings) -> AsyncIterator[RestTier]:
    auth = TokenManager(sandbox_settings)
    tier = RestTier(sandbox_settings, auth)
    try:
        yield tier
    finally:
        await tier.aclose()
        await auth.aclose()


def crm(admin: Any) -> list[dict[str, Any]]:
    return [e for e in admin.journal() if e["surface"] == "crm"]


async def test_5xx_is_transient_and_keeps_zohos_code(rest: RestTier, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[0]
    admin.fault(surface="crm", mode="error", status=503)
    with pytest.raises(TransientError) as info:
        await rest.execute(GetRecords("Accounts", (rid,)))
    assert info.value.status == 503 and info.value.tier == "rest" and info.value.retryable
    assert info.value.code != "HTTP_503" or info.value.message


async def test_non_json_error_body(rest: RestTier, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[0]
    admin.fault(surface="crm", mode="error", status=502, body="<html>upstream gone</html>")
    with pytest.raises(TransientError) as info:
        await rest.execute(GetRecords("Accounts", (rid,)))
    assert info.value.code == "HTTP_502" and info.value.status == 502


async def test_connection_reset_is_transient(rest: RestTier, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[0]
    admin.fault(surface="crm", mode="reset")
    with pytest.raises(TransientError) as info:
        await rest.execute(GetRecords("Accounts", (rid,)))
    assert info.value.code in ("CONNECTION_RESET", "CONNECTION_CLOSED")
    assert info.value.details["sent"] is True


async def test_reset_after_write_is_transient(rest: RestTier, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[0]
    admin.fault(surface="crm", mode="reset_after")
    with pytest.raises(TransientError) as info:
        await rest.execute(UpdateRecords("Accounts", ({"id": rid, "Description": "applied, unknown to caller"},)))
    assert info.value.details["sent"] is True and info.value.code != "CONNECT_ERROR"
    assert admin.record("Accounts", rid)["Description"] == "applied, unknown to caller"


async def test_timeout_is_transient(sandbox_settings: Settings, admin: Any) -> None:
    settings = sandbox_settings.model_copy(update={"rest_timeout": 0.3})
    auth = TokenManager(settings)
    tier = RestTier(settings, auth)
    rid = admin.record_ids("Accounts")[0]
    admin.fault(surface="crm", mode="hang")
    try:
        with pytest.raises(TransientError) as info:
            await tier.execute(GetRecords("Accounts", (rid,)))
        assert info.value.code == "TIMEOUT" and info.value.details["sent"] is True
    finally:
        admin.clear_faults()
        await tier.aclose()
        await auth.aclose()


async def test_connect_error_is_transient(sandbox_settings: Settings, admin: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = sandbox_settings.model_copy(
        update={"api_domain_override": f"http://127.0.0.1:{port}", "access_token": SecretStr("1000.initial.token0")}
    )
    auth = TokenManager(dead)
    tier = RestTier(dead, auth)
    try:
        with pytest.raises(TransientError) as info:
            await tier.execute(GetRecords("Accounts", ("1111111111111111111",)))
        assert info.value.code == "CONNECT_ERROR" and info.value.tier == "rest"
        assert info.value.details["sent"] is False
    finally:
        await tier.aclose()
        await auth.aclose()
    assert admin.journal() == []


async def test_missing_record_mode_400_is_still_missing(rest: RestTier, admin: Any) -> None:
    admin.configure(missing_record_mode="400")
    result = await rest.execute(GetRecords("Accounts", ("1111111111111111111",)))
    assert isinstance(result, GetResult) and result.missing == ["1111111111111111111"]


async def test_request_level_business_error(rest: RestTier) -> None:
    with pytest.raises(BusinessError) as info:
        await rest.execute(GetRecords("NoSuchModule", ("1111111111111111111",)))
    assert info.value.code == "INVALID_MODULE" and info.value.tier == "rest"
    assert not isinstance(info.value, InvalidRequestError)


async def test_invalid_criteria_is_business_error(rest: RestTier) -> None:
    with pytest.raises(BusinessError) as info:
        await rest.execute(SearchRecords("Accounts", criteria="(Account_Name:contains:x"))
    assert info.value.code == "INVALID_QUERY"


async def test_credits_remaining_is_exposed(rest: RestTier, admin: Any) -> None:
    admin.configure(credits_per_day=10)
    ids = admin.record_ids("Accounts")
    for i in range(6):
        await rest.execute(GetRecords("Accounts", (ids[i],)))
    assert rest.last_credits_remaining is not None and rest.last_credits_remaining <= 5


async def test_legacy_token_shape(sandbox_settings: Settings, admin: Any) -> None:
    admin.configure(legacy_token_shape=True)
    auth = TokenManager(sandbox_settings)
    tier = RestTier(sandbox_settings, auth)
    try:
        await tier.execute(GetRecords("Accounts", (admin.record_ids("Accounts")[0],)))
        age = auth.current_token_age()
        assert age is not None and age < 5
        assert auth._token is not None and 3500 < auth._token.expires_at - auth._token.minted_at <= 3600  # noqa: SLF001
    finally:
        await tier.aclose()
        await auth.aclose()


async def test_factory_shares_one_token_manager(sandbox_settings: Settings, admin: Any) -> None:
    tiers = build_tiers(sandbox_settings)
    assert list(tiers) == ["mcp", "sdk", "rest"]
    assert tiers["rest"].auth is tiers.auth  # type: ignore[attr-defined]
    rid = admin.record_ids("Accounts")[0]
    try:
        for name in ("sdk", "rest"):
            res = await tiers[name].execute(GetRecords("Accounts", (rid,)))
            assert isinstance(res, GetResult) and res.records
    finally:
        await close_tiers(tiers)
    assert sum(1 for e in admin.journal() if e["surface"] == "oauth") == 1


async def test_factory_builds_only_enabled_tiers(sandbox_settings: Settings) -> None:
    only_rest = sandbox_settings.model_copy(update={"enable_mcp": False, "enable_sdk": False})
    tiers = build_tiers(only_rest)
    assert list(tiers) == ["rest"]
    await close_tiers(tiers)
    none_auth = build_tiers(sandbox_settings.model_copy(update={"enable_sdk": False, "enable_rest": False}))
    assert list(none_auth) == ["mcp"] and none_auth.auth is None  # type: ignore[attr-defined]
    await close_tiers(none_auth)
