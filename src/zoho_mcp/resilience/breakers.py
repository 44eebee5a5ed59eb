"""One circuit breaker per tier, built on aiobreaker 1.2.0 and corrected where it falls short.

The product mandates aiobreaker. We keep its pieces: `CircuitBreaker` (subclassed), its state classes
(subclassed: their `call_async` is still the path every guarded call travels), its memory storage
(counter, state, opened-at) and its listener protocol (one internal listener turns its `state_change`
into our events). What aiobreaker gets wrong for a tiered gateway, and how it is fixed here:

1. Half-open is not gated: every concurrent call runs. `TierBreaker.call` admits at most
   `half_open_calls` trials in flight; the rest fail fast with `CircuitOpenError`, so the gateway
   moves to the next tier at once. The permit is released in a `finally`, so a cancelled trial gives
   it back (Resilience4j #903/#935: permits that never signal leave the breaker stuck).
2. The first half-open success closes it. Here `success_threshold` trial successes are needed; a trial
   failure reopens it with a fresh recovery timeout.
3. The tripping call (and a failed trial) raises `CircuitBreakerError`, hiding the category. Our state
   subclasses never raise it: the caller always sees the original error.
4. `opened_at` is naive `utcnow()` but `opens_at` / `time_until_open` compare with local `now()`, so
   the reported time is hours off (or a TypeError) off UTC, and `utcnow()` warns on 3.12+. Here
   `opened_at` is a reading of an injected monotonic clock, and both gating and reporting use it.
5. An excluded exception resets the consecutive failure counter, so alternating "not found" answers
   would hide a dying tier. Here an error whose `counts_as_failure` is False (a business answer, an
   org-wide 429) counts as nothing: it neither increments nor resets the counter, and in half-open
   it is neither a trial success nor a failure (the permit is just released).
6. A listener that raises escapes into the call path. Our listeners are isolated and logged.
7. A call admitted under one state that finishes under another (a closed-state call ending while the
   breaker is half-open) would be applied to the new state. Here an outcome only counts against the
   state object that admitted it; stale outcomes are ignored (the error still reaches the caller).

Cancellation (`BaseException`) is neither success nor failure, as in aiobreaker. Consequence for the
gateway: put the per-tier timeout *inside* the guarded function (`anyio.fail_after` raising
TimeoutError there), otherwise a timeout arrives as a cancellation and the breaker never counts it.

Not thread-safe, like aiobreaker: use it from the event loop only (the SDK tier hops to a thread
inside the guarded coroutine). No section that mutates state contains an `await`, so it is safe
under asyncio and trio without a lock.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aiobreaker import CircuitBreaker, CircuitBreakerListener
from aiobreaker.state import (
    CircuitBreakerBaseState,
    CircuitBreakerState,
    CircuitClosedState,
    CircuitHalfOpenState,
    CircuitOpenState,
)
from aiobreaker.storage.memory import CircuitMemoryStorage

from zoho_mcp.logs import get_logger
from zoho_mcp.resilience.errors import CircuitOpenError

if TYPE_CHECKING:
    from zoho_mcp.resilience.metrics import Metrics

__all__ = ["BreakerRegistry", "StateName", "TierBreaker", "Listener", "ProbeFailed", "SlowCall"]

T = TypeVar("T")
StateName = Literal["closed", "open", "half_open"]
Listener = Callable[[str, str, str], Any]

_CLOSED = CircuitBreakerState.CLOSED
_OPEN = CircuitBreakerState.OPEN
_HALF_OPEN = CircuitBreakerState.HALF_OPEN
_NAMES: dict[CircuitBreakerState, StateName] = {_CLOSED: "closed", _OPEN: "open", _HALF_OPEN: "half_open"}

log = get_logger("zoho_mcp.breakers")


class ProbeFailed(Exception):
    """Stands in for the error of a failed health probe, which the breaker only sees as a bool."""


class SlowCall(Exception):
    """Stands in for the cause of a call abandoned for being too slow (see `TierBreaker.record_slow`)."""


class _Accounting(CircuitBreakerBaseState):
    """aiobreaker's outcome handling, minus the counter reset on excluded errors and the
    CircuitBreakerError raise, and applied only while this state object is still current."""

    _breaker: _Breaker

    def _handle_error(self, func: Any, exception: BaseException) -> None:
        br = self._breaker
        if br._state is self and br.is_system_error(exception):  # type: ignore[arg-type]
            self._record_failure(exception)
        raise exception

    def _record_failure(self, exception: BaseException) -> None:
        br = self._breaker
        br.last_failure = exception
        br._inc_counter()
        for listener in br._listeners:
            listener.failure(br, exception)
        self.on_failure(exception)  # type: ignore[arg-type]

    def _handle_success(self) -> None:
        br = self._breaker
        if br._state is not self:
            return
        self.on_success()
        for listener in br._listeners:
            listener.success(br)


class _Closed(_Accounting, CircuitClosedState):
    def on_success(self) -> None:
        self._breaker._state_storage.reset_counter()

    def on_failure(self, exception: Exception) -> None:
        br = self._breaker
        if br._state_storage.counter >= br.fail_max:
            br.open()


class _Open(_Accounting, CircuitOpenState):
    def before_call(self, func: Any, *args: Any, **kwargs: Any) -> None:
        br = self._breaker
        if not br.trial_due():
            raise CircuitOpenError(br.name, br.seconds_until_trial(), br.last_failure)

    def on_success(self) -> None:
        return None

    def on_failure(self, exception: Exception) -> None:
        return None


class _HalfOpen(_Accounting, CircuitHalfOpenState):
    def __init__(self, breaker: _Breaker, prev_state: Any = None, notify: bool = False) -> None:
        super().__init__(breaker, prev_state=prev_state, notify=notify)
        self.in_flight = 0
        self.successes = 0

    def on_success(self) -> None:
        self.successes += 1
        if self.successes >= self._breaker.success_threshold:
            self._breaker.close()

    def on_failure(self, exception: Exception) -> None:
        self._breaker.open()


_STATE_CLASSES: dict[CircuitBreakerState, type[_Accounting]] = {
    _CLOSED: _Closed,
    _OPEN: _Open,
    _HALF_OPEN: _HalfOpen,
}


class _Breaker(CircuitBreaker):
    """aiobreaker's CircuitBreaker on an injected monotonic clock, with listener-safe transitions."""

    _state: Any

    def __init__(
        self,
        name: str,
        *,
        fail_max: int,
        recovery_timeout: float,
        success_threshold: int,
        clock: Callable[[], float],
        listener: CircuitBreakerListener,
    ) -> None:
        self._clock = clock
        #: The last error that counted against this breaker (kept through open and half-open, so
        #: a refused call can name the real cause); cleared when the breaker closes.
        self.last_failure: BaseException | None = None
        self.recovery_timeout = float(recovery_timeout)
        self.success_threshold = success_threshold
        super().__init__(
            fail_max=fail_max,
            timeout_duration=timedelta(seconds=recovery_timeout),
            listeners=[listener],
            state_storage=CircuitMemoryStorage(_CLOSED),
            name=name,
        )

    def _create_new_state(self, new_state: CircuitBreakerState, prev_state: Any = None, notify: bool = False) -> Any:
        return _STATE_CLASSES[new_state](self, prev_state=prev_state, notify=notify)

    def is_system_error(self, exception: Exception) -> bool:
        return bool(getattr(exception, "counts_as_failure", True))

    # Storage first, then the cached state object, then listeners: a listener that reads the breaker
    # sees the new state (aiobreaker notifies before either is updated).
    def _transition(self, new: CircuitBreakerState) -> None:
        old = self._state
        storage = self._state_storage
        if new is _OPEN:
            storage.opened_at = self._clock()
        if new is _CLOSED:
            storage.reset_counter()
            self.last_failure = None
        storage.state = new
        self._state = self._create_new_state(new, prev_state=old, notify=False)
        for listener in self._listeners:
            listener.state_change(self, old, self._state)

    def open(self) -> None:
        self._transition(_OPEN)

    def half_open(self) -> None:
        self._transition(_HALF_OPEN)

    def close(self) -> None:
        self._transition(_CLOSED)

    def trial_due(self) -> bool:
        opened_at = self._state_storage.opened_at
        return opened_at is None or self._clock() >= opened_at + self.recovery_timeout

    def seconds_until_trial(self) -> float:
        opened_at = self._state_storage.opened_at
        if opened_at is None:
            return 0.0
        return max(0.0, opened_at + self.recovery_timeout - self._clock())

    @property
    def opens_at(self) -> float | None:  # type: ignore[override]
        """When the next trial is allowed, on the breaker's monotonic clock (None when due)."""
        if self._state.state is not _OPEN:
            return None
        due = self._state_storage.opened_at + self.recovery_timeout
        return due if due > self._clock() else None

    @property
    def time_until_open(self) -> timedelta | None:  # type: ignore[override]
        if self._state.state is not _OPEN:
            return None
        left = self.seconds_until_trial()
        return timedelta(seconds=left) if left > 0 else None


class _Bridge(CircuitBreakerListener):
    """The only aiobreaker listener: forwards state changes to the TierBreaker's events."""

    def __init__(self, owner: TierBreaker) -> None:
        self._owner = owner

    def state_change(self, breaker: Any, old: Any, new: Any) -> None:
        self._owner._emit(_NAMES[old.state] if old is not None else "closed", _NAMES[new.state])


class TierBreaker:
    """The breaker of one tier: admission, half-open permits, and state-change events."""

    __slots__ = ("name", "half_open_calls", "_cb", "_listeners", "_shared", "_metrics", "rejections", "epoch")

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 60.0,
        half_open_calls: int = 3,
        success_threshold: int = 2,
        clock: Callable[[], float] = time.monotonic,
        listeners: list[Listener] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`listeners` is read on every event, so a registry can share one list among its breakers."""
        if failure_threshold < 1 or half_open_calls < 1 or success_threshold < 1:
            raise ValueError("failure_threshold, half_open_calls and success_threshold must be >= 1")
        if recovery_timeout < 0:
            raise ValueError("recovery_timeout must be >= 0")
        self.name = name
        self.half_open_calls = half_open_calls
        self._listeners: list[Listener] = []
        self._shared: list[Listener] = listeners if listeners is not None else []
        self._metrics = metrics
        self.rejections = 0
        #: Bumped on every state change: evidence gathered under an older epoch (a health probe that
        #: started before the breaker opened) must not count as a trial of the new state.
        self.epoch = 0
        self._cb = _Breaker(
            name,
            fail_max=failure_threshold,
            recovery_timeout=recovery_timeout,
            success_threshold=success_threshold,
            clock=clock,
            listener=_Bridge(self),
        )
        if metrics is not None:
            metrics.set_breaker_state(name, "closed")

    # --- reading -------------------------------------------------------------------------------

    @property
    def state(self) -> StateName:
        """The current state; an open breaker whose recovery timeout has passed turns half-open
        here (and emits the event), so health and routing agree on what the next call will meet."""
        return _NAMES[self._current().state]

    @property
    def failure_count(self) -> int:
        return int(self._cb.fail_counter)

    @property
    def failure_threshold(self) -> int:
        return int(self._cb.fail_max)

    @property
    def recovery_timeout(self) -> float:
        return self._cb.recovery_timeout

    @property
    def success_threshold(self) -> int:
        return self._cb.success_threshold

    @property
    def aiobreaker(self) -> CircuitBreaker:
        """The underlying aiobreaker object (its `current_state`, `fail_counter`, `opens_at` are right)."""
        return self._cb

    @property
    def last_failure(self) -> BaseException | None:
        """The last error that counted against this breaker while it is not closed-and-clean."""
        return self._cb.last_failure

    def open_error(self) -> CircuitOpenError:
        """The error for a call refused now: when the next trial is due, and the real cause."""
        return CircuitOpenError(self.name, self.retry_in(), self._cb.last_failure)

    def retry_in(self) -> float | None:
        """Seconds until the next trial may run: None when closed, 0.0 when trials run now."""
        st = self._cb._state.state
        if st is _CLOSED:
            return None
        if st is _HALF_OPEN:
            return 0.0
        return self._cb.seconds_until_trial()

    def snapshot(self) -> dict[str, Any]:
        st = self._current()
        half = st.state is _HALF_OPEN
        return {
            "state": _NAMES[st.state],
            "failures": self.failure_count,
            "retry_in": self.retry_in(),
            "trials_in_flight": st.in_flight if half else 0,
            "trial_successes": st.successes if half else 0,
            "rejections": self.rejections,
        }

    # --- calling -------------------------------------------------------------------------------

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run `fn` through the breaker; raises the original error or `CircuitOpenError` (no call)."""
        st = self._cb._state
        if st.state is _CLOSED:
            return await st.call_async(fn, *args, **kwargs)  # type: ignore[no-any-return]
        st = self._current()
        if st.state is _OPEN:
            self.rejections += 1
            raise CircuitOpenError(self.name, self._cb.seconds_until_trial(), self._cb.last_failure)
        if st.state is _HALF_OPEN:
            if st.in_flight >= self.half_open_calls:
                self.rejections += 1
                raise CircuitOpenError(self.name, None, self._cb.last_failure)
            st.in_flight += 1
            try:
                return await st.call_async(fn, *args, **kwargs)  # type: ignore[no-any-return]
            finally:
                st.in_flight -= 1
        return await st.call_async(fn, *args, **kwargs)  # type: ignore[no-any-return]

    def record_probe(self, ok: bool, *, epoch: int | None = None, error: BaseException | None = None) -> None:
        """Count a health-probe outcome: a trial in half-open (success towards closing, failure
        reopens), a normal outcome when closed; ignored while open and not yet due, and ignored when
        `epoch` (read when the probe started) shows the state changed while it ran. `error` is the
        probe's own error, kept as the breaker's last failure (the cause callers are shown)."""
        st = self._current()
        if st.state is _OPEN or (epoch is not None and epoch != self.epoch):
            return
        if ok:
            st._handle_success()
        else:
            st._record_failure(error if error is not None else ProbeFailed(f"health probe of {self.name} failed"))

    def record_slow(self, *, epoch: int | None = None, error: BaseException | None = None) -> None:
        """Count a call that was abandoned (cancelled) after running longer than anything normal as a
        failure (Resilience4j's slow call): a hedged read's loser on a hung tier is otherwise only a
        cancellation, which counts as nothing, so the tier's circuit never opened. Same rules as a
        failed probe: a failure when closed, a failed trial (reopen) when half-open, ignored while open
        or when `epoch` (read when the call started) shows the state changed since."""
        self.record_probe(False, epoch=epoch, error=error if error is not None else SlowCall(f"{self.name} call too slow"))

    # --- manual control ------------------------------------------------------------------------

    def force_open(self) -> None:
        self._cb.open()

    def reset(self) -> None:
        """Back to closed with a zero failure count (tests, operator action)."""
        if self._cb._state.state is _CLOSED:
            self._cb._state_storage.reset_counter()
        else:
            self._cb.close()

    # --- events --------------------------------------------------------------------------------

    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        self._listeners.remove(fn)

    def _current(self) -> Any:
        cb = self._cb
        st = cb._state
        if st.state is _OPEN and cb.trial_due():
            cb.half_open()
            st = cb._state
        return st

    def _emit(self, old: str, new: str) -> None:
        self.epoch += 1
        retry_in = self.retry_in()
        if new == "open":
            log.warning("circuit_opened", tier=self.name, old=old, new=new, failures=self.failure_count, retry_in=retry_in)
        else:
            log.info("circuit_state_change", tier=self.name, old=old, new=new)
        if self._metrics is not None:
            try:
                self._metrics.breaker_transition(self.name, old, new)
            except Exception as exc:  # metrics must never break a call
                log.error("circuit_metrics_failed", tier=self.name, error=exc)
        for fn in (*self._shared, *self._listeners):
            try:
                result = fn(self.name, old, new)
            except Exception as exc:
                log.error("circuit_listener_failed", tier=self.name, listener=_fn_name(fn), error=exc)
                continue
            if inspect.iscoroutine(result):  # cannot be awaited here; close it so it never leaks
                result.close()
                log.error("circuit_listener_is_async", tier=self.name, listener=_fn_name(fn))


def _fn_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


class BreakerRegistry:
    """One TierBreaker per tier, with shared settings and shared listeners `fn(name, old, new)`."""

    def __init__(
        self,
        names: Iterable[str],
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 60.0,
        half_open_calls: int = 3,
        success_threshold: int = 2,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self._listeners: list[Listener] = []
        self._breakers: dict[str, TierBreaker] = {
            name: TierBreaker(
                name,
                failure_threshold=failure_threshold,
                recovery_timeout=recovery_timeout,
                half_open_calls=half_open_calls,
                success_threshold=success_threshold,
                clock=clock,
                listeners=self._listeners,
                metrics=metrics,
            )
            for name in names
        }

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        names: Iterable[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> BreakerRegistry:
        return cls(
            names,
            failure_threshold=settings.breaker_failure_threshold,
            recovery_timeout=settings.breaker_recovery_timeout,
            half_open_calls=settings.breaker_half_open_calls,
            success_threshold=settings.breaker_success_threshold,
            clock=clock,
            metrics=metrics,
        )

    def __getitem__(self, name: str) -> TierBreaker:
        return self._breakers[name]

    def __contains__(self, name: object) -> bool:
        return name in self._breakers

    def __iter__(self) -> Iterator[str]:
        return iter(self._breakers)

    def __len__(self) -> int:
        return len(self._breakers)

    def items(self) -> Iterable[tuple[str, TierBreaker]]:
        return self._breakers.items()

    @property
    def names(self) -> list[str]:
        return list(self._breakers)

    def add_listener(self, fn: Listener) -> None:
        """`fn(name, old, new)` on every state change of any breaker; sync, errors are logged."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        self._listeners.remove(fn)

    def states(self) -> dict[str, StateName]:
        return {name: b.state for name, b in self._breakers.items()}
