"""The integration manager: one Operation in, one normalised result (or one clear error) out.

It composes the pieces of `resilience/` around the tiers, in this order for each tier of the plan:
breaker admission (an open tier is skipped without a call) → retry policy (one deadline, the tier's
timeout, covers every try) → breaker-guarded try: a slot of the shared Zoho limiter (its wait spends
the same deadline, and is not the tier's failure), then `tier.execute` with the timeout inside the
guard (so the breaker counts a timeout, but not a cancellation). A call the breaker refuses never
queues for a slot nor costs a credit. Reads may be hedged on the next tier when the primary is slow
(`gateway_hedge.py`).

A try we stop waiting for (timeout, cancellation, the loser of a hedge) is not over for Zoho, which
keeps processing it within the org's concurrency limit: its slot lingers (ZOHO_ABANDONED_SLOT_LINGER;
by default for as long as the tier usually takes — its observed p99, at most its timeout) instead of
letting the failover send one request too many. And an
org-wide 429 is not a tier's failure: no breaker counts it (it is still retried, then fails over).

The one rule that overrides failover: a write that is not idempotent is never sent twice. Once an
attempt may have reached Zoho, we do not know whether it was applied, so the gateway says so
(`OutcomeUnknownError`) instead of trying another tier. Whether it may have reached Zoho is the
tier's word (`details["sent"]`, tiers/delivery.py), never a guess from transport codes.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import anyio
from anyio import CancelScope
from anyio.abc import TaskGroup

from zoho_mcp.config import Settings
from zoho_mcp.gateway_hedge import execute_hedged, fails_over
from zoho_mcp.logs import get_logger
from zoho_mcp.resilience.breakers import BreakerRegistry
from zoho_mcp.resilience.errors import AllTiersFailed, CircuitOpenError, ErrorCategory
from zoho_mcp.resilience.health import HealthMonitor, TierStats
from zoho_mcp.resilience.limits import Slot, ZohoLimiter, credits_for, is_heavy
from zoho_mcp.resilience.metrics import Metrics
from zoho_mcp.resilience.retry import RetryBudget, RetryPolicy
from zoho_mcp.tiers.base import (
    MAX_RECORDS_PER_CALL,
    TIER_ORDER,
    AuthError,
    ConfigurationError,
    GetRecords,
    Operation,
    Probe,
    RateLimitedError,
    Result,
    SearchRecords,
    Tier,
    TierName,
    TransientError,
    UpdateRecords,
    ZohoError,
)
from zoho_mcp.tiers.selector import RoutingHints, plan

__all__ = ["ZohoGateway", "OutcomeUnknownError", "LimiterTimeout", "build_gateway", "RoutingHints", "AllTiersFailed"]

log = get_logger("zoho_mcp.gateway")

CircuitListener = Callable[[str, str, str], Any]

#: Below this many latency samples a tier's p95 means little: hedge only after hedge_max_delay.
HEDGE_MIN_SAMPLES = 20
#: The hedge delay of a tier is recomputed after this many of its requests.
HEDGE_REFRESH = 256

class OutcomeUnknownError(ZohoError):
    """A non-idempotent write may or may not have been applied; it was not sent again anywhere."""

    category = ErrorCategory.TRANSIENT

    @property
    def retryable(self) -> bool:
        return False

    @property
    def fails_over(self) -> bool:
        return False


class LimiterTimeout(TransientError):
    """No slot of the org's shared concurrency limit freed up within the tier's timeout.

    Nothing was sent, so it is not the tier's failure: the breaker does not count it, it is not
    retried (the deadline is spent), and a write, even a non-idempotent one, may go to the next tier.
    """

    def __init__(self, tier: str, timeout: float) -> None:
        super().__init__(
            f"every slot of Zoho's per-org concurrency limit stayed busy for the {timeout:g}s timeout; "
            "the call was not sent",
            code="CONCURRENCY_WAIT_TIMEOUT",
            details={"sent": False},
            tier=tier,
        )

    @property
    def counts_as_failure(self) -> bool:
        return False

    @property
    def retryable(self) -> bool:
        return False


class _NoRetry(Exception):
    """Carries an error out of the retry loop untouched (an open circuit is not worth a retry)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def never_sent(exc: BaseException) -> bool:
    """Whether Zoho provably did not apply the operation that raised `exc` (tiers/delivery.py).

    The tiers say it in `details["sent"]`: False when nothing left this process (or only a request
    Zoho's OAuth check refused), True when a request left and its outcome is unknown or an earlier
    chunk was already applied; True wins over the error's class. Without the flag, Zoho answered
    with an HTTP error and its class decides: 401/403 (auth) and 429 are refused before processing,
    a configuration error never left; anything else (a 5xx, an untagged error) may have been applied.
    An open circuit never called the tier at all.
    """
    if isinstance(exc, CircuitOpenError):
        return True
    details = getattr(exc, "details", None)
    sent = details.get("sent") if isinstance(details, Mapping) else None
    if sent is not None:
        return sent is False
    return isinstance(exc, (ConfigurationError, AuthError, RateLimitedError))


def abandoned(exc: BaseException) -> bool:
    """Whether a try ended with Zoho possibly still processing it: we stopped waiting (our timeout,
    the tier's read timeout, a cancellation such as a hedge loser's) after the request may have left."""
    if not isinstance(exc, Exception):
        return True  # cancellation
    details = getattr(exc, "details", None)
    if isinstance(details, Mapping) and details.get("sent") is False:
        return False
    return isinstance(exc, TimeoutError) or getattr(exc, "code", None) == "TIMEOUT"


def _category(exc: BaseException) -> str:
    cat = getattr(exc, "category", None)
    return cat.value if isinstance(cat, ErrorCategory) else ErrorCategory.TRANSIENT.value


def _credits(op: Operation) -> int:
    if isinstance(op, UpdateRecords):
        return sum(credits_for("update", len(chunk)) for chunk in op.chunks(MAX_RECORDS_PER_CALL))
    if isinstance(op, GetRecords):
        return max(1, math.ceil(len(op.ids) / MAX_RECORDS_PER_CALL))
    return credits_for(op.kind, op.record_count)


def _unknown_details(name: str, exc: BaseException) -> dict[str, Any]:
    details: dict[str, Any] = {"tier": name, "cause": str(exc)}
    sent = getattr(exc, "details", None)
    if isinstance(sent, Mapping) and "records_sent" in sent:
        details["records_sent"] = sent["records_sent"]  # earlier chunks that reached Zoho
    return details


class ZohoGateway:
    """Routes operations over the tiers with breakers, retries, limits, hedging and failover."""

    def __init__(
        self,
        settings: Settings,
        tiers: Mapping[str, Tier],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        rng: Callable[[], float] = random.random,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.tiers: dict[str, Tier] = dict(tiers)
        enabled = set(settings.enabled_tiers)
        self.enabled: list[TierName] = [t for t in TIER_ORDER if t in enabled and t in self.tiers]
        self._clock = clock
        self._sleep = sleep
        #: With the real sleep, hedge timers can be event-loop timers (cheaper than a timer task).
        self.native_timers = sleep is anyio.sleep
        self.metrics = metrics if metrics is not None else Metrics()
        self.breakers = BreakerRegistry.from_settings(settings, TIER_ORDER, clock=clock, metrics=self.metrics)
        self.limiter = ZohoLimiter(settings.org_concurrency, settings.org_daily_credits)
        budget = RetryBudget(settings.retry_budget_ratio, clock=clock)
        #: One policy per tier (so retries are counted per tier), all drawing on one retry budget.
        self.retry: dict[str, RetryPolicy] = {
            name: RetryPolicy.from_settings(
                settings, budget=budget, sleep=sleep, rng=rng, on_retry=self._retry_counter(name)
            )
            for name in TIER_ORDER
        }
        self.stats: dict[str, TierStats] = {name: TierStats() for name in TIER_ORDER}
        self.metrics.init_tiers(TIER_ORDER)
        self._timeouts = {name: settings.tier_timeout(name) for name in TIER_ORDER}
        self._hedge_cache: dict[str, tuple[int, float]] = {}
        self._credits_seen: dict[str, int] = {}
        self._probe_epoch: dict[str, int] = {}
        self.monitor = HealthMonitor(
            {name: self._probe_fn(name) for name in self.enabled},
            settings.health_check_interval,
            settings.health_check_timeout,
            sleep=sleep,
            on_result=self._on_probe,
        )
        self._task_group: TaskGroup | None = None
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the health monitor in a task group this gateway owns (close it from the same task)."""
        if self._task_group is not None:
            return
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._task_group = tg
        tg.start_soon(self.monitor.run)

    async def check_health(self) -> dict[str, Any]:
        """Probe every enabled tier now (as the monitor does each interval), then report health."""
        await self.monitor.check_once()
        return self.health()

    async def aclose(self) -> None:
        """Stop the health monitor, then close every tier (and the token manager they share)."""
        tg, self._task_group = self._task_group, None
        if tg is not None:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
        if self._closed:
            return
        self._closed = True
        from zoho_mcp.tiers.factory import close_tiers

        await close_tiers(self.tiers)

    async def __aenter__(self) -> ZohoGateway:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def add_circuit_listener(self, fn: CircuitListener) -> None:
        """`fn(tier, old, new)` on every breaker state change (sync; errors are logged, not raised)."""
        self.breakers.add_listener(fn)

    # --- executing -----------------------------------------------------------------------------------

    async def execute(self, op: Operation, hints: RoutingHints = RoutingHints()) -> Result:
        """Run `op` on the first tier of the plan that answers.

        Raises business errors as they are, `OutcomeUnknownError` for a non-idempotent write that
        may have reached Zoho, and `AllTiersFailed` (each tier with its cause) when nothing answered.
        """
        order = plan(op, hints, self.enabled, self.settings.enable_failover)
        if (
            len(order) > 1
            and self.settings.hedge_enabled
            and isinstance(op, (GetRecords, SearchRecords))
        ):
            return await execute_hedged(self, op, order)
        causes: dict[str, BaseException] = {}
        last = len(order) - 1
        for index, name in enumerate(order):
            try:
                return await self.attempt(name, op)
            except Exception as exc:
                if not fails_over(exc):
                    raise
                if not op.idempotent and not never_sent(exc):
                    raise self._outcome_unknown(name, op, exc) from exc
                causes[name] = exc
                if index < last:
                    self._note_failover(name, order[index + 1], exc)
        raise AllTiersFailed(causes)

    async def attempt(self, name: str, op: Operation) -> Result:
        """Everything one tier gets: admission, retries within its timeout, the limiter, the breaker.

        The breaker admits first and the limiter slot is taken inside the guarded call: a call the
        breaker refuses (open, or half-open with every trial permit taken) goes to the next tier at
        once, without queueing for a slot and without being charged a credit.
        """
        breaker = self.breakers[name]
        if breaker.state == "open":
            self.metrics.rejected(name)
            raise breaker.open_error()
        tier = self.tiers[name]
        clock = self._clock
        deadline = clock() + self._timeouts[name]

        async def one_try() -> Result:
            try:
                return await breaker.call(self._limited_call, name, tier, op, deadline)
            except CircuitOpenError as exc:
                raise _NoRetry(exc) from None

        try:
            return await self.retry[name].run(one_try, idempotent=op.idempotent, deadline=deadline, clock=clock)
        except _NoRetry as wrapped:
            self.metrics.rejected(name)
            raise wrapped.error from None

    async def _limited_call(self, name: str, tier: Tier, op: Operation, deadline: float) -> Result:
        """One admitted try: a limiter slot (its wait spends the tier's deadline), then the timed call."""
        timeout = self._timeouts[name]
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise LimiterTimeout(name, timeout)
        try:
            slot = self.limiter.acquire(_credits(op), heavy=is_heavy(op.kind, op.record_count), timeout=remaining)
            await slot.__aenter__()
        except TimeoutError:
            raise LimiterTimeout(name, timeout) from None
        remaining = deadline - self._clock()
        if remaining <= 0:
            slot.release()
            raise TransientError(
                f"no answer within the {timeout:g}s timeout", code="TIMEOUT", details={"sent": False}, tier=name
            )
        try:
            result = await self._call_tier(name, tier, op, remaining)
        except BaseException as exc:
            self._end_try(slot, name, exc)
            raise
        slot.release()
        return result

    def _end_try(self, slot: Slot, name: str, exc: BaseException) -> None:
        """Free the slot of a failed try, or keep it lingering if Zoho may still be processing it."""
        if abandoned(exc):
            slot.abandon(self.linger_for(name))
        else:
            slot.release()

    async def _call_tier(self, name: str, tier: Tier, op: Operation, timeout: float) -> Result:
        """One try, timed, with its outcome in the tier's stats (a cancellation records nothing)."""
        start = self._clock()
        # A bare CancelScope with a deadline is anyio.fail_after without its generator overhead.
        scope = CancelScope(deadline=anyio.current_time() + timeout)
        result: Result | None = None
        timed_out = False
        try:
            with scope:
                result = await tier.execute(op)
        except TimeoutError:
            timed_out = True
        except Exception as exc:
            self._record(name, tier, op, start, exc)
            raise
        if timed_out or scope.cancelled_caught:
            err = TransientError(f"no answer within the {timeout:g}s timeout", code="TIMEOUT", tier=name)
            self._record(name, tier, op, start, err)
            raise err
        self._record(name, tier, op, start, None)
        return result  # type: ignore[return-value]

    def _record(self, name: str, tier: Tier, op: Operation, start: float, exc: BaseException | None) -> None:
        elapsed = self._clock() - start
        self._sync_credits(name, tier)
        if exc is None:
            self.stats[name].record(elapsed, True)
            self.metrics.observe_call(name, "success", elapsed)
        else:
            category = _category(exc)
            ok = not getattr(exc, "counts_as_failure", True)
            self.stats[name].record(elapsed, ok, category)
            self.metrics.observe_call(name, category, elapsed)

    def note_hedge_loser(self, name: str, start: float, epoch: int) -> None:
        """A hedged read's loser was cancelled: if it had run at least the hedge ceiling (slower than
        anything normal), it counts as a transient failure of its tier, in the stats and on the
        breaker; otherwise as nothing. Else a hung tier never opens and every read pays the hedge delay."""
        elapsed = self._clock() - start
        ceiling = self.settings.hedge_max_delay
        if elapsed < ceiling:
            return
        err = TransientError(f"no answer within {ceiling:g}s (abandoned to a faster tier)", code="SLOW_CALL", tier=name)
        category = ErrorCategory.TRANSIENT.value
        self.stats[name].record(elapsed, False, category)
        self.metrics.observe_call(name, category, elapsed)
        self.breakers[name].record_slow(epoch=epoch, error=err)
        log.info("hedge_loser_slow", tier=name, elapsed_ms=round(elapsed * 1000, 1))

    def _sync_credits(self, name: str, tier: Tier) -> None:
        """Re-base the limiter on Zoho's own count, once per new value (a stale one would refund)."""
        remaining = getattr(tier, "last_credits_remaining", None)
        if remaining is not None and remaining != self._credits_seen.get(name):
            self._credits_seen[name] = remaining
            self.limiter.observe_remaining(remaining)

    def _retry_counter(self, name: str) -> Callable[[int, BaseException, float], None]:
        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            self.metrics.retry(name)

        return on_retry

    def _note_failover(self, src: str, dst: str, exc: BaseException) -> None:
        reason = "circuit_open" if isinstance(exc, CircuitOpenError) else _category(exc)
        self.metrics.failover(src, dst, reason)
        log.info("failover", src=src, dst=dst, reason=reason, error=str(exc))

    def _outcome_unknown(self, name: str, op: Operation, exc: BaseException) -> OutcomeUnknownError:
        log.warning("write_outcome_unknown", tier=name, module=op.module, error=str(exc))
        return OutcomeUnknownError(
            f"the {op.kind} of {op.record_count} {op.module} record(s) may or may not have been applied: "
            f"tier {name} failed after the request may have reached Zoho ({exc}). It was not retried nor "
            "sent through another tier because it is not idempotent; re-read the records before retrying",
            code="OUTCOME_UNKNOWN",
            details=_unknown_details(name, exc),
            tier=name,
        )

    def linger_for(self, name: str) -> float:
        """How long the slot of an abandoned try of `name` stays reserved.

        Zoho keeps working on it for about as long as that tier's calls usually take, so by default the
        tier's observed p99 (at most its timeout; before enough samples, the hedge ceiling). The tier's
        whole timeout would be safe but far too costly: every hedge loser would hold a slot for 30-60 s.
        Not on the hot path: only abandoned tries ask.
        """
        configured = self.settings.abandoned_slot_linger
        if configured is not None:
            return configured
        timeout = self._timeouts[name]
        window = self.stats[name].latency
        if len(window) < HEDGE_MIN_SAMPLES:
            return min(timeout, self.settings.hedge_max_delay)
        return min(timeout, window.percentile(99) or 0.0)

    def hedge_delay(self, name: str) -> float:
        """How long to wait for `name` before hedging: its p95, bounded; the maximum until it is known.

        The p95 sorts the latency window, so it is recomputed only every `HEDGE_REFRESH` requests.
        """
        stats = self.stats[name]
        cached = self._hedge_cache.get(name)
        if cached is not None and 0 <= stats.requests - cached[0] < HEDGE_REFRESH:
            return cached[1]
        s = self.settings
        window = stats.latency
        if len(window) < HEDGE_MIN_SAMPLES:
            return s.hedge_max_delay
        delay = min(s.hedge_max_delay, max(s.hedge_min_delay, window.percentile(95) or 0.0))
        self._hedge_cache[name] = (stats.requests, delay)
        return delay

    # --- health --------------------------------------------------------------------------------------

    def _probe_fn(self, name: str) -> Callable[[], Awaitable[Any]]:
        tier = self.tiers[name]
        probe = Probe()

        wait = self.settings.health_check_timeout / 2
        breaker = self.breakers[name]

        async def run() -> Any:
            _ = breaker.state  # an open breaker now due turns half-open first: this probe is its trial
            self._probe_epoch[name] = breaker.epoch
            # A probe is a Zoho call like any other: it needs a slot and costs a credit. When every
            # slot stays busy, calls are flowing: the round is skipped rather than failed.
            try:
                slot = self.limiter.acquire(1, timeout=wait)
                await slot.__aenter__()
            except TimeoutError:
                raise LimiterTimeout(name, wait) from None
            try:
                result = await tier.execute(probe)
            except BaseException as exc:
                self._end_try(slot, name, exc)
                raise
            finally:
                self._sync_credits(name, tier)
            slot.release()
            return result

        return run

    def _on_probe(self, name: str, ok: bool, elapsed: float, error: BaseException | None = None) -> None:
        """A probe is a trial for a half-open breaker, and the tier's `healthy` / `last_check`."""
        if isinstance(error, LimiterTimeout):
            log.info("health_probe_skipped", tier=name, reason="concurrency limit busy")
            return  # never sent: no evidence either way
        if not isinstance(error, RateLimitedError):  # the org's limit says nothing about this tier
            self.breakers[name].record_probe(ok, epoch=self._probe_epoch.get(name), error=error)
        self.stats[name].record_check(ok, error)

    def health(self) -> dict[str, Any]:
        """DESIGN.md's zoho://health document, plus the limiter's snapshot under "limits".

        A tier is `healthy` when it is enabled, its circuit is not open, its last probe did not fail
        and its recent calls do not mostly fail (TierStats.healthy: ≥ half of the last 10 failed, with
        at least 3 failures, is unhealthy). Overall: `unhealthy` when no enabled tier is healthy (so
        not open); `healthy` when every enabled tier is healthy with a closed circuit and the daily
        credits are not low; `degraded` otherwise.
        Only counts, states and times appear: no error message, so no secret can leak through it.
        """
        tiers: dict[str, Any] = {}
        serving = 0
        all_good = True
        for name in TIER_ORDER:
            enabled = name in self.enabled
            circuit = self.breakers[name].state
            snap = self.stats[name].snapshot()
            healthy = enabled and circuit != "open" and bool(snap["healthy"])
            if enabled:
                serving += healthy
                all_good = all_good and circuit == "closed" and healthy
            tiers[name] = {
                "enabled": enabled,
                "circuit": circuit,
                "healthy": healthy,
                "last_check": snap["last_check"],
                "requests": snap["requests"],
                "successes": snap["successes"],
                "failures": snap["failures"],
                "success_rate": snap["success_rate"],
                "latency_ms": snap["latency_ms"],
                "errors_by_category": snap["errors_by_category"],
            }
        limits = self.limiter.snapshot()
        if serving == 0:
            status = "unhealthy"
        elif all_good and not limits["credits_low"]:
            status = "healthy"
        else:
            status = "degraded"
        return {"status": status, "tiers": tiers, "limits": limits}


async def build_gateway(settings: Settings, **kwargs: Any) -> ZohoGateway:
    """A gateway over the real tiers of `settings` (call `start()` or use `async with`)."""
    from zoho_mcp.tiers.factory import build_tiers

    tiers: Any = build_tiers(settings)
    if hasattr(tiers, "__await__"):
        tiers = await tiers
    return ZohoGateway(settings, tiers, **kwargs)
