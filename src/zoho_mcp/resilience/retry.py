"""Retry with capped exponential backoff and full jitter, one deadline, and a retry budget.

tenacity runs the loop (`AsyncRetrying` with our own retry predicate, wait, stop and injectable
sleep); this module only decides *whether* and *how long*:

- What is retried: `CategorizedError` with `.retryable` (transient), plus raw `TimeoutError` and
  `ConnectionError` (reset, refused, aborted, broken pipe): network-level by nature, in case a tier
  lets one escape uncategorised. Other `OSError`s (file, permission…) are not transient and are not
  retried. Cancellation (any `BaseException` that is not an `Exception`) is never retried
  (tenacity#529), nor is anything when the operation is not idempotent. `CircuitOpenError` is
  transient but not retried here: the breaker said no, and the gateway should fail over at once.
- Backoff after try n (1-based): `min(max_delay, base_delay * exponential_base**(n-1))`, and with
  jitter a uniform draw in [0, that) ("full jitter", AWS / Envoy). An error carrying a numeric
  `retry_after` (seconds) is waited for exactly; if that is longer than `max_delay` we give up on this
  tier at once rather than hammer it or sleep for ages.
- One deadline (absolute, on `clock`) covers every try: no try starts at or after it, and no sleep is
  started that would end at or after it; the last error is raised instead.
- A `RetryBudget` shared across calls caps retries at `ratio` of recent requests plus a small floor
  per second (Finagle's token budget, Envoy's budget_percent): when Zoho is failing, retries cannot
  multiply the load. The token is taken *before* sleeping (envoy#30205). When none is left, the last
  error is raised immediately, so the gateway fails over.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from tenacity import AsyncRetrying, RetryCallState

from zoho_mcp.logs import get_logger
from zoho_mcp.resilience.errors import CircuitOpenError, DeadlineExceeded

__all__ = ["RetryBudget", "RetryPolicy", "is_retryable"]

T = TypeVar("T")
log = get_logger("zoho_mcp.retry")

_TRANSIENT_BUILTINS: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError)


def is_retryable(exc: BaseException) -> bool:
    """Whether an error is worth another try of the same tier (see the module docstring)."""
    if not isinstance(exc, Exception) or isinstance(exc, CircuitOpenError):
        return False
    flag = getattr(exc, "retryable", None)
    if flag is not None:
        return bool(flag)
    return isinstance(exc, _TRANSIENT_BUILTINS)


class RetryBudget:
    """Retries allowed ≤ `ratio` × requests in the last `window` seconds + `min_per_sec` × `window`.

    Deposits and withdrawals are counted in one-second buckets of a ring, so the cost per call is a
    few integer operations and nothing is allocated.
    """

    __slots__ = ("ratio", "min_per_sec", "window", "_clock", "_n", "_width", "_ids", "_deposits", "_withdrawals")

    def __init__(
        self,
        ratio: float = 0.2,
        min_per_sec: float = 1.0,
        *,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0 or min_per_sec < 0 or window <= 0:
            raise ValueError("ratio and min_per_sec must be >= 0 and window > 0")
        self.ratio = ratio
        self.min_per_sec = min_per_sec
        self.window = window
        self._clock = clock
        self._n = max(1, math.ceil(window))
        self._width = window / self._n
        self._ids = [-1] * self._n
        self._deposits = [0] * self._n
        self._withdrawals = [0] * self._n

    def _slot(self) -> int:
        idx = int(self._clock() // self._width)
        slot = idx % self._n
        if self._ids[slot] != idx:
            self._ids[slot] = idx
            self._deposits[slot] = 0
            self._withdrawals[slot] = 0
        return slot

    def deposit(self) -> None:
        """Count one request (first tries count; retries do not)."""
        self._deposits[self._slot()] += 1

    def balance(self) -> float:
        now_idx = int(self._clock() // self._width)
        low = now_idx - self._n
        deposits = withdrawals = 0
        for i in range(self._n):
            if low < self._ids[i] <= now_idx:
                deposits += self._deposits[i]
                withdrawals += self._withdrawals[i]
        return self.ratio * deposits + self.min_per_sec * self.window - withdrawals

    def try_withdraw(self) -> bool:
        """Take one retry token; False when the budget is spent."""
        if self.balance() < 1.0:
            return False
        self._withdrawals[self._slot()] += 1
        return True


OnRetry = Callable[[int, BaseException, float], Any]


class RetryPolicy:
    """How one tier call is retried; shared by concurrent calls (no per-call state is kept here)."""

    def __init__(
        self,
        max_attempts: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        exponential_base: float = 2.0,
        jitter: bool = True,
        *,
        budget: RetryBudget | None = None,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        rng: Callable[[], float] = random.random,
        on_retry: OnRetry | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if base_delay < 0 or max_delay < 0 or exponential_base < 1:
            raise ValueError("delays must be >= 0 and exponential_base >= 1")
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.exponential_base = exponential_base
        self.jitter = jitter
        self.budget = budget
        self.sleep = sleep
        self.rng = rng
        self.on_retry = on_retry

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        budget: RetryBudget | None = None,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        rng: Callable[[], float] = random.random,
        on_retry: OnRetry | None = None,
    ) -> RetryPolicy:
        return cls(
            settings.retry_max_attempts,
            settings.retry_base_delay,
            settings.retry_max_delay,
            settings.retry_exponential_base,
            settings.retry_jitter,
            budget=budget,
            sleep=sleep,
            rng=rng,
            on_retry=on_retry,
        )

    def backoff(self, attempt: int) -> float:
        """The wait after failed try number `attempt` (1-based), jitter included."""
        try:
            ceiling = min(self.max_delay, self.base_delay * self.exponential_base ** (attempt - 1))
        except OverflowError:
            ceiling = self.max_delay
        return ceiling * self.rng() if self.jitter else ceiling

    def delay_for(self, attempt: int, exc: BaseException | None) -> float:
        after = getattr(exc, "retry_after", None)
        if isinstance(after, (int, float)) and not isinstance(after, bool) and after > 0:
            return float(after)
        return self.backoff(attempt)

    async def run(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        idempotent: bool,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> T:
        """Call `fn(*args)`, retrying transient errors when `idempotent`, within `deadline` and budget."""
        if deadline is not None and clock() >= deadline:
            raise DeadlineExceeded("deadline passed before the first try")
        budget = self.budget
        if budget is not None:
            budget.deposit()
        if not idempotent or self.max_attempts == 1:
            return await fn(*args)
        # The first try runs outside tenacity (its loop costs ~13 µs a call, our budget is 50 µs);
        # on a retryable failure tenacity takes over and replays that failure as its attempt 1, so
        # attempt numbers, waits and stop decisions are all tenacity's.
        try:
            return await fn(*args)
        except Exception as exc:
            if not is_retryable(exc):
                raise
            first: list[BaseException] = [exc]

        async def attempt() -> T:
            if first:
                raise first.pop()
            return await fn(*args)

        run = _Run(self, deadline, clock)
        retrying = AsyncRetrying(
            sleep=self.sleep,
            stop=run.stop,
            wait=run.wait,
            retry=run.retry,
            before_sleep=run.before_sleep,
            reraise=True,
        )
        return await retrying(attempt)  # type: ignore[no-any-return]


class _Run:
    """The per-call decisions tenacity asks for: retry? how long? stop?"""

    __slots__ = ("policy", "deadline", "clock")

    def __init__(self, policy: RetryPolicy, deadline: float | None, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.deadline = deadline
        self.clock = clock

    def retry(self, rs: RetryCallState) -> bool:
        outcome = rs.outcome
        if outcome is None or not outcome.failed:
            return False
        return is_retryable(outcome.exception())  # type: ignore[arg-type]

    def wait(self, rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        return self.policy.delay_for(rs.attempt_number, exc)

    def stop(self, rs: RetryCallState) -> bool:
        policy = self.policy
        if rs.attempt_number >= policy.max_attempts:
            return True
        delay = rs.upcoming_sleep
        if delay > policy.max_delay:
            self._give_up(rs, "retry_after_too_long", delay)
            return True
        if self.deadline is not None and self.clock() + delay >= self.deadline:
            self._give_up(rs, "deadline", delay)
            return True
        if policy.budget is not None and not policy.budget.try_withdraw():
            self._give_up(rs, "retry_budget_exhausted", delay)
            return True
        return False

    def before_sleep(self, rs: RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        delay = rs.upcoming_sleep
        log.info("retrying", attempt=rs.attempt_number, delay=round(delay, 4), error=exc)
        hook = self.policy.on_retry
        if hook is not None:
            try:
                hook(rs.attempt_number, exc, delay)  # type: ignore[arg-type]
            except Exception as err:
                log.error("retry_hook_failed", error=err)

    def _give_up(self, rs: RetryCallState, reason: str, delay: float) -> None:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        log.info("retry_stopped", reason=reason, attempt=rs.attempt_number, delay=round(delay, 4), error=exc)
