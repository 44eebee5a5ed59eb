"""What the gateway itself costs per call, against calling the same tier directly.

The tiers here are trivial in-process `Tier`s that answer at once, so every microsecond measured
beyond the direct call is the gateway's own: selector, breaker, limiter, retry policy, timeout scope,
stats and metrics (and, for reads, the hedge timer). Also measured: skipping a tier whose breaker
is open (the primary is open, the next tier answers) and failing fast when every breaker is open.

Run: `.venv/bin/python bench/gateway_overhead.py [--iterations N]`; prints one JSON object.
Aims: gateway overhead < 50 µs per call; skipping an open tier < 1 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from zoho_mcp.config import Settings
from zoho_mcp.gateway import ZohoGateway
from zoho_mcp.logs import configure_logging
from zoho_mcp.resilience.errors import AllTiersFailed
from zoho_mcp.tiers.base import (
    GetRecords,
    GetResult,
    Operation,
    Result,
    UpdateRecords,
    UpdateResult,
    WriteResult,
)
from zoho_mcp.tiers.selector import RoutingHints

ID = "4876876000000624001"
READ = GetRecords("Accounts", (ID,))
WRITE = UpdateRecords("Accounts", ({"id": ID, "Phone": "1"},))
WRITE_ONCE = UpdateRecords("Accounts", ({"id": ID, "Phone": "1"},), idempotent=False)
READ_RESULT = GetResult(records=[{"id": ID}])
WRITE_RESULT = UpdateResult(results=[WriteResult(id=ID, status="success", code="SUCCESS", message="")])


class InstantTier:
    """Answers at once, without even a checkpoint: the cheapest possible tier."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def execute(self, op: Operation) -> Result:
        return READ_RESULT if op.is_read else WRITE_RESULT

    async def aclose(self) -> None:
        return None


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"client_id": "bench", "retry_base_delay": 0.0, "retry_max_delay": 0.0}
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


def gateway(**overrides: Any) -> ZohoGateway:
    tiers = {name: InstantTier(name) for name in ("mcp", "sdk", "rest")}
    return ZohoGateway(settings(**overrides), tiers)


async def per_call(fn: Callable[[], Awaitable[Any]], iterations: int, rounds: int = 5) -> float:
    """Median over `rounds` of the mean µs per call (warm-up first, GC off while timing)."""
    for _ in range(min(iterations, 2000)):
        await fn()
    samples = []
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter_ns()
            for _ in range(iterations):
                await fn()
            samples.append((time.perf_counter_ns() - start) / iterations / 1000.0)
    finally:
        gc.enable()
    return statistics.median(samples)


async def main(iterations: int) -> dict[str, Any]:
    tier = InstantTier("sdk")
    direct_read = await per_call(lambda: tier.execute(READ), iterations)
    direct_write = await per_call(lambda: tier.execute(WRITE), iterations)

    gw_hedged = gateway()  # defaults: three tiers, failover and hedging on
    gw_plain = gateway(hedge_enabled=False)
    read_hedged = await per_call(lambda: gw_hedged.execute(READ), iterations)
    read_plain = await per_call(lambda: gw_plain.execute(READ), iterations)
    write = await per_call(lambda: gw_plain.execute(WRITE), iterations)
    write_once = await per_call(lambda: gw_plain.execute(WRITE_ONCE), iterations)
    single = gateway(enable_mcp=False, enable_rest=False)
    read_single = await per_call(lambda: single.execute(READ), iterations)

    # skipping an open tier: the primary (sdk) is open, mcp answers
    gw_skip = gateway(hedge_enabled=False)
    gw_skip.breakers["sdk"].force_open()
    read_skip = await per_call(lambda: gw_skip.execute(READ), iterations)
    gw_skip_hedged = gateway()
    gw_skip_hedged.breakers["sdk"].force_open()
    read_skip_hedged = await per_call(lambda: gw_skip_hedged.execute(READ), iterations)

    # every breaker open: the call fails fast with AllTiersFailed and no tier is called
    gw_open = gateway()
    for name in ("mcp", "sdk", "rest"):
        gw_open.breakers[name].force_open()

    async def all_open() -> None:
        try:
            await gw_open.execute(READ, RoutingHints())
        except AllTiersFailed:
            pass

    fail_fast = await per_call(all_open, max(1000, iterations // 4))

    def r(x: float) -> float:
        return round(x, 2)

    over = {
        "read_hedging_on": r(read_hedged - direct_read),
        "read_hedging_off": r(read_plain - direct_read),
        "read_single_tier": r(read_single - direct_read),
        "write_idempotent": r(write - direct_write),
        "write_not_idempotent": r(write_once - direct_write),
    }
    skip = {
        "skip_open_primary_us": r(read_skip - read_plain),
        "skip_open_primary_hedging_on_us": r(read_skip_hedged - read_hedged),
        "all_open_fail_fast_us": r(fail_fast),
    }
    return {
        "iterations": iterations,
        "python": sys.version.split()[0],
        "direct_tier_call_us": {"read": r(direct_read), "write": r(direct_write)},
        "gateway_call_us": {
            "read_hedging_on": r(read_hedged),
            "read_hedging_off": r(read_plain),
            "read_single_tier": r(read_single),
            "write_idempotent": r(write),
            "write_not_idempotent": r(write_once),
        },
        "gateway_overhead_us": over,
        "ratio_gateway_to_direct": {
            "read_hedging_on": r(read_hedged / direct_read),
            "read_hedging_off": r(read_plain / direct_read),
            "write_idempotent": r(write / direct_write),
        },
        "open_breaker": skip,
        "aims": {
            "overhead_under_50us": max(over.values()) < 50.0,
            "skip_open_tier_under_1ms": max(skip.values()) < 1000.0,
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args()
    configure_logging("warning")
    report = anyio.run(main, args.iterations)
    print(json.dumps(report, indent=2))
