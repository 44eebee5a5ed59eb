"""Prometheus metrics for the gateway, in a registry of their own (never the global one).

Every recording method is on the call path, so label children are cached in plain dicts after first
use: a call costs a dict lookup plus prometheus-client's own locked increment, a few microseconds.
Label values are bounded (tier names, outcome words, state names); no ids ever become labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "BREAKER_STATES", "LATENCY_BUCKETS"]

BREAKER_STATES = ("closed", "open", "half_open")
#: Seconds; from a fast local sandbox call to Zoho's slowest tier timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The gateway's counters, histogram and gauges; `render()` gives the exposition text."""

    def __init__(self, registry: CollectorRegistry | None = None, *, namespace: str = "zoho_mcp") -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        ns = namespace
        self.calls = Counter("tier_calls", "Tier calls by outcome", ["tier", "outcome"], namespace=ns, registry=r)
        self.latency = Histogram(
            "tier_call_latency_seconds", "Tier call latency", ["tier"], namespace=ns, registry=r, buckets=LATENCY_BUCKETS
        )
        self.retries = Counter("retries", "Retries of a tier call", ["tier"], namespace=ns, registry=r)
        self.failovers = Counter(
            "failovers", "Moves from one tier to the next", ["from_tier", "to_tier", "reason"], namespace=ns, registry=r
        )
        self.hedges = Counter("hedges", "Hedged requests started", ["tier"], namespace=ns, registry=r)
        self.rejections = Counter(
            "breaker_rejections", "Calls refused by an open breaker", ["tier"], namespace=ns, registry=r
        )
        self.transitions = Counter(
            "breaker_transitions", "Breaker state changes", ["tier", "from_state", "to_state"], namespace=ns, registry=r
        )
        self.breaker_state = Gauge(
            "breaker_state", "1 for the breaker's current state, 0 for the others", ["tier", "state"], namespace=ns, registry=r
        )
        self.in_flight_gauge = Gauge("in_flight", "Calls in flight per tier", ["tier"], namespace=ns, registry=r)
        self._calls: dict[tuple[str, str], Any] = {}
        self._latency: dict[str, Any] = {}
        self._in_flight: dict[str, Any] = {}
        self._retries: dict[str, Any] = {}

    # --- per call ------------------------------------------------------------------------------

    def observe_call(self, tier: str, outcome: str, latency_s: float | None = None) -> None:
        """One finished tier call; outcome e.g. success | failure | business | rejected | cancelled."""
        key = (tier, outcome)
        child = self._calls.get(key)
        if child is None:
            child = self._calls[key] = self.calls.labels(tier, outcome)
        child.inc()
        if latency_s is not None:
            hist = self._latency.get(tier)
            if hist is None:
                hist = self._latency[tier] = self.latency.labels(tier)
            hist.observe(latency_s)

    def retry(self, tier: str) -> None:
        child = self._retries.get(tier)
        if child is None:
            child = self._retries[tier] = self.retries.labels(tier)
        child.inc()

    def failover(self, from_tier: str, to_tier: str, reason: str) -> None:
        self.failovers.labels(from_tier, to_tier, reason).inc()

    def hedge(self, tier: str) -> None:
        self.hedges.labels(tier).inc()

    def rejected(self, tier: str) -> None:
        self.rejections.labels(tier).inc()

    def _in_flight_child(self, tier: str) -> Any:
        child = self._in_flight.get(tier)
        if child is None:
            child = self._in_flight[tier] = self.in_flight_gauge.labels(tier)
        return child

    def in_flight_inc(self, tier: str) -> None:
        self._in_flight_child(tier).inc()

    def in_flight_dec(self, tier: str) -> None:
        self._in_flight_child(tier).dec()

    @contextmanager
    def track_in_flight(self, tier: str) -> Iterator[None]:
        child = self._in_flight_child(tier)
        child.inc()
        try:
            yield
        finally:
            child.dec()

    # --- breakers ------------------------------------------------------------------------------

    def set_breaker_state(self, tier: str, state: str) -> None:
        for s in BREAKER_STATES:
            self.breaker_state.labels(tier, s).set(1.0 if s == state else 0.0)

    def breaker_transition(self, tier: str, old: str, new: str) -> None:
        """Also usable as a breaker listener: `registry.add_listener(metrics.breaker_transition)`."""
        self.transitions.labels(tier, old, new).inc()
        self.set_breaker_state(tier, new)

    def init_tiers(self, tiers: Iterable[str]) -> None:
        """Create every tier's series at zero so dashboards see them before the first call."""
        for tier in tiers:
            self._in_flight_child(tier)
            self.retries.labels(tier)
            self.hedges.labels(tier)
            self.rejections.labels(tier)
            self.latency.labels(tier)

    # --- exposition ----------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
