"""Hedged reads: a slow primary gets a parallel second tier; first success wins, the other is cancelled."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from test_gateway_fakes import fresh_logging, ID, Gate, make_gateway, metric, three, who
from zoho_mcp.tiers.base import (
    BusinessError,
    GetRecords,
    Probe,
    ProbeResult,
    SearchRecords,
    TransientError,
    UpdateRecords,
    UpdateResult,
)

pytestmark = pytest.mark.anyio
__all__ = ["fresh_logging"]  # autouse fixture, imported to apply here

READ = GetRecords("Accounts", (ID,))  # plan sdk → mcp → rest
SEARCH = SearchRecords("Accounts", word="acme", per_page=5)


def reset(tier: str) -> TransientError:
    return TransientError("the connection to Zoho broke", code="CONNECTION_RESET", tier=tier)


class Run:
    """Runs `gw.execute` in a task, keeping its result or error for the test to read."""

    def __init__(self) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = anyio.Event()

    async def __call__(self, gw: Any, op: Any, *args: Any) -> None:
        try:
            self.result = await gw.execute(op, *args)
        except Exception as exc:
            self.error = exc
        finally:
            self.done.set()


@pytest.mark.parametrize("op", [READ, SEARCH], ids=["get", "search"])
async def test_slow_primary_is_hedged_and_cancelled(op: Any) -> None:
    slow = Gate()
    tiers = three(sdk=(slow,))
    gw, _, sleep = make_gateway(tiers)
    run = Run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, gw, op)
        await slow.entered.wait()
        await sleep.called.wait()
        assert sleep.delays == [2.0]  # no latency samples yet: the maximum hedge delay
        assert tiers["mcp"].calls == 0
        sleep.fire()

    assert who(run.result) == "mcp"
    assert tiers["sdk"].cancelled == 1
    assert tiers["rest"].calls == 0
    assert gw.breakers["sdk"].failure_count == 0  # the loser's cancellation counts as nothing
    assert gw.breakers["sdk"].state == "closed"
    assert gw.stats["sdk"].requests == 0
    assert metric(gw, "hedges", tier="mcp") == 1
    assert gw.limiter.in_flight == 0


async def test_fast_primary_is_not_hedged() -> None:
    tiers = three()
    gw, _, sleep = make_gateway(tiers)

    for _ in range(3):
        assert who(await gw.execute(READ)) == "sdk"

    assert tiers["mcp"].calls == tiers["rest"].calls == 0
    assert metric(gw, "hedges", tier="mcp") == 0
    assert sleep.waiting == 0  # every hedge timer was cancelled


async def test_primary_error_before_delay_fails_over_at_once() -> None:
    tiers = three(sdk=(reset("sdk"),))
    gw, _, sleep = make_gateway(tiers, retry_max_attempts=1)

    assert who(await gw.execute(READ)) == "mcp"  # the hedge timer never fired

    assert tiers["sdk"].calls == 1 and tiers["mcp"].calls == 1
    assert metric(gw, "hedges", tier="mcp") == 0
    assert metric(gw, "failovers", from_tier="sdk", to_tier="mcp", reason="transient") == 1


async def test_hedge_fails_then_primary_answers() -> None:
    slow = Gate()
    tiers = three(sdk=(slow,), mcp=(reset("mcp"),))
    gw, _, sleep = make_gateway(tiers, retry_max_attempts=1)
    run = Run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, gw, READ)
        await sleep.called.wait()
        sleep.fire()
        await anyio.wait_all_tasks_blocked()
        assert tiers["mcp"].calls == 1  # the hedge failed; we keep waiting for the primary
        assert tiers["rest"].calls == 0
        slow.release.set()

    assert who(run.result) == "sdk"
    assert tiers["rest"].calls == 0


async def test_primary_wins_after_hedge_started_and_hedge_is_cancelled() -> None:
    slow_primary, slow_hedge = Gate(), Gate()
    tiers = three(sdk=(slow_primary,), mcp=(slow_hedge,))
    gw, _, sleep = make_gateway(tiers)
    run = Run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, gw, READ)
        await sleep.called.wait()
        sleep.fire()
        await slow_hedge.entered.wait()
        slow_primary.release.set()

    assert who(run.result) == "sdk"
    assert tiers["mcp"].cancelled == 1
    assert gw.breakers["mcp"].failure_count == 0


async def test_hedge_skips_open_tier() -> None:
    slow = Gate()
    tiers = three(sdk=(slow,))
    gw, _, sleep = make_gateway(tiers)
    gw.breakers["mcp"].force_open()
    run = Run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, gw, READ)
        await sleep.called.wait()
        sleep.fire()

    assert who(run.result) == "rest"
    assert tiers["mcp"].calls == 0
    assert metric(gw, "hedges", tier="rest") == 1


async def test_business_answer_from_hedge_is_returned_as_is() -> None:
    slow = Gate()
    answer = BusinessError("bad criteria", code="INVALID_QUERY", status=400, tier="mcp")
    tiers = three(sdk=(slow,), mcp=(answer,))
    gw, _, sleep = make_gateway(tiers)
    run = Run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, gw, SEARCH)
        await sleep.called.wait()
        sleep.fire()

    assert run.error is answer
    assert tiers["sdk"].cancelled == 1 and tiers["rest"].calls == 0


@pytest.mark.parametrize(
    "op",
    [
        UpdateRecords("Accounts", ({"id": ID, "Phone": "1"},)),
        UpdateRecords("Accounts", ({"id": ID, "Phone": "1"},), idempotent=False),
        Probe(),
    ],
    ids=["write", "non-idempotent-write", "probe"],
)
async def test_writes_and_probes_are_never_hedged(op: Any) -> None:
    slow = Gate()
    tiers = three(sdk=(slow,))
    tiers["sdk"].probe_gate = slow
    gw, _, sleep = make_gateway(tiers)
    sleep.fire_all()  # any hedge timer would fire at once
    run = Run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, gw, op)
        await slow.entered.wait()
        await anyio.wait_all_tasks_blocked()
        assert tiers["mcp"].calls == tiers["rest"].calls == 0
        assert sleep.delays == []
        slow.release.set()

    assert isinstance(run.result, (UpdateResult, ProbeResult))
    assert tiers["sdk"].calls + tiers["sdk"].probes == 1 and tiers["mcp"].calls == 0


async def test_hedging_can_be_turned_off() -> None:
    slow = Gate()
    tiers = three(sdk=(slow,))
    gw, _, sleep = make_gateway(tiers, hedge_enabled=False)
    sleep.fire_all()
    run = Run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, gw, READ)
        await slow.entered.wait()
        await anyio.wait_all_tasks_blocked()
        assert tiers["mcp"].calls == 0
        slow.release.set()

    assert who(run.result) == "sdk"


def test_hedge_delay_follows_p95_within_bounds() -> None:
    gw, _, _ = make_gateway(three(), hedge_min_delay=0.05, hedge_max_delay=2.0)
    stats = gw.stats["sdk"]
    for _ in range(19):
        stats.record(0.3, True)
    assert gw.hedge_delay("sdk") == 2.0  # too few samples
    stats.record(0.3, True)
    assert gw.hedge_delay("sdk") == pytest.approx(0.3)
    for _ in range(10):
        stats.record(9.0, True)
    assert gw.hedge_delay("sdk") == pytest.approx(0.3)  # cached for a few requests (sorting costs)
    for _ in range(1000):
        stats.record(0.001, True)
    assert gw.hedge_delay("sdk") == 0.05  # bounded below
    for _ in range(1000):
        stats.record(9.0, True)
    assert gw.hedge_delay("sdk") == 2.0  # bounded above


def real_sleep_gateway(tiers: dict[str, Any], **overrides: Any) -> Any:
    """The production timer path: the real sleep, so hedge timers are event-loop timers."""
    from test_gateway_fakes import settings
    from zoho_mcp.gateway import ZohoGateway
    from zoho_mcp.resilience.metrics import Metrics

    return ZohoGateway(settings(**overrides), tiers, metrics=Metrics())


async def test_loop_timer_hedges_a_slow_primary() -> None:
    slow = Gate()
    tiers = three(sdk=(slow,))
    gw = real_sleep_gateway(tiers, hedge_min_delay=0.001, hedge_max_delay=0.005)
    assert gw.native_timers

    with anyio.fail_after(5):
        result = await gw.execute(READ)

    assert who(result) == "mcp"
    assert tiers["sdk"].cancelled == 1
    assert metric(gw, "hedges", tier="mcp") == 1


async def test_cancelled_caller_leaves_no_timer_behind() -> None:
    slow = Gate()
    tiers = three(sdk=(slow,))
    gw = real_sleep_gateway(tiers, hedge_min_delay=0.001, hedge_max_delay=0.01)
    errors: list[Any] = []
    import asyncio

    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))

    async with anyio.create_task_group() as tg:
        tg.start_soon(gw.execute, READ)
        await slow.entered.wait()
        tg.cancel_scope.cancel()
    await anyio.sleep(0.03)  # past the hedge delay: a leaked timer would fire now

    assert tiers["sdk"].cancelled == 1
    assert tiers["mcp"].calls == 0 and errors == []
    assert metric(gw, "hedges", tier="mcp") == 0


async def _hedge_past(gw: Any, clock: Any, sleep: Any, gate: Gate, seconds: float) -> Any:
    """One read whose primary hangs on `gate`: `seconds` pass, then the hedge timer fires."""
    run = Run()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, gw, READ)
        await gate.entered.wait()
        while sleep.waiting == 0:
            await anyio.sleep(0)
        clock.advance(seconds)
        sleep.fire()
    assert run.error is None
    return run.result


async def test_slow_hedge_loser_counts_as_failure_and_opens_the_circuit() -> None:
    """UAT: a hung tier lost every hedge, each loss a mere cancellation, so its circuit never opened
    and every read paid the 2 s hedge delay. A loser that ran the hedge ceiling is a slow call."""
    hung = (Gate(), Gate())
    tiers = three(sdk=hung)
    gw, clock, sleep = make_gateway(tiers, breaker_failure_threshold=2)

    assert who(await _hedge_past(gw, clock, sleep, hung[0], 2.0)) == "mcp"
    assert tiers["sdk"].cancelled == 1
    assert gw.breakers["sdk"].failure_count == 1 and gw.breakers["sdk"].state == "closed"
    sdk = gw.stats["sdk"]
    assert (sdk.requests, sdk.failures, sdk.errors_by_category) == (1, 1, {"transient": 1})
    assert metric(gw, "tier_calls", tier="sdk", outcome="transient") == 1

    assert who(await _hedge_past(gw, clock, sleep, hung[1], 2.5)) == "mcp"
    assert gw.breakers["sdk"].state == "open"
    assert gw.breakers["mcp"].failure_count == 0 and gw.stats["mcp"].failures == 0

    delays_before = len(sleep.delays)
    for _ in range(3):  # later reads skip the hung tier: no hedge delay to pay
        assert who(await gw.execute(READ)) == "mcp"
    assert tiers["sdk"].calls == 2
    assert all(d == 2.0 for d in sleep.delays[delays_before:])  # only mcp's own (unfired) timers
    assert gw.limiter.in_flight == 0


async def test_hedge_loser_cancelled_before_the_ceiling_counts_as_nothing() -> None:
    gate = Gate()
    tiers = three(sdk=(gate,))
    gw, clock, sleep = make_gateway(tiers, breaker_failure_threshold=1)
    assert who(await _hedge_past(gw, clock, sleep, gate, 1.9)) == "mcp"
    assert tiers["sdk"].cancelled == 1
    assert gw.breakers["sdk"].failure_count == 0 and gw.breakers["sdk"].state == "closed"
    assert gw.stats["sdk"].requests == 0


async def test_slow_hedge_loser_in_half_open_is_a_failed_trial() -> None:
    gate = Gate()
    tiers = three(sdk=(gate,))
    gw, clock, sleep = make_gateway(tiers)
    gw.breakers["sdk"].force_open()
    clock.advance(61)
    assert gw.breakers["sdk"].state == "half_open"
    assert who(await _hedge_past(gw, clock, sleep, gate, 2.0)) == "mcp"
    assert gw.breakers["sdk"].state == "open"  # reopened with a fresh recovery timeout
    assert gw.breakers["sdk"].snapshot()["trials_in_flight"] == 0
