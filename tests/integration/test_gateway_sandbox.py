"""The gateway over the real tiers against the sandbox, with faults injected through its admin API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import structlog

from zoho_mcp.config import Settings
from zoho_mcp.gateway import OutcomeUnknownError, ZohoGateway, build_gateway
from zoho_mcp.resilience.errors import AllTiersFailed, CircuitOpenError
from zoho_mcp.tiers.base import BusinessError, GetRecords, GetResult, UpdateRecords, UpdateResult
from zoho_mcp.tiers.selector import RoutingHints

pytestmark = pytest.mark.anyio

AGENT = RoutingHints(agent=True)  # plan mcp → sdk → rest
DEFAULT = RoutingHints()  # plan sdk → mcp → rest


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def tuned(settings: Settings, **overrides: Any) -> Settings:
    base = {
        "retry_max_attempts": 2,
        "breaker_failure_threshold": 2,
        "breaker_recovery_timeout": 30.0,
        "breaker_half_open_calls": 1,
        "breaker_success_threshold": 2,
        "hedge_enabled": False,
    }
    base.update(overrides)
    return settings.model_copy(update=base)


@pytest.fixture(autouse=True)
def fresh_logging() -> Any:
    """Log to this test's own output: another test may have left structlog on a stream pytest closed."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


@pytest.fixture
async def make(sandbox_settings: Settings) -> AsyncIterator[Any]:
    built: list[ZohoGateway] = []

    async def factory(**overrides: Any) -> ZohoGateway:
        clock = overrides.pop("clock", None)
        kwargs = {"clock": clock} if clock is not None else {}
        gw = await build_gateway(tuned(sandbox_settings, **overrides), **kwargs)
        built.append(gw)
        return gw

    yield factory
    for gw in built:
        await gw.aclose()


def surfaces(journal: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(surface, client) of every CRM or MCP request, oauth left out."""
    return [(e["surface"], e["client"]) for e in journal if e["surface"] != "oauth"]


@pytest.mark.parametrize(("mode", "status"), [("error", 503), ("reset", None)], ids=["503", "reset"])
async def test_mcp_surface_down_sdk_answers_and_mcp_breaker_opens(make: Any, admin: Any, mode: str, status: Any) -> None:
    rid = admin.record_ids("Accounts")[0]
    admin.fault(surface="mcp", mode=mode, status=status)
    gw = await make()
    events: list[tuple[str, str, str]] = []
    gw.add_circuit_listener(lambda tier, old, new: events.append((tier, old, new)))

    for _ in range(3):
        result = await gw.execute(GetRecords("Accounts", (rid,)), AGENT)
        assert isinstance(result, GetResult) and result.records[0]["id"] == rid

    assert events == [("mcp", "closed", "open")]
    doc = gw.health()
    assert doc["tiers"]["mcp"]["circuit"] == "open"
    assert doc["tiers"]["sdk"]["circuit"] == "closed" and doc["tiers"]["sdk"]["successes"] == 3
    assert doc["status"] == "degraded"
    text = json.dumps(doc)
    for secret in ("sandbox-client-secret", "sandbox-mcp-key", "sandboxrefresh", "Zoho-oauthtoken"):
        assert secret not in text
    crm = surfaces(admin.journal())
    # the third call skipped MCP without a request: two calls x two tries reached it, no more
    assert crm.count(("mcp", "other")) <= 4 and ("crm", "zcrmsdk") in crm
    assert ("crm", "other") not in crm  # REST was never needed


async def test_sdk_only_failure_rest_answers(make: Any, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[1]
    admin.fault(surface="crm", client="zcrmsdk", mode="error", status=503)
    gw = await make(enable_mcp=False)

    result = await gw.execute(GetRecords("Accounts", (rid,)), DEFAULT)

    assert isinstance(result, GetResult) and result.records[0]["id"] == rid
    crm = surfaces(admin.journal())
    assert ("crm", "zcrmsdk") in crm and crm[-1] == ("crm", "other")
    assert gw.health()["tiers"]["sdk"]["failures"] == 2  # two tries, then REST


async def test_sdk_only_failure_with_all_tiers_moves_to_mcp(make: Any, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[2]
    admin.fault(surface="crm", client="zcrmsdk", mode="error", status=503)
    gw = await make()

    result = await gw.execute(GetRecords("Accounts", (rid,)), DEFAULT)

    assert isinstance(result, GetResult) and result.records[0]["id"] == rid
    assert surfaces(admin.journal())[-1] == ("mcp", "other")


async def test_everything_down_is_one_error_naming_each_tier(make: Any, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[3]
    admin.fault(surface="mcp", mode="error", status=503)
    admin.fault(surface="crm", mode="error", status=503)
    gw = await make()

    with pytest.raises(AllTiersFailed) as caught:
        await gw.execute(GetRecords("Accounts", (rid,)), AGENT)

    err = caught.value
    assert list(err.causes) == ["mcp", "sdk", "rest"]
    text = str(err)
    assert "mcp:" in text and "sdk:" in text and "rest:" in text
    assert "sandbox-mcp-key" not in text and "sandbox-client-secret" not in text
    assert gw.health()["status"] == "unhealthy"  # two failed tries each: every breaker opened


async def test_open_everywhere_fails_fast_without_requests(make: Any, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[4]
    admin.fault(surface="mcp", mode="error", status=503)
    admin.fault(surface="crm", mode="error", status=503)
    gw = await make()
    for _ in range(2):
        with pytest.raises(AllTiersFailed):
            await gw.execute(GetRecords("Accounts", (rid,)), AGENT)
    assert gw.health()["status"] == "unhealthy"
    admin.clear_journal()

    with pytest.raises(AllTiersFailed) as caught:
        await gw.execute(GetRecords("Accounts", (rid,)), AGENT)

    assert all(isinstance(c, CircuitOpenError) for c in caught.value.causes.values())
    assert surfaces(admin.journal()) == []


async def test_recovery_after_faults_are_cleared(make: Any, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[5]
    clock = Clock()
    fault = admin.fault(surface="mcp", mode="error", status=503)
    gw = await make(clock=clock)
    events: list[tuple[str, str, str]] = []
    gw.add_circuit_listener(lambda tier, old, new: events.append((tier, old, new)))
    op = GetRecords("Accounts", (rid,))
    for _ in range(2):
        await gw.execute(op, AGENT)
    assert gw.breakers["mcp"].state == "open"

    admin.clear_faults(fault)
    clock.advance(10)
    await gw.execute(op, AGENT)  # still open: SDK answers, MCP not tried
    assert gw.health()["tiers"]["mcp"]["circuit"] == "open"
    admin.clear_journal()

    clock.advance(25)  # past the 30 s recovery timeout
    assert gw.health()["tiers"]["mcp"]["circuit"] == "half_open"
    for _ in range(2):  # two trial successes close it
        await gw.execute(op, AGENT)
    assert surfaces(admin.journal()) == [("mcp", "other"), ("mcp", "other")]
    assert events == [
        ("mcp", "closed", "open"),
        ("mcp", "open", "half_open"),
        ("mcp", "half_open", "closed"),
    ]
    assert gw.health()["status"] == "healthy"


async def test_recovery_through_health_probes(make: Any, admin: Any) -> None:
    clock = Clock()
    fault = admin.fault(surface="crm", client="other", mode="error", status=503)
    gw = await make(clock=clock, enable_mcp=False, enable_sdk=False)
    doc = await gw.check_health()
    assert doc["tiers"]["rest"]["healthy"] is False
    await gw.check_health()
    assert gw.breakers["rest"].state == "open"
    assert gw.health()["status"] == "unhealthy"

    admin.clear_faults(fault)
    clock.advance(31)
    await gw.check_health()
    assert gw.breakers["rest"].state == "half_open"  # one probe success of two
    doc = await gw.check_health()
    assert doc["tiers"]["rest"]["circuit"] == "closed" and doc["tiers"]["rest"]["healthy"] is True
    assert doc["status"] == "healthy"


async def test_business_error_from_sandbox_is_not_failed_over(make: Any, admin: Any) -> None:
    gw = await make()
    with pytest.raises(BusinessError) as caught:
        from zoho_mcp.tiers.base import SearchRecords

        await gw.execute(SearchRecords("Accounts", criteria="(Nope:equals:1)"), AGENT)
    assert caught.value.tier == "mcp"
    assert surfaces(admin.journal()) == [("mcp", "other")]
    assert gw.breakers["mcp"].failure_count == 0


async def test_non_idempotent_write_reset_after_is_sent_once(make: Any, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[6]
    admin.fault(surface="crm", client="zcrmsdk", mode="reset_after", path=r"/crm/v2/Accounts$", count=1)
    gw = await make()
    admin.clear_journal()

    with pytest.raises(OutcomeUnknownError) as caught:
        await gw.execute(
            UpdateRecords("Accounts", ({"id": rid, "Phone": "+1 555 0100"},), idempotent=False), DEFAULT
        )

    assert "re-read" in str(caught.value)
    puts = [e for e in admin.journal() if e["method"] in ("PUT", "POST") and e["surface"] == "crm"]
    assert len(puts) == 1  # never sent twice, through no tier
    assert not [e for e in admin.journal() if e["surface"] == "mcp"]
    assert admin.record("Accounts", rid)["Phone"] == "+1 555 0100"  # it was applied after all


async def test_idempotent_write_reset_after_is_retried(make: Any, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[7]
    admin.fault(surface="crm", client="zcrmsdk", mode="reset_after", path=r"/crm/v2/Accounts$", count=1)
    gw = await make()

    result = await gw.execute(UpdateRecords("Accounts", ({"id": rid, "Phone": "+1 555 0101"},)), DEFAULT)

    assert isinstance(result, UpdateResult) and result.results[0].status == "success"
    assert admin.record("Accounts", rid)["Phone"] == "+1 555 0101"


async def test_slow_mcp_read_is_hedged_to_the_next_tier(make: Any, admin: Any) -> None:
    rid = admin.record_ids("Accounts")[8]
    gw = await make(hedge_enabled=True, hedge_min_delay=0.01, hedge_max_delay=0.05, enable_sdk=False)
    op = GetRecords("Accounts", (rid,))
    await gw.attempt("mcp", op)  # open the MCP session first (no hedging on a direct attempt)
    admin.fault(surface="mcp", mode="hang")
    admin.clear_journal()

    with anyio.fail_after(4):
        result = await gw.execute(op, AGENT)

    assert isinstance(result, GetResult) and result.records[0]["id"] == rid
    assert admin.faults()[0]["applied"] == 1  # MCP was asked (and hangs: not journaled yet)
    assert surfaces(admin.journal()) == [("crm", "other")]  # REST, the hedge, answered
    body, _ = gw.metrics.render()
    assert b'zoho_mcp_hedges_total{tier="rest"} 1.0' in body
    # The loser had run the whole hedge ceiling (no latency samples yet): a slow call, one failure
    assert gw.breakers["mcp"].failure_count == 1 and gw.breakers["mcp"].state == "closed"
    admin.clear_faults()
    with anyio.fail_after(4):
        again = await gw.attempt("mcp", op)  # and MCP still works after its call was cancelled
    assert isinstance(again, GetResult) and again.records[0]["id"] == rid


async def test_hung_mcp_opens_its_circuit_through_slow_hedge_losers(make: Any, admin: Any) -> None:
    """UAT: with MCP hanging every hedged read paid the hedge delay forever, because a cancelled loser
    counted as nothing. A loser that ran the hedge ceiling is a slow call: MCP's circuit opens."""
    ids = admin.record_ids("Accounts")[10:15]
    gw = await make(
        hedge_enabled=True, hedge_min_delay=0.01, hedge_max_delay=0.05, enable_sdk=False, breaker_failure_threshold=2
    )
    await gw.attempt("mcp", GetRecords("Accounts", (ids[0],)))  # open the MCP session first
    admin.fault(surface="mcp", mode="hang")

    for rid in ids[:2]:
        with anyio.fail_after(4):
            result = await gw.execute(GetRecords("Accounts", (rid,)), AGENT)
        assert isinstance(result, GetResult) and result.records[0]["id"] == rid
    assert gw.breakers["mcp"].state == "open"
    assert gw.health()["tiers"]["mcp"]["errors_by_category"] == {"transient": 2}
    assert admin.faults()[0]["applied"] == 2

    admin.clear_journal()
    for rid in ids[2:]:
        with anyio.fail_after(4):
            result = await gw.execute(GetRecords("Accounts", (rid,)), AGENT)
        assert isinstance(result, GetResult) and result.records[0]["id"] == rid
    assert admin.faults()[0]["applied"] == 2  # later reads never touched MCP
    assert surfaces(admin.journal()) == [("crm", "other")] * 3  # REST answered each directly
    body, _ = gw.metrics.render()
    assert b'zoho_mcp_hedges_total{tier="rest"} 2.0' in body  # no hedge once MCP is skipped


# --- the shared limiter against the sandbox's real per-org concurrency limit ----------------------

BURST = 40  # concurrent reads, eight times what the "free" edition allows


async def _burst(gw: ZohoGateway, ids: list[str]) -> list[Any]:
    """BURST reads at once over every tier: half routed MCP-first, half SDK-first."""
    outcomes: list[Any] = [None] * BURST

    async def one(i: int) -> None:
        hints = AGENT if i % 2 else DEFAULT
        try:
            outcomes[i] = await gw.execute(GetRecords("Accounts", (ids[i],)), hints)
        except Exception as exc:  # kept, so the assertion below can show it
            outcomes[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(BURST):
            tg.start_soon(one, i)
    return outcomes


async def test_shared_limiter_keeps_a_burst_under_the_edition_limit(make: Any, admin: Any) -> None:
    admin.configure(edition="free", latency_ms=30)  # Zoho's 5 concurrent calls, each held 30 ms
    assert admin.limits()["concurrency_limit"] == 5
    ids = admin.record_ids("Accounts")[:BURST]
    gw = await make(edition="free", hedge_enabled=True, retry_max_attempts=1)
    assert gw.limiter.concurrency == 5
    admin.clear_journal()

    with anyio.fail_after(30):
        outcomes = await _burst(gw, ids)

    assert [o.records[0]["id"] if isinstance(o, GetResult) else repr(o) for o in outcomes] == ids
    crm = [e for e in admin.journal() if e["surface"] != "oauth"]
    assert {e["surface"] for e in crm} == {"mcp", "crm"}  # both surfaces drew on the one allowance
    assert [e for e in crm if e["status"] == 429] == []
    assert admin.limits()["rejected"] == 0
    assert gw.limiter.in_flight == 0
    # credits: our count is Zoho's count (1 a call; nothing charged for a call that never went out)
    # credits: one per call that went out, as Zoho counts them; the SDK's own field-metadata fetch
    # (inside one tier call, so within the slot) is the only call the gateway cannot see
    metadata = [e for e in crm if "/settings/" in e["path"]]
    assert gw.health()["limits"]["credits_used"] == BURST
    assert admin.limits()["credits_used"] == BURST + len(metadata)


async def test_without_the_limiter_the_same_burst_meets_429(make: Any, admin: Any) -> None:
    """The control: the sandbox's limit is real, so the test above proves something."""
    admin.configure(edition="free", latency_ms=30)
    ids = admin.record_ids("Accounts")[:BURST]
    gw = await make(edition="free", concurrency_limit=100, retry_max_attempts=1, enable_failover=False)
    admin.clear_journal()

    with anyio.fail_after(30):
        await _burst(gw, ids)

    assert any(e["status"] == 429 for e in admin.journal())
    assert admin.limits()["rejected"] > 0


async def test_non_idempotent_write_fails_over_when_the_tier_proves_nothing_was_sent(make: Any, admin: Any) -> None:
    """OAuth down: the SDK tier cannot get a token, so its request never left; MCP (own key) writes it."""
    rid = admin.record_ids("Accounts")[9]
    admin.fault(surface="oauth", mode="error", status=503)
    gw = await make()
    admin.clear_journal()

    result = await gw.execute(
        UpdateRecords("Accounts", ({"id": rid, "Phone": "+1 555 0102"},), idempotent=False), DEFAULT
    )

    assert isinstance(result, UpdateResult) and result.results[0].status == "success"
    writes = [(e["surface"], e["client"]) for e in admin.journal() if e["method"] in ("PUT", "POST") and e["surface"] != "oauth"]
    assert writes == [("mcp", "other")]  # exactly one write reached Zoho, through MCP
    assert admin.record("Accounts", rid)["Phone"] == "+1 555 0102"


SDK_TIMEOUT = 0.2
SDK_LATENCY_MS = 600  # Zoho keeps processing each SDK request this long, well past our timeout


async def _slow_sdk_burst(make: Any, admin: Any, **overrides: Any) -> tuple[ZohoGateway, list[Any], list[dict[str, Any]]]:
    """Ten reads at once on the free edition (5 concurrent calls) while the SDK surface is slow: the
    SDK tries time out and are abandoned, but Zoho still holds their 5 slots for a while."""
    admin.configure(edition="free", latency_ms=0)
    ids = admin.record_ids("Accounts")[:10]
    gw = await make(edition="free", sdk_timeout=SDK_TIMEOUT, retry_max_attempts=1, **overrides)
    await gw.execute(GetRecords("Accounts", (ids[0],)), DEFAULT)  # SDK initialised
    admin.fault(surface="crm", client="zcrmsdk", mode="latency", latency_ms=SDK_LATENCY_MS)
    admin.clear_journal()
    outcomes: list[Any] = []

    async def one(i: int) -> None:
        try:
            outcomes.append(await gw.execute(GetRecords("Accounts", (ids[i],)), DEFAULT))  # sdk → mcp → rest
        except AllTiersFailed as exc:
            outcomes.append(exc)

    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(one, i)
        journal = admin.journal()
    finally:
        with anyio.fail_after(5):  # let the abandoned requests end, so no later test meets them
            while admin.limits()["in_flight"]:
                await anyio.sleep(0.02)
    return gw, outcomes, journal


async def test_abandoned_tries_keep_their_slots_so_the_failover_meets_no_429(make: Any, admin: Any) -> None:
    """The slots of the timed-out SDK tries linger as long as Zoho may still process them: the
    failover to MCP waits for them instead of sending more than the org's limit."""
    gw, outcomes, journal = await _slow_sdk_burst(make, admin, abandoned_slot_linger=SDK_LATENCY_MS / 1000)

    assert [e for e in journal if e["status"] == 429] == []
    assert admin.limits()["rejected"] == 0
    assert len(outcomes) == 10 and all(isinstance(o, GetResult) for o in outcomes), outcomes
    assert gw.stats["mcp"].successes == 10  # every read answered, by MCP once the slots were free
    assert gw.breakers["sdk"].state == "open"  # the slow tier is the only one blamed
    assert gw.breakers["mcp"].state == gw.breakers["rest"].state == "closed"
    assert gw.limiter.in_flight == 0


async def test_without_linger_the_failover_meets_429s_that_open_no_breaker(make: Any, admin: Any) -> None:
    """Linger 0 (the old behaviour): the failover may meet Zoho's 429s, but they are the org's
    limit, not a tier's failure: no breaker of MCP or REST opens, and the gateway stays up."""
    gw, outcomes, journal = await _slow_sdk_burst(make, admin, abandoned_slot_linger=0)

    rate_limited = [e for e in journal if e["status"] == 429]
    assert rate_limited, "the control: freeing the slots at once lets the failover exceed Zoho's limit"
    assert {e["surface"] for e in rate_limited} <= {"mcp", "crm"}
    assert gw.breakers["mcp"].state == gw.breakers["rest"].state == "closed"
    assert gw.breakers["mcp"].failure_count == gw.breakers["rest"].failure_count == 0
    assert gw.health()["status"] != "unhealthy"
    assert len(outcomes) == 10
