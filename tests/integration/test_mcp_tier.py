"""Tier 1 against the sandbox's hosted-MCP surface (/mcp/{key}/message): reads, search, bulk update,
the shared long-lived session, reconnection, auth modes, cancellation and secret hygiene."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import structlog
from pydantic import SecretStr

from zoho_mcp.config import Settings
from zoho_mcp.criteria import escape_value
from zoho_mcp.logs import configure_logging
from zoho_mcp.sandbox.config import MCP_KEY, MCP_TOKEN
from zoho_mcp.tiers.base import (
    AuthError,
    BusinessError,
    ConfigurationError,
    GetRecords,
    GetResult,
    Probe,
    ProbeResult,
    SearchRecords,
    SearchResult,
    TransientError,
    UpdateRecords,
    UpdateResult,
    ZohoError,
)
from zoho_mcp.tiers.mcp import McpTier

pytestmark = pytest.mark.anyio

_NOISY = ("mcp", "mcp.client.streamable_http", "httpx2", "httpcore")
UNKNOWN_ID = "1111111111111111111"


@pytest.fixture
async def tier(sandbox_settings: Settings) -> AsyncIterator[McpTier]:
    built = McpTier(sandbox_settings)
    try:
        yield built
    finally:
        await built.aclose()


def _settings(base: Settings, **changes: Any) -> Settings:
    for name in ("mcp_url", "mcp_token"):
        if isinstance(changes.get(name), str):
            changes[name] = SecretStr(changes[name])
    return base.model_copy(update=changes)


def _secret_free(err: BaseException, *secrets: str) -> None:
    for text in (str(err), repr(err), str(getattr(err, "to_dict", lambda: {})())):
        for secret in secrets:
            assert secret not in text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- reads -----------------------------------------------------------------------------------------


async def test_get_one_record_matches_ground_truth(tier: McpTier, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[0]
    result = await tier.execute(GetRecords("Accounts", (rid,)))
    assert isinstance(result, GetResult)
    assert result.missing == []
    assert [r["id"] for r in result.records] == [rid]
    truth = admin.record("Accounts", rid)
    assert result.records[0]["Account_Name"] == truth["Account_Name"]


async def test_get_with_fields(tier: McpTier, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[1]
    result = await tier.execute(GetRecords("Accounts", (rid,), fields=("Account_Name",)))
    assert isinstance(result, GetResult)
    assert result.records[0]["id"] == rid
    assert "Account_Name" in result.records[0]


@pytest.mark.parametrize("empty_text", ["", "{}"])
async def test_get_missing_record(tier: McpTier, admin: Any, empty_text: str) -> None:
    admin.configure(mcp_empty_text=empty_text)
    result = await tier.execute(GetRecords("Accounts", (UNKNOWN_ID,)))
    assert result == GetResult(records=[], missing=[UNKNOWN_ID])


async def test_get_missing_record_in_400_mode(tier: McpTier, admin: Any) -> None:
    admin.configure(missing_record_mode="400")
    result = await tier.execute(GetRecords("Accounts", (UNKNOWN_ID,)))
    assert result == GetResult(records=[], missing=[UNKNOWN_ID])


async def test_bulk_read_with_some_missing_keeps_order(tier: McpTier, admin: Any) -> None:
    ids = admin.record_ids("Accounts")[:5]
    asked = (ids[3], UNKNOWN_ID, ids[0], "2222222222222222222", ids[4])
    result = await tier.execute(GetRecords("Accounts", asked))
    assert isinstance(result, GetResult)
    assert [r["id"] for r in result.records] == [ids[3], ids[0], ids[4]]
    assert result.missing == [UNKNOWN_ID, "2222222222222222222"]


async def test_bulk_read_more_than_100_ids(tier: McpTier, admin: Any) -> None:
    ids = admin.record_ids("Accounts")[:150]
    result = await tier.execute(GetRecords("Accounts", tuple(ids)))
    assert isinstance(result, GetResult)
    assert [r["id"] for r in result.records] == ids
    assert result.missing == []


# --- search ----------------------------------------------------------------------------------------


async def test_search_criteria_with_escaped_characters(tier: McpTier, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[7]
    name = r"Burns, B (Boyle) \ Ltd"
    update = await tier.execute(UpdateRecords("Accounts", ({"id": rid, "Account_Name": name},)))
    assert isinstance(update, UpdateResult) and update.results[0].status == "success"
    result = await tier.execute(SearchRecords("Accounts", criteria=f"(Account_Name:equals:{escape_value(name)})"))
    assert isinstance(result, SearchResult)
    assert rid in [r["id"] for r in result.records]
    assert result.page.page == 1
    assert result.page.count == len(result.records)


async def test_search_no_match_is_an_empty_page(tier: McpTier) -> None:
    result = await tier.execute(
        SearchRecords("Accounts", criteria="(Account_Name:equals:zzqqxx-no-such-name)", per_page=10)
    )
    assert isinstance(result, SearchResult)
    assert result.records == []
    assert (result.page.page, result.page.per_page, result.page.count, result.page.more_records) == (1, 10, 0, False)


@pytest.mark.parametrize("as_is_error", [True, False])
async def test_search_bad_criteria_is_a_business_error(tier: McpTier, admin: Any, as_is_error: bool) -> None:
    admin.configure(mcp_errors_as_is_error=as_is_error)
    with pytest.raises(BusinessError) as info:
        await tier.execute(SearchRecords("Accounts", criteria="(No_Such_Field:equals:x)"))
    assert info.value.tier == "mcp"
    assert info.value.code == "INVALID_QUERY"


async def test_search_pages(tier: McpTier) -> None:
    first = await tier.execute(SearchRecords("Accounts", word="Inc", per_page=5))
    assert isinstance(first, SearchResult)
    assert first.page.more_records
    if first.page.more_records:
        second = await tier.execute(SearchRecords("Accounts", word="Inc", per_page=5, page=2))
        assert isinstance(second, SearchResult)
        assert second.page.page == 2
        assert {r["id"] for r in first.records}.isdisjoint({r["id"] for r in second.records})


# --- update ----------------------------------------------------------------------------------------


async def test_update_150_records_with_some_invalid(tier: McpTier, admin: Any) -> None:
    ids = admin.record_ids("Accounts")[:150]
    bad = {3, 101, 149}
    records = []
    for i, rid in enumerate(ids):
        if i in bad:
            records.append({"id": rid, "Annual_Revenue": "not-a-number"})
        else:
            records.append({"id": rid, "Phone": f"555-{i:04d}"})
    result = await tier.execute(UpdateRecords("Accounts", tuple(records)))
    assert isinstance(result, UpdateResult)
    assert [r.id for r in result.results] == ids
    for i, res in enumerate(result.results):
        if i in bad:
            assert res.status == "error" and res.code == "INVALID_DATA", res
        else:
            assert res.status == "success" and res.code == "SUCCESS", res
    for i in sorted(bad | {0, 1, 50, 99, 100, 102, 148}):
        res, rid = result.results[i], ids[i]
        truth = admin.record("Accounts", rid)
        if i in bad:
            assert res.status == "error" and res.code == "INVALID_DATA", res
            assert truth["Annual_Revenue"] != "not-a-number"
        else:
            assert res.status == "success" and res.code == "SUCCESS", res
            assert truth["Phone"] == f"555-{i:04d}"
    calls = [e for e in admin.journal("mcp") if e.get("tool") == "ZohoCRM_Update_Records"]
    assert len(calls) == 2


async def test_update_where_every_record_fails(tier: McpTier, admin: Any) -> None:
    ids = admin.record_ids("Accounts")[:2]
    result = await tier.execute(UpdateRecords("Accounts", tuple({"id": i, "Annual_Revenue": "x"} for i in ids)))
    assert isinstance(result, UpdateResult)
    assert [(r.id, r.status, r.code) for r in result.results] == [(i, "error", "INVALID_DATA") for i in ids]


# --- the session -----------------------------------------------------------------------------------


async def test_one_session_serves_many_concurrent_calls(tier: McpTier, admin: Any) -> None:
    ids = admin.record_ids("Accounts")[:20]

    async def one(rid: str) -> None:
        result = await tier.execute(GetRecords("Accounts", (rid,)))
        assert isinstance(result, GetResult) and result.records[0]["id"] == rid

    async with anyio.create_task_group() as tg:
        for rid in ids:
            tg.start_soon(one, rid)
    for rid in ids[:5]:
        await one(rid)
    assert tier.connects == 1
    assert len([e for e in admin.journal("mcp") if e.get("tool")]) == 25


async def test_reconnects_after_the_surface_resets(tier: McpTier, admin: Any) -> None:
    assert isinstance(await tier.execute(Probe()), ProbeResult)
    admin.fault(surface="mcp", mode="reset")
    with pytest.raises(TransientError) as info:
        await tier.execute(Probe())
    assert info.value.code == "CONNECTION_RESET"  # the call left: not a connect error
    assert info.value.details["sent"] is True
    assert info.value.tier == "mcp"
    admin.clear_faults()
    assert isinstance(await tier.execute(Probe()), ProbeResult)
    assert tier.connects == 2


async def test_surface_error_status_is_transient_and_keeps_the_session(tier: McpTier, admin: Any) -> None:
    await tier.execute(Probe())
    admin.fault(surface="mcp", mode="error", status=503, count=1)
    with pytest.raises(TransientError) as info:
        await tier.execute(Probe())
    assert info.value.status == 503
    await tier.execute(Probe())
    assert tier.connects == 1


async def test_rate_limit_fault_is_rate_limited(tier: McpTier, admin: Any) -> None:
    from zoho_mcp.tiers.base import RateLimitedError

    admin.fault(surface="mcp", mode="rate_limit", count=1)
    with pytest.raises(RateLimitedError):
        await tier.execute(Probe())


async def test_surface_down_fails_fast_with_transient_error(sandbox_settings: Settings) -> None:
    url = f"http://127.0.0.1:{_free_port()}/mcp/{MCP_KEY}/message"
    down = McpTier(_settings(sandbox_settings, mcp_url=url))
    try:
        with anyio.fail_after(3):
            with pytest.raises(TransientError) as info:
                await down.execute(Probe())
        assert info.value.code == "CONNECT_ERROR" and info.value.details["sent"] is False
        _secret_free(info.value, MCP_KEY, url)
    finally:
        await down.aclose()


async def test_hung_call_times_out_and_the_next_call_reconnects(sandbox_settings: Settings, admin: Any) -> None:
    tier = McpTier(_settings(sandbox_settings, mcp_timeout=0.3))
    try:
        await tier.execute(Probe())
        admin.fault(surface="mcp", mode="hang")  # no count: clear_faults() must be able to release it
        with pytest.raises(TransientError) as info:
            await tier.execute(Probe())
        assert info.value.code == "TIMEOUT" and info.value.details["sent"] is True
        admin.clear_faults()
        assert isinstance(await tier.execute(Probe()), ProbeResult)
        assert tier.connects == 2  # the timed-out session was dropped and a new one opened
    finally:
        await tier.aclose()


async def test_cancelled_call_does_not_break_the_next_call(tier: McpTier, admin: Any) -> None:
    await tier.execute(Probe())
    admin.fault(surface="mcp", mode="latency", latency_ms=2000, count=1)
    with anyio.move_on_after(0.1) as scope:
        await tier.execute(Probe())
    assert scope.cancelled_caught
    with anyio.fail_after(2):
        assert isinstance(await tier.execute(Probe()), ProbeResult)
    assert tier.connects == 1


async def test_cancelled_first_caller_does_not_abort_the_connect(tier: McpTier) -> None:
    with anyio.move_on_after(0):
        await tier.execute(Probe())
    assert isinstance(await tier.execute(Probe()), ProbeResult)
    assert tier.connects == 1


# --- configuration, auth and secrets ---------------------------------------------------------------


async def test_wrong_key_is_a_configuration_error_without_the_key(
    sandbox_settings: Settings, clean_sandbox: Any
) -> None:
    wrong = "wrong-key-9f8e7d6c5b4a"
    url = f"{clean_sandbox.base_url}/mcp/{wrong}/message"
    bad = McpTier(_settings(sandbox_settings, mcp_url=url))
    try:
        with pytest.raises(ConfigurationError) as info:
            await bad.execute(Probe())
        assert "ZOHO_MCP_URL" in str(info.value)
        assert info.value.code == "MCP_KEY_INVALID"
        _secret_free(info.value, wrong, url)
    finally:
        await bad.aclose()


async def test_wrong_key_in_query_form(sandbox_settings: Settings, clean_sandbox: Any) -> None:
    bad = McpTier(_settings(sandbox_settings, mcp_url=f"{clean_sandbox.base_url}/mcp/message?key=nope-not-the-key"))
    good = McpTier(_settings(sandbox_settings, mcp_url=f"{clean_sandbox.base_url}/mcp/message?key={MCP_KEY}"))
    try:
        with pytest.raises(ConfigurationError):
            await bad.execute(Probe())
        assert isinstance(await good.execute(Probe()), ProbeResult)
    finally:
        await bad.aclose()
        await good.aclose()


async def test_missing_url_is_a_configuration_error(sandbox_settings: Settings) -> None:
    tier = McpTier(_settings(sandbox_settings, mcp_url=None))
    with pytest.raises(ConfigurationError) as info:
        await tier.execute(Probe())
    assert "ZOHO_MCP_URL" in str(info.value)
    await tier.aclose()


async def test_bearer_required(sandbox_settings: Settings, admin: Any) -> None:
    admin.configure(mcp_require_bearer=True)
    without = McpTier(sandbox_settings)
    wrong = McpTier(_settings(sandbox_settings, mcp_token="not-the-right-token-123"))
    right = McpTier(_settings(sandbox_settings, mcp_token=MCP_TOKEN))
    try:
        with pytest.raises(AuthError) as info:
            await without.execute(Probe())
        assert info.value.status == 401
        with pytest.raises(AuthError) as info:
            await wrong.execute(Probe())
        _secret_free(info.value, "not-the-right-token-123", MCP_KEY)
        assert isinstance(await right.execute(Probe()), ProbeResult)
        rid = admin.record_ids("Accounts")[0]
        assert isinstance(await right.execute(GetRecords("Accounts", (rid,))), GetResult)
    finally:
        for t in (without, wrong, right):
            await t.aclose()


async def test_no_secret_in_logs_or_errors(sandbox_settings: Settings, admin: Any) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in _NOISY}, structlog.get_config())
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG)
    token = "bearer-secret-abcdef-123456"
    tier = McpTier(_settings(sandbox_settings, mcp_token=token))
    errors: list[ZohoError] = []
    try:
        await tier.execute(Probe())
        admin.fault(surface="mcp", mode="reset", count=1)
        try:
            await tier.execute(Probe())
        except ZohoError as exc:
            errors.append(exc)
        admin.fault(surface="mcp", mode="error", status=500, count=1)
        try:
            await tier.execute(Probe())
        except ZohoError as exc:
            errors.append(exc)
        await tier.execute(Probe())
    finally:
        await tier.aclose()
        root.handlers[:], level, levels, config = saved
        root.setLevel(level)
        for name, lvl in levels.items():
            logging.getLogger(name).setLevel(lvl)
        structlog.configure(**config)
    assert len(errors) == 2
    logged = stream.getvalue()
    assert "mcp session open" in logged
    assert "HTTP Request" in logged
    for text in [logged, *(str(e) for e in errors), *(repr(e) for e in errors)]:
        assert MCP_KEY not in text
        assert token not in text
    assert MCP_KEY not in repr(tier)


async def test_many_cancelled_calls_leave_the_session_usable(tier: McpTier, admin: Any) -> None:
    await tier.execute(Probe())
    admin.fault(surface="mcp", mode="latency", latency_ms=1000, count=10)
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(tier.execute, Probe())
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    admin.clear_faults()
    with anyio.fail_after(2):
        assert isinstance(await tier.execute(Probe()), ProbeResult)
    assert tier.connects == 1


async def test_auto_mode_is_an_option(sandbox_settings: Settings, admin: Any) -> None:
    tier = McpTier(sandbox_settings, mode="auto")
    try:
        rid = admin.record_ids("Accounts")[0]
        result = await tier.execute(GetRecords("Accounts", (rid,)))
        assert isinstance(result, GetResult) and result.records[0]["id"] == rid
    finally:
        await tier.aclose()


async def test_closed_tier_refuses_calls(sandbox_settings: Settings) -> None:
    tier = McpTier(sandbox_settings)
    await tier.execute(Probe())
    await tier.aclose()
    await tier.aclose()
    with pytest.raises(ConfigurationError) as info:
        await tier.execute(Probe())
    assert info.value.code == "TIER_CLOSED"
