"""Per-call cost of the resilience pieces, against the product's budgets; prints JSON.

Budgets: the gateway's own cost < 50 µs a call, < 1 ms to skip an open tier, metrics < 100 µs.
Run: `.venv/bin/python bench/resilience_overhead.py [--calls N]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from zoho_mcp.logs import configure_logging
from zoho_mcp.resilience.breakers import BreakerRegistry
from zoho_mcp.resilience.errors import CircuitOpenError
from zoho_mcp.resilience.health import TierStats
from zoho_mcp.resilience.limits import ZohoLimiter
from zoho_mcp.resilience.metrics import Metrics
from zoho_mcp.resilience.retry import RetryBudget, RetryPolicy


async def _noop() -> str:
    return "ok"


async def _per_call_us(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    for _ in range(min(1000, calls)):
        await fn()
    start = time.perf_counter()
    for _ in range(calls):
        await fn()
    return (time.perf_counter() - start) / calls * 1e6


async def main(calls: int) -> dict[str, Any]:
    breakers = BreakerRegistry(["mcp", "sdk", "rest"])
    policy = RetryPolicy(3, 1.0, 60.0, 2.0, True, budget=RetryBudget(0.2, 1.0))
    limiter = ZohoLimiter(20, 5_000_000)
    stats = TierStats()
    metrics = Metrics()
    sdk = breakers["sdk"]

    async def breaker_only() -> Any:
        return await sdk.call(_noop)

    async def retry_only() -> Any:
        return await policy.run(_noop, idempotent=True)

    async def limiter_only() -> Any:
        async with limiter.acquire(credits=1):
            return None

    async def stats_and_metrics() -> None:
        stats.record(0.012, True, None)
        metrics.observe_call("sdk", "success", 0.012)

    async def metrics_only() -> None:
        metrics.observe_call("sdk", "success", 0.012)

    async def guarded() -> Any:
        async with limiter.acquire(credits=1):
            return await _noop()

    async def composed() -> Any:
        start = time.perf_counter()
        result = await policy.run(lambda: sdk.call(guarded), idempotent=True)
        latency = time.perf_counter() - start
        stats.record(latency, True, None)
        metrics.observe_call("sdk", "success", latency)
        return result

    rest = breakers["rest"]
    rest.force_open()

    async def skip_open() -> None:
        try:
            await policy.run(lambda: rest.call(_noop), idempotent=True)
        except CircuitOpenError:
            return None

    raw = await _per_call_us(_noop, calls)
    out: dict[str, Any] = {"calls": calls, "raw_call_us": round(raw, 3)}
    for name, fn in [
        ("breaker_us", breaker_only),
        ("retry_us", retry_only),
        ("limiter_us", limiter_only),
        ("metrics_us", metrics_only),
        ("stats_and_metrics_us", stats_and_metrics),
        ("composed_us", composed),
        ("skip_open_tier_us", skip_open),
    ]:
        out[name] = round(await _per_call_us(fn, calls), 3)
    overhead = out["composed_us"] - raw
    out["composed_overhead_us"] = round(overhead, 3)
    out["ratio_overhead_to_budget_50us"] = round(overhead / 50.0, 4)
    out["ratio_skip_to_budget_1ms"] = round(out["skip_open_tier_us"] / 1000.0, 4)
    out["ratio_metrics_to_budget_100us"] = round(out["metrics_us"] / 100.0, 4)
    out["within_budget"] = overhead < 50.0 and out["skip_open_tier_us"] < 1000.0 and out["metrics_us"] < 100.0
    return out


def run() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    configure_logging("error")  # stderr only; stdout carries the JSON
    result = anyio.run(main, args.calls)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if result["within_budget"] else 1


if __name__ == "__main__":
    raise SystemExit(run())
