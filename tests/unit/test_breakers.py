"""The per-tier breaker: every transition, half-open gating, cancellation, time zones, events."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiobreaker import CircuitBreakerError
from aiobreaker.state import CircuitBreakerState
from anyio import wait_all_tasks_blocked
from structlog.testing import capture_logs

from zoho_mcp.resilience.breakers import BreakerRegistry, TierBreaker
from zoho_mcp.resilience.errors import CategorizedError, CircuitOpenError, ErrorCategory
from zoho_mcp.resilience.metrics import Metrics
from zoho_mcp.tiers.base import RateLimitedError, error_from_zoho_body


class Boom(CategorizedError):
    category = ErrorCategory.TRANSIENT


class Answer(CategorizedError):
    category = ErrorCategory.BUSINESS


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(clock: FakeClock) -> BreakerRegistry:
    return BreakerRegistry(
        ["mcp", "sdk", "rest"],
        failure_threshold=5,
        recovery_timeout=60.0,
        half_open_calls=3,
        success_threshold=2,
        clock=clock,
    )


@pytest.fixture
def events(registry: BreakerRegistry) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []
    registry.add_listener(lambda name, old, new: seen.append((name, old, new)))
    return seen


async def ok() -> str:
    return "ok"


async def fail() -> None:
    raise Boom("zoho is down")


async def answer() -> None:
    raise Answer("record not found")


async def trip(b: TierBreaker, n: int | None = None) -> None:
    for _ in range(n if n is not None else b.failure_threshold):
        with pytest.raises(Boom):
            await b.call(fail)


async def open_then_due(b: TierBreaker, clock: FakeClock) -> None:
    await trip(b)
    clock.advance(b.recovery_timeout)


# --- closed ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_closed_passes_results_and_args_through(registry: BreakerRegistry) -> None:
    async def add(a: int, b: int, *, c: int = 0) -> int:
        return a + b + c

    b = registry["sdk"]
    assert await b.call(add, 1, 2, c=3) == 6
    assert b.state == "closed"
    assert b.retry_in() is None


@pytest.mark.anyio
async def test_closed_to_open_after_threshold_and_tripping_call_raises_original(
    registry: BreakerRegistry, events: list[tuple[str, str, str]]
) -> None:
    b = registry["sdk"]
    await trip(b, 4)
    assert b.state == "closed"
    assert b.failure_count == 4
    with pytest.raises(Boom) as info:
        await b.call(fail)
    assert not isinstance(info.value, CircuitBreakerError)
    assert info.value.category is ErrorCategory.TRANSIENT
    assert not isinstance(info.value.__cause__, CircuitBreakerError)
    assert b.state == "open"
    assert events == [("sdk", "closed", "open")]
    assert registry["mcp"].state == "closed"  # one breaker per tier


@pytest.mark.anyio
async def test_success_resets_consecutive_failures(registry: BreakerRegistry) -> None:
    b = registry["sdk"]
    await trip(b, 4)
    assert await b.call(ok) == "ok"
    assert b.failure_count == 0
    await trip(b, 4)
    assert b.state == "closed"


@pytest.mark.anyio
async def test_uncategorised_exceptions_count_as_failures(registry: BreakerRegistry) -> None:
    async def bug() -> None:
        raise RuntimeError("unexpected")

    b = registry["rest"]
    for _ in range(5):
        with pytest.raises(RuntimeError):
            await b.call(bug)
    assert b.state == "open"


@pytest.mark.anyio
async def test_business_errors_neither_count_nor_reset(registry: BreakerRegistry) -> None:
    b = registry["sdk"]
    for _ in range(20):
        with pytest.raises(Answer):
            await b.call(answer)
    assert b.state == "closed"
    assert b.failure_count == 0
    await trip(b, 4)
    with pytest.raises(Answer):
        await b.call(answer)
    assert b.failure_count == 4  # aiobreaker would have reset it to 0
    with pytest.raises(Boom):
        await b.call(fail)
    assert b.state == "open"


async def too_many() -> None:
    raise error_from_zoho_body(429, {"code": "TOO_MANY_REQUESTS", "message": "concurrency limit"}, tier="sdk")


@pytest.mark.anyio
async def test_org_wide_429s_never_open_a_breaker_and_do_not_reset_it(registry: BreakerRegistry) -> None:
    """Zoho's 429 is the org's limit, shared by every tier: it says nothing about this tier's health."""
    b = registry["sdk"]
    for _ in range(50):
        with pytest.raises(RateLimitedError):
            await b.call(too_many)
    assert b.state == "closed"
    assert b.failure_count == 0
    await trip(b, 4)
    with pytest.raises(RateLimitedError):
        await b.call(too_many)
    assert b.failure_count == 4  # not reset either: a dying tier behind 429s still trips
    with pytest.raises(Boom):
        await b.call(fail)
    assert b.state == "open"


@pytest.mark.anyio
async def test_half_open_429_is_neither_a_trial_success_nor_a_failure(registry: BreakerRegistry, clock: FakeClock) -> None:
    b = registry["sdk"]
    await open_then_due(b, clock)
    for _ in range(10):
        with pytest.raises(RateLimitedError):
            await b.call(too_many)
    snap = b.snapshot()
    assert snap["state"] == "half_open"
    assert snap["trial_successes"] == 0 and snap["trials_in_flight"] == 0


# --- open --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_open_fails_fast_without_calling(registry: BreakerRegistry, clock: FakeClock) -> None:
    b = registry["sdk"]
    await trip(b)
    clock.advance(15)
    called = 0

    async def counted() -> None:
        nonlocal called
        called += 1

    with pytest.raises(CircuitOpenError) as info:
        await b.call(counted)
    assert called == 0
    assert info.value.name == "sdk"
    assert info.value.retry_in == pytest.approx(45.0)
    assert info.value.category is ErrorCategory.TRANSIENT and info.value.fails_over
    assert b.retry_in() == pytest.approx(45.0)
    assert b.state == "open"
    assert b.rejections == 1


@pytest.mark.anyio
async def test_open_to_half_open_when_due_is_time_aware(
    registry: BreakerRegistry, clock: FakeClock, events: list[tuple[str, str, str]]
) -> None:
    b = registry["sdk"]
    await trip(b)
    clock.advance(59.999)
    assert b.state == "open"
    clock.advance(0.001)
    assert b.retry_in() == 0.0
    assert b.state == "half_open"  # reading the state performs the lazy transition, with its event
    assert events == [("sdk", "closed", "open"), ("sdk", "open", "half_open")]
    assert b.retry_in() == 0.0


# --- half-open ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_flow_closed_open_half_open_closed_needs_success_threshold(
    registry: BreakerRegistry, clock: FakeClock, events: list[tuple[str, str, str]]
) -> None:
    b = registry["sdk"]
    await open_then_due(b, clock)
    assert await b.call(ok) == "ok"
    assert b.state == "half_open"  # one success is not enough (aiobreaker closes on the first)
    assert b.snapshot()["trial_successes"] == 1
    assert await b.call(ok) == "ok"
    assert b.state == "closed"
    assert b.failure_count == 0
    assert events == [("sdk", "closed", "open"), ("sdk", "open", "half_open"), ("sdk", "half_open", "closed")]


@pytest.mark.anyio
async def test_flow_half_open_failure_reopens_with_fresh_timeout(
    registry: BreakerRegistry, clock: FakeClock, events: list[tuple[str, str, str]]
) -> None:
    b = registry["sdk"]
    await open_then_due(b, clock)
    clock.advance(7)
    assert await b.call(ok) == "ok"
    with pytest.raises(Boom) as info:  # the failed trial raises the original too
        await b.call(fail)
    assert not isinstance(info.value, CircuitBreakerError)
    assert b.state == "open"
    assert b.retry_in() == pytest.approx(60.0)
    clock.advance(59)
    with pytest.raises(CircuitOpenError):
        await b.call(ok)
    clock.advance(1)
    assert await b.call(ok) == "ok"
    assert await b.call(ok) == "ok"
    assert b.state == "closed"
    assert [e[1:] for e in events] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


@pytest.mark.anyio
async def test_half_open_business_error_counts_nothing_and_frees_permit(
    registry: BreakerRegistry, clock: FakeClock
) -> None:
    b = registry["sdk"]
    await open_then_due(b, clock)
    for _ in range(10):
        with pytest.raises(Answer):
            await b.call(answer)
    snap = b.snapshot()
    assert snap["state"] == "half_open"
    assert snap["trial_successes"] == 0
    assert snap["trials_in_flight"] == 0


@pytest.mark.anyio
async def test_half_open_admits_at_most_n_concurrent_trials(registry: BreakerRegistry, clock: FakeClock) -> None:
    b = registry["sdk"]
    await open_then_due(b, clock)
    release = anyio.Event()
    reached = 0
    results: list[str] = []
    rejected: list[CircuitOpenError] = []

    async def trial() -> str:
        nonlocal reached
        reached += 1
        await release.wait()
        return "ok"

    async def one() -> None:
        try:
            results.append(await b.call(trial))
        except CircuitOpenError as exc:
            rejected.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(one)
        await wait_all_tasks_blocked()
        assert reached == 3
        assert len(rejected) == 97
        assert all(e.name == "sdk" for e in rejected)
        assert b.snapshot()["trials_in_flight"] == 3
        release.set()
    assert results == ["ok"] * 3
    assert b.state == "closed"  # two successes closed it; the third finished under "closed" and was ignored
    assert b.failure_count == 0


@pytest.mark.anyio
async def test_permits_are_concurrent_not_total(clock: FakeClock) -> None:
    b = TierBreaker("mcp", half_open_calls=1, success_threshold=3, clock=clock)
    await open_then_due(b, clock)
    for _ in range(2):
        assert await b.call(ok) == "ok"
        assert b.state == "half_open"
    assert await b.call(ok) == "ok"
    assert b.state == "closed"


@pytest.mark.anyio
async def test_cancelled_trial_counts_nothing_and_releases_its_permit(
    registry: BreakerRegistry, clock: FakeClock
) -> None:
    b = registry["sdk"]
    await open_then_due(b, clock)
    release = anyio.Event()
    started = 0

    async def trial() -> str:
        nonlocal started
        started += 1
        await release.wait()
        return "ok"

    scopes: list[anyio.CancelScope] = []
    outcomes: list[str] = []

    async def one() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            outcomes.append(await b.call(trial))
            return
        outcomes.append("cancelled")

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(one)
        await wait_all_tasks_blocked()
        assert started == 3
        with pytest.raises(CircuitOpenError):
            await b.call(ok)
        scopes[0].cancel()
        await wait_all_tasks_blocked()
        snap = b.snapshot()
        assert snap == {**snap, "state": "half_open", "trials_in_flight": 2, "trial_successes": 0}
        tg.start_soon(one)  # the freed permit admits a new trial
        await wait_all_tasks_blocked()
        assert started == 4
        assert b.snapshot()["trials_in_flight"] == 3
        release.set()
    assert outcomes.count("cancelled") == 1
    assert outcomes.count("ok") == 3
    assert b.state == "closed"


@pytest.mark.anyio
async def test_cancelled_call_in_closed_state_is_not_a_failure(registry: BreakerRegistry) -> None:
    b = registry["sdk"]
    await trip(b, 4)

    async def hang() -> None:
        await anyio.sleep_forever()

    for _ in range(3):
        async with anyio.create_task_group() as tg:
            tg.start_soon(b.call, hang)
            await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    assert b.state == "closed"
    assert b.failure_count == 4


@pytest.mark.anyio
async def test_outcome_of_a_call_admitted_under_another_state_is_ignored(
    registry: BreakerRegistry, clock: FakeClock
) -> None:
    b = registry["sdk"]
    release = anyio.Event()

    async def slow_ok() -> str:
        await release.wait()
        return "late"

    async with anyio.create_task_group() as tg:
        tg.start_soon(b.call, slow_ok)  # admitted while closed
        await wait_all_tasks_blocked()
        await trip(b)
        clock.advance(60)
        assert b.state == "half_open"
        release.set()
    snap = b.snapshot()
    assert snap["state"] == "half_open" and snap["trial_successes"] == 0


# --- probes ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_probe_success_counts_as_trial_and_failure_reopens(
    registry: BreakerRegistry, clock: FakeClock
) -> None:
    b = registry["rest"]
    await trip(b)
    b.record_probe(True)  # open and not due: ignored
    assert b.state == "open"
    clock.advance(60)
    b.record_probe(True)
    assert b.state == "half_open"
    b.record_probe(True)
    assert b.state == "closed"

    await open_then_due(b, clock)
    b.record_probe(True)
    b.record_probe(False)
    assert b.state == "open"
    assert b.retry_in() == pytest.approx(60.0)


@pytest.mark.anyio
async def test_probe_outcomes_count_while_closed(registry: BreakerRegistry) -> None:
    b = registry["mcp"]
    for _ in range(4):
        b.record_probe(False)
    b.record_probe(True)
    assert b.failure_count == 0
    for _ in range(5):
        b.record_probe(False)
    assert b.state == "open"


# --- time --------------------------------------------------------------------------------------


def _zoneinfo_available(name: str) -> bool:
    return Path("/usr/share/zoneinfo", name).exists()


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati"])
def tz(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if not _zoneinfo_available(request.param):
        pytest.skip(f"no tz data for {request.param}")
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.anyio
async def test_retry_in_is_right_in_any_time_zone(tz: str) -> None:
    b = TierBreaker("sdk", recovery_timeout=30.0)  # the real monotonic clock
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no utcnow() DeprecationWarning either
        await trip(b)
    left = b.retry_in()
    assert left is not None and 29.0 < left <= 30.0
    cb = b.aiobreaker
    assert cb.current_state is CircuitBreakerState.OPEN
    assert cb.time_until_open is not None
    assert timedelta(seconds=29) < cb.time_until_open <= timedelta(seconds=30)
    assert cb.opens_at is not None and 29.0 < cb.opens_at - time.monotonic() <= 30.0
    with pytest.raises(CircuitOpenError) as info:
        await b.call(ok)
    assert info.value.retry_in is not None and 29.0 < info.value.retry_in <= 30.0


@pytest.mark.anyio
async def test_plain_aiobreaker_reports_wrong_times_off_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why we do not use aiobreaker's own reporting (kept as evidence of the upstream bug)."""
    if not _zoneinfo_available("America/New_York"):
        pytest.skip("no tz data")
    from aiobreaker import CircuitBreaker

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        raw = CircuitBreaker(fail_max=1, timeout_duration=timedelta(seconds=30))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with pytest.raises(CircuitBreakerError):
                await raw.call_async(fail)
            assert raw.time_until_open is not None and raw.time_until_open > timedelta(hours=1)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.anyio
async def test_gating_uses_the_injected_clock_only(clock: FakeClock) -> None:
    b = TierBreaker("sdk", recovery_timeout=60.0, clock=clock)
    await trip(b)
    time.sleep(0)  # real time is irrelevant; only the fake clock moves the breaker
    assert b.state == "open"
    clock.advance(60)
    assert b.state == "half_open"


# --- events ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_listener_that_raises_does_not_break_the_call_path(
    registry: BreakerRegistry, clock: FakeClock
) -> None:
    def bad(name: str, old: str, new: str) -> None:
        raise ValueError("listener bug")

    seen: list[tuple[str, str, str]] = []
    registry.add_listener(bad)
    registry.add_listener(lambda *e: seen.append(e))
    b = registry["sdk"]
    with capture_logs() as logs:
        await trip(b)  # the tripping call still raises Boom, not ValueError
        clock.advance(60)
        assert await b.call(ok) == "ok"
        assert await b.call(ok) == "ok"
    assert [e[2] for e in seen] == ["open", "half_open", "closed"]
    failures = [entry for entry in logs if entry["event"] == "circuit_listener_failed"]
    assert len(failures) == 3


@pytest.mark.anyio
async def test_listener_sees_the_new_state(registry: BreakerRegistry) -> None:
    b = registry["sdk"]
    observed: list[str] = []
    registry.add_listener(lambda name, old, new: observed.append(registry[name].state))
    await trip(b)
    assert observed == ["open"]


@pytest.mark.anyio
async def test_async_listener_is_rejected_without_leaking_a_coroutine(registry: BreakerRegistry) -> None:
    async def async_listener(name: str, old: str, new: str) -> None:
        raise AssertionError("never awaited")

    registry.add_listener(async_listener)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with capture_logs() as logs:
            await trip(registry["sdk"])
    assert any(entry["event"] == "circuit_listener_is_async" for entry in logs)


@pytest.mark.anyio
async def test_every_state_change_logs_and_feeds_metrics(clock: FakeClock) -> None:
    metrics = Metrics()
    reg = BreakerRegistry(["mcp", "sdk"], clock=clock, metrics=metrics)
    b = reg["mcp"]
    with capture_logs() as logs:
        await trip(b)
        clock.advance(60)
        await b.call(ok)
        await b.call(ok)
    changes = [(e["event"], e.get("old"), e.get("new")) for e in logs if e["event"].startswith("circuit_")]
    assert changes == [
        ("circuit_opened", "closed", "open"),
        ("circuit_state_change", "open", "half_open"),
        ("circuit_state_change", "half_open", "closed"),
    ]
    opened = next(e for e in logs if e["event"] == "circuit_opened")
    assert opened["log_level"] == "warning" and opened["retry_in"] == pytest.approx(60.0)
    value = metrics.registry.get_sample_value
    assert value("zoho_mcp_breaker_transitions_total", {"tier": "mcp", "from_state": "closed", "to_state": "open"}) == 1
    assert value("zoho_mcp_breaker_state", {"tier": "mcp", "state": "closed"}) == 1
    assert value("zoho_mcp_breaker_state", {"tier": "mcp", "state": "open"}) == 0
    assert value("zoho_mcp_breaker_state", {"tier": "sdk", "state": "closed"}) == 1


# --- registry ----------------------------------------------------------------------------------


def test_registry_from_settings_and_mapping_protocol() -> None:
    class S:
        breaker_failure_threshold = 2
        breaker_recovery_timeout = 5.0
        breaker_half_open_calls = 1
        breaker_success_threshold = 1

    reg = BreakerRegistry.from_settings(S(), ["mcp", "rest"])
    assert list(reg) == ["mcp", "rest"] == reg.names
    assert "mcp" in reg and "sdk" not in reg and len(reg) == 2
    b = reg["rest"]
    assert (b.failure_threshold, b.recovery_timeout, b.half_open_calls, b.success_threshold) == (2, 5.0, 1, 1)
    assert reg.states() == {"mcp": "closed", "rest": "closed"}
    with pytest.raises(KeyError):
        reg["sdk"]


def test_defaults_match_the_product_spec() -> None:
    b = TierBreaker("sdk")
    assert (b.failure_threshold, b.recovery_timeout, b.half_open_calls, b.success_threshold) == (5, 60.0, 3, 2)


@pytest.mark.parametrize("kw", [{"failure_threshold": 0}, {"half_open_calls": 0}, {"success_threshold": 0}, {"recovery_timeout": -1}])
def test_invalid_parameters_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TierBreaker("sdk", **kw)


@pytest.mark.anyio
async def test_manual_control_and_aiobreaker_view(registry: BreakerRegistry, clock: FakeClock) -> None:
    b = registry["sdk"]
    b.force_open()
    assert b.state == "open"
    assert b.aiobreaker.current_state is CircuitBreakerState.OPEN
    b.reset()
    assert b.state == "closed" and b.failure_count == 0
    await trip(b, 3)
    assert b.aiobreaker.fail_counter == 3
    b.reset()
    assert b.failure_count == 0


@pytest.mark.anyio
async def test_a_breaker_listener_is_its_own_and_registry_listeners_are_shared(registry: BreakerRegistry) -> None:
    own: list[tuple[str, str, str]] = []
    shared: list[tuple[str, str, str]] = []
    registry["sdk"].add_listener(lambda *e: own.append(e))
    registry.add_listener(lambda *e: shared.append(e))
    await trip(registry["mcp"])
    await trip(registry["sdk"])
    assert own == [("sdk", "closed", "open")]
    assert shared == [("mcp", "closed", "open"), ("sdk", "closed", "open")]


@pytest.mark.anyio
async def test_probe_evidence_from_an_older_state_is_ignored(registry: BreakerRegistry, clock: FakeClock) -> None:
    b = registry["sdk"]
    started = b.epoch  # a probe starts while closed...
    await trip(b)  # ...the breaker opens meanwhile...
    clock.advance(60)
    assert b.state == "half_open"
    b.record_probe(True, epoch=started)  # ...and its late success is no trial of the new state
    assert b.snapshot()["trial_successes"] == 0
    b.record_probe(False, epoch=started)
    assert b.state == "half_open"
    b.record_probe(True, epoch=b.epoch)  # a probe started under this state counts
    assert b.snapshot()["trial_successes"] == 1


@pytest.mark.anyio
async def test_circuit_open_error_carries_the_cause_until_the_breaker_closes() -> None:
    """UAT: callers saw only "circuit open … next trial in 60s"; the cause was only on stderr."""
    from zoho_mcp.resilience.errors import CircuitOpenError as _Open

    now = [0.0]
    b = TierBreaker("rest", failure_threshold=2, recovery_timeout=10.0, success_threshold=1, clock=lambda: now[0])

    class Boom(Exception):
        category = "transient"
        code = "TOKEN_CONNECT_ERROR"

    async def fail() -> None:
        raise Boom("could not reach http://127.0.0.1:9: check ZOHO_ACCOUNTS_URL")

    async def ok() -> str:
        return "ok"

    for _ in range(2):
        with pytest.raises(Boom):
            await b.call(fail)
    with pytest.raises(_Open) as info:
        await b.call(ok)
    assert isinstance(info.value.cause, Boom)
    assert info.value.cause_info is not None and info.value.cause_info["code"] == "TOKEN_CONNECT_ERROR"
    assert "check ZOHO_ACCOUNTS_URL" in str(info.value)
    b.record_probe(False, error=RuntimeError("probe: HTTP 503"))  # open, not due: ignored
    assert isinstance(b.last_failure, Boom)
    now[0] = 10.0
    b.record_probe(False, error=RuntimeError("probe: HTTP 503"))  # a failed trial: the newest cause
    assert b.open_error().cause_info["message"] == "probe: HTTP 503"  # type: ignore[index]
    now[0] = 20.0
    assert await b.call(ok) == "ok"
    assert b.state == "closed" and b.last_failure is None


def test_record_slow_counts_as_a_failure_with_half_open_rules(clock: FakeClock) -> None:
    """A call abandoned for being too slow (a hedge loser on a hung tier) is a failure: it opens a
    closed breaker at the threshold, fails a half-open trial, and is ignored while open or when stale."""
    b = TierBreaker("mcp", failure_threshold=2, recovery_timeout=60.0, half_open_calls=1, success_threshold=1, clock=clock)
    epoch = b.epoch
    b.record_slow(epoch=epoch)
    assert b.state == "closed" and b.failure_count == 1
    b.record_slow(epoch=epoch)
    assert b.state == "open"
    assert "too slow" in str(b.open_error())
    b.record_slow(epoch=b.epoch)  # while open: nothing
    clock.advance(61)
    assert b.state == "half_open"
    stale = epoch
    b.record_slow(epoch=stale)  # started before the breaker opened: not this trial
    assert b.state == "half_open"
    b.record_slow(epoch=b.epoch)
    assert b.state == "open" and b.retry_in() == 60.0
