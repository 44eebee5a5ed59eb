"""Streamable HTTP transport: `/mcp` (stateless), `GET /healthz`, `GET /metrics`, optional bearer token.

Stateless means no standalone server-to-client stream: `GET /mcp` answers 405 with `Allow: POST`
(as the streamable-HTTP spec allows) instead of opening an event stream nothing is ever sent on,
and `resources/subscribe` is not offered, since no notification could ever reach the subscriber.

Bound to loopback, the server is reachable only from this machine and the token is optional. Bound
anywhere else it refuses to start without ZOHO_MCP_SERVER_TOKEN (checked in `run_serve`), and then
every request, probes included, must carry `Authorization: Bearer <token>`. Host/Origin checks
against DNS rebinding stay on in both cases.
"""

from __future__ import annotations

import hmac
import socket
from typing import Any

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from zoho_mcp.config import Settings
from zoho_mcp.logs import get_logger
from zoho_mcp.resources import disable_legacy_subscriptions

log = get_logger(__name__)

MCP_PATH = "/mcp"
_LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]


class BearerTokenMiddleware:
    """Refuse any HTTP request without the server token (constant-time comparison)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scheme, _, value = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self._token):
            response = JSONResponse(
                {
                    "error": "unauthorized",
                    "message": "this server requires 'Authorization: Bearer <ZOHO_MCP_SERVER_TOKEN>'",
                },
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="zoho-mcp"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class TransportGuard:
    """Host/Origin checks on every path (not only /mcp), and 405 for the stream stateless HTTP cannot serve.

    Without the checks on /healthz and /metrics, a DNS-rebinding page could read them from a browser
    on this machine; the SDK checks only its own /mcp endpoint.
    """

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings, *, mcp_path: str = MCP_PATH) -> None:
        self.app = app
        self._security = TransportSecurityMiddleware(security)
        self._mcp_path = mcp_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refused = await self._security.validate_request(request, is_post=False)
        if refused is not None:
            await refused(scope, receive, send)
            return
        path = scope.get("path", "").rstrip("/") or "/"
        if path == self._mcp_path and scope.get("method") in ("GET", "DELETE"):
            response = JSONResponse(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {
                        "code": -32000,
                        "message": "Method Not Allowed: this server is stateless and has no server-to-client "
                        "stream or session; send JSON-RPC requests with POST (notifications need stdio)",
                    },
                },
                status_code=405,
                headers={"Allow": "POST"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


#: A shorter bearer token can be guessed; the server refuses it for non-loopback binds.
MIN_TOKEN_LENGTH = 16


def server_token(settings: Settings) -> str | None:
    """The configured bearer token, or None when unset or blank (a blank token must never open the door)."""
    if settings.server_token is None:
        return None
    token = settings.server_token.get_secret_value().strip()
    return token or None


def transport_security(host: str) -> TransportSecuritySettings:
    """Host/Origin allow-lists: loopback names always, plus the bound address and this machine's names."""
    names = list(_LOOPBACK_HOSTS)
    if host not in ("0.0.0.0", "::", ""):
        names.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    else:
        hostname = socket.gethostname()
        names += [hostname, socket.getfqdn()]
        try:
            names += socket.gethostbyname_ex(hostname)[2]
        except OSError:
            pass
    names = list(dict.fromkeys(n for n in names if n))
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{n}:*" for n in names] + names,
        allowed_origins=[f"{scheme}://{n}:*" for n in names for scheme in ("http", "https")]
        + [f"{scheme}://{n}" for n in names for scheme in ("http", "https")],
    )


def build_http_app(server: Any, settings: Settings, *, host: str = "127.0.0.1") -> ASGIApp:
    """The ASGI app for `server` (from `build_server`): MCP at /mcp plus /healthz and /metrics."""
    state = server.zoho_state

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(_: Request) -> Response:
        gateway = state.gateway
        if gateway is None or getattr(gateway, "metrics", None) is None:
            return Response("# gateway not started\n", media_type="text/plain; version=0.0.4")
        body, content_type = gateway.metrics.render()
        return Response(body, media_type=content_type)

    server.custom_route("/healthz", methods=["GET"], include_in_schema=False)(healthz)
    server.custom_route("/metrics", methods=["GET"], include_in_schema=False)(metrics)
    disable_legacy_subscriptions(server)
    security = transport_security(host)
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        transport_security=security,
        host=host,
    )
    app = TransportGuard(app, security)
    token = server_token(settings)
    if token is not None:
        app = BearerTokenMiddleware(app, token)
    return app


def run_http(server: Any, settings: Settings, *, host: str, port: int) -> None:
    import uvicorn

    app = build_http_app(server, settings, host=host)
    log.info(
        "http_listening",
        url=f"http://{host}:{port}{MCP_PATH}",
        auth="bearer token" if server_token(settings) is not None else "none (loopback only)",
    )
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
