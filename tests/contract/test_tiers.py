"""One contract, three tiers: the same operations give the same normalised results and errors.

Every test runs for "mcp", "sdk" and "rest" against the sandbox; ground truth is read through the
sandbox admin API, never through the tier under test.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import anyio
import httpx
import pytest
from pydantic import SecretStr

from zoho_mcp.config import Settings
from zoho_mcp.criteria import escape_value
from zoho_mcp.tiers.base import (
    AuthError,
    GetRecords,
    GetResult,
    InvalidRequestError,
    Probe,
    ProbeResult,
    RateLimitedError,
    SearchRecords,
    SearchResult,
    Tier,
    TransientError,
    UpdateRecords,
    UpdateResult,
    ZohoError,
)

pytestmark = pytest.mark.anyio

TIER_NAMES = ("mcp", "sdk", "rest")
MISSING_A = "1111111111111111111"
MISSING_B = "222222222222222222"
SPECIAL_NAME = "Smith, Jones (Holdings) & Co"

#: Where each tier's traffic lands in the sandbox (for faults and the journal).
SURFACE = {"mcp": ("mcp", "any"), "sdk": ("crm", "zcrmsdk"), "rest": ("crm", "other")}


def mint_token(base_url: str) -> httpx.Response:
    """A token minted "elsewhere": another client of the same refresh token."""
    from zoho_mcp.sandbox.config import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN

    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}
    return httpx.post(f"{base_url}/oauth/v2/token", data=form, timeout=10.0)


def record_surface_entries(admin: Any, tier_name: str) -> list[dict[str, Any]]:
    surface, client = SURFACE[tier_name]
    return [e for e in admin.journal() if e["surface"] == surface and (client == "any" or e["client"] == client)]


async def test_get_one(tier: Tier, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[3]
    result = await tier.execute(GetRecords("Accounts", (rid,)))
    assert isinstance(result, GetResult)
    assert result.missing == []
    [record] = result.records
    truth = admin.record("Accounts", rid)
    assert record["id"] == rid and isinstance(record["id"], str)
    assert record["Account_Name"] == truth["Account_Name"]
    assert isinstance(record["Owner"]["id"], str)


async def test_get_missing(tier: Tier) -> None:
    result = await tier.execute(GetRecords("Accounts", (MISSING_A,)))
    assert isinstance(result, GetResult)
    assert result.records == [] and result.missing == [MISSING_A]


async def test_bulk_read_with_some_missing_keeps_order(tier: Tier, admin: Any) -> None:
    ids = admin.record_ids("Accounts")
    asked = [ids[10], MISSING_A, ids[2], ids[7], MISSING_B, ids[0]]
    result = await tier.execute(GetRecords("Accounts", tuple(asked)))
    assert isinstance(result, GetResult)
    assert [r["id"] for r in result.records] == [ids[10], ids[2], ids[7], ids[0]]
    assert result.missing == [MISSING_A, MISSING_B]
    for rec in result.records:
        assert rec["Account_Name"] == admin.record("Accounts", rec["id"])["Account_Name"]


async def test_bulk_read_more_than_one_call(tier: Tier, admin: Any) -> None:
    ids = admin.record_ids("Accounts")[:150]
    result = await tier.execute(GetRecords("Accounts", tuple(ids) + (MISSING_A,)))
    assert isinstance(result, GetResult)
    assert [r["id"] for r in result.records] == ids
    assert result.missing == [MISSING_A]


async def _rename(make_tier: Any, sandbox_settings: Settings, rid: str, name: str) -> None:
    rest, auth = make_tier("rest", sandbox_settings)
    try:
        out = await rest.execute(UpdateRecords("Accounts", ({"id": rid, "Account_Name": name},)))
        assert isinstance(out, UpdateResult) and out.results[0].status == "success"
    finally:
        await rest.aclose()
        if auth is not None:
            await auth.aclose()


async def test_search_with_escaped_characters(
    tier: Tier, admin: Any, sandbox_settings: Settings, tier_factory: Any
) -> None:
    rid = admin.record_ids("Accounts")[42]
    await _rename(tier_factory, sandbox_settings, rid, SPECIAL_NAME)
    criteria = f"(Account_Name:equals:{escape_value(SPECIAL_NAME)})"
    assert "\\," in criteria and "\\(" in criteria
    result = await tier.execute(SearchRecords("Accounts", criteria=criteria))
    assert isinstance(result, SearchResult)
    assert [r["id"] for r in result.records] == [rid]
    assert result.records[0]["Account_Name"] == SPECIAL_NAME
    assert result.page.count == 1 and result.page.more_records is False and result.page.page == 1


async def test_search_with_no_match_is_empty(tier: Tier) -> None:
    result = await tier.execute(SearchRecords("Accounts", criteria="(Account_Name:equals:Zz no such company 0987)"))
    assert isinstance(result, SearchResult)
    assert result.records == []
    assert result.page.count == 0 and result.page.more_records is False


async def test_update_250_with_some_invalid(tier: Tier, tier_name: str, admin: Any) -> None:
    ids = admin.record_ids("Accounts")[100:350]
    assert len(ids) == 250
    bad_value = {5, 120, 249}
    bad_id = {60: MISSING_A, 199: MISSING_B}
    before = {i: admin.record("Accounts", ids[i]) for i in bad_value}
    records: list[dict[str, Any]] = []
    for i, rid in enumerate(ids):
        if i in bad_id:
            records.append({"id": bad_id[i], "Description": f"contract {tier_name} {i}"})
        elif i in bad_value:
            records.append({"id": rid, "Annual_Revenue": "not a number"})
        else:
            records.append({"id": rid, "Description": f"contract {tier_name} {i}"})
    result = await tier.execute(UpdateRecords("Accounts", tuple(records)))
    assert isinstance(result, UpdateResult)
    assert [r.id for r in result.results] == [r["id"] for r in records]
    for i, res in enumerate(result.results):
        if i in bad_value:
            assert (res.status, res.code) == ("error", "INVALID_DATA"), res
            assert res.details.get("api_name") == "Annual_Revenue"
            assert admin.record("Accounts", ids[i])["Annual_Revenue"] == before[i]["Annual_Revenue"]
        elif i in bad_id:
            assert res.status == "error" and res.code == "INVALID_DATA", res
        else:
            assert (res.status, res.code) == ("success", "SUCCESS"), res
    for i, rid in enumerate(ids):  # ground truth for every record, through the admin API
        stored = admin.record("Accounts", rid)
        if i in bad_value:
            assert stored["Annual_Revenue"] == before[i]["Annual_Revenue"]
        elif i not in bad_id:
            assert stored["Description"] == f"contract {tier_name} {i}", i
    assert admin.record("Accounts", MISSING_A) is None and admin.record("Accounts", MISSING_B) is None
    assert len(update_calls(admin, tier_name)) == 3  # 250 records: three Zoho calls of at most 100


def update_calls(admin: Any, tier_name: str) -> list[dict[str, Any]]:
    entries = record_surface_entries(admin, tier_name)
    if tier_name == "mcp":
        return [e for e in entries if e.get("tool") == "ZohoCRM_Update_Records"]
    return [e for e in entries if e["method"] == "PUT"]


def oauth_count(admin: Any) -> int:
    return sum(1 for e in admin.journal() if e["surface"] == "oauth")


def statuses(admin: Any, tier_name: str) -> list[int | None]:
    return [e["status"] for e in record_surface_entries(admin, tier_name)]


async def test_expired_token_mid_run(tier: Tier, tier_name: str, admin: Any) -> None:
    ids = admin.record_ids("Accounts")
    first = await tier.execute(GetRecords("Accounts", (ids[0],)))
    minted = oauth_count(admin)
    admin.clear_journal()
    admin.advance_clock(3700)  # every token the sandbox minted has now expired
    second = await tier.execute(GetRecords("Accounts", (ids[1],)))
    assert isinstance(first, GetResult) and isinstance(second, GetResult)
    assert [r["id"] for r in second.records] == [ids[1]]
    if tier_name != "mcp":  # the hosted MCP tier authenticates with its URL key, not OAuth
        assert minted == 1
        assert oauth_count(admin) == 1  # exactly one refresh
        assert statuses(admin, tier_name).count(401) == 1  # one refused call, one retry, no loop


async def _get_each_at_once(tier: Tier, ids: list[str]) -> list[str]:
    """Gets every id with its own concurrent call; the ids found."""
    found: list[str] = []

    async def one(rid: str) -> None:
        res = await tier.execute(GetRecords("Accounts", (rid,)))
        assert isinstance(res, GetResult)
        found.extend(r["id"] for r in res.records)

    async with anyio.create_task_group() as tg:
        for rid in ids:
            tg.start_soon(one, rid)
    return found


async def test_concurrent_calls_share_one_token(tier: Tier, tier_name: str, admin: Any) -> None:
    ids = admin.record_ids("Accounts")[:15]
    assert sorted(await _get_each_at_once(tier, ids)) == sorted(ids)
    assert oauth_count(admin) == (0 if tier_name == "mcp" else 1)


async def test_hundred_concurrent_calls_after_expiry_cause_one_token_request(
    tier: Tier, tier_name: str, admin: Any
) -> None:
    """Zoho expires the token while the process still trusts it: 100 callers meet 401s at once, and
    the shared manager asks for exactly one new token."""
    ids = admin.record_ids("Accounts")[:100]
    await tier.execute(GetRecords("Accounts", (ids[0],)))
    admin.clear_journal()
    admin.advance_clock(3700)
    assert sorted(await _get_each_at_once(tier, ids)) == sorted(ids)
    assert oauth_count(admin) == (0 if tier_name == "mcp" else 1)


async def test_evicted_token(tier: Tier, tier_name: str, admin: Any) -> None:
    ids = admin.record_ids("Accounts")
    await tier.execute(GetRecords("Accounts", (ids[0],)))
    admin.configure(token_requests_per_window=100)
    for _ in range(11):
        assert mint_token(admin.base_url).status_code == 200
    admin.clear_journal()
    result = await tier.execute(GetRecords("Accounts", (ids[1],)))
    assert isinstance(result, GetResult) and [r["id"] for r in result.records] == [ids[1]]
    if tier_name != "mcp":
        assert oauth_count(admin) == 1
        assert statuses(admin, tier_name).count(401) == 1


async def test_rate_limit_fault_is_rate_limited_error(tier: Tier, tier_name: str, admin: Any) -> None:
    surface, client = SURFACE[tier_name]
    rid = admin.record_ids("Accounts")[0]
    admin.fault(surface=surface, client=client, mode="rate_limit")
    with pytest.raises(RateLimitedError) as info:
        await tier.execute(GetRecords("Accounts", (rid,)))
    assert info.value.code == "TOO_MANY_REQUESTS" and info.value.tier == tier_name
    assert info.value.retryable


async def test_concurrency_limit_is_rate_limited_error(tier: Tier, tier_name: str, admin: Any, sandbox_settings: Settings) -> None:
    """Hold the org's only slot with a hung raw request: the tier's call gets Zoho's real 429."""
    ids = admin.record_ids("Accounts")
    await tier.execute(GetRecords("Accounts", (ids[1],)))  # warm up (SDK metadata, MCP session)
    admin.configure(concurrency=1)
    admin.fault(surface="crm", client="other", mode="hang", path=f"/Accounts/{ids[0]}$")
    token = mint_token(admin.base_url).json()["access_token"]
    holder = threading.Thread(
        target=lambda: _quietly(
            lambda: httpx.get(
                f"{admin.base_url}/crm/v2/Accounts/{ids[0]}",
                headers={"Authorization": f"Zoho-oauthtoken {token}"},
                timeout=10,
            )
        ),
        daemon=True,
    )
    holder.start()
    try:
        for _ in range(500):
            if admin.limits()["in_flight"] >= 1:
                break
            await anyio.sleep(0.01)
        assert admin.limits()["in_flight"] >= 1
        with pytest.raises(RateLimitedError) as info:
            await tier.execute(GetRecords("Accounts", (ids[2],)))
        assert info.value.code == "TOO_MANY_REQUESTS" and info.value.tier == tier_name
    finally:
        admin.clear_faults()
        await anyio.to_thread.run_sync(holder.join, 10)


async def test_probe(tier: Tier) -> None:
    assert isinstance(await tier.execute(Probe()), ProbeResult)


@pytest.mark.parametrize("bad", ["123", "abc", "12345678901234567890", "123456789012345678a", "-123456789012345678", ""])
async def test_bad_ids_never_reach_the_network(tier: Tier, tier_name: str, admin: Any, bad: str) -> None:
    admin.clear_journal()
    with pytest.raises(InvalidRequestError) as info:
        await tier.execute(GetRecords("Accounts", (bad,)))
    with pytest.raises(InvalidRequestError):
        await tier.execute(UpdateRecords("Accounts", ({"id": bad, "Phone": "1"},)))
    assert info.value.code == "INVALID_ID"
    assert admin.journal() == []


async def test_forged_operation_with_bad_ids_is_refused_by_the_tier_itself(tier: Tier, tier_name: str, admin: Any) -> None:
    """Operations validate themselves; each tier checks again at its boundary (ids go into URL paths)."""
    ids = admin.record_ids("Accounts")
    admin.clear_journal()
    for bad in ("../../__sandbox__/reset", "123", ""):
        op = GetRecords("Accounts", (ids[0],))
        object.__setattr__(op, "ids", (bad,))
        with pytest.raises(InvalidRequestError) as info:
            await tier.execute(op)
        assert info.value.code == "INVALID_ID" and info.value.tier == tier_name
        assert info.value.details["sent"] is False
        upd = UpdateRecords("Accounts", ({"id": ids[0], "Phone": "1"},))
        object.__setattr__(upd, "records", ({"id": bad, "Phone": "1"},))
        with pytest.raises(InvalidRequestError):
            await tier.execute(upd)
    assert admin.journal() == []


async def test_refused_token_is_refreshed_once_then_an_auth_error_never_a_loop(
    tier: Tier, tier_name: str, admin: Any
) -> None:
    """Zoho keeps answering 401 INVALID_TOKEN: one refresh, one retry, then a clear AuthError."""
    surface, client = SURFACE[tier_name]
    rid = admin.record_ids("Accounts")[0]
    await tier.execute(GetRecords("Accounts", (rid,)))  # warm: token held, SDK metadata, MCP session
    admin.clear_journal()
    body = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
    admin.fault(surface=surface, client=client, mode="error", status=401, body=body)
    with pytest.raises(AuthError) as info:
        await tier.execute(GetRecords("Accounts", (rid,)))
    assert info.value.tier == tier_name and not info.value.retryable
    calls = record_surface_entries(admin, tier_name)
    if tier_name == "mcp":  # the hosted MCP authenticates by URL key / bearer: no OAuth refresh to try
        assert len(calls) == 1 and oauth_count(admin) == 0
    else:
        assert [e["status"] for e in calls] == [401, 401]
        assert oauth_count(admin) == 1
        assert "ZOHO_DATA_CENTER" in info.value.message


# --- did it reach Zoho? details["sent"] ------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dead_settings(settings: Settings, tier_name: str) -> Settings:
    """Settings whose Zoho host refuses connections (a preset token: no token request either)."""
    dead = f"http://127.0.0.1:{_closed_port()}"
    if tier_name == "mcp":
        assert settings.mcp_url is not None
        path = settings.mcp_url.get_secret_value().split("/mcp/", 1)[1]
        return settings.model_copy(update={"mcp_url": SecretStr(f"{dead}/mcp/{path}")})
    return settings.model_copy(
        update={"api_domain_override": dead, "access_token": SecretStr("1000.preset.access.for.a.dead.host")}
    )


async def test_connection_refused_is_not_sent(tier_name: str, admin: Any, sandbox_settings: Settings, tier_factory: Any) -> None:
    rid = admin.record_ids("Accounts")[0]
    tier, auth = tier_factory(tier_name, _dead_settings(sandbox_settings, tier_name))
    try:
        for op in (UpdateRecords("Accounts", ({"id": rid, "Description": "never sent"},)), GetRecords("Accounts", (rid,))):
            with pytest.raises(TransientError) as info:
                await tier.execute(op)
            assert info.value.details["sent"] is False, info.value
            assert info.value.code in ("CONNECT_ERROR", "CONNECT_TIMEOUT"), info.value
            assert info.value.tier == tier_name and info.value.retryable
    finally:
        await tier.aclose()
        if auth is not None:
            await auth.aclose()
    assert admin.journal() == []
    assert admin.record("Accounts", rid)["Description"] != "never sent"


async def test_token_failure_before_sending_is_not_sent(
    tier_name: str, admin: Any, sandbox_settings: Settings, tier_factory: Any
) -> None:
    """No token, no request: the error says so (MCP has no OAuth: its URL is unusable instead)."""
    rid = admin.record_ids("Accounts")[0]
    if tier_name == "mcp":
        settings = sandbox_settings.model_copy(update={"mcp_url": SecretStr("not a url")})
        expected: type[ZohoError] = ZohoError
    else:
        settings = sandbox_settings.model_copy(update={"client_id": "1000.WRONGCLIENT"})
        expected = AuthError
    tier, auth = tier_factory(tier_name, settings)
    try:
        with pytest.raises(expected) as info:
            await tier.execute(UpdateRecords("Accounts", ({"id": rid, "Description": "never sent"},)))
    finally:
        await tier.aclose()
        if auth is not None:
            await auth.aclose()
    assert info.value.details["sent"] is False and info.value.tier == tier_name
    assert record_surface_entries(admin, tier_name) == []


@pytest.mark.parametrize("mode", ["reset", "reset_after"])
async def test_broken_connection_after_sending_may_have_been_sent(
    tier: Tier, tier_name: str, admin: Any, mode: str
) -> None:
    """`reset` drops the request unapplied, `reset_after` applies it first: the caller cannot tell
    them apart, so both say sent=True and neither is a connect error."""
    surface, client = SURFACE[tier_name]
    ids = admin.record_ids("Accounts")
    await tier.execute(GetRecords("Accounts", (ids[0],)))  # warm: token, SDK metadata, MCP session
    text = f"{mode} via {tier_name}"
    admin.fault(surface=surface, client=client, mode=mode, count=1, path=None if surface == "mcp" else r"/Accounts$")
    with pytest.raises(TransientError) as info:
        await tier.execute(UpdateRecords("Accounts", ({"id": ids[1], "Description": text},), idempotent=False))
    err = info.value
    assert err.details["sent"] is True, err
    assert err.code not in ("CONNECT_ERROR", "CONNECT_TIMEOUT", "POOL_TIMEOUT"), err
    assert err.tier == tier_name
    applied = admin.record("Accounts", ids[1])["Description"] == text
    assert applied is (mode == "reset_after")


async def test_failure_of_a_later_chunk_says_earlier_chunks_were_sent(tier: Tier, tier_name: str, admin: Any) -> None:
    """150 records: the first call of 100 is applied, the second gets 429. A 429 alone means "not
    processed", but this operation was half applied: sent=True and records_sent=100."""
    surface, client = SURFACE[tier_name]
    ids = admin.record_ids("Accounts")[200:350]
    await tier.execute(GetRecords("Accounts", (ids[0],)))  # warm
    path = None if surface == "mcp" else r"/Accounts$"
    admin.fault(surface=surface, client=client, mode="latency", latency_ms=0, count=1, path=path)  # lets call 1 through
    admin.fault(surface=surface, client=client, mode="rate_limit", count=1, path=path)
    records = tuple({"id": rid, "Description": f"chunked {tier_name} {i}"} for i, rid in enumerate(ids))
    with pytest.raises(RateLimitedError) as info:
        await tier.execute(UpdateRecords("Accounts", records))
    assert info.value.details["sent"] is True and info.value.details["records_sent"] == 100
    assert [admin.record("Accounts", rid)["Description"] == f"chunked {tier_name} {i}" for i, rid in enumerate(ids)] == [
        i < 100 for i in range(150)
    ]


# --- across tiers --------------------------------------------------------------------------------


async def _all_tiers(make_tier: Any, settings: Settings) -> tuple[dict[str, Tier], list[Any]]:
    tiers: dict[str, Tier] = {}
    auths: list[Any] = []
    for name in TIER_NAMES:
        built, auth = make_tier(name, settings)
        tiers[name] = built
        if auth is not None:
            auths.append(auth)
    return tiers, auths


async def _close(tiers: dict[str, Tier], auths: list[Any]) -> None:
    for t in tiers.values():
        await t.aclose()
    for a in auths:
        await a.aclose()


async def test_same_inputs_same_outputs_across_tiers(sandbox_settings: Settings, admin: Any, tier_factory: Any) -> None:
    tiers, auths = await _all_tiers(tier_factory, sandbox_settings)
    ids = admin.record_ids("Accounts")
    try:
        gets = {n: await t.execute(GetRecords("Accounts", (ids[5],))) for n, t in tiers.items()}
        bulks = {n: await t.execute(GetRecords("Accounts", (ids[8], MISSING_A, ids[9]))) for n, t in tiers.items()}
        crit = f"(Account_Name:starts_with:{escape_value(admin.record('Accounts', ids[12])['Account_Name'][:4])})"
        searches = {n: await t.execute(SearchRecords("Accounts", criteria=crit, per_page=50)) for n, t in tiers.items()}
        empties = {n: await t.execute(SearchRecords("Accounts", word="qqqzzzxxy")) for n, t in tiers.items()}
    finally:
        await _close(tiers, auths)
    for results in (gets, bulks, searches, empties):
        first = next(iter(results.values()))
        for name, res in results.items():
            assert res == first, f"{name} differs"


async def test_same_update_results_across_tiers(sandbox_settings: Settings, admin: Any, tier_factory: Any) -> None:
    tiers, auths = await _all_tiers(tier_factory, sandbox_settings)
    ids = admin.record_ids("Accounts")
    outs = {}
    try:
        for n, t in tiers.items():
            batch = ({"id": ids[20], "Phone": "+1 555 0100"}, {"id": ids[21], "Employees": "many"}, {"id": MISSING_A, "Phone": "1"})
            outs[n] = await t.execute(UpdateRecords("Accounts", batch))
    finally:
        await _close(tiers, auths)
    shapes = {n: [(r.id, r.status, r.code, r.details.get("api_name")) for r in o.results] for n, o in outs.items()}  # type: ignore[union-attr]
    first = next(iter(shapes.values()))
    assert all(s == first for s in shapes.values()), shapes
    assert [s[1] for s in first] == ["success", "error", "error"]


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - the held request is dropped on purpose
        pass


async def test_describe_fields_is_the_same_from_every_tier(sandbox_settings: Settings, admin: Any, tier_factory: Any) -> None:
    from zoho_mcp.sandbox.data import ACCOUNT_FIELDS
    from zoho_mcp.tiers.base import DescribeFields, FieldsResult

    tiers, auths = await _all_tiers(tier_factory, sandbox_settings)
    try:
        out = {n: await t.execute(DescribeFields("Accounts")) for n, t in tiers.items()}
        with pytest.raises(ZohoError) as info:
            await tiers["rest"].execute(DescribeFields("NoSuchModule"))
    finally:
        await _close(tiers, auths)
    first = out["rest"]
    assert isinstance(first, FieldsResult)
    assert first.names() == {f.api_name for f in ACCOUNT_FIELDS}
    by_name = {f.api_name: f for f in first.fields}
    assert by_name["Created_Time"].read_only and not by_name["Phone"].read_only
    assert by_name["Account_Name"].data_type == "text" and by_name["Account_Name"].length == 200
    assert by_name["Account_Name"].label == "Account Name"
    for name, res in out.items():
        assert res == first, f"{name} differs"
    assert info.value.code == "INVALID_MODULE" or info.value.category.value == "business"
