"""Retry policy: backoff and jitter, what is retried, deadline, budget. Sleeps are recorded, never slept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from zoho_mcp.resilience.errors import CategorizedError, CircuitOpenError, DeadlineExceeded, ErrorCategory
from zoho_mcp.resilience.retry import RetryBudget, RetryPolicy, is_retryable


class Transient(CategorizedError):
    category = ErrorCategory.TRANSIENT


class Auth(CategorizedError):
    category = ErrorCategory.AUTH


class Answer(CategorizedError):
    category = ErrorCategory.BUSINESS


class RateLimited(Transient):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__("429")
        self.retry_after = retry_after


class FakeClock:
    def __init__(self, start: float = 500.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A sleep that records the delay and moves the fake clock forward by it."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.delays: list[float] = []
        self.clock = clock

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.clock is not None:
            self.clock.now += delay


def flaky(failures: list[BaseException], result: Any = "ok") -> tuple[Callable[[], Any], list[int]]:
    calls = [0]

    async def fn() -> Any:
        calls[0] += 1
        if failures:
            raise failures.pop(0)
        return result

    return fn, calls


def policy(sleep: Recorder, **kw: Any) -> RetryPolicy:
    params: dict[str, Any] = dict(max_attempts=4, base_delay=1.0, max_delay=60.0, exponential_base=2.0, jitter=False)
    params.update(kw)
    return RetryPolicy(sleep=sleep, **params)


# --- backoff -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_exponential_backoff_without_jitter() -> None:
    sleep = Recorder()
    fn, calls = flaky([Transient("a"), Transient("b"), Transient("c")])
    assert await policy(sleep).run(fn, idempotent=True) == "ok"
    assert calls[0] == 4
    assert sleep.delays == [1.0, 2.0, 4.0]


@pytest.mark.anyio
async def test_backoff_is_capped_by_max_delay() -> None:
    sleep = Recorder()
    fn, _ = flaky([Transient("x")] * 5)
    p = policy(sleep, max_attempts=6, base_delay=1.0, max_delay=5.0, exponential_base=3.0)
    assert await p.run(fn, idempotent=True) == "ok"
    assert sleep.delays == [1.0, 3.0, 5.0, 5.0, 5.0]


@pytest.mark.anyio
async def test_full_jitter_draws_uniformly_below_the_exponential_ceiling() -> None:
    sleep = Recorder()
    draws = iter([0.5, 0.25, 0.0])
    fn, _ = flaky([Transient("x")] * 3)
    p = policy(sleep, jitter=True, rng=lambda: next(draws))
    assert await p.run(fn, idempotent=True) == "ok"
    assert sleep.delays == [0.5, 0.5, 0.0]


def test_backoff_survives_overflow() -> None:
    p = RetryPolicy(10, 1.0, 30.0, 1e10, False)
    assert p.backoff(1000) == 30.0
    assert p.backoff(1) == 1.0


# --- what is retried ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "error",
    [Answer("not found"), Auth("bad token"), FileNotFoundError("x"), ValueError("bug"), CircuitOpenError("sdk", 30.0)],
)
async def test_non_transient_errors_are_not_retried(error: BaseException) -> None:
    sleep = Recorder()
    fn, calls = flaky([error])
    with pytest.raises(type(error)):
        await policy(sleep).run(fn, idempotent=True)
    assert calls[0] == 1 and sleep.delays == []


@pytest.mark.anyio
@pytest.mark.parametrize("error", [TimeoutError("slow"), ConnectionResetError("reset"), ConnectionRefusedError()])
async def test_raw_timeouts_and_connection_errors_are_transient(error: BaseException) -> None:
    sleep = Recorder()
    fn, calls = flaky([error])
    assert await policy(sleep).run(fn, idempotent=True) == "ok"
    assert calls[0] == 2


@pytest.mark.anyio
async def test_transient_errors_after_a_retry_keep_being_classified() -> None:
    sleep = Recorder()
    fn, calls = flaky([Transient("a"), Answer("then an answer")])
    with pytest.raises(Answer):
        await policy(sleep).run(fn, idempotent=True)
    assert calls[0] == 2 and sleep.delays == [1.0]


@pytest.mark.anyio
async def test_not_idempotent_means_one_try() -> None:
    sleep = Recorder()
    fn, calls = flaky([Transient("reset")])
    with pytest.raises(Transient):
        await policy(sleep).run(fn, idempotent=False)
    assert calls[0] == 1 and sleep.delays == []


@pytest.mark.anyio
async def test_exhausted_attempts_raise_the_last_original_error() -> None:
    sleep = Recorder()
    errors: list[BaseException] = [Transient(f"try {i}") for i in range(1, 10)]
    fn, calls = flaky(errors)
    with pytest.raises(Transient, match="try 3"):
        await policy(sleep, max_attempts=3).run(fn, idempotent=True)
    assert calls[0] == 3
    assert sleep.delays == [1.0, 2.0]


@pytest.mark.anyio
async def test_single_attempt_policy_never_retries() -> None:
    sleep = Recorder()
    fn, calls = flaky([Transient("x")])
    with pytest.raises(Transient):
        await policy(sleep, max_attempts=1).run(fn, idempotent=True)
    assert calls[0] == 1


@pytest.mark.anyio
async def test_arguments_are_passed_on_every_try() -> None:
    sleep = Recorder()
    seen: list[tuple[int, str]] = []

    async def fn(a: int, b: str) -> str:
        seen.append((a, b))
        if len(seen) < 3:
            raise Transient("again")
        return b * a

    assert await policy(sleep).run(fn, 2, "x", idempotent=True) == "xx"
    assert seen == [(2, "x")] * 3


# --- cancellation ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancellation_is_never_retried() -> None:
    sleep = Recorder()
    calls = 0

    async def fails_then_hangs() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Transient("first")
        await anyio.sleep_forever()

    p = policy(sleep)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: p.run(fails_then_hangs, idempotent=True))
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert calls == 2  # the retry was cancelled, and not retried
    assert sleep.delays == [1.0]

    cancelled_exc = anyio.get_cancelled_exc_class()
    raised = 0

    async def raises_cancel() -> None:
        nonlocal raised
        raised += 1
        if raised == 1:
            raise Transient("first")
        raise cancelled_exc()

    with pytest.raises(cancelled_exc):
        await p.run(raises_cancel, idempotent=True)
    assert raised == 2
    assert not is_retryable(cancelled_exc())


@pytest.mark.anyio
async def test_cancellation_during_backoff_stops_the_loop() -> None:
    calls = 0
    sleeping = anyio.Event()

    async def fn() -> None:
        nonlocal calls
        calls += 1
        raise Transient("down")

    async def slow_sleep(delay: float) -> None:
        sleeping.set()
        await anyio.sleep_forever()

    p = RetryPolicy(5, 1.0, 1.0, 2.0, False, sleep=slow_sleep)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: p.run(fn, idempotent=True))
        await sleeping.wait()
        tg.cancel_scope.cancel()
    assert calls == 1


# --- deadline ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_sleep_that_would_end_past_the_deadline() -> None:
    clock = FakeClock()
    sleep = Recorder(clock)
    fn, calls = flaky([Transient(f"t{i}") for i in range(10)])
    p = policy(sleep, max_attempts=10)
    with pytest.raises(Transient, match="t2"):
        # 1 s + 2 s of waits fit before the deadline (500 + 6.5); the 4 s wait would end past it
        await p.run(fn, idempotent=True, deadline=clock.now + 6.5, clock=clock)
    assert sleep.delays == [1.0, 2.0]
    assert calls[0] == 3
    assert clock.now == 503.0


@pytest.mark.anyio
async def test_no_try_starts_after_the_deadline() -> None:
    clock = FakeClock()
    fn, calls = flaky([])
    with pytest.raises(DeadlineExceeded) as info:
        await policy(Recorder()).run(fn, idempotent=True, deadline=clock.now, clock=clock)
    assert calls[0] == 0
    assert isinstance(info.value, TimeoutError) and not info.value.retryable


@pytest.mark.anyio
async def test_time_spent_in_tries_counts_against_the_deadline() -> None:
    clock = FakeClock()
    sleep = Recorder(clock)
    calls = 0

    async def slow_failure() -> None:
        nonlocal calls
        calls += 1
        clock.now += 4.0  # each try takes 4 s of the 10 s budget
        raise Transient("timeout")

    with pytest.raises(Transient):
        await policy(sleep, max_attempts=10).run(slow_failure, idempotent=True, deadline=clock.now + 10, clock=clock)
    assert calls == 2  # 4 s + 1 s wait + 4 s = 9 s; a 2 s wait would pass the deadline
    assert sleep.delays == [1.0]


# --- Retry-After -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_retry_after_is_waited_exactly() -> None:
    sleep = Recorder()
    fn, _ = flaky([RateLimited(2.5), RateLimited(None)])
    assert await policy(sleep, jitter=True, rng=lambda: 0.5).run(fn, idempotent=True) == "ok"
    assert sleep.delays == [2.5, 1.0]  # the second falls back to jittered backoff (2 * 0.5)


@pytest.mark.anyio
async def test_retry_after_longer_than_max_delay_gives_up_at_once() -> None:
    sleep = Recorder()
    fn, calls = flaky([RateLimited(3600.0)])
    with pytest.raises(RateLimited):
        await policy(sleep, max_delay=30.0).run(fn, idempotent=True)
    assert calls[0] == 1 and sleep.delays == []


# --- budget ------------------------------------------------------------------------------------


def test_budget_allows_ratio_of_requests_plus_floor() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.5, min_per_sec=0.0, window=10.0, clock=clock)
    assert not budget.try_withdraw()
    for _ in range(4):
        budget.deposit()
    assert budget.balance() == pytest.approx(2.0)
    assert budget.try_withdraw() and budget.try_withdraw()
    assert not budget.try_withdraw()

    floor = RetryBudget(ratio=0.0, min_per_sec=0.3, window=10.0, clock=clock)
    assert [floor.try_withdraw() for _ in range(4)] == [True, True, True, False]


def test_budget_forgets_requests_and_retries_outside_its_window() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=1.0, min_per_sec=0.0, window=10.0, clock=clock)
    for _ in range(3):
        budget.deposit()
    assert budget.try_withdraw()
    clock.now += 5
    assert budget.balance() == pytest.approx(2.0)
    clock.now += 5.5
    assert budget.balance() == pytest.approx(0.0)
    budget.deposit()
    assert budget.try_withdraw()
    assert not budget.try_withdraw()
    clock.now += 100
    assert budget.balance() == pytest.approx(0.0)


def test_budget_parameters_are_validated() -> None:
    with pytest.raises(ValueError):
        RetryBudget(ratio=-1)
    with pytest.raises(ValueError):
        RetryBudget(window=0)


@pytest.mark.anyio
async def test_exhausted_budget_raises_the_last_error_immediately() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_per_sec=0.1, window=10.0, clock=clock)  # one retry token
    sleep = Recorder()
    p = policy(sleep, budget=budget)
    fn, calls = flaky([Transient("a"), Transient("b"), Transient("c")])
    with pytest.raises(Transient, match="b"):
        await p.run(fn, idempotent=True, clock=clock)
    assert calls[0] == 2 and sleep.delays == [1.0]

    fn2, calls2 = flaky([Transient("storm")])
    with pytest.raises(Transient, match="storm"):
        await p.run(fn2, idempotent=True, clock=clock)
    assert calls2[0] == 1


@pytest.mark.anyio
async def test_every_run_deposits_and_the_token_is_taken_before_sleeping() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=1.0, min_per_sec=0.0, window=10.0, clock=clock)
    balances: list[float] = []

    async def sleep(delay: float) -> None:
        balances.append(budget.balance())

    p = RetryPolicy(3, 0.0, 0.0, 2.0, False, budget=budget, sleep=sleep)
    fn, _ = flaky([])
    await p.run(fn, idempotent=False)
    await p.run(fn, idempotent=True)
    assert budget.balance() == pytest.approx(2.0)
    fn2, _ = flaky([Transient("x")])
    assert await p.run(fn2, idempotent=True) == "ok"
    assert balances == [pytest.approx(2.0)]  # 3 deposits − 1 withdrawal, seen while sleeping


@pytest.mark.anyio
async def test_a_storm_of_failing_calls_is_held_to_the_budget() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, min_per_sec=0.0, window=10.0, clock=clock)
    p = RetryPolicy(3, 0.0, 0.0, 2.0, False, budget=budget, sleep=Recorder())
    total_calls = 0

    async def down() -> None:
        nonlocal total_calls
        total_calls += 1
        raise Transient("down")

    for _ in range(100):
        with pytest.raises(Transient):
            await p.run(down, idempotent=True, clock=clock)
    assert total_calls <= 100 + 20  # without the budget: 300


# --- hooks and construction ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_on_retry_hook_gets_attempt_error_and_delay_and_cannot_break_the_call() -> None:
    seen: list[tuple[int, str, float]] = []

    def hook(attempt: int, exc: BaseException, delay: float) -> None:
        seen.append((attempt, str(exc), delay))
        raise RuntimeError("hook bug")

    fn, _ = flaky([Transient("a"), Transient("b")])
    p = policy(Recorder(), on_retry=hook)
    assert await p.run(fn, idempotent=True) == "ok"
    assert seen == [(1, "a", 1.0), (2, "b", 2.0)]


def test_from_settings_reads_the_retry_fields() -> None:
    class S:
        retry_max_attempts = 5
        retry_base_delay = 0.5
        retry_max_delay = 8.0
        retry_exponential_base = 3.0
        retry_jitter = False

    p = RetryPolicy.from_settings(S())
    assert (p.max_attempts, p.base_delay, p.max_delay, p.exponential_base, p.jitter) == (5, 0.5, 8.0, 3.0, False)
    assert [p.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 8.0]


@pytest.mark.parametrize(
    "args", [(0, 1.0, 1.0, 2.0, True), (3, -1.0, 1.0, 2.0, True), (3, 1.0, 1.0, 0.5, True)]
)
def test_invalid_policies_are_refused(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(*args)


@pytest.mark.anyio
async def test_one_policy_serves_concurrent_calls_independently() -> None:
    gate = anyio.Event()
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await gate.wait()

    p = RetryPolicy(3, 1.0, 10.0, 2.0, False, sleep=sleep)
    results: list[str] = []

    async def one(tag: str, n: int) -> None:
        fn, _ = flaky([Transient(tag)] * n, result=tag)
        results.append(await p.run(fn, idempotent=True))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "a", 1)
        tg.start_soon(one, "b", 2)
        await wait_all_tasks_blocked()
        gate.set()
    assert sorted(results) == ["a", "b"]
    assert sorted(delays) == [1.0, 1.0, 2.0]


@pytest.mark.anyio
async def test_retries_stop_as_soon_as_the_breaker_opens() -> None:
    from zoho_mcp.resilience.breakers import TierBreaker

    breaker = TierBreaker("rest", failure_threshold=2, clock=lambda: 0.0)
    sleep = Recorder()
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise Transient("503")

    with pytest.raises(CircuitOpenError):
        await policy(sleep, max_attempts=5).run(lambda: breaker.call(down), idempotent=True)
    assert calls == 2  # the third try was refused by the breaker and not retried
    assert sleep.delays == [1.0, 2.0]
