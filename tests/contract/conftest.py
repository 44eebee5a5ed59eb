"""Builds each tier against the sandbox, so one contract suite runs over all three."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from zoho_mcp.config import Settings
from zoho_mcp.tiers.auth import TokenManager
from zoho_mcp.tiers.base import Tier

TIER_NAMES = ("mcp", "sdk", "rest")
_MODULES = {"mcp": ("zoho_mcp.tiers.mcp", "McpTier"), "sdk": ("zoho_mcp.tiers.sdk", "SdkTier"), "rest": ("zoho_mcp.tiers.rest", "RestTier")}


def tier_class(name: str) -> Any:
    """The tier's class. Every tier must import: a missing one fails the suite, it is never skipped."""
    module_name, cls_name = _MODULES[name]
    return getattr(importlib.import_module(module_name), cls_name)


def make_tier(name: str, settings: Settings, auth: TokenManager | None = None) -> tuple[Tier, TokenManager | None]:
    cls = tier_class(name)
    if name == "mcp":
        return cls(settings), None
    auth = auth or TokenManager(settings)
    return cls(settings, auth), auth


@pytest.fixture
def tier_factory() -> Any:
    """`make_tier(name, settings, auth=None) -> (tier, auth)` for tests that need several tiers."""
    return make_tier


@pytest.fixture(params=TIER_NAMES)
def tier_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def tier(tier_name: str, sandbox_settings: Settings) -> AsyncIterator[Tier]:
    built, auth = make_tier(tier_name, sandbox_settings)
    try:
        yield built
    finally:
        await built.aclose()
        if auth is not None:
            await auth.aclose()
