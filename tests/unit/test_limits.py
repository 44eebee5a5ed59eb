"""Zoho org limits on our side: concurrency, heavy sub-concurrency, rolling 24 h credits."""

from __future__ import annotations

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from zoho_mcp.resilience.limits import ZohoLimiter, credits_for, is_heavy

DAY = 86_400.0


class FakeClock:
    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("kind", "records", "credits"),
    [("read", 0, 1), ("search", 0, 1), ("probe", 0, 1), ("read", 100, 1), ("write", 0, 1), ("write", 1, 1),
     ("write", 10, 1), ("write", 11, 2), ("update", 100, 10), ("insert", 25, 3)],
)
def test_credits_follow_zoho_costs(kind: str, records: int, credits: int) -> None:
    assert credits_for(kind, records) == credits
    assert ZohoLimiter.credits_for(kind, records) == credits


def test_heavy_means_writes_of_more_than_ten_records() -> None:
    assert not is_heavy("write", 10)
    assert is_heavy("write", 11)
    assert is_heavy("update", 100)
    assert not is_heavy("read", 500)


@pytest.mark.anyio
async def test_in_flight_never_exceeds_concurrency() -> None:
    limiter = ZohoLimiter(3, 1000, clock=FakeClock())
    release = anyio.Event()
    inside = 0
    peak = 0

    async def call() -> None:
        nonlocal inside, peak
        async with limiter.acquire(credits=1):
            inside += 1
            peak = max(peak, inside)
            await release.wait()
            inside -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(call)
        await wait_all_tasks_blocked()
        assert inside == 3
        snap = limiter.snapshot()
        assert snap["in_flight"] == 3 and snap["limit"] == 3
        assert snap["credits_used"] == 3  # charged when let through, not while queued
        release.set()
    assert peak == 3
    assert limiter.snapshot()["in_flight"] == 0
    assert limiter.snapshot()["credits_used"] == 10


@pytest.mark.anyio
async def test_heavy_calls_are_limited_to_ten_and_do_not_block_light_calls() -> None:
    limiter = ZohoLimiter(20, 100_000, clock=FakeClock())
    release = anyio.Event()
    heavy_inside = 0
    light_done = 0

    async def heavy() -> None:
        nonlocal heavy_inside
        async with limiter.acquire(credits=10, heavy=True):
            heavy_inside += 1
            await release.wait()

    async def light() -> None:
        nonlocal light_done
        async with limiter.acquire():
            light_done += 1

    async with anyio.create_task_group() as tg:
        for _ in range(15):
            tg.start_soon(heavy)
        await wait_all_tasks_blocked()
        assert heavy_inside == 10
        assert limiter.in_flight == 10 and limiter.heavy_in_flight == 10
        for _ in range(5):
            tg.start_soon(light)
        await wait_all_tasks_blocked()
        assert light_done == 5  # the 5 queued heavy calls hold no general slot
        release.set()
    assert heavy_inside == 15
    assert limiter.in_flight == 0 and limiter.heavy_in_flight == 0


@pytest.mark.anyio
async def test_cancelled_waiters_are_not_charged_and_leak_no_slot() -> None:
    limiter = ZohoLimiter(1, 100, clock=FakeClock(), heavy_concurrency=1)
    release = anyio.Event()

    async def holder() -> None:
        async with limiter.acquire():
            await release.wait()

    async def heavy_waiter() -> None:
        async with limiter.acquire(credits=5, heavy=True):
            pytest.fail("should not get in")

    async with anyio.create_task_group() as outer:
        outer.start_soon(holder)
        await wait_all_tasks_blocked()
        async with anyio.create_task_group() as tg:
            tg.start_soon(heavy_waiter)  # gets the heavy slot, waits for the general one
            await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        release.set()
    assert limiter.snapshot()["credits_used"] == 1
    assert limiter.in_flight == 0
    with anyio.fail_after(1):
        async with limiter.acquire(credits=2, heavy=True):
            assert limiter.heavy_in_flight == 1


@pytest.mark.anyio
@pytest.mark.parametrize("heavy", [False, True], ids=["light", "heavy"])
async def test_a_bounded_wait_times_out_without_charge_or_leak(heavy: bool) -> None:
    limiter = ZohoLimiter(1, 100, clock=FakeClock(), heavy_concurrency=1)
    async with limiter.acquire(heavy=heavy):
        with pytest.raises(TimeoutError):
            async with limiter.acquire(credits=7, heavy=heavy, timeout=0.005):
                pytest.fail("should not get in")
        assert limiter.in_flight == 1
    assert limiter.in_flight == 0 and limiter.heavy_in_flight == 0
    assert limiter.snapshot()["credits_used"] == 1
    async with limiter.acquire(heavy=heavy, timeout=0.0):  # a free slot is taken without waiting
        assert limiter.in_flight == 1


@pytest.mark.anyio
async def test_errors_inside_release_the_slots() -> None:
    limiter = ZohoLimiter(1, 100, clock=FakeClock())
    for _ in range(3):
        with pytest.raises(RuntimeError):
            async with limiter.acquire(heavy=True):
                raise RuntimeError("tier failed")
    assert limiter.in_flight == 0 and limiter.heavy_in_flight == 0
    assert limiter.snapshot()["credits_used"] == 3  # Zoho may have charged: never refunded


@pytest.mark.anyio
async def test_credits_roll_off_after_24_hours() -> None:
    clock = FakeClock()
    limiter = ZohoLimiter(5, 1000, clock=clock)
    async with limiter.acquire(credits=100):
        pass
    clock.now += 12 * 3600
    async with limiter.acquire(credits=50):
        pass
    assert limiter.snapshot()["credits_used"] == 150
    clock.now += 12 * 3600 - 120  # a minute-bucket short of the first charge expiring
    assert limiter.credits_used() == 150
    clock.now += 180
    assert limiter.credits_used() == 50
    assert limiter.credits_remaining() == 950
    clock.now += 3 * DAY
    assert limiter.credits_used() == 0
    limiter.charge(7)
    assert limiter.credits_used() == 7


@pytest.mark.anyio
async def test_credits_low_below_ten_percent() -> None:
    limiter = ZohoLimiter(5, 100, clock=FakeClock())
    limiter.charge(90)
    assert limiter.snapshot()["credits_low"] is False
    async with limiter.acquire(credits=1):
        pass
    snap = limiter.snapshot()
    assert snap == {
        "in_flight": 0, "lingering": 0, "limit": 5, "credits_used": 91, "credits_remaining": 9, "credits_low": True
    }


@pytest.mark.anyio
async def test_observed_remaining_rebases_the_count() -> None:
    clock = FakeClock()
    limiter = ZohoLimiter(5, 10_000, clock=clock)
    limiter.charge(10)
    limiter.observe_remaining(600)  # other clients of the org spent most of it
    for _ in range(3):
        async with limiter.acquire(credits=2):
            pass
    snap = limiter.snapshot()
    assert snap["credits_remaining"] == 594
    assert snap["credits_used"] == 10_000 - 594
    assert snap["credits_low"] is True
    limiter.observe_remaining(-1)  # nonsense is ignored
    assert limiter.credits_remaining() == 594
    clock.now += DAY  # a day-old observation no longer applies
    assert limiter.credits_remaining() == 10_000


# --- slots of abandoned calls linger -----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("heavy", [False, True], ids=["light", "heavy"])
async def test_an_abandoned_slot_stays_reserved_for_its_linger_then_frees_itself(heavy: bool) -> None:
    clock = FakeClock()
    limiter = ZohoLimiter(1, 100, clock=clock, heavy_concurrency=1)
    got_in = anyio.Event()

    async def waiter() -> None:
        async with limiter.acquire(heavy=heavy):
            got_in.set()

    slot = limiter.acquire(credits=3, heavy=heavy)
    await slot.__aenter__()
    slot.abandon(5.0)  # returns at once: the caller does not wait for the linger
    assert limiter.in_flight == 0 and limiter.heavy_in_flight == 0
    assert limiter.snapshot()["lingering"] == 1
    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await wait_all_tasks_blocked()
        assert not got_in.is_set()  # Zoho may still be processing the abandoned call
        clock.now += 4.999
        assert limiter.release_due() == 0
        await wait_all_tasks_blocked()
        assert not got_in.is_set()
        clock.now += 0.001
        assert limiter.release_due() == 1
    assert got_in.is_set()
    snap = limiter.snapshot()
    assert snap["lingering"] == 0 and snap["in_flight"] == 0
    assert snap["credits_used"] == 4  # the abandoned call's credits are not refunded
    slot.release()  # already handed over: nothing is given back twice
    slot.abandon(5.0)
    async with limiter.acquire(heavy=heavy, timeout=0.0):
        assert limiter.lingering == 0


@pytest.mark.anyio
async def test_a_due_lingering_slot_is_given_back_at_the_next_acquire_without_the_timer() -> None:
    clock = FakeClock()
    limiter = ZohoLimiter(1, 100, clock=clock)
    async with limiter.acquire() as slot:
        slot.abandon(30.0)  # the exit that follows gives nothing back a second time
    assert limiter.lingering == 1
    with pytest.raises(TimeoutError):
        async with limiter.acquire(timeout=0.0):
            pytest.fail("the slot is still reserved")
    clock.now += 30.0  # the loop timer is 30 real seconds away: only the acquire can free it
    with anyio.fail_after(1):
        async with limiter.acquire(timeout=0.0):
            assert limiter.in_flight == 1 and limiter.lingering == 0


@pytest.mark.anyio
async def test_linger_zero_gives_the_slot_back_at_once() -> None:
    limiter = ZohoLimiter(1, 100, clock=FakeClock(), heavy_concurrency=1)
    async with limiter.acquire(heavy=True) as slot:
        slot.abandon(0.0)
    assert limiter.lingering == 0
    async with limiter.acquire(heavy=True, timeout=0.0):
        assert limiter.in_flight == 1 and limiter.heavy_in_flight == 1


@pytest.mark.anyio
async def test_the_loop_timer_wakes_a_queued_waiter_even_when_nothing_else_happens() -> None:
    limiter = ZohoLimiter(2, 100)  # the real clock: the timer is the only thing that frees these
    first = limiter.acquire()
    await first.__aenter__()
    first.abandon(30.0)
    second = limiter.acquire()
    await second.__aenter__()
    second.abandon(0.002)  # due before the first: the timer is re-armed for it
    assert limiter.lingering == 2
    with anyio.fail_after(5):
        async with limiter.acquire():
            assert limiter.lingering == 1
    assert limiter.snapshot()["lingering"] == 1


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        ZohoLimiter(0, 100)
    with pytest.raises(ValueError):
        ZohoLimiter(5, -1)


def test_heavy_concurrency_never_exceeds_concurrency() -> None:
    assert ZohoLimiter(5, 100).heavy_concurrency == 5
    assert ZohoLimiter(25, 100).heavy_concurrency == 10
