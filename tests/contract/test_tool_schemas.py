"""What agents see (tools/list) is pinned in a committed snapshot, so every change to it is deliberate.

Regenerate after an intended change with:  UPDATE_SNAPSHOTS=1 python -m pytest tests/contract/test_tool_schemas.py
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from zoho_mcp.config import Settings
from zoho_mcp.gateway import ZohoGateway, build_gateway
from zoho_mcp.server import build_server

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"


@pytest.fixture
async def gateway(sandbox_settings: Settings) -> AsyncIterator[ZohoGateway]:
    gw = await build_gateway(sandbox_settings)
    try:
        yield gw
    finally:
        await gw.aclose()


async def _listing(settings: Settings, gateway: ZohoGateway) -> list[dict[str, Any]]:
    async with Client(build_server(settings, gateway), mode="legacy") as c:
        tools = (await c.list_tools()).tools
    dumped = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]
    return sorted(dumped, key=lambda t: t["name"])


async def test_tools_list_matches_the_committed_snapshot(sandbox_settings: Settings, gateway: ZohoGateway) -> None:
    listing = await _listing(sandbox_settings, gateway)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(listing, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert SNAPSHOT.exists(), "no snapshot yet: run with UPDATE_SNAPSHOTS=1 and commit it"
    expected = json.loads(SNAPSHOT.read_text())
    assert listing == expected, (
        "tools/list changed. If the change is intended, regenerate with UPDATE_SNAPSHOTS=1 and commit "
        f"{SNAPSHOT.relative_to(Path.cwd()) if SNAPSHOT.is_relative_to(Path.cwd()) else SNAPSHOT}"
    )


async def test_read_only_listing_is_the_snapshot_without_write_tools(
    sandbox_settings: Settings, gateway: ZohoGateway
) -> None:
    listing = await _listing(sandbox_settings.model_copy(update={"read_only": True}), gateway)
    expected = [t for t in json.loads(SNAPSHOT.read_text()) if t["annotations"]["readOnlyHint"] is True]
    assert listing == expected


def test_snapshot_sets_every_annotation_explicitly() -> None:
    for tool in json.loads(SNAPSHOT.read_text()):
        annotations = tool["annotations"]
        for hint in ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint", "title"):
            assert hint in annotations, (tool["name"], hint)
        assert tool["title"] and tool["outputSchema"]["type"] == "object"
        assert len(tool["name"]) <= 64
