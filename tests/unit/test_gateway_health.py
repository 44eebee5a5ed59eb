"""The zoho://health document, the circuit listeners and the health monitor's lifecycle."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from test_gateway_fakes import fresh_logging, ID, REFRESH, SECRET, FakeTier, make_gateway, settings, three
from zoho_mcp.gateway import ZohoGateway, build_gateway
from zoho_mcp.resilience.errors import AllTiersFailed
from zoho_mcp.tiers.base import AuthError, GetRecords, TransientError
from zoho_mcp.tiers.selector import RoutingHints

pytestmark = pytest.mark.anyio
__all__ = ["fresh_logging"]  # autouse fixture, imported to apply here

READ = GetRecords("Accounts", (ID,))
READ_OK = None  # a FakeTier step that answers normally
TIER_KEYS = {
    "enabled",
    "circuit",
    "healthy",
    "last_check",
    "requests",
    "successes",
    "failures",
    "success_rate",
    "latency_ms",
    "errors_by_category",
}


def assert_shape(doc: dict) -> None:
    assert set(doc) == {"status", "tiers", "limits"}
    assert doc["status"] in {"healthy", "degraded", "unhealthy"}
    assert set(doc["tiers"]) == {"mcp", "sdk", "rest"}
    for entry in doc["tiers"].values():
        assert set(entry) == TIER_KEYS
        assert entry["circuit"] in {"closed", "open", "half_open"}
        assert set(entry["latency_ms"]) == {"p50", "p95", "p99"}
        assert isinstance(entry["enabled"], bool) and isinstance(entry["healthy"], bool)
    assert {"in_flight", "limit", "credits_used", "credits_remaining", "credits_low"} <= set(doc["limits"])
    json.dumps(doc)


async def test_fresh_gateway_is_healthy_with_every_tier_listed() -> None:
    gw, _, _ = make_gateway(three())
    doc = gw.health()
    assert_shape(doc)
    assert doc["status"] == "healthy"
    assert all(t["enabled"] and t["circuit"] == "closed" and t["healthy"] for t in doc["tiers"].values())
    assert doc["tiers"]["sdk"]["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    assert doc["tiers"]["sdk"]["last_check"] is None


async def test_health_counts_calls_and_latency() -> None:
    gw, clock, _ = make_gateway(three(mcp=(TransientError("down", code="HTTP_503", status=503, tier="mcp"),)))
    await gw.execute(READ, RoutingHints(agent=True))
    doc = gw.health()
    assert_shape(doc)
    mcp, sdk = doc["tiers"]["mcp"], doc["tiers"]["sdk"]
    assert (mcp["requests"], mcp["successes"], mcp["failures"]) == (3, 0, 3)
    assert mcp["errors_by_category"] == {"transient": 3}
    assert mcp["success_rate"] == 0.0
    assert (sdk["requests"], sdk["successes"], sdk["success_rate"]) == (1, 1, 1.0)
    assert sdk["latency_ms"]["p50"] == 0.0  # the fake clock did not move
    # MCP is closed but failed every recent call (3 of 3): not healthy, while SDK serves
    assert mcp["circuit"] == "closed" and mcp["healthy"] is False and sdk["healthy"] is True
    assert doc["status"] == "degraded"


async def test_disabled_tier_is_listed_but_not_counted() -> None:
    tiers = {"sdk": FakeTier("sdk"), "mcp": FakeTier("mcp")}
    gw, _, _ = make_gateway(tiers, enable_rest=False)
    doc = gw.health()
    assert_shape(doc)
    assert doc["tiers"]["rest"]["enabled"] is False
    assert doc["tiers"]["rest"]["healthy"] is False
    assert doc["status"] == "healthy"


async def test_status_degraded_then_unhealthy_as_circuits_open() -> None:
    gw, clock, _ = make_gateway(three())
    gw.breakers["mcp"].force_open()
    doc = gw.health()
    assert doc["status"] == "degraded"
    assert doc["tiers"]["mcp"]["circuit"] == "open" and doc["tiers"]["mcp"]["healthy"] is False
    gw.breakers["sdk"].force_open()
    gw.breakers["rest"].force_open()
    assert gw.health()["status"] == "unhealthy"
    clock.advance(61)
    doc = gw.health()
    assert doc["status"] == "degraded"  # half-open tiers can serve trials
    assert {t["circuit"] for t in doc["tiers"].values()} == {"half_open"}


async def test_no_enabled_tier_is_unhealthy() -> None:
    gw, _, _ = make_gateway({})  # Settings refuse every tier off; no tier object means none enabled
    assert gw.health()["status"] == "unhealthy"


async def test_low_credits_degrade() -> None:
    tiers = three()
    tiers["sdk"].last_credits_remaining = 10
    gw, _, _ = make_gateway(tiers)
    await gw.execute(READ)
    doc = gw.health()
    assert doc["limits"]["credits_low"] is True
    assert doc["status"] == "degraded"


async def test_no_secret_in_health_even_after_errors_that_carry_one() -> None:
    leak = AuthError(f"refused client_secret={SECRET} token {REFRESH}", code="INVALID_CLIENT", tier="mcp")
    gw, _, _ = make_gateway(three(mcp=(leak,)))
    await gw.execute(READ, RoutingHints(agent=True))
    text = json.dumps(gw.health())
    for secret in (SECRET, REFRESH, "secret-mcp-key-0000"):
        assert secret not in text


async def test_circuit_listener_receives_transitions() -> None:
    gw, _, _ = make_gateway(three(mcp=(TransientError("down", tier="mcp"),)), breaker_failure_threshold=1)
    seen: list[tuple[str, str, str]] = []
    gw.add_circuit_listener(lambda tier, old, new: seen.append((tier, old, new)))
    await gw.execute(READ, RoutingHints(agent=True))
    assert seen == [("mcp", "closed", "open")]
    body, content_type = gw.metrics.render()
    assert b'zoho_mcp_breaker_state{state="open",tier="mcp"} 1.0' in body
    assert content_type.startswith("text/plain")


async def test_monitor_probes_close_a_half_open_breaker_and_aclose_closes_tiers() -> None:
    tiers = three()
    gw, clock, sleep = make_gateway(tiers, breaker_success_threshold=2)
    gw.breakers["sdk"].force_open()
    clock.advance(61)

    async with gw:
        await sleep.called.wait()  # first round done (probes run at once), now sleeping the interval
        assert sleep.delays == [30.0]
        assert gw.breakers["sdk"].state == "half_open"  # one trial success of two
        sleep.called = anyio.Event()
        sleep.fire()
        await sleep.called.wait()
        assert gw.breakers["sdk"].state == "closed"
        doc = gw.health()
        assert doc["status"] == "healthy"
        assert all(t["last_check"] is not None for t in doc["tiers"].values())

    assert all(t.probes == 2 for t in tiers.values())
    assert all(t.closed for t in tiers.values())


async def test_failed_probe_marks_tier_unhealthy() -> None:
    tiers = three()
    tiers["rest"].probe_error = TransientError("down", code="HTTP_503", status=503, tier="rest")
    gw, _, sleep = make_gateway(tiers)
    await gw.start()
    try:
        await sleep.called.wait()
        doc = gw.health()
        assert doc["tiers"]["rest"]["healthy"] is False
        assert doc["tiers"]["rest"]["circuit"] == "closed"
        assert doc["status"] == "degraded"
        assert gw.breakers["rest"].failure_count == 1
    finally:
        await gw.aclose()
    await gw.aclose()  # idempotent


async def test_build_gateway_uses_the_tier_factory(tmp_path: Path) -> None:
    s = settings(enable_mcp=False, enable_sdk=False, state_dir=tmp_path)
    gw = await build_gateway(s)
    try:
        assert isinstance(gw, ZohoGateway)
        assert list(gw.tiers) == ["rest"] and gw.enabled == ["rest"]
        assert gw.health()["tiers"]["mcp"]["enabled"] is False
    finally:
        await gw.aclose()


async def test_every_tier_failing_is_unhealthy_not_degraded() -> None:
    """UAT: 503 on every surface — MCP and SDK circuits open, REST failing 3 of its last 4 calls —
    was reported `degraded` with REST `healthy: true`. No enabled tier is healthy: `unhealthy`."""
    down = TransientError("down", code="HTTP_503", status=503, tier="rest")
    tiers = three(rest=(down, READ_OK, down, down))
    gw, _, _ = make_gateway(tiers, retry_max_attempts=1)
    gw.breakers["mcp"].force_open()
    gw.breakers["sdk"].force_open()
    for _ in range(4):
        try:
            await gw.execute(READ)
        except AllTiersFailed:
            pass
    doc = gw.health()
    assert_shape(doc)
    rest = doc["tiers"]["rest"]
    assert (rest["circuit"], rest["requests"], rest["failures"]) == ("closed", 4, 3)
    assert rest["healthy"] is False
    assert doc["tiers"]["mcp"]["healthy"] is False and doc["tiers"]["sdk"]["healthy"] is False
    assert doc["status"] == "unhealthy"


async def test_a_failed_probe_makes_a_closed_tier_unhealthy() -> None:
    tiers = three()
    tiers["rest"].probe_error = TransientError("down", code="HTTP_503", status=503, tier="rest")
    gw, _, _ = make_gateway(tiers)
    doc = await gw.check_health()
    assert_shape(doc)
    assert doc["tiers"]["rest"]["circuit"] == "closed" and doc["tiers"]["rest"]["healthy"] is False
    assert doc["status"] == "degraded"


async def test_health_recovers_after_outage_when_probes_succeed() -> None:
    """UAT: every tier failed, faults cleared, probes closed the circuits and MCP served calls again,
    yet health stayed `unhealthy` with every tier unhealthy: the backups got no calls, and their old
    failed calls still judged them. A successful probe starts the judgement afresh."""
    down = {name: TransientError("down", code="HTTP_503", status=503, tier=name) for name in ("mcp", "sdk", "rest")}
    tiers = three(mcp=(down["mcp"],), sdk=(down["sdk"],), rest=(down["rest"],))
    gw, clock, _ = make_gateway(tiers)
    for _ in range(10):
        with pytest.raises(AllTiersFailed):
            await gw.execute(READ, RoutingHints(agent=True))
    assert gw.health()["status"] == "unhealthy"

    for tier in tiers.values():
        tier.script(READ_OK)
    clock.advance(61)
    for _ in range(2):  # success_threshold trials: every circuit closes
        await gw.check_health()
    assert set(gw.breakers.states().values()) == {"closed"}
    backup_calls = (tiers["sdk"].calls, tiers["rest"].calls)
    assert all(n >= 3 for n in backup_calls)
    for _ in range(5):
        await gw.execute(READ, RoutingHints(agent=True))
    assert (tiers["sdk"].calls, tiers["rest"].calls) == backup_calls  # no traffic since the outage

    doc = gw.health()
    assert doc["status"] == "healthy"
    assert all(t["healthy"] for t in doc["tiers"].values())
    assert doc["tiers"]["mcp"]["successes"] == 5  # the totals are history, kept
    assert doc["tiers"]["sdk"]["failures"] == backup_calls[0] and doc["tiers"]["sdk"]["success_rate"] == 0.0


async def test_failed_probe_keeps_a_failing_tier_unhealthy() -> None:
    tiers = three(mcp=(TransientError("down", code="HTTP_503", status=503, tier="mcp"),))
    gw, _, _ = make_gateway(tiers, breaker_failure_threshold=100)
    for _ in range(2):
        await gw.execute(READ, RoutingHints(agent=True))
    tiers["mcp"].probe_error = TransientError("down", code="HTTP_503", status=503, tier="mcp")
    doc = await gw.check_health()
    assert doc["tiers"]["mcp"]["healthy"] is False and doc["status"] == "degraded"
