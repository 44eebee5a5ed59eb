"""Tier 2 against the real sandbox: the official zcrmsdk 3.1.0 over loopback HTTP, nothing mocked.

Ground truth comes from the sandbox's admin API (`admin.record`), which bypasses auth and faults.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from pydantic import SecretStr
from zcrmsdk.src.com.zoho.crm.api.initializer import Initializer

from zoho_mcp.config import Settings
from zoho_mcp.logs import configure_logging
from zoho_mcp.tiers.auth import TokenManager
from zoho_mcp.tiers.base import (
    AuthError,
    BusinessError,
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
)
from zoho_mcp.tiers.sdk import SdkTier

pytestmark = pytest.mark.anyio

MISSING = ("1000000000000000001", "1000000000000000002", "1000000000000000003")


async def _tier(settings: Settings) -> tuple[SdkTier, TokenManager]:
    auth = TokenManager(settings)
    return SdkTier(settings, auth), auth


@pytest.fixture
async def sdk(sandbox_settings: Settings) -> AsyncIterator[SdkTier]:
    tier, auth = await _tier(sandbox_settings)
    try:
        yield tier
    finally:
        await tier.aclose()
        await auth.aclose()


def _ids(admin: Any, n: int | None = None) -> list[str]:
    ids = list(admin.record_ids("Accounts"))
    return ids if n is None else ids[:n]


def _crm(admin: Any) -> list[dict[str, Any]]:
    return [e for e in admin.journal() if e["surface"] == "crm"]


# --- reads ---------------------------------------------------------------------------------------


async def test_is_a_tier_with_its_own_limiter(sdk: SdkTier, sandbox_settings: Settings) -> None:
    assert isinstance(sdk, Tier) and sdk.name == "sdk"
    assert sdk.limiter.total_tokens == sandbox_settings.org_concurrency
    assert sdk.limiter is not anyio.to_thread.current_default_thread_limiter()
    assert isinstance(await sdk.execute(Probe()), ProbeResult)


async def test_get_one_equals_ground_truth(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    rid = _ids(admin, 1)[0]
    result = await sdk.execute(GetRecords("Accounts", (rid,)))
    assert isinstance(result, GetResult) and result.missing == []
    assert result.records == [admin.record("Accounts", rid)]
    rec = result.records[0]
    assert isinstance(rec["id"], str) and len(rec["id"]) == 19
    assert isinstance(rec["Owner"], dict) and isinstance(rec["Owner"]["id"], str)
    # The SDK saw the record through its field metadata and still hands back Zoho's own values.
    assert rec["Created_Time"] == admin.record("Accounts", rid)["Created_Time"]
    entries = _crm(admin)
    assert entries and all(e["client"] == "zcrmsdk" for e in entries)
    assert any(e["path"].endswith(f"/Accounts/{rid}") for e in entries)


async def test_get_with_fields(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    rid = _ids(admin, 1)[0]
    result = await sdk.execute(GetRecords("Accounts", (rid,), fields=("Account_Name", "Phone")))
    truth = admin.record("Accounts", rid)
    assert result.records == [{"Account_Name": truth["Account_Name"], "Phone": truth["Phone"], "id": rid}]


async def test_get_missing(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    result = await sdk.execute(GetRecords("Accounts", (MISSING[0],)))
    assert result.records == [] and result.missing == [MISSING[0]]
    # Some Zoho hosts answer 400 INVALID_DATA instead of 204: still "missing", not an error.
    admin.configure(missing_record_mode="400")
    result = await sdk.execute(GetRecords("Accounts", (MISSING[1],)))
    assert result.records == [] and result.missing == [MISSING[1]]


async def test_bulk_read_with_some_missing_keeps_input_order(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    real = _ids(admin, 147)
    wanted = real[:50] + [MISSING[0]] + real[50:120] + [MISSING[1], MISSING[2]] + real[120:]
    result = await sdk.execute(GetRecords("Accounts", tuple(wanted)))
    assert [r["id"] for r in result.records] == real
    assert result.missing == list(MISSING)
    assert result.records[0] == admin.record("Accounts", real[0])
    ids_calls = [e for e in _crm(admin) if e["path"].rstrip("/").endswith("/Accounts")]
    assert len(ids_calls) == 2  # 150 ids -> chunks of 100


async def test_every_seeded_record_reads_exactly_as_on_the_wire(
    sdk: SdkTier, admin: Any, crm_client: Any
) -> None:
    """Through the SDK's typed objects and back, all 500 seeded accounts equal Zoho's raw JSON."""
    ids = _ids(admin)
    result = await sdk.execute(GetRecords("Accounts", tuple(ids)))
    assert result.missing == [] and len(result.records) == len(ids)
    wire: dict[str, Any] = {}
    for start in range(0, len(ids), 100):
        resp = crm_client.get("/crm/v2/Accounts", params={"ids": ",".join(ids[start : start + 100])})
        resp.raise_for_status()
        wire.update({r["id"]: r for r in resp.json()["data"]})
    for rec in result.records:
        assert rec == wire[rec["id"]], rec["id"]
        assert json.dumps(rec, sort_keys=True) == json.dumps(wire[rec["id"]], sort_keys=True)


async def test_search_criteria_word_and_no_match(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    hit = await sdk.execute(SearchRecords("Accounts", criteria="(Account_Name:equals:Acme Corp)"))
    assert isinstance(hit, SearchResult)
    assert [r["Account_Name"] for r in hit.records] == ["Acme Corp"]
    assert hit.records[0] == admin.record("Accounts", hit.records[0]["id"])
    assert hit.page.page == 1 and hit.page.count == 1 and hit.page.more_records is False

    words = await sdk.execute(SearchRecords("Accounts", word="Acme", per_page=5))
    assert 1 <= len(words.records) <= 5 and words.page.per_page == 5
    assert all("acme" in json.dumps(r, ensure_ascii=False).lower() for r in words.records)

    none = await sdk.execute(SearchRecords("Accounts", criteria="(Account_Name:equals:No Such Company 12345)"))
    assert none.records == [] and none.page.count == 0 and none.page.more_records is False


async def test_search_with_fields_and_paging(sdk: SdkTier, clean_sandbox: Any) -> None:
    first = await sdk.execute(SearchRecords("Accounts", word="Systems", per_page=2, fields=("Account_Name",)))
    assert first.page.more_records is True and len(first.records) == 2
    assert all(set(r) == {"Account_Name", "id"} for r in first.records)
    second = await sdk.execute(SearchRecords("Accounts", word="Systems", per_page=2, page=2, fields=("Account_Name",)))
    assert {r["id"] for r in first.records}.isdisjoint({r["id"] for r in second.records})


async def test_bad_criteria_is_a_business_error(sdk: SdkTier, clean_sandbox: Any) -> None:
    with pytest.raises(BusinessError) as info:
        await sdk.execute(SearchRecords("Accounts", criteria="(Account_Name:frobnicates:x)"))
    assert info.value.tier == "sdk" and info.value.code.startswith("INVALID")


async def test_unknown_module_is_a_business_error(sdk: SdkTier, clean_sandbox: Any) -> None:
    with pytest.raises(BusinessError) as info:
        await sdk.execute(GetRecords("Nonexistent_Module", ("4876876000000624001",)))
    assert info.value.code == "INVALID_MODULE" and info.value.tier == "sdk"


async def test_concurrent_calls_share_the_sdk_safely_under_the_tier_limiter(
    sandbox_settings: Settings, clean_sandbox: Any, admin: Any
) -> None:
    settings = sandbox_settings.model_copy(update={"concurrency_limit": 3})
    tier, auth = await _tier(settings)
    ids = _ids(admin, 24)
    admin.fault(surface="crm", client="zcrmsdk", mode="latency", latency_ms=30, path=r"/Accounts/\d+$")
    peak = 0
    results: dict[str, GetResult] = {}
    try:
        async def read(rid: str) -> None:
            results[rid] = await tier.execute(GetRecords("Accounts", (rid,)))

        async with anyio.create_task_group() as tg:
            for rid in ids:  # the very first calls also race for the field metadata
                tg.start_soon(read, rid)
            while len(results) < len(ids):
                peak = max(peak, tier.limiter.borrowed_tokens)
                await anyio.sleep(0.005)
    finally:
        await auth.aclose()
    assert 1 <= peak <= 3
    for rid in ids:
        assert [r["id"] for r in results[rid].records] == [rid]
    assert sum(1 for e in _crm(admin) if "settings/fields" in e["path"]) == 1


# --- writes --------------------------------------------------------------------------------------


async def test_update_150_with_a_few_invalid_keeps_per_record_results_in_order(
    sdk: SdkTier, clean_sandbox: Any, admin: Any
) -> None:
    ids = _ids(admin, 147)
    records: list[dict[str, Any]] = [{"id": rid, "Phone": f"+1 555-000-{i:04d}"} for i, rid in enumerate(ids)]
    records.insert(10, {"id": MISSING[0], "Phone": "+1 555-999-0000"})
    records.insert(120, {"id": ids[5], "Annual_Revenue": "lots"})  # wrong type: refused for this record only
    records.insert(140, {"id": MISSING[1], "Phone": "+1 555-999-0001"})
    before_revenue = admin.record("Accounts", ids[5])["Annual_Revenue"]

    result = await sdk.execute(UpdateRecords("Accounts", tuple(records)))
    assert isinstance(result, UpdateResult)
    assert [r.id for r in result.results] == [r["id"] for r in records]
    bad = {i for i, r in enumerate(result.results) if r.status == "error"}
    assert bad == {10, 120, 140}
    assert result.results[10].code == "INVALID_DATA" and result.results[10].details.get("id") == MISSING[0]
    assert result.results[120].code == "INVALID_DATA"
    assert result.results[120].details["api_name"] == "Annual_Revenue"
    assert result.results[120].details["json_path"] == "$.data[20].Annual_Revenue"  # index within its chunk
    ok = result.results[0]
    assert ok.code == "SUCCESS" and ok.message == "record updated" and ok.details["id"] == ids[0]
    assert isinstance(ok.details["Modified_By"]["id"], str)
    for index in (0, 9, 11, 99, 100, 119, 121, 139, 141, 149):  # around chunk edges and failures
        rec, res = records[index], result.results[index]
        assert res.status == "success" and admin.record("Accounts", rec["id"])["Phone"] == rec["Phone"]
    assert admin.record("Accounts", ids[5])["Annual_Revenue"] == before_revenue
    puts = [e for e in _crm(admin) if e["method"] == "PUT"]
    assert len(puts) == 2 and all(e["client"] == "zcrmsdk" for e in puts)


async def test_update_typed_values_and_clearing_a_field(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    rid, parent = _ids(admin, 2)
    owner = admin.record("Accounts", rid)["Owner"]["id"]
    change = {
        "id": rid,
        "Annual_Revenue": 250000,
        "Employees": 42,
        "Industry": "Retail",
        "Parent_Account": {"id": parent},
        "Owner": {"id": owner},
        "Website": None,
    }
    result = await sdk.execute(UpdateRecords("Accounts", (change,)))
    assert [r.status for r in result.results] == ["success"], result.results
    truth = admin.record("Accounts", rid)
    assert truth["Annual_Revenue"] == 250000 and truth["Employees"] == 42 and truth["Industry"] == "Retail"
    assert truth["Parent_Account"]["id"] == parent and truth["Website"] is None
    again = await sdk.execute(GetRecords("Accounts", (rid,)))
    assert again.records == [truth]


# --- failures --------------------------------------------------------------------------------------


async def test_sdk_only_fault_is_transient(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    admin.fault(surface="crm", client="zcrmsdk", mode="error", status=503)
    with pytest.raises(TransientError) as info:
        await sdk.execute(GetRecords("Accounts", (_ids(admin, 1)[0],)))
    assert info.value.tier == "sdk" and info.value.status == 503
    assert info.value.retryable and info.value.fails_over
    journal = _crm(admin)
    assert journal and all(e["client"] == "zcrmsdk" and e["status"] == 503 for e in journal)


async def test_rate_limit_is_a_rate_limited_error(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    await sdk.execute(Probe())
    admin.fault(surface="crm", client="zcrmsdk", mode="rate_limit")
    with pytest.raises(RateLimitedError) as info:
        await sdk.execute(SearchRecords("Accounts", word="Acme"))
    assert info.value.status == 429 and info.value.tier == "sdk" and info.value.retryable


async def test_a_body_the_sdk_cannot_read_is_transient_not_an_empty_answer(
    sdk: SdkTier, clean_sandbox: Any, admin: Any
) -> None:
    rid = _ids(admin, 1)[0]
    await sdk.execute(Probe())
    admin.fault(surface="crm", client="zcrmsdk", mode="error", status=200, body="<html>proxy page</html>")
    with pytest.raises(TransientError) as info:
        await sdk.execute(GetRecords("Accounts", (rid,)))
    assert info.value.code == "SDK_UNREADABLE_RESPONSE" and info.value.status == 200
    with pytest.raises(TransientError):
        await sdk.execute(SearchRecords("Accounts", word="Acme"))


async def test_hang_times_out_through_the_real_http_timeout(
    sandbox_settings: Settings, clean_sandbox: Any, admin: Any
) -> None:
    settings = sandbox_settings.model_copy(update={"sdk_timeout": 0.5})
    tier, auth = await _tier(settings)
    try:
        await tier.execute(Probe())  # metadata cached, token held
        admin.fault(surface="crm", client="zcrmsdk", mode="hang")
        with anyio.fail_after(10):
            with pytest.raises(TransientError) as info:
                await tier.execute(GetRecords("Accounts", (_ids(admin, 1)[0],)))
        assert info.value.code == "TIMEOUT" and info.value.tier == "sdk"
        # The blocked worker gave its limiter token back: the thread really returned.
        assert tier.limiter.borrowed_tokens == 0
    finally:
        admin.clear_faults()
        await auth.aclose()


def _unreachable(settings: Settings, state_dir: Any) -> Settings:
    """Settings whose API host refuses connections (a preset access token keeps the manager from
    learning the sandbox's api_domain)."""
    return settings.model_copy(
        update={
            "state_dir": state_dir,
            "api_domain_override": "http://127.0.0.1:9",
            "access_token": SecretStr("preset-access-token-for-a-dead-host"),
            "sdk_timeout": 1.0,
        }
    )


async def test_connection_refused_is_transient(sandbox_settings: Settings, tmp_path: Any) -> None:
    tier, auth = await _tier(_unreachable(sandbox_settings, tmp_path / "dead"))
    try:
        with pytest.raises(TransientError) as info:
            await tier.execute(GetRecords("Accounts", ("4876876000000624001",)))
        assert info.value.code == "CONNECT_ERROR" and info.value.tier == "sdk"
        assert info.value.details["sent"] is False  # refused connect: provably never left
    finally:
        await auth.aclose()


async def test_environment_follows_the_api_domain_of_the_token(
    sandbox_settings: Settings, clean_sandbox: Any, admin: Any
) -> None:
    """A wrong configured API host is corrected by the token response's api_domain (other DCs)."""
    settings = sandbox_settings.model_copy(update={"api_domain_override": "http://127.0.0.1:9", "sdk_timeout": 1.0})
    tier, auth = await _tier(settings)
    try:
        rid = _ids(admin, 1)[0]
        result = await tier.execute(GetRecords("Accounts", (rid,)))
        assert [r["id"] for r in result.records] == [rid]
        assert auth.api_domain == clean_sandbox.base_url
    finally:
        await auth.aclose()


async def test_dropped_connection_is_transient(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    admin.fault(surface="crm", client="zcrmsdk", mode="reset")
    with pytest.raises(TransientError) as info:
        await sdk.execute(GetRecords("Accounts", (_ids(admin, 1)[0],)))
    # A reset after sending is not a connect error: the request may have reached Zoho.
    assert info.value.code == "CONNECTION_RESET" and info.value.tier == "sdk"
    assert info.value.details["sent"] is True


async def test_invalid_token_is_refreshed_once_by_the_shared_manager(
    sdk: SdkTier, clean_sandbox: Any, admin: Any
) -> None:
    rid = _ids(admin, 1)[0]
    await sdk.execute(GetRecords("Accounts", (rid,)))
    old = await sdk.auth.get_token()
    before = sdk.auth.token_requests
    admin.revoke(old)
    result = await sdk.execute(GetRecords("Accounts", (rid,)))
    assert result.records and sdk.auth.token_requests == before + 1
    assert await sdk.auth.get_token() != old
    statuses = [e["status"] for e in _crm(admin) if e["path"].endswith(rid)]
    assert statuses[-2:] == [401, 200]


async def test_a_token_refused_twice_is_an_auth_error_after_one_refresh(
    sdk: SdkTier, clean_sandbox: Any, admin: Any
) -> None:
    await sdk.execute(Probe())
    before = sdk.auth.token_requests
    body = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
    admin.fault(surface="crm", client="zcrmsdk", mode="error", status=401, body=body)
    with pytest.raises(AuthError) as info:
        await sdk.execute(GetRecords("Accounts", (_ids(admin, 1)[0],)))
    assert info.value.code == "INVALID_TOKEN" and info.value.tier == "sdk" and not info.value.retryable
    assert sdk.auth.token_requests == before + 1
    assert [e["status"] for e in _crm(admin)][-2:] == [401, 401]


async def test_the_sdk_never_mints_tokens(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    await sdk.execute(Probe())
    await sdk.execute(GetRecords("Accounts", tuple(_ids(admin, 3))))
    await sdk.execute(SearchRecords("Accounts", word="Acme"))
    journal = admin.journal()
    oauth = [e for e in journal if e["surface"] == "oauth"]
    assert oauth, "the token manager fetched the token"
    assert all(e["client"] == "other" for e in oauth)
    assert len(oauth) == sdk.auth.token_requests
    assert [e for e in journal if e["surface"] == "crm" and e["client"] == "zcrmsdk"]


async def test_ids_are_validated_before_any_call(sdk: SdkTier, clean_sandbox: Any, admin: Any) -> None:
    with pytest.raises(InvalidRequestError):
        await sdk.execute(GetRecords("Accounts", ("12345",)))
    with pytest.raises(InvalidRequestError):
        await sdk.execute(UpdateRecords("Accounts", ({"id": "4876876000000624001 OR 1=1", "Phone": "1"},)))
    assert admin.journal() == []


# --- process-global SDK state ----------------------------------------------------------------------


async def test_tiers_created_one_after_another_each_use_their_own_settings(
    sandbox_settings: Settings, clean_sandbox: Any, admin: Any, tmp_path: Any
) -> None:
    rid = _ids(admin, 1)[0]
    for n in range(3):
        settings = sandbox_settings.model_copy(update={"state_dir": tmp_path / f"s{n}"})
        tier, auth = await _tier(settings)
        try:
            result = await tier.execute(GetRecords("Accounts", (rid,)))
            assert result.records[0]["id"] == rid
            assert (tmp_path / f"s{n}" / "zcrmsdk" / "resources").is_dir()
        finally:
            await auth.aclose()
    # A tier pointed elsewhere fails on its own, while another keeps working: nothing leaks between them.
    good, good_auth = await _tier(sandbox_settings)
    broken, broken_auth = await _tier(_unreachable(sandbox_settings, tmp_path / "b"))
    try:
        async with anyio.create_task_group() as tg:
            outcomes: dict[str, Any] = {}

            async def run(name: str, tier: SdkTier) -> None:
                try:
                    outcomes[name] = await tier.execute(GetRecords("Accounts", (rid,)))
                except TransientError as exc:
                    outcomes[name] = exc

            tg.start_soon(run, "good", good)
            tg.start_soon(run, "broken", broken)
        assert isinstance(outcomes["good"], GetResult) and outcomes["good"].records
        assert isinstance(outcomes["broken"], TransientError)
    finally:
        await good_auth.aclose()
        await broken_auth.aclose()
    # Worker threads (anyio reuses them) are left unbound after each call.
    for _ in range(4):
        bound = await anyio.to_thread.run_sync(lambda: getattr(Initializer.LOCAL, "init", None))
        assert bound is None


async def test_no_secret_reaches_the_logs_and_the_sdk_writes_no_file(
    sdk: SdkTier, clean_sandbox: Any, admin: Any, sandbox_settings: Settings
) -> None:
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    try:
        await sdk.execute(GetRecords("Accounts", (_ids(admin, 1)[0],)))
        admin.fault(surface="crm", client="zcrmsdk", mode="error", status=500)
        with pytest.raises(TransientError) as info:
            await sdk.execute(SearchRecords("Accounts", word="Acme"))
        admin.clear_faults()
        admin.fault(surface="crm", client="zcrmsdk", mode="reset")
        with pytest.raises(TransientError):
            await sdk.execute(SearchRecords("Accounts", word="Acme"))
        admin.clear_faults()
        token = await sdk.auth.get_token()
    finally:
        configure_logging("info")
    sdk_lines = [json.loads(line) for line in stream.getvalue().splitlines() if '"SDKLogger"' in line]
    assert sdk_lines, "the SDK's own log records reach the JSON log"
    text = stream.getvalue() + str(info.value) + repr(info.value) + repr(sdk)
    secrets = [token, sandbox_settings.client_secret.get_secret_value(), sandbox_settings.refresh_token.get_secret_value()]
    for secret in secrets:
        assert secret not in text
    assert not [h for h in logging.getLogger("SDKLogger").handlers if isinstance(h, logging.FileHandler)]


async def test_field_metadata_cache_lives_in_the_state_dir(
    sandbox_settings: Settings, clean_sandbox: Any, admin: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's field cache (fetched for writes) is written under ZOHO_STATE_DIR/zcrmsdk, nowhere else."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    settings = sandbox_settings.model_copy(update={"state_dir": tmp_path / "state-fields"})
    tier, auth = await _tier(settings)
    rid = _ids(admin, 1)[0]
    try:
        result = await tier.execute(UpdateRecords("Accounts", ({"id": rid, "Phone": "+1 555 0142"},)))
        assert isinstance(result, UpdateResult) and result.results[0].status == "success"
    finally:
        await auth.aclose()
    cached = [p for p in (tmp_path / "state-fields" / "zcrmsdk").rglob("*") if p.is_file()]
    assert cached, "the field-metadata cache was not written to the state dir"
    assert any("accounts" in p.read_text("utf-8", errors="replace").lower() for p in cached)
    assert list(cwd.iterdir()) == []  # nothing (cache, sdk log) lands in the working directory
    assert any(e["path"].endswith("/settings/fields") for e in _crm(admin))
