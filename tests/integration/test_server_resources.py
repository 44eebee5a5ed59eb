"""zoho://health (shape, no secret, change notifications on both protocol eras) and the account template."""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.types import ResourceUpdatedNotification

from zoho_mcp.config import Settings
from zoho_mcp.gateway import ZohoGateway, build_gateway
from zoho_mcp.server import build_server

pytestmark = pytest.mark.anyio

TIER_KEYS = {
    "enabled", "circuit", "healthy", "last_check", "requests", "successes", "failures", "success_rate",
    "latency_ms", "errors_by_category",
}


@pytest.fixture
def fragile_settings(sandbox_settings: Settings) -> Settings:
    """One failure opens a circuit, so a single call shows a state change."""
    return sandbox_settings.model_copy(
        update={"breaker_failure_threshold": 1, "retry_max_attempts": 1, "hedge_enabled": False}
    )


@pytest.fixture
async def gateway(fragile_settings: Settings) -> AsyncIterator[ZohoGateway]:
    gw = await build_gateway(fragile_settings)
    try:
        yield gw
    finally:
        await gw.aclose()


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri, cache_mode="bypass")
    assert result.contents[0].mime_type == "application/json"
    return json.loads(result.contents[0].text)  # type: ignore[union-attr]


async def test_health_is_exactly_the_gateway_document(fragile_settings: Settings, gateway: ZohoGateway) -> None:
    async with Client(build_server(fragile_settings, gateway)) as c:
        listed = {str(r.uri): r for r in (await c.list_resources()).resources}
        assert listed["zoho://health"].mime_type == "application/json"
        health = await read_json(c, "zoho://health")
    assert health == json.loads(json.dumps(gateway.health(), default=str))
    assert_design_shape(health)
    blob = json.dumps(health)
    assert fragile_settings.client_secret.get_secret_value() not in blob  # type: ignore[union-attr]
    assert fragile_settings.refresh_token.get_secret_value() not in blob  # type: ignore[union-attr]
    assert "sandbox-mcp-key" not in blob


def assert_design_shape(health: dict[str, Any]) -> None:
    """DESIGN.md's document, key for key and type for type ("limits" is the one agreed extra)."""
    assert {"status", "tiers"} <= set(health) <= {"status", "tiers", "limits"}
    assert health["status"] in {"healthy", "degraded", "unhealthy"}
    assert set(health["tiers"]) == {"mcp", "sdk", "rest"}
    for tier in health["tiers"].values():
        assert set(tier) == TIER_KEYS
        assert isinstance(tier["enabled"], bool) and isinstance(tier["healthy"], bool)
        assert tier["circuit"] in {"closed", "open", "half_open"}
        assert tier["last_check"] is None or isinstance(tier["last_check"], (str, int, float))
        for count in ("requests", "successes", "failures"):
            assert isinstance(tier[count], int) and tier[count] >= 0
        assert tier["success_rate"] is None or 0 <= tier["success_rate"] <= 1
        assert set(tier["latency_ms"]) == {"p50", "p95", "p99"}
        assert isinstance(tier["errors_by_category"], dict)


async def test_health_after_traffic_has_no_secret_and_keeps_the_shape(
    fragile_settings: Settings, gateway: ZohoGateway, admin: Any
) -> None:
    ids = admin.record_ids("Accounts")
    async with Client(build_server(fragile_settings, gateway)) as c:
        await c.call_tool("get_account", {"account_id": ids[0]})
        await c.call_tool("bulk_read_accounts", {"account_ids": ids[:20]})
        admin.fault(surface="crm", mode="error", status=503, client="zcrmsdk")
        await c.call_tool("bulk_read_accounts", {"account_ids": ids[20:40]})
        health = await read_json(c, "zoho://health")
    assert_design_shape(health)
    assert health["tiers"]["mcp"]["requests"] >= 1 and health["tiers"]["sdk"]["failures"] >= 1
    access_token = await gateway.tiers["rest"].auth.get_token()  # type: ignore[attr-defined]
    blob = json.dumps(health)
    for secret in (
        fragile_settings.client_secret.get_secret_value(),  # type: ignore[union-attr]
        fragile_settings.refresh_token.get_secret_value(),  # type: ignore[union-attr]
        "sandbox-mcp-key-0000",
        access_token,
    ):
        assert secret not in blob


async def test_account_template_reads_one_account(
    fragile_settings: Settings, gateway: ZohoGateway, admin: Any
) -> None:
    account_id = admin.record_ids("Accounts")[0]
    async with Client(build_server(fragile_settings, gateway)) as c:
        templates = (await c.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["zoho://accounts/{account_id}"]
        account = await read_json(c, f"zoho://accounts/{account_id}")
        assert account["id"] == account_id
        assert account["Account_Name"] == admin.record("Accounts", account_id)["Account_Name"]
        admin.clear_journal()
        with pytest.raises(MCPError):
            await c.read_resource("zoho://accounts/not-an-id", cache_mode="bypass")
        assert admin.journal() == []
        with pytest.raises(MCPError):
            await c.read_resource("zoho://accounts/1111111111111111111", cache_mode="bypass")


async def test_legacy_subscribers_are_told_when_a_circuit_changes(
    fragile_settings: Settings, gateway: ZohoGateway, admin: Any
) -> None:
    account_id = admin.record_ids("Accounts")[0]
    updated = anyio.Event()
    seen: list[str] = []

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, ResourceUpdatedNotification):
            seen.append(str(root.params.uri))
            updated.set()

    async with Client(build_server(fragile_settings, gateway), mode="legacy", message_handler=on_message) as c:
        assert c.server_capabilities.resources is not None
        assert c.server_capabilities.resources.subscribe is True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await c.subscribe_resource("zoho://health")
        admin.fault(surface="mcp", mode="error", status=503)
        r = await c.call_tool("get_account", {"account_id": account_id})
        assert not r.is_error  # failed over
        with anyio.fail_after(5):
            await updated.wait()
        assert "zoho://health" in seen
        health = await read_json(c, "zoho://health")
        assert health["tiers"]["mcp"]["circuit"] == "open"
        assert health["status"] == "degraded"


async def test_listen_streams_are_told_when_a_circuit_changes(
    fragile_settings: Settings, gateway: ZohoGateway, admin: Any
) -> None:
    account_id = admin.record_ids("Accounts")[0]
    async with Client(build_server(fragile_settings, gateway)) as c:
        async with c.listen(resource_subscriptions=["zoho://health"]) as sub:
            admin.fault(surface="mcp", mode="error", status=503)
            r = await c.call_tool("get_account", {"account_id": account_id})
            assert not r.is_error
            with anyio.fail_after(5):
                async for event in sub:
                    assert getattr(event, "uri", None) == "zoho://health"
                    break
