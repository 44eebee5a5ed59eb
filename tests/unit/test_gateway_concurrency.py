"""Concurrency through the whole gateway: half-open gating, the shared limiter, credits, probes."""

from __future__ import annotations

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from test_gateway_fakes import fresh_logging, ID, Gate, make_gateway, three, who
from zoho_mcp.gateway import LimiterTimeout
from zoho_mcp.resilience.errors import AllTiersFailed
from zoho_mcp.tiers.base import GetRecords
from zoho_mcp.tiers.selector import RoutingHints

pytestmark = pytest.mark.anyio
__all__ = ["fresh_logging"]  # autouse fixture, imported to apply here

READ = GetRecords("Accounts", (ID,))


async def test_100_calls_while_half_open_at_most_n_reach_the_tier_the_rest_fail_over_at_once() -> None:
    trial = Gate()  # every trial call of the SDK tier waits here
    tiers = three(sdk=(trial,))
    gw, clock, _ = make_gateway(
        tiers, hedge_enabled=False, breaker_half_open_calls=3, breaker_success_threshold=2, concurrency_limit=25
    )
    gw.breakers["sdk"].force_open()
    clock.advance(60)
    answered: list[str] = []

    async def one() -> None:
        answered.append(who(await gw.execute(READ)))  # SDK first

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(one)
        await wait_all_tasks_blocked()
        # while the three trials hang, every other call has already been answered by the next tier
        assert tiers["sdk"].calls == 3
        assert answered == ["mcp"] * 97
        assert gw.limiter.in_flight == 3  # a refused call never held a slot
        assert gw.breakers["sdk"].state == "half_open"
        trial.release.set()
    assert answered.count("sdk") == 3 and tiers["rest"].calls == 0
    assert gw.breakers["sdk"].state == "closed"
    # credits: 100 calls went out (3 trials + 97 on MCP); a refused call costs nothing
    assert gw.limiter.snapshot()["credits_used"] == 100


async def test_waiting_for_a_limiter_slot_is_bounded_by_the_tier_timeout_and_is_not_a_tier_failure() -> None:
    tiers = three()
    gw, _, _ = make_gateway(
        tiers, hedge_enabled=False, concurrency_limit=1, mcp_timeout=0.02, sdk_timeout=0.02, rest_timeout=0.02
    )

    async with gw.limiter.acquire(0):  # something else holds the org's only slot
        with anyio.fail_after(5), pytest.raises(AllTiersFailed) as caught:
            await gw.execute(READ, RoutingHints(agent=True))

    causes = caught.value.causes
    assert list(causes) == ["mcp", "sdk", "rest"]
    assert all(isinstance(c, LimiterTimeout) for c in causes.values())
    assert "concurrency limit" in str(caught.value)
    # nothing reached a tier, no try was repeated, and no breaker counts our own queue as a failure
    assert tiers["mcp"].calls == tiers["sdk"].calls == tiers["rest"].calls == 0
    assert all(gw.breakers[n].failure_count == 0 for n in ("mcp", "sdk", "rest"))
    assert gw.limiter.in_flight == 0 and gw.limiter.snapshot()["credits_used"] == 0


async def test_a_health_probe_takes_a_limiter_slot_like_any_call() -> None:
    tiers = three()
    gate = Gate()
    tiers["rest"].probe_gate = gate
    gw, _, _ = make_gateway(tiers, concurrency_limit=2)

    async with anyio.create_task_group() as tg:
        tg.start_soon(gw.monitor.check_once)
        await gate.entered.wait()
        await wait_all_tasks_blocked()
        assert gw.limiter.in_flight == 1  # the hung REST probe holds one slot; the others finished
        assert gw.limiter.snapshot()["credits_used"] == 3
        gate.release.set()
    assert gw.limiter.in_flight == 0
    assert all(t.probes == 1 for t in tiers.values())


async def test_a_probe_that_finds_every_slot_busy_is_skipped_not_failed() -> None:
    tiers = three()
    gw, clock, _ = make_gateway(tiers, concurrency_limit=1, health_check_timeout=0.02)
    gw.breakers["sdk"].force_open()
    clock.advance(60)  # half-open: a failed probe would reopen it, a good one would count as a trial

    async with gw.limiter.acquire(0):  # the org's only slot is busy with a real call
        with anyio.fail_after(5):
            await gw.monitor.check_once()

    assert all(t.probes == 0 for t in tiers.values())  # nothing was sent
    assert gw.breakers["sdk"].snapshot()["trial_successes"] == 0
    assert gw.breakers["sdk"].state == "half_open"
    assert all(gw.breakers[n].failure_count == 0 for n in ("mcp", "rest"))
    assert all(t["last_check"] is None and t["healthy"] for t in gw.health()["tiers"].values())
    assert gw.limiter.snapshot()["credits_used"] == 0


async def test_a_probe_that_started_before_the_breaker_opened_is_not_a_trial() -> None:
    tiers = three()
    gate = Gate()
    tiers["sdk"].probe_gate = gate
    gw, clock, _ = make_gateway(tiers)

    async with anyio.create_task_group() as tg:
        tg.start_soon(gw.monitor.check_once)
        await gate.entered.wait()  # the SDK probe is on its way (breaker closed)
        gw.breakers["sdk"].force_open()
        clock.advance(60)
        assert gw.breakers["sdk"].state == "half_open"
        gate.release.set()  # the old probe answers fine, but says nothing about the half-open tier

    assert gw.breakers["sdk"].snapshot()["trial_successes"] == 0
    tiers["sdk"].probe_gate = None
    await gw.monitor.check_once()  # a probe started while half-open is a trial
    assert gw.breakers["sdk"].snapshot()["trial_successes"] == 1
