"""Test doubles of our own Tier protocol, scripted step by step, plus a fake clock and sleep.

Shared by the gateway unit tests (this module has no tests of its own). Each FakeTier call takes
the next step of its script (the last step repeats): a result, an error to raise, or a gate (an
anyio.Event) to wait for first. Executions and cancellations are counted, so a test can prove that
a write was sent once, or that the loser of a hedge was cancelled.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import structlog

from zoho_mcp.config import Settings
from zoho_mcp.gateway import ZohoGateway
from zoho_mcp.resilience.metrics import Metrics
from zoho_mcp.tiers.base import (
    GetRecords,
    GetResult,
    Operation,
    Probe,
    ProbeResult,
    Result,
    SearchRecords,
    SearchResult,
    PageInfo,
    UpdateRecords,
    UpdateResult,
    WriteResult,
)

ID = "4876876000000624001"
SECRET = "fake-client-secret-do-not-leak-1234"
REFRESH = "1000.fakerefresh.do-not-leak"


@pytest.fixture(autouse=True)
def fresh_logging() -> Any:
    """Log to this test's own output: another test may have left structlog on a stream pytest closed."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSleep:
    """Records every sleep. Zero sleeps (retry backoff) return at once; longer ones (the hedge
    timer, the health interval) wait until the test calls `fire()` (or forever)."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._gate = anyio.Event()
        self.waiting = 0
        self.called = anyio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.called.set()
        if delay <= 0:
            await anyio.lowlevel.checkpoint()
            return
        self.waiting += 1
        try:
            await self._gate.wait()
        finally:
            self.waiting -= 1

    def fire(self) -> None:
        """Let every pending (and the next) long sleep end now."""
        self._gate.set()
        self._gate = anyio.Event()

    def fire_all(self) -> None:
        """From now on every long sleep ends at once."""
        self._gate.set()


class Gate:
    """A step that blocks until released; `entered` tells the test the tier is inside the call."""

    def __init__(self, then: Any = None) -> None:
        self.entered = anyio.Event()
        self.release = anyio.Event()
        self.then = then


Step = Any  # Result | BaseException | Gate | Callable[[Operation], Awaitable[Result]]


def answer(tier: str, op: Operation) -> Result:
    if isinstance(op, GetRecords):
        return GetResult(records=[{"id": i, "answered_by": tier} for i in op.ids])
    if isinstance(op, SearchRecords):
        return SearchResult(
            records=[{"id": ID, "answered_by": tier}], page=PageInfo(page=1, per_page=op.per_page, count=1, more_records=False)
        )
    if isinstance(op, UpdateRecords):
        return UpdateResult(
            results=[WriteResult(id=str(r["id"]), status="success", code="SUCCESS", message=tier) for r in op.records]
        )
    assert isinstance(op, Probe)
    return ProbeResult(ok=True, detail=tier)


class FakeTier:
    def __init__(self, name: str, *steps: Step) -> None:
        self.name = name
        self.steps: list[Step] = list(steps)
        self.calls = 0
        self.probes = 0
        self.cancelled = 0
        self.closed = False
        self.last_credits_remaining: int | None = None
        self.probe_error: BaseException | None = None
        self.probe_gate: Gate | None = None

    def script(self, *steps: Step) -> None:
        self.steps = list(steps)

    async def execute(self, op: Operation) -> Result:
        if isinstance(op, Probe):
            self.probes += 1
            if self.probe_gate is not None:
                self.probe_gate.entered.set()
                await self.probe_gate.release.wait()
            if self.probe_error is not None:
                raise self.probe_error
            return answer(self.name, op)
        self.calls += 1
        step: Step = None
        if self.steps:
            step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        try:
            return await self._run(step, op)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise

    async def _run(self, step: Step, op: Operation) -> Result:
        if isinstance(step, Gate):
            step.entered.set()
            await step.release.wait()
            return await self._run(step.then, op)
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return await step(op)
        await anyio.lowlevel.checkpoint()
        if step is None:
            return answer(self.name, op)
        return step

    async def aclose(self) -> None:
        self.closed = True


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "client_id": "1000.FAKECLIENT",
        "client_secret": SECRET,
        "refresh_token": REFRESH,
        "mcp_url": "http://127.0.0.1:9/mcp/secret-mcp-key-0000/message",
        "retry_base_delay": 0.0,
        "retry_max_delay": 0.0,
        "retry_jitter": False,
        "retry_max_attempts": 3,
        "breaker_failure_threshold": 5,
        "breaker_recovery_timeout": 60.0,
        "breaker_half_open_calls": 1,
        "breaker_success_threshold": 2,
        "hedge_enabled": True,
        "hedge_min_delay": 0.05,
        "hedge_max_delay": 2.0,
        "health_check_interval": 30.0,
        "health_check_timeout": 10.0,
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


def make_gateway(
    tiers: dict[str, FakeTier],
    *,
    clock: FakeClock | None = None,
    sleep: FakeSleep | None = None,
    **overrides: Any,
) -> tuple[ZohoGateway, FakeClock, FakeSleep]:
    clock = clock or FakeClock()
    sleep = sleep or FakeSleep()
    gw = ZohoGateway(settings(**overrides), tiers, clock=clock, sleep=sleep, rng=lambda: 0.5, metrics=Metrics())
    return gw, clock, sleep


def three(*, mcp: tuple[Step, ...] = (), sdk: tuple[Step, ...] = (), rest: tuple[Step, ...] = ()) -> dict[str, FakeTier]:
    return {"mcp": FakeTier("mcp", *mcp), "sdk": FakeTier("sdk", *sdk), "rest": FakeTier("rest", *rest)}


def metric(gw: ZohoGateway, name: str, **labels: str) -> float:
    value = gw.metrics.registry.get_sample_value(f"zoho_mcp_{name}_total", labels)
    return value or 0.0


def who(result: Result) -> str:
    assert isinstance(result, (GetResult, SearchResult))
    return str(result.records[0]["answered_by"])

