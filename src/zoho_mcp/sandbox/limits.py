"""Zoho's org limits as the server enforces them: concurrency by edition, sub-concurrency for heavy
calls, and a rolling 24-hour credit budget. Both surfaces (REST and hosted MCP) draw on the same pool.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from zoho_mcp.sandbox.clock import SandboxClock
from zoho_mcp.sandbox.config import SandboxConfig
from zoho_mcp.sandbox.responses import Reply, too_many_requests

DAY = 86_400.0
CONCURRENCY_MESSAGE = "The concurrency limit of the user for the app is exceeded"
SUB_CONCURRENCY_MESSAGE = "The sub-concurrency limit of the user for the app is exceeded"
CREDITS_MESSAGE = "Number of API requests for the 24 hour period is exceeded"


def credits_for(method: str, records: int) -> int:
    """1 credit per call; writes cost 1 per 10 records (at least 1)."""
    if method in ("PUT", "POST", "PATCH") and records > 0:
        return max(1, math.ceil(records / 10))
    return 1


@dataclass
class Slot:
    heavy: bool
    released: bool = False


class OrgLimits:
    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.in_flight = 0
        self.heavy_in_flight = 0
        self._spent: deque[tuple[float, int]] = deque()
        self._spent_total = 0
        self.rejected = 0

    def reset(self) -> None:
        self._spent.clear()
        self._spent_total = 0
        self.rejected = 0

    def credits_used(self) -> int:
        cutoff = self.clock.now() - DAY
        while self._spent and self._spent[0][0] <= cutoff:
            self._spent_total -= self._spent.popleft()[1]
        return self._spent_total

    def acquire(self, config: SandboxConfig, heavy: bool, cost: int) -> Slot | Reply:
        """A concurrency slot plus the credits, or the 429 Zoho would send."""
        if self.in_flight >= config.effective_concurrency:
            self.rejected += 1
            return self._too_many(config, CONCURRENCY_MESSAGE)
        if heavy and self.heavy_in_flight >= config.sub_concurrency:
            self.rejected += 1
            return self._too_many(config, SUB_CONCURRENCY_MESSAGE)
        if self.credits_used() + cost > config.effective_credits:
            self.rejected += 1
            return self._too_many(config, CREDITS_MESSAGE)
        self._spent.append((self.clock.now(), cost))
        self._spent_total += cost
        self.in_flight += 1
        if heavy:
            self.heavy_in_flight += 1
        return Slot(heavy)

    def release(self, slot: Slot) -> None:
        if slot.released:
            return
        slot.released = True
        self.in_flight -= 1
        if slot.heavy:
            self.heavy_in_flight -= 1

    def _too_many(self, config: SandboxConfig, message: str) -> Reply:
        reply = too_many_requests(message)
        reply.headers.update(self.headers(config))
        if config.emit_retry_after:
            reply.headers["Retry-After"] = "1"
        return reply

    def headers(self, config: SandboxConfig) -> dict[str, str]:
        """`X-API-CREDITS-REMAINING` once half of the day's credits are spent."""
        used = self.credits_used()
        total = config.effective_credits
        if used * 2 >= total:
            return {"X-API-CREDITS-REMAINING": str(max(0, total - used))}
        return {}

    def snapshot(self, config: SandboxConfig) -> dict[str, int]:
        used = self.credits_used()
        return {
            "in_flight": self.in_flight,
            "heavy_in_flight": self.heavy_in_flight,
            "concurrency_limit": config.effective_concurrency,
            "sub_concurrency_limit": config.sub_concurrency,
            "credits_used": used,
            "credits_remaining": max(0, config.effective_credits - used),
            "credits_per_day": config.effective_credits,
            "rejected": self.rejected,
        }
