"""The sandbox's clock: wall time plus an offset that tests advance instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone


class SandboxClock:
    """`now()` in epoch seconds; `advance(s)` moves it forward (tokens expire, windows roll)."""

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self._base = base
        self.offset = 0.0

    def now(self) -> float:
        return self._base() + self.offset

    def advance(self, seconds: float) -> float:
        self.offset += seconds
        return self.now()

    def reset(self) -> None:
        self.offset = 0.0


def parse_offset(text: str) -> timezone:
    sign = -1 if text.startswith("-") else 1
    hours, minutes = text.lstrip("+-").split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def format_zoho_time(epoch: float, offset: str) -> str:
    """Zoho's datetime shape: ISO-8601, second precision, the user's offset ("2026-05-14T12:51:36+03:00")."""
    return datetime.fromtimestamp(int(epoch), parse_offset(offset)).isoformat()


def parse_zoho_time(text: str) -> datetime | None:
    """Parse an ISO datetime with offset (a `+` that arrived as a space is tolerated); None if malformed."""
    value = text.strip()
    if len(value) > 19 and value[19] == " ":
        value = value[:19] + "+" + value[20:]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed
