"""Streamable HTTP transport: `/mcp` (stateless), `GET /healthz`, `GET /metrics`, optional bearer token.

Bound to loopback, the server is reachable only from this machine and the token is optional. Bound
anywhere else it refuses to start without ZOHO_MCP_SERVER_TOKEN (checked in `run_serve`), and then
every request, probes included, must carry `Authorization: Bearer <token>`. Host/Origin checks
against DNS rebinding stay on in both cases.
"""

from __future__ import annotations

import hmac
import socket
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from zoho_mcp.config import Settings
from zoho_mcp.logs import get_logger

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
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        transport_security=transport_security(host),
        host=host,
    )
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
