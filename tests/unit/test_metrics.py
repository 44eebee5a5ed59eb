"""Prometheus metrics in a private registry, rendered in the exposition format."""

from __future__ import annotations

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from zoho_mcp.resilience.breakers import BreakerRegistry
from zoho_mcp.resilience.metrics import Metrics


class FakeClock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_calls_and_latency_by_tier_and_outcome() -> None:
    m = Metrics()
    m.observe_call("sdk", "success", 0.02)
    m.observe_call("sdk", "success", 0.3)
    m.observe_call("sdk", "failure", 1.5)
    m.observe_call("rest", "rejected")  # no latency for a call that never ran
    assert value(m, "zoho_mcp_tier_calls_total", tier="sdk", outcome="success") == 2
    assert value(m, "zoho_mcp_tier_calls_total", tier="sdk", outcome="failure") == 1
    assert value(m, "zoho_mcp_tier_calls_total", tier="rest", outcome="rejected") == 1
    assert value(m, "zoho_mcp_tier_call_latency_seconds_count", tier="sdk") == 3
    assert value(m, "zoho_mcp_tier_call_latency_seconds_sum", tier="sdk") == pytest.approx(1.82)
    assert value(m, "zoho_mcp_tier_call_latency_seconds_bucket", tier="sdk", le="0.025") == 1
    assert value(m, "zoho_mcp_tier_call_latency_seconds_count", tier="rest") is None


def test_retries_failovers_hedges_rejections() -> None:
    m = Metrics()
    m.retry("rest")
    m.retry("rest")
    m.failover("mcp", "sdk", "circuit_open")
    m.hedge("rest")
    m.rejected("mcp")
    assert value(m, "zoho_mcp_retries_total", tier="rest") == 2
    assert value(m, "zoho_mcp_failovers_total", from_tier="mcp", to_tier="sdk", reason="circuit_open") == 1
    assert value(m, "zoho_mcp_hedges_total", tier="rest") == 1
    assert value(m, "zoho_mcp_breaker_rejections_total", tier="mcp") == 1


def test_in_flight_gauge() -> None:
    m = Metrics()
    m.in_flight_inc("sdk")
    m.in_flight_inc("sdk")
    m.in_flight_dec("sdk")
    assert value(m, "zoho_mcp_in_flight", tier="sdk") == 1
    with pytest.raises(RuntimeError), m.track_in_flight("rest"):
        assert value(m, "zoho_mcp_in_flight", tier="rest") == 1
        raise RuntimeError("call failed")
    assert value(m, "zoho_mcp_in_flight", tier="rest") == 0


def test_breaker_state_is_one_gauge_per_state() -> None:
    m = Metrics()
    m.set_breaker_state("mcp", "closed")
    m.breaker_transition("mcp", "closed", "open")
    assert value(m, "zoho_mcp_breaker_state", tier="mcp", state="open") == 1
    assert value(m, "zoho_mcp_breaker_state", tier="mcp", state="closed") == 0
    assert value(m, "zoho_mcp_breaker_state", tier="mcp", state="half_open") == 0
    assert value(m, "zoho_mcp_breaker_transitions_total", tier="mcp", from_state="closed", to_state="open") == 1


@pytest.mark.anyio
async def test_usable_as_a_breaker_listener() -> None:
    m = Metrics()
    reg = BreakerRegistry(["sdk"], failure_threshold=1, clock=FakeClock())
    reg.add_listener(m.breaker_transition)

    async def fail() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await reg["sdk"].call(fail)
    assert value(m, "zoho_mcp_breaker_state", tier="sdk", state="open") == 1


def test_render_is_prometheus_text_from_a_private_registry() -> None:
    m = Metrics()
    m.init_tiers(["mcp", "sdk", "rest"])
    m.observe_call("mcp", "success", 0.01)
    body, content_type = m.render()
    assert isinstance(body, bytes)
    assert content_type.startswith("text/plain") and "version=" in content_type
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert {"zoho_mcp_tier_calls", "zoho_mcp_tier_call_latency_seconds", "zoho_mcp_retries", "zoho_mcp_failovers",
            "zoho_mcp_hedges", "zoho_mcp_breaker_transitions", "zoho_mcp_breaker_state",
            "zoho_mcp_in_flight"} <= set(families)
    retries = {s.labels["tier"]: s.value for s in families["zoho_mcp_retries"].samples if s.name.endswith("_total")}
    assert retries == {"mcp": 0.0, "sdk": 0.0, "rest": 0.0}
    assert prometheus_client.REGISTRY.get_sample_value("zoho_mcp_tier_calls_total", {"tier": "mcp", "outcome": "success"}) is None


def test_instances_do_not_share_state() -> None:
    a, b = Metrics(), Metrics()
    a.retry("sdk")
    assert value(a, "zoho_mcp_retries_total", tier="sdk") == 1
    assert value(b, "zoho_mcp_retries_total", tier="sdk") is None


def test_a_given_registry_is_used() -> None:
    registry = prometheus_client.CollectorRegistry()
    m = Metrics(registry)
    m.hedge("mcp")
    assert registry.get_sample_value("zoho_mcp_hedges_total", {"tier": "mcp"}) == 1
