"""Zoho's per-org limits, kept on our side so this process never causes a 429 by itself.

Zoho counts concurrency per org and app across every surface (hosted MCP, SDK and REST all spend the
same allowance), so one limiter is shared by all tiers:

- in-flight calls ≤ `concurrency` (the edition's limit), and heavy calls (writes of more than 10
  records, Zoho's "sub-concurrency" class) additionally ≤ 10. A heavy call takes its heavy slot
  first, so heavy calls queueing for each other never hold a general slot;
- credits in a rolling 24 h window, in one-minute buckets (cheap, bounded memory). Costs follow
  Zoho: 1 per call; writes 1 per 10 records (at least 1). Credits are charged when the call is let
  through (Zoho may charge even when the response is lost) and never refunded.

The limiter reports credits but does not refuse calls when its count says none are left: Zoho is the
authority (other clients of the org spend the same credits), and its 429 goes through the normal
error path. `observe_remaining(n)` re-bases the count on Zoho's `X-API-CREDITS-REMAINING` header.

A call we give up on (timeout, cancellation, hedge loser) is not over for Zoho: it keeps processing
the request, and it counts against the org's concurrency until it does. Freeing its slot at once
would let the failover send more than Zoho allows and meet 429s. `slot.abandon(seconds)` (or
`limiter.linger(...)`) keeps such a slot reserved for a while without making the caller wait; it is
given back by a timer on the event loop (and, as a backstop, by any acquire or snapshot once due).
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import anyio

__all__ = ["ZohoLimiter", "Slot", "credits_for", "is_heavy", "HEAVY_RECORDS", "HEAVY_CONCURRENCY"]

#: Writes of more than this many records are "heavy" for Zoho.
HEAVY_RECORDS = 10
#: Zoho's sub-concurrency for heavy calls, the same in every edition.
HEAVY_CONCURRENCY = 10
#: Writes cost one credit per this many records.
RECORDS_PER_CREDIT = 10

_DAY = 86_400.0
_BUCKET = 60.0
_WRITE_KINDS = frozenset({"write", "update", "insert", "upsert", "create", "delete"})


def credits_for(kind: str, record_count: int = 0) -> int:
    """Credits one Zoho call costs: writes 1 per 10 records (min 1), everything else 1."""
    if kind in _WRITE_KINDS:
        return max(1, math.ceil(record_count / RECORDS_PER_CREDIT))
    return 1


def is_heavy(kind: str, record_count: int = 0) -> bool:
    """Whether Zoho counts the call against its sub-concurrency (writes of more than 10 records)."""
    return kind in _WRITE_KINDS and record_count > HEAVY_RECORDS


class _Slot:
    """`async with limiter.acquire(...)`: one in-flight slot (and a heavy one if asked).

    Given back on exit, by `release()`, or after a linger by `abandon(seconds)`: whichever comes
    first; the others then do nothing.
    """

    __slots__ = ("_limiter", "_credits", "_heavy", "_timeout", "_held")

    def __init__(self, limiter: ZohoLimiter, credits: int, heavy: bool, timeout: float | None) -> None:
        self._limiter = limiter
        self._credits = credits
        self._heavy = heavy
        self._timeout = timeout
        self._held = False

    async def __aenter__(self) -> _Slot:
        lim = self._limiter
        if lim._lingering:
            lim.release_due()
        if self._timeout is not None and (lim._sem.value == 0 or (self._heavy and lim._heavy_sem.value == 0)):
            # Only a call that would queue pays for a cancel scope: the fast path stays a few µs.
            with anyio.fail_after(self._timeout):
                await self._take(lim)
        else:
            await self._take(lim)
        self._held = True
        lim._in_flight += 1
        lim._charge(self._credits)
        return self

    async def _take(self, lim: ZohoLimiter) -> None:
        if self._heavy:
            await lim._heavy_sem.acquire()
            try:
                await lim._sem.acquire()
            except BaseException:
                lim._heavy_sem.release()
                raise
            lim._heavy_in_flight += 1
        else:
            await lim._sem.acquire()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def release(self) -> None:
        """Give the slot back now: the call is over for Zoho too (it answered, or never got it)."""
        if not self._held:
            return
        self._held = False
        lim = self._limiter
        lim._in_flight -= 1
        lim._sem.release()
        if self._heavy:
            lim._heavy_in_flight -= 1
            lim._heavy_sem.release()

    def abandon(self, linger: float) -> None:
        """We stopped waiting (timeout, cancellation) but Zoho may still be processing the call:
        the slot leaves `in_flight` and stays reserved `linger` more seconds (0: given back now)."""
        if not self._held:
            return
        self._held = False
        lim = self._limiter
        lim._in_flight -= 1
        if self._heavy:
            lim._heavy_in_flight -= 1
        lim.linger(linger, heavy=self._heavy)


Slot = _Slot


class ZohoLimiter:
    """Concurrency and credits for one Zoho org, shared by all tiers."""

    credits_for = staticmethod(credits_for)
    is_heavy = staticmethod(is_heavy)

    def __init__(
        self,
        concurrency: int,
        daily_credits: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        heavy_concurrency: int = HEAVY_CONCURRENCY,
        low_fraction: float = 0.1,
    ) -> None:
        if concurrency < 1 or heavy_concurrency < 1 or daily_credits < 0:
            raise ValueError("concurrency must be >= 1 and daily_credits >= 0")
        self.concurrency = concurrency
        self.heavy_concurrency = min(heavy_concurrency, concurrency)
        self.daily_credits = daily_credits
        self.low_fraction = low_fraction
        self._clock = clock
        self._sem = anyio.Semaphore(concurrency, fast_acquire=True)
        self._heavy_sem = anyio.Semaphore(self.heavy_concurrency, fast_acquire=True)
        self._in_flight = 0
        self._heavy_in_flight = 0
        self._n = int(_DAY // _BUCKET)
        self._buckets = [0] * self._n
        self._head = int(clock() // _BUCKET)
        self._window_total = 0
        self._lifetime = 0
        self._observed: tuple[float, int, int] | None = None
        #: Slots of abandoned calls: a heap of (release time on `clock`, sequence, heavy).
        self._lingering: list[tuple[float, int, bool]] = []
        self._linger_seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def acquire(self, credits: int = 1, *, heavy: bool = False, timeout: float | None = None) -> _Slot:
        """`async with limiter.acquire(credits=n, heavy=..., timeout=s) as slot`: wait for a slot (at
        most `timeout` seconds, else TimeoutError and nothing charged), then charge `credits`."""
        return _Slot(self, credits, heavy, timeout)

    # --- lingering slots of abandoned calls -------------------------------------------------------

    def linger(self, seconds: float, *, heavy: bool = False) -> None:
        """Take over one slot the caller holds (a heavy one too if `heavy`) and is done with, but
        that Zoho may still be using: it is given back `seconds` from now, without blocking anyone.

        The caller must no longer count it as in flight; `_Slot.abandon` does both.
        """
        if not seconds > 0:  # 0 (linger disabled) and NaN: give it back now
            self._give_back(heavy)
            return
        deadline = self._clock() + seconds
        self._linger_seq += 1
        heapq.heappush(self._lingering, (deadline, self._linger_seq, heavy))
        self._arm(deadline)

    def release_due(self) -> int:
        """Give back every lingering slot whose time has come; returns how many (the timer calls it)."""
        heap = self._lingering
        if not heap:
            return 0
        now = self._clock()
        n = 0
        while heap and heap[0][0] <= now:
            _, _, heavy = heapq.heappop(heap)
            self._give_back(heavy)
            n += 1
        if heap:
            self._arm(heap[0][0])
        return n

    def _give_back(self, heavy: bool) -> None:
        self._sem.release()
        if heavy:
            self._heavy_sem.release()

    def _arm(self, deadline: float) -> None:
        """One event-loop timer, for the earliest release: waiters queued for a slot are woken
        when a lingering one frees up, even if nothing else happens. Without a running asyncio loop
        there is no timer, and due slots are given back at the next acquire or snapshot."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None:
            if self._timer_loop is loop and self._timer_at <= deadline:
                return
            self._timer.cancel()
        # At least 1 ms: a timer that fires a hair early re-arms without spinning.
        delay = max(deadline - self._clock(), 0.001)
        self._timer = loop.call_later(delay, self._on_timer)
        self._timer_at = deadline
        self._timer_loop = loop

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        self._timer_loop = None
        self.release_due()

    @property
    def lingering(self) -> int:
        """Slots still reserved for abandoned calls (not in `in_flight`, not free either)."""
        if self._lingering:
            self.release_due()
        return len(self._lingering)

    # --- credits -------------------------------------------------------------------------------

    def _advance(self) -> None:
        idx = int(self._clock() // _BUCKET)
        head = self._head
        if idx <= head:
            return
        if idx - head >= self._n:
            self._buckets = [0] * self._n
            self._window_total = 0
        else:
            buckets = self._buckets
            for k in range(head + 1, idx + 1):
                slot = k % self._n
                self._window_total -= buckets[slot]
                buckets[slot] = 0
        self._head = idx

    def _charge(self, credits: int) -> None:
        if credits <= 0:
            return
        self._advance()
        self._buckets[self._head % self._n] += credits
        self._window_total += credits
        self._lifetime += credits

    def charge(self, credits: int) -> None:
        """Count credits spent outside `acquire` (e.g. extra pages of one logical call)."""
        self._charge(credits)

    def observe_remaining(self, remaining: int) -> None:
        """Zoho's `X-API-CREDITS-REMAINING`: from now on, remaining = this minus what we spend."""
        if remaining < 0:
            return
        self._observed = (self._clock(), int(remaining), self._lifetime)

    def credits_remaining(self) -> int:
        obs = self._observed
        if obs is not None and self._clock() - obs[0] < _DAY:
            return max(0, obs[1] - (self._lifetime - obs[2]))
        self._advance()
        return max(0, self.daily_credits - self._window_total)

    def credits_used(self) -> int:
        obs = self._observed
        if obs is not None and self._clock() - obs[0] < _DAY:
            return max(0, self.daily_credits - self.credits_remaining())
        self._advance()
        return self._window_total

    # --- reading -------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def heavy_in_flight(self) -> int:
        return self._heavy_in_flight

    def snapshot(self) -> dict[str, Any]:
        remaining = self.credits_remaining()
        return {
            "in_flight": self._in_flight,
            "lingering": self.lingering,
            "limit": self.concurrency,
            "credits_used": self.credits_used(),
            "credits_remaining": remaining,
            "credits_low": remaining < self.low_fraction * self.daily_credits,
        }
