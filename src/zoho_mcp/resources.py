"""MCP resources: `zoho://health` (subscribable) and the `zoho://accounts/{account_id}` template.

Static resources get no Context in mcp 2.x, so health reads the shared `ServerState` through a
closure. Circuit changes reach subscribers on both protocol eras: `subscriptions/listen` streams
(2026-07-28) through the server's subscription bus, and `resources/subscribe` sessions (2025-11-25)
through `notifications/resources/updated`. Breaker listeners are synchronous, so a small pump task
(started in the server lifespan) does the async sending.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.session import ServerSession
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from zoho_mcp.logs import get_logger, redact_value
from zoho_mcp.tiers.base import BusinessError, GetRecords, GetResult, InvalidRequestError
from zoho_mcp.tiers.selector import RoutingHints
from zoho_mcp.tools.state import ServerState

log = get_logger(__name__)

HEALTH_URI = "zoho://health"
ACCOUNT_TEMPLATE = "zoho://accounts/{account_id}"


class HealthNotifier:
    """Fans a circuit state change out as `resources/updated` for zoho://health."""

    def __init__(self, bus: SubscriptionBus) -> None:
        self._bus = bus
        self._sessions: list[ServerSession] = []
        self._pumps: list[tuple[MemoryObjectSendStream[str], Any, int]] = []

    def on_circuit_change(self, tier: str, old: str, new: str) -> None:
        """Breaker listener (sync): queue one notification per running pump; never raises."""
        log.info("circuit_changed", tier=tier, old=str(old), new=str(new))
        for send, token, thread_id in list(self._pumps):
            try:
                if threading.get_ident() == thread_id:
                    send.send_nowait(HEALTH_URI)
                else:
                    anyio.from_thread.run_sync(send.send_nowait, HEALTH_URI, token=token)
            except Exception:  # a full or closed pump must not break the breaker's caller
                log.debug("health_notification_dropped", tier=tier)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        send, recv = anyio.create_memory_object_stream[str](100)
        entry = (send, anyio.lowlevel.current_token(), threading.get_ident())
        self._pumps.append(entry)
        try:
            task_status.started()
            async with recv:
                async for uri in recv:
                    await self._deliver(uri)
        finally:
            self._pumps.remove(entry)
            send.close()

    async def _deliver(self, uri: str) -> None:
        await self._bus.publish(ResourceUpdated(uri=uri))
        for session in list(self._sessions):
            try:
                await session.send_resource_updated(uri)
            except Exception:
                log.debug("subscriber_gone")
                if session in self._sessions:
                    self._sessions.remove(session)

    async def subscribe(self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
        if str(params.uri) == HEALTH_URI and ctx.session not in self._sessions:
            self._sessions.append(ctx.session)
        return EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        if str(params.uri) == HEALTH_URI and ctx.session in self._sessions:
            self._sessions.remove(ctx.session)
        return EmptyResult()


def health_document(state: ServerState) -> dict[str, Any]:
    """gateway.health() as is, with any secret-looking value masked."""
    gateway = state.gateway
    if gateway is None:
        raise ResourceError("the Zoho gateway is still starting; read zoho://health again in a moment")
    return redact_value(gateway.health())


def register(server: MCPServer, state: ServerState, notifier: HealthNotifier) -> None:
    @server.resource(
        HEALTH_URI,
        name="health",
        title="Zoho connection health",
        description="Status of the three ways this server reaches Zoho (hosted MCP, SDK, REST): circuit state, "
        "success rate, latency percentiles, errors by category. Subscribe to be told when a circuit changes.",
        mime_type="application/json",
    )
    async def health() -> str:  # async: read breaker state on the event loop, not a worker thread
        return json.dumps(health_document(state), default=str)

    @server.resource(
        ACCOUNT_TEMPLATE,
        name="account",
        title="Zoho account",
        description="One Zoho CRM account by record id (18-19 digits), as JSON keyed by field API names.",
        mime_type="application/json",
    )
    async def account(account_id: str) -> str:
        try:
            op = GetRecords("Accounts", (account_id,))
        except InvalidRequestError as exc:
            raise ResourceNotFoundError(f"{exc.message}") from None
        try:
            result = await state.require_gateway().execute(op, RoutingHints(agent=True))
        except BusinessError as exc:
            raise ResourceNotFoundError(f"no account {account_id}: {exc.code} {exc.message}") from None
        except Exception as exc:  # transient, auth, all tiers down: say so without internals
            raise ResourceError(f"Zoho could not be reached ({type(exc).__name__}); see zoho://health") from None
        assert isinstance(result, GetResult)
        if not result.records:
            raise ResourceNotFoundError(f"no account has id {account_id}")
        return json.dumps(result.records[0], default=str)

    server._lowlevel_server.add_request_handler(  # legacy-era subscriptions; MCPServer has no public hook
        "resources/subscribe", SubscribeRequestParams, notifier.subscribe
    )
    server._lowlevel_server.add_request_handler(
        "resources/unsubscribe", UnsubscribeRequestParams, notifier.unsubscribe
    )


def disable_legacy_subscriptions(server: MCPServer) -> None:
    """Withdraw `resources/subscribe` (and its capability) for stateless HTTP, where no notification can arrive.

    The SDK advertises `resources.subscribe` exactly when a handler is registered, so removing the
    handlers is what stops the capability being offered; a client that calls it anyway gets
    "method not found" instead of an `{}` that promises notifications never sent.
    """
    handlers = server._lowlevel_server._request_handlers  # no public way to remove a handler
    for method in ("resources/subscribe", "resources/unsubscribe"):
        handlers.pop(method, None)
