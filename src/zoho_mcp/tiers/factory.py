"""Build the enabled tiers from Settings, with one shared TokenManager for the SDK and REST tiers.

The SDK and MCP tiers are imported only when enabled: the SDK drags in zcrmsdk (and its global
state), the MCP tier the mcp client; a deployment that disables them should not pay for either.
"""

from __future__ import annotations

from collections.abc import Mapping

from zoho_mcp.config import Settings
from zoho_mcp.logs import get_logger
from zoho_mcp.tiers.auth import TokenManager
from zoho_mcp.tiers.base import Tier

log = get_logger(__name__)


class TierMap(dict[str, Tier]):
    """A plain dict of tiers that also remembers the TokenManager they share (for `close_tiers`)."""

    auth: TokenManager | None = None


def build_tiers(settings: Settings, *, auth: TokenManager | None = None) -> dict[str, Tier]:
    """The enabled tiers, in MCP → SDK → REST order; SDK and REST share `auth` (built if not given)."""
    tiers = TierMap()
    enabled = settings.enabled_tiers
    if auth is None and ("sdk" in enabled or "rest" in enabled):
        auth = TokenManager(settings)
    for name in enabled:
        if name == "mcp":
            from zoho_mcp.tiers.mcp import McpTier

            tiers["mcp"] = McpTier(settings)
        elif name == "sdk":
            from zoho_mcp.tiers.sdk import SdkTier

            assert auth is not None
            tiers["sdk"] = SdkTier(settings, auth)
        elif name == "rest":
            from zoho_mcp.tiers.rest import RestTier

            assert auth is not None
            tiers["rest"] = RestTier(settings, auth)
    tiers.auth = auth
    log.info("tiers built", tiers=list(tiers))
    return tiers


async def close_tiers(tiers: Mapping[str, Tier], *, close_auth: bool = True) -> None:
    """Close every tier, then (by default) the TokenManager(s) they share; errors are logged, not raised."""
    managers: list[TokenManager] = []
    shared = getattr(tiers, "auth", None)
    if isinstance(shared, TokenManager):
        managers.append(shared)
    for name, tier in tiers.items():
        try:
            await tier.aclose()
        except Exception as exc:  # noqa: BLE001 - closing must reach every tier
            log.warning("closing a tier failed", tier=name, error=type(exc).__name__)
        manager = getattr(tier, "auth", None)
        if isinstance(manager, TokenManager) and all(manager is not m for m in managers):
            managers.append(manager)
    if close_auth:
        for manager in managers:
            await manager.aclose()
