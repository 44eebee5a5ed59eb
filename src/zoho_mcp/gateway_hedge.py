"""Hedged reads: when the tier being waited on is slow, ask the next tier too and keep the first answer.

The main line walks the plan exactly like plain failover (so an error before the hedge delay fails
over at once). Beside each attempt a timer waits the hedge delay (the tier's p95, bounded); if it
fires first, the next tier of the plan starts in parallel. The first success cancels the others
(the breaker sees a cancellation as nothing, but a loser that had already run the hedge ceiling is
a slow call: a failure of its tier, see `ZohoGateway.note_hedge_loser`). At most `MAX_HEDGES` extra tiers start per read.

Cost matters: nearly every read finishes before its timer, so the fast path is one task group, one
cancel scope and, on asyncio with the real sleep, a loop timer (`call_later`) rather than a timer
task. With an injected sleep (tests) the timer is a task sleeping on it, so tests stay deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from anyio import CancelScope
from anyio.abc import TaskGroup

from zoho_mcp.resilience.errors import AllTiersFailed
from zoho_mcp.tiers.base import Operation, Result

if TYPE_CHECKING:
    from zoho_mcp.gateway import ZohoGateway

#: Extra tiers one read may start in parallel (Polly's MaxHedgedAttempts default).
MAX_HEDGES = 1


def fails_over(exc: BaseException) -> bool:
    """Business answers go back as they are; every other failure moves on to the next tier."""
    return bool(getattr(exc, "fails_over", True))


async def execute_hedged(gateway: ZohoGateway, op: Operation, order: list[str]) -> Result:
    race = _Race(gateway, op, order)
    async with anyio.create_task_group() as tg:
        race.tg = tg
        try:
            with race.main_scope:
                await race.main_line()
        finally:
            race.closed = True
            race.stop_others(None)
    if race.has_result:
        return race.result  # type: ignore[return-value]
    if race.error is not None:
        raise race.error
    raise AllTiersFailed({name: race.causes[name] for name in order if name in race.causes})


class _Race:
    __slots__ = (
        "gw",
        "op",
        "order",
        "tg",
        "main_scope",
        "timer_cancel",
        "timer_id",
        "hedge_scopes",
        "causes",
        "started",
        "done",
        "hedges_left",
        "has_result",
        "result",
        "error",
        "closed",
    )

    def __init__(self, gateway: ZohoGateway, op: Operation, order: list[str]) -> None:
        self.gw = gateway
        self.op = op
        self.order = order
        self.tg: TaskGroup | None = None
        self.main_scope = CancelScope()
        self.timer_cancel: Callable[[], object] | None = None
        self.timer_id = 0
        self.hedge_scopes: dict[str, CancelScope] = {}
        self.causes: dict[str, BaseException] = {}
        self.started: set[str] = set()
        self.done: dict[str, anyio.Event] = {}
        self.hedges_left = MAX_HEDGES
        self.has_result = False
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.closed = False

    # --- outcomes ------------------------------------------------------------------------------------

    def _finish(self, result: Result | None, error: BaseException | None, *, hedge: str | None) -> None:
        if self.has_result or self.error is not None:
            return
        if error is None:
            self.has_result = True
            self.result = result
        else:
            self.error = error
        self.stop_others(hedge)
        if hedge is not None:
            self.main_scope.cancel()

    def _lost(self, name: str, start: float, epoch: int) -> None:
        """Cancelled because another tier decided the race (not because our caller went away)."""
        if self.has_result or self.error is not None:
            self.gw.note_hedge_loser(name, start, epoch)

    def stop_others(self, keep: str | None) -> None:
        """Cancel the hedge timer and every hedge still running (but `keep`, the one finishing)."""
        if self.timer_cancel is not None:
            self.timer_cancel()
            self.timer_cancel = None
        for name, scope in self.hedge_scopes.items():
            if name != keep:
                scope.cancel()

    def _skip_open(self, name: str) -> bool:
        breaker = self.gw.breakers[name]
        if breaker.state != "open":
            return False
        self.gw.metrics.rejected(name)
        self.causes[name] = breaker.open_error()
        return True

    def _next_candidate(self, index: int) -> str | None:
        for name in self.order[index + 1 :]:
            if name in self.causes or name in self.started:
                continue
            if self._skip_open(name):
                continue
            return name
        return None

    # --- the main line: plain failover over the plan ---------------------------------------------------

    async def main_line(self) -> None:
        gw = self.gw
        order = self.order
        last = len(order) - 1
        for index, name in enumerate(order):
            if name in self.causes:
                continue
            if name in self.started:  # already running as a hedge: wait for it
                await self.done[name].wait()
                continue
            if self._skip_open(name):
                continue
            if self.hedges_left > 0 and index < last:
                self.timer_cancel = self._arm(name, index)
            self.started.add(name)
            start, epoch = gw._clock(), gw.breakers[name].epoch
            try:
                result = await gw.attempt(name, self.op)
            except anyio.get_cancelled_exc_class():
                self._lost(name, start, epoch)
                raise
            except Exception as exc:
                if self.timer_cancel is not None:
                    self.timer_cancel()
                    self.timer_cancel = None
                if not fails_over(exc):
                    self._finish(None, exc, hedge=None)
                    return
                self.causes[name] = exc
                following = next((n for n in order[index + 1 :] if n not in self.causes), None)
                if following is not None:
                    gw._note_failover(name, following, exc)
                continue
            self._finish(result, None, hedge=None)
            return

    # --- the hedge ----------------------------------------------------------------------------------

    def _arm(self, name: str, index: int) -> Callable[[], object]:
        delay = self.gw.hedge_delay(name)
        self.timer_id += 1
        timer_id = self.timer_id
        if self.gw.native_timers:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                return loop.call_later(delay, self._fire, index, timer_id).cancel
        scope = CancelScope()
        assert self.tg is not None
        self.tg.start_soon(self._sleep_then_fire, delay, index, timer_id, scope)
        return scope.cancel

    async def _sleep_then_fire(self, delay: float, index: int, timer_id: int, scope: CancelScope) -> None:
        with scope:
            await self.gw._sleep(delay)
            self._fire(index, timer_id)

    def _fire(self, index: int, timer_id: int) -> None:
        """The tier at `index` did not answer within its hedge delay: start the next one beside it."""
        if self.closed or self.timer_cancel is None or timer_id != self.timer_id:
            return  # this timer was cancelled (its tier answered) after it had already expired
        self.timer_cancel = None
        if self.has_result or self.error is not None or self.hedges_left <= 0:
            return
        hedge = self._next_candidate(index)
        if hedge is None:
            return
        self.hedges_left -= 1
        self.started.add(hedge)
        self.done[hedge] = anyio.Event()
        scope = self.hedge_scopes[hedge] = CancelScope()
        self.gw.metrics.hedge(hedge)
        assert self.tg is not None
        self.tg.start_soon(self._run_hedge, hedge, scope)

    async def _run_hedge(self, name: str, scope: CancelScope) -> None:
        gw = self.gw
        start, epoch = gw._clock(), gw.breakers[name].epoch
        try:
            with scope:
                try:
                    result = await gw.attempt(name, self.op)
                except anyio.get_cancelled_exc_class():
                    self._lost(name, start, epoch)
                    raise
                except Exception as exc:
                    if fails_over(exc):
                        self.causes[name] = exc
                    else:
                        self._finish(None, exc, hedge=name)
                else:
                    self._finish(result, None, hedge=name)
        finally:
            self.done[name].set()
