"""p50 latency of get-by-id through each tier, next to a raw httpx GET of the same REST URL.

Runs the sandbox in-process (a uvicorn thread on loopback), makes a bounded number of sequential
calls per tier (interleaved with the raw GETs), and prints one JSON object: each tier's p50 in milliseconds and its ratio to the raw
GET (1.0 = no overhead over a bare HTTP call). Usage: `python bench/tier_latency.py [--calls 200]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from zoho_mcp.config import Settings, sandbox_connection
from zoho_mcp.logs import configure_logging
from zoho_mcp.sandbox.app import SandboxConfig, SandboxServer
from zoho_mcp.tiers.base import GetRecords, GetResult
from zoho_mcp.tiers.factory import build_tiers, close_tiers


def _settings(info: dict[str, Any], state_dir: Path) -> Settings:
    return Settings(**sandbox_connection(info), state_dir=state_dir)  # type: ignore[arg-type]


def _p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000.0, 3)


async def _measure(calls: int, warmup: int) -> dict[str, Any]:
    """Round-robin: call i goes through raw GET, then every tier, so drift (GC, CPU frequency, the
    sandbox warming up) hits all of them alike instead of whichever was measured last."""
    server = SandboxServer(SandboxConfig(accounts=200)).start()
    try:
        info = server.info
        ids: list[str] = httpx.get(f"{server.base_url}/__sandbox__/records/Accounts").json()["ids"]
        url = f"{info['api_domain']}/crm/v2/Accounts/{{rid}}"
        with tempfile.TemporaryDirectory() as tmp:
            tiers = build_tiers(_settings(info, Path(tmp)))
            samples: dict[str, list[float]] = {"raw_httpx": [], **{name: [] for name in tiers}}
            try:
                auth = getattr(tiers, "auth", None)
                token = await auth.get_token() if auth is not None else None
                headers = {"Authorization": f"Zoho-oauthtoken {token}"} if token else {}
                async with httpx.AsyncClient(headers=headers) as raw:

                    async def raw_get(rid: str) -> None:
                        (await raw.get(url.format(rid=rid))).raise_for_status()

                    async def tier_get(name: str, rid: str) -> None:
                        result = await tiers[name].execute(GetRecords("Accounts", (rid,)))
                        if not (isinstance(result, GetResult) and result.records):
                            raise RuntimeError(f"tier {name} did not return record {rid}")

                    for i in range(warmup + calls):
                        rid = ids[i % len(ids)]
                        for name in samples:
                            start = time.perf_counter()
                            await (raw_get(rid) if name == "raw_httpx" else tier_get(name, rid))
                            if i >= warmup:
                                samples[name].append(time.perf_counter() - start)
            finally:
                await close_tiers(tiers)
    finally:
        server.stop()
    raw_p50 = _p50_ms(samples.pop("raw_httpx"))
    return {
        "benchmark": "get_by_id_p50",
        "calls_per_tier": calls,
        "raw_httpx_p50_ms": raw_p50,
        "tiers": {
            name: {"p50_ms": _p50_ms(values), "ratio_to_raw": round(_p50_ms(values) / raw_p50, 2) if raw_p50 else None}
            for name, values in samples.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per tier (bounded)")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    configure_logging("error")
    result = anyio.run(_measure, max(1, min(args.calls, 5000)), max(1, args.warmup))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
