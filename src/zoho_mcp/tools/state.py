"""What the tools and resources share: settings, the gateway and its field catalogue.

Static MCP resources get no Context in mcp 2.x, so they read this holder through a closure; the
gateway itself may be attached later (built in the lifespan when the server owns it), so the field
catalogue follows whichever gateway is attached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from zoho_mcp.config import Settings
from zoho_mcp.tools.fields import FieldCatalog

if TYPE_CHECKING:
    from zoho_mcp.tiers.base import Operation, Result
    from zoho_mcp.tiers.selector import RoutingHints


class Gateway(Protocol):
    """The slice of `ZohoGateway` the server uses."""

    async def execute(self, op: Operation, hints: RoutingHints = ...) -> Result: ...

    def health(self) -> dict[str, Any]: ...

    def add_circuit_listener(self, fn: Any) -> None: ...


@dataclass
class ServerState:
    settings: Settings
    gateway: Gateway | None = None
    catalog: FieldCatalog | None = field(default=None, repr=False)

    def field_catalog(self) -> FieldCatalog | None:
        """The catalogue over the attached gateway (None before one is attached)."""
        if self.gateway is None:
            return None
        if self.catalog is None or self.catalog.gateway is not self.gateway:
            self.catalog = FieldCatalog(self.gateway)
        return self.catalog

    def require_gateway(self) -> Gateway:
        if self.gateway is None:
            from zoho_mcp.tools.errors import ZOHO_UNAVAILABLE, ToolFailure

            raise ToolFailure(ZOHO_UNAVAILABLE, "the server is still starting its Zoho connection",
                              hint="Retry in a moment.")
        return self.gateway
