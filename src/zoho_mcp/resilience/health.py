"""Per-tier call statistics and the background health probe loop.

Recording is on the hot path (every call), reading is rare (the health resource), so recording is a
deque append and a few integer updates, and percentiles are computed only when read.
"""

from __future__ import annotations

import inspect
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from zoho_mcp.logs import get_logger

__all__ = ["HealthMonitor", "LatencyWindow", "ProbeOutcome", "TierStats"]

log = get_logger("zoho_mcp.health")


class LatencyWindow:
    """The last `size` latencies (seconds), with nearest-rank percentiles computed on read."""

    __slots__ = ("_samples", "size")

    def __init__(self, size: int = 1000) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self.size = size
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, latency_s: float) -> None:
        self._samples.append(latency_s)

    record = add

    def __len__(self) -> int:
        return len(self._samples)

    def clear(self) -> None:
        self._samples.clear()

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0 < q ≤ 100) in seconds, or None without samples."""
        if not self._samples:
            return None
        return _rank(sorted(self._samples), q)

    def percentiles(self) -> dict[str, float | None]:
        """p50, p95 and p99 in seconds from one sort (None without samples)."""
        if not self._samples:
            return {"p50": None, "p95": None, "p99": None}
        data = sorted(self._samples)
        return {"p50": _rank(data, 50), "p95": _rank(data, 95), "p99": _rank(data, 99)}

    def percentiles_ms(self, ndigits: int = 3) -> dict[str, float | None]:
        return {k: None if v is None else round(v * 1000.0, ndigits) for k, v in self.percentiles().items()}

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p95(self) -> float | None:
        return self.percentile(95)

    @property
    def p99(self) -> float | None:
        return self.percentile(99)


def _rank(data: list[float], q: float) -> float:
    k = max(0, min(len(data) - 1, math.ceil(q / 100.0 * len(data)) - 1))
    return data[k]


#: A tier whose recent calls mostly fail is unhealthy: at least half of the last RECENT_WINDOW calls
#: failed, and at least RECENT_MIN_FAILURES of them (two failures in a quiet hour are not a pattern).
RECENT_WINDOW = 10
RECENT_MIN_FAILURES = 3


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TierStats:
    """What the health resource reports about one tier.

    `record(latency_s, ok, category)` counts one call: `ok` decides success or failure, and a given
    `category` is tallied in `errors_by_category` whatever `ok` is (the gateway may count a business
    answer as a success of the tier and still show it). `healthy` is False while the last health probe
    failed, after `unhealthy_after` consecutive failed calls (until the next success), or while its
    recent calls mostly fail (≥ half of the last RECENT_WINDOW, and at least RECENT_MIN_FAILURES):
    a tier failing three calls in four is not healthy just because one got through. A successful
    probe clears both judgements: only calls after it count (the tier has been seen answering).
    `success_rate` is 1.0 before any request (no evidence of failure); latencies are None without samples.
    """

    __slots__ = (
        "requests",
        "successes",
        "failures",
        "errors_by_category",
        "latency",
        "unhealthy_after",
        "consecutive_failures",
        "recent",
        "last_check",
        "last_check_ok",
        "last_check_error",
        "_now",
    )

    def __init__(
        self,
        window: int = 1000,
        *,
        unhealthy_after: int = 5,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.requests = 0
        self.successes = 0
        self.failures = 0
        self.errors_by_category: dict[str, int] = {}
        self.latency = LatencyWindow(window)
        self.unhealthy_after = unhealthy_after
        self.consecutive_failures = 0
        self.recent: deque[bool] = deque(maxlen=RECENT_WINDOW)
        self.last_check: datetime | None = None
        self.last_check_ok: bool | None = None
        self.last_check_error: str | None = None
        self._now = now

    def record(self, latency_s: float, ok: bool, category: Any = None) -> None:
        self.requests += 1
        self.latency._samples.append(latency_s)
        self.recent.append(ok)
        if ok:
            self.successes += 1
            self.consecutive_failures = 0
        else:
            self.failures += 1
            self.consecutive_failures += 1
            if category is None:
                category = "unknown"
        if category is not None:
            key = getattr(category, "value", category)
            self.errors_by_category[key] = self.errors_by_category.get(key, 0) + 1

    def record_check(self, ok: bool, error: BaseException | str | None = None) -> None:
        """The outcome of a health probe (sets `last_check` to now, UTC)."""
        self.last_check = self._now()
        self.last_check_ok = ok
        self.last_check_error = None if error is None else (error if isinstance(error, str) else type(error).__name__)
        if ok:
            # The tier answers now: calls before this probe no longer judge it. Backup tiers get no
            # call traffic once the primary recovers, so without this they stayed unhealthy forever.
            self.consecutive_failures = 0
            self.recent.clear()

    @property
    def success_rate(self) -> float:
        return 1.0 if self.requests == 0 else self.successes / self.requests

    @property
    def recent_failures(self) -> int:
        return len(self.recent) - sum(self.recent)

    @property
    def mostly_failing(self) -> bool:
        failed = self.recent_failures
        return failed >= RECENT_MIN_FAILURES and failed * 2 >= len(self.recent)

    @property
    def healthy(self) -> bool:
        return (
            self.last_check_ok is not False
            and self.consecutive_failures < self.unhealthy_after
            and not self.mostly_failing
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "successes": self.successes,
            "failures": self.failures,
            "success_rate": round(self.success_rate, 4),
            "latency_ms": self.latency.percentiles_ms(),
            "errors_by_category": dict(self.errors_by_category),
            "last_check": None if self.last_check is None else _iso(self.last_check),
            "healthy": self.healthy,
        }


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    name: str
    ok: bool
    latency_s: float
    error: BaseException | None


Probe = Callable[[], Awaitable[Any]]
OnResult = Callable[[str, bool, float, BaseException | None], Any]


class HealthMonitor:
    """Probes every tier each `interval` seconds, each probe bounded by `timeout`.

    A probe is ok when it returns, or when it raises an error whose `counts_as_failure` is False
    (a business answer: the service is up and talking); the error is still passed to `on_result`.
    A probe that overruns `timeout` fails with TimeoutError. Probes run concurrently, so one hung
    tier does not delay the others. `on_result(name, ok, latency_s, error)` may be sync or async;
    if it raises, the error is logged and the loop carries on.
    """

    def __init__(
        self,
        probes: Mapping[str, Probe],
        interval: float,
        timeout: float,
        *,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        on_result: OnResult | None = None,
        clock: Callable[[], float] = time.perf_counter,
        immediate: bool = True,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("interval and timeout must be > 0")
        self.probes = dict(probes)
        self.interval = interval
        self.timeout = timeout
        self._sleep = sleep
        self._on_result = on_result
        self._clock = clock
        self.immediate = immediate
        self.last: dict[str, ProbeOutcome] = {}
        self.rounds = 0

    async def run(self) -> None:
        """Probe forever (until cancelled): run it in the gateway's task group."""
        if not self.immediate:
            await self._sleep(self.interval)
        while True:
            await self.check_once()
            await self._sleep(self.interval)

    async def check_once(self) -> dict[str, ProbeOutcome]:
        results: dict[str, ProbeOutcome] = {}
        async with anyio.create_task_group() as tg:
            for name, probe in self.probes.items():
                tg.start_soon(self._probe_one, name, probe, results)
        self.last = {name: results[name] for name in self.probes if name in results}
        self.rounds += 1
        return self.last

    async def _probe_one(self, name: str, probe: Probe, results: dict[str, ProbeOutcome]) -> None:
        error: BaseException | None = None
        start = self._clock()
        try:
            with anyio.fail_after(self.timeout):
                await probe()
        except TimeoutError as exc:
            error = exc if str(exc) else TimeoutError(f"health probe timed out after {self.timeout}s")
        except Exception as exc:
            error = exc
        latency = self._clock() - start
        ok = error is None or not getattr(error, "counts_as_failure", True)
        outcome = ProbeOutcome(name, ok, latency, error)
        results[name] = outcome
        if not ok:
            log.warning("health_probe_failed", tier=name, latency_ms=round(latency * 1000, 1), error=error)
        if self._on_result is not None:
            try:
                res = self._on_result(name, ok, latency, error)
                if inspect.isawaitable(res):
                    await res
            except Exception as exc:
                log.error("health_on_result_failed", tier=name, error=exc)
