"""Latency percentiles, per-tier stats for zoho://health, and the probe loop."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import anyio
import pytest

from zoho_mcp.resilience.errors import CategorizedError, ErrorCategory
from zoho_mcp.resilience.health import HealthMonitor, LatencyWindow, ProbeOutcome, TierStats


class Down(CategorizedError):
    category = ErrorCategory.TRANSIENT


class Answer(CategorizedError):
    category = ErrorCategory.BUSINESS


# --- LatencyWindow -----------------------------------------------------------------------------


def test_percentiles_nearest_rank() -> None:
    w = LatencyWindow(size=1000)
    for ms in range(100, 0, -1):
        w.add(ms / 1000)
    assert w.p50 == pytest.approx(0.050)
    assert w.p95 == pytest.approx(0.095)
    assert w.p99 == pytest.approx(0.099)
    assert w.percentile(100) == pytest.approx(0.100)
    assert w.percentiles_ms() == {"p50": 50.0, "p95": 95.0, "p99": 99.0}


def test_window_keeps_only_the_last_samples() -> None:
    w = LatencyWindow(size=10)
    for i in range(20):
        w.add(float(i))
    assert len(w) == 10
    assert w.percentile(1) == 10.0
    assert w.p99 == 19.0


def test_empty_window_reports_none() -> None:
    w = LatencyWindow()
    assert w.p50 is None
    assert w.percentiles() == {"p50": None, "p95": None, "p99": None}
    assert w.percentiles_ms() == {"p50": None, "p95": None, "p99": None}
    w.add(0.002)
    assert w.percentiles_ms() == {"p50": 2.0, "p95": 2.0, "p99": 2.0}
    w.clear()
    assert len(w) == 0
    with pytest.raises(ValueError):
        LatencyWindow(0)


# --- TierStats ---------------------------------------------------------------------------------


def test_snapshot_has_exactly_the_health_fields() -> None:
    stats = TierStats()
    snap = stats.snapshot()
    assert snap == {
        "requests": 0,
        "successes": 0,
        "failures": 0,
        "success_rate": 1.0,
        "latency_ms": {"p50": None, "p95": None, "p99": None},
        "errors_by_category": {},
        "last_check": None,
        "healthy": True,
    }
    json.dumps(snap)


def test_record_counts_outcomes_categories_and_latency() -> None:
    stats = TierStats()
    stats.record(0.010, True)
    stats.record(0.020, True)
    stats.record(0.030, False, ErrorCategory.TRANSIENT)
    stats.record(0.040, True, "business")  # an answer: a success of the tier, still tallied
    stats.record(0.050, False)
    snap = stats.snapshot()
    assert (snap["requests"], snap["successes"], snap["failures"]) == (5, 3, 2)
    assert snap["success_rate"] == 0.6
    assert snap["errors_by_category"] == {"transient": 1, "business": 1, "unknown": 1}
    assert snap["latency_ms"] == {"p50": 30.0, "p95": 50.0, "p99": 50.0}
    json.dumps(snap)


def test_last_check_is_iso_utc_and_failed_probe_makes_unhealthy() -> None:
    when = datetime(2026, 11, 30, 5, 0, 1, tzinfo=timezone(timedelta(hours=9)))
    stats = TierStats(now=lambda: when)
    stats.record_check(False, Down("unreachable"))
    snap = stats.snapshot()
    assert snap["last_check"] == "2026-11-29T20:00:01Z"
    assert datetime.fromisoformat(snap["last_check"].replace("Z", "+00:00")) == when
    assert snap["healthy"] is False
    assert stats.last_check_error == "Down"
    stats.record_check(True)
    assert stats.snapshot()["healthy"] is True


def test_real_clock_last_check_is_utc() -> None:
    stats = TierStats()
    stats.record_check(True)
    stamp = stats.snapshot()["last_check"]
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs(parsed - datetime.now(UTC)) < timedelta(minutes=1)


def test_consecutive_call_failures_make_unhealthy_until_a_success() -> None:
    stats = TierStats(unhealthy_after=3)
    for _ in range(7):  # enough recent successes that three failures are a streak, not most calls
        stats.record(0.1, True)
    for _ in range(2):
        stats.record(0.1, False, ErrorCategory.TRANSIENT)
    assert stats.healthy
    stats.record(0.1, False, ErrorCategory.TRANSIENT)
    assert not stats.healthy
    stats.record(0.1, True)
    assert stats.healthy


# --- HealthMonitor -----------------------------------------------------------------------------


class Ticks:
    """A clock that moves 0.25 s each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


@pytest.mark.anyio
async def test_check_once_reports_every_tier() -> None:
    async def fine() -> str:
        return "pong"

    async def down() -> None:
        raise Down("503")

    async def answer() -> None:
        raise Answer("no such module")

    async def hangs() -> None:
        await anyio.sleep_forever()

    reports: list[tuple[str, bool, float, str | None]] = []
    monitor = HealthMonitor(
        {"mcp": fine, "sdk": down, "rest": answer, "slow": hangs},
        interval=30,
        timeout=0.01,
        on_result=lambda n, ok, lat, err: reports.append((n, ok, lat, type(err).__name__ if err else None)),
    )
    results = await monitor.check_once()
    assert list(results) == ["mcp", "sdk", "rest", "slow"]
    assert results["mcp"].ok and results["mcp"].error is None
    assert not results["sdk"].ok and isinstance(results["sdk"].error, Down)
    assert results["rest"].ok and isinstance(results["rest"].error, Answer)  # the service answered
    assert not results["slow"].ok and isinstance(results["slow"].error, TimeoutError)
    assert "timed out" in str(results["slow"].error)
    assert sorted((n, ok, e) for n, ok, _, e in reports) == [
        ("mcp", True, None),
        ("rest", True, "Answer"),
        ("sdk", False, "Down"),
        ("slow", False, "TimeoutError"),
    ]
    assert monitor.last == results and monitor.rounds == 1


@pytest.mark.anyio
async def test_latency_comes_from_the_injected_clock() -> None:
    async def fine() -> None:
        return None

    monitor = HealthMonitor({"sdk": fine}, interval=1, timeout=1, clock=Ticks())
    result = (await monitor.check_once())["sdk"]
    assert result == ProbeOutcome("sdk", True, 0.25, None)


@pytest.mark.anyio
async def test_probes_run_concurrently() -> None:
    gate = anyio.Event()
    order: list[str] = []

    async def waits() -> None:
        await gate.wait()
        order.append("waits")

    async def opens() -> None:
        order.append("opens")
        gate.set()

    monitor = HealthMonitor({"a": waits, "b": opens}, interval=1, timeout=5)
    with anyio.fail_after(5):
        results = await monitor.check_once()
    assert order == ["opens", "waits"]
    assert all(r.ok for r in results.values())


@pytest.mark.anyio
async def test_on_result_errors_are_contained_and_async_callbacks_awaited() -> None:
    async def fine() -> None:
        return None

    seen: list[str] = []

    def bad(name: str, ok: bool, latency: float, error: BaseException | None) -> None:
        raise RuntimeError("callback bug")

    monitor = HealthMonitor({"a": fine, "b": fine}, interval=1, timeout=1, on_result=bad)
    results = await monitor.check_once()
    assert all(r.ok for r in results.values())

    async def good(name: str, ok: bool, latency: float, error: BaseException | None) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(name)

    monitor = HealthMonitor({"a": fine, "b": fine}, interval=1, timeout=1, on_result=good)
    await monitor.check_once()
    assert sorted(seen) == ["a", "b"]


class StopLoop(Exception):
    pass


@pytest.mark.anyio
@pytest.mark.parametrize("immediate", [True, False])
async def test_run_probes_every_interval(immediate: bool) -> None:
    calls = 0
    sleeps: list[float] = []
    log: list[str] = []

    async def probe() -> None:
        nonlocal calls
        calls += 1
        log.append("probe")

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        log.append("sleep")
        if len(sleeps) == 3:
            raise StopLoop

    monitor = HealthMonitor({"sdk": probe}, interval=30, timeout=10, sleep=sleep, immediate=immediate)
    with pytest.raises(StopLoop):
        await monitor.run()
    assert sleeps == [30, 30, 30]
    if immediate:
        assert log == ["probe", "sleep", "probe", "sleep", "probe", "sleep"]
    else:
        assert log == ["sleep", "probe", "sleep", "probe", "sleep"]


@pytest.mark.anyio
async def test_run_stops_when_cancelled() -> None:
    rounds = anyio.Event()
    count = 0

    async def probe() -> None:
        nonlocal count
        count += 1
        if count == 2:
            rounds.set()

    async def sleep(seconds: float) -> None:
        await anyio.lowlevel.checkpoint()

    monitor = HealthMonitor({"sdk": probe}, interval=30, timeout=10, sleep=sleep)
    async with anyio.create_task_group() as tg:
        tg.start_soon(monitor.run)
        await rounds.wait()
        tg.cancel_scope.cancel()
    assert monitor.rounds >= 1


def test_monitor_parameters_are_validated() -> None:
    with pytest.raises(ValueError):
        HealthMonitor({}, interval=0, timeout=1)
    with pytest.raises(ValueError):
        HealthMonitor({}, interval=1, timeout=0)


def test_recent_calls_mostly_failing_make_unhealthy() -> None:
    """UAT: REST had failed 3 of its last 4 calls and still said healthy. Unhealthy when at least half
    of the last 10 calls failed and at least 3 did; a few failures among successes are not."""
    stats = TierStats(unhealthy_after=5)
    for ok in (False, True, False, False):
        stats.record(0.1, ok, None if ok else ErrorCategory.TRANSIENT)
    assert stats.consecutive_failures == 2 and not stats.healthy
    quiet = TierStats()
    for ok in (False, True, False):  # two failures: not yet a pattern
        quiet.record(0.1, ok, None if ok else ErrorCategory.TRANSIENT)
    assert quiet.healthy
    for _ in range(6):
        stats.record(0.1, True)
    assert stats.recent_failures == 3 and stats.healthy  # 3 of the last 10: recovered


def test_successful_probe_clears_failure_streak_and_recent_failures() -> None:
    """UAT: after an outage the backup tiers got no calls, so their failed calls judged them unhealthy
    forever although every probe succeeded. A successful probe ends both judgements."""
    stats = TierStats(unhealthy_after=5)
    for _ in range(10):
        stats.record(0.1, False, ErrorCategory.TRANSIENT)
    assert not stats.healthy and stats.mostly_failing and stats.consecutive_failures == 10
    stats.record_check(False, Down("still down"))
    assert not stats.healthy  # a failed probe clears nothing
    assert stats.consecutive_failures == 10
    stats.record_check(True)
    assert stats.healthy
    assert stats.consecutive_failures == 0 and stats.recent_failures == 0
    assert stats.failures == 10 and stats.requests == 10  # the totals are history, kept
    for _ in range(2):
        stats.record(0.1, False, ErrorCategory.TRANSIENT)
    assert stats.healthy  # two failures after the probe: not yet a pattern
    stats.record(0.1, False, ErrorCategory.TRANSIENT)
    assert not stats.healthy  # calls after the probe are judged as before


def test_successful_call_ends_the_failure_streak() -> None:
    stats = TierStats(unhealthy_after=3)
    for _ in range(3):
        stats.record(0.1, False, ErrorCategory.TRANSIENT)
    assert stats.consecutive_failures == 3
    stats.record(0.1, True)
    assert stats.consecutive_failures == 0
