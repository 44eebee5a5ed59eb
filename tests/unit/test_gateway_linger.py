"""A try we stop waiting for keeps its limiter slot a while (Zoho may still be processing it), and an
org-wide 429 never counts against a tier's breaker."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from test_gateway_fakes import fresh_logging, ID, FakeClock, Gate, make_gateway, metric, three, who
from zoho_mcp.gateway import ZohoGateway
from zoho_mcp.resilience.errors import AllTiersFailed
from zoho_mcp.resilience.limits import ZohoLimiter
from zoho_mcp.tiers.base import BusinessError, GetRecords, TransientError, error_from_zoho_body
from zoho_mcp.tiers.selector import RoutingHints

pytestmark = pytest.mark.anyio
__all__ = ["fresh_logging"]  # autouse fixture, imported to apply here

READ = GetRecords("Accounts", (ID,))
AGENT = RoutingHints(agent=True)  # plan mcp → sdk → rest


def limiter_on_fake_clock(gw: ZohoGateway, concurrency: int = 10) -> FakeClock:
    """The gateway's limiter on a clock of the test's own, so lingers end when the test says."""
    clock = FakeClock()
    gw.limiter = ZohoLimiter(concurrency, 5000, clock=clock)
    return clock


def read_timeout(*, sent: bool = True) -> TransientError:
    """What a tier raises when its HTTP read times out (the request left; Zoho may be working on it)."""
    return TransientError("Zoho did not answer in time", code="TIMEOUT", details={"sent": sent}, tier="mcp")


def too_many() -> TransientError:
    return error_from_zoho_body(429, {"code": "TOO_MANY_REQUESTS", "message": "concurrency limit"}, tier="mcp")


async def test_a_timed_out_try_keeps_its_slot_for_the_tiers_timeout_by_default() -> None:
    hang = Gate()  # never released: only the gateway's timeout ends it
    tiers = three(mcp=(hang,))
    gw, _, _ = make_gateway(tiers, hedge_enabled=False, mcp_timeout=0.01, retry_max_attempts=1)
    clock = limiter_on_fake_clock(gw)

    assert who(await gw.execute(READ, AGENT)) == "sdk"

    assert tiers["mcp"].cancelled == 1
    snap = gw.limiter.snapshot()
    assert snap["in_flight"] == 0 and snap["lingering"] == 1  # the SDK's slot was given back at once
    clock.advance(0.009)
    assert gw.limiter.lingering == 1
    clock.advance(0.002)  # past ZOHO_MCP_TIMEOUT after the try ended
    assert gw.limiter.lingering == 0
    assert gw.health()["limits"]["lingering"] == 0


async def test_the_failover_waits_for_the_lingering_slot_instead_of_meeting_a_429() -> None:
    tiers = three(mcp=(read_timeout(), None))
    gw, _, _ = make_gateway(
        tiers, hedge_enabled=False, retry_max_attempts=1, concurrency_limit=1, abandoned_slot_linger=30.0
    )
    clock = limiter_on_fake_clock(gw, concurrency=1)
    answered: list[str] = []

    async def one() -> None:
        answered.append(who(await gw.execute(READ, AGENT)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        await wait_all_tasks_blocked()
        # MCP's read timed out; Zoho may still be processing it within the org's only slot
        assert tiers["sdk"].calls == 0 and answered == []
        assert gw.limiter.lingering == 1 and gw.limiter.in_flight == 0
        clock.advance(30.0)
        assert gw.limiter.release_due() == 1  # what the loop timer does at that time
    assert answered == ["sdk"]
    assert gw.breakers["mcp"].failure_count == 1  # the timeout itself is still the tier's failure


async def test_a_hedge_loser_keeps_its_slot() -> None:
    slow = Gate()
    tiers = three(sdk=(slow,))
    gw, _, sleep = make_gateway(tiers, abandoned_slot_linger=30.0)
    clock = limiter_on_fake_clock(gw)
    result: list[Any] = []

    async def one() -> None:
        result.append(await gw.execute(READ))  # plan sdk → mcp → rest

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        await slow.entered.wait()
        await sleep.called.wait()
        sleep.fire()

    assert who(result[0]) == "mcp" and tiers["sdk"].cancelled == 1
    assert gw.limiter.in_flight == 0 and gw.limiter.lingering == 1
    clock.advance(30.0)
    assert gw.limiter.lingering == 0


async def test_a_cancelled_caller_leaves_its_slot_lingering() -> None:
    gate = Gate()
    tiers = three(sdk=(gate,))
    gw, _, _ = make_gateway(tiers, hedge_enabled=False, abandoned_slot_linger=30.0)
    limiter_on_fake_clock(gw)

    async with anyio.create_task_group() as tg:
        tg.start_soon(gw.execute, READ)
        await gate.entered.wait()
        tg.cancel_scope.cancel()

    assert gw.limiter.in_flight == 0 and gw.limiter.lingering == 1
    assert gw.breakers["sdk"].failure_count == 0


@pytest.mark.parametrize(
    "step",
    [
        None,
        TransientError("the connection to Zoho broke", code="CONNECTION_RESET", tier="mcp"),
        error_from_zoho_body(503, {"code": "INTERNAL_ERROR", "message": "down"}, tier="mcp"),
        too_many(),
        BusinessError("no such record", code="INVALID_DATA", tier="mcp"),
        read_timeout(sent=False),
    ],
    ids=["success", "reset", "503", "429", "business", "timeout-never-sent"],
)
async def test_a_try_that_ended_frees_its_slot_at_once(step: Any) -> None:
    tiers = three(mcp=(step,))
    gw, _, _ = make_gateway(tiers, hedge_enabled=False, retry_max_attempts=1, abandoned_slot_linger=30.0)
    limiter_on_fake_clock(gw)

    try:
        await gw.execute(READ, AGENT)
    except BusinessError:
        pass

    assert gw.limiter.in_flight == 0 and gw.limiter.lingering == 0


async def test_linger_zero_gives_an_abandoned_slot_back_at_once() -> None:
    hang = Gate()
    tiers = three(mcp=(hang,))
    gw, _, _ = make_gateway(
        tiers, hedge_enabled=False, mcp_timeout=0.01, retry_max_attempts=1, concurrency_limit=1, abandoned_slot_linger=0
    )
    limiter_on_fake_clock(gw, concurrency=1)

    with anyio.fail_after(5):
        assert who(await gw.execute(READ, AGENT)) == "sdk"  # the only slot was free for the failover
    assert tiers["mcp"].cancelled == 1
    assert gw.limiter.lingering == 0 and gw.limiter.in_flight == 0


async def test_a_probe_cut_off_by_its_timeout_keeps_its_slot() -> None:
    tiers = three()
    tiers["rest"].probe_gate = Gate()  # never answers: the probe timeout cancels it
    gw, _, _ = make_gateway(tiers, health_check_timeout=0.01, abandoned_slot_linger=30.0)
    limiter_on_fake_clock(gw)

    await gw.monitor.check_once()

    assert gw.limiter.in_flight == 0 and gw.limiter.lingering == 1
    assert gw.health()["tiers"]["rest"]["last_check"] is not None


async def test_429s_are_retried_and_fail_over_but_never_open_a_breaker() -> None:
    tiers = three(mcp=(too_many(),), sdk=(too_many(),), rest=(too_many(),))
    gw, _, sleep = make_gateway(
        tiers, hedge_enabled=False, breaker_failure_threshold=2, retry_base_delay=0.5, retry_max_delay=10.0
    )
    sleep.fire_all()

    for _ in range(20):
        with pytest.raises(AllTiersFailed) as caught:
            await gw.execute(READ, AGENT)
        assert list(caught.value.causes) == ["mcp", "sdk", "rest"]  # failed over after its retries

    assert sleep.delays[:2] == [0.5, 1.0]  # backoff, as for any transient error
    assert metric(gw, "retries", tier="mcp") >= 2
    assert metric(gw, "failovers", from_tier="mcp", to_tier="sdk", reason="transient") == 20
    for name in ("mcp", "sdk", "rest"):
        assert gw.breakers[name].state == "closed" and gw.breakers[name].failure_count == 0
    health = gw.health()
    assert health["status"] != "unhealthy"
    assert all(t["circuit"] == "closed" for t in health["tiers"].values())


async def test_a_probe_that_meets_a_429_is_no_trial_of_a_half_open_breaker() -> None:
    tiers = three()
    tiers["sdk"].probe_error = error_from_zoho_body(429, {"code": "TOO_MANY_REQUESTS", "message": "m"}, tier="sdk")
    gw, clock, _ = make_gateway(tiers)
    gw.breakers["sdk"].force_open()
    clock.advance(60)

    for _ in range(3):
        await gw.monitor.check_once()

    snap = gw.breakers["sdk"].snapshot()
    assert snap["state"] == "half_open" and snap["trial_successes"] == 0
    assert gw.health()["tiers"]["sdk"]["last_check"] is not None


def test_default_linger_follows_the_tiers_p99_not_its_timeout() -> None:
    """A hedge loser must not hold a slot for the whole 30-60 s timeout: by default it lingers for
    about as long as that tier's calls take (its p99), the hedge ceiling until that is known."""
    from zoho_mcp.config import Settings
    from zoho_mcp.gateway import ZohoGateway

    gw = ZohoGateway(Settings(enable_mcp=False, enable_sdk=False), {})
    assert gw.linger_for("rest") == min(gw.settings.rest_timeout, gw.settings.hedge_max_delay)
    for _ in range(100):
        gw.stats["rest"].record(0.25, True)
    assert gw.linger_for("rest") == pytest.approx(0.25)
    explicit = ZohoGateway(Settings(enable_mcp=False, enable_sdk=False, abandoned_slot_linger=7.0), {})
    assert explicit.linger_for("rest") == 7.0
