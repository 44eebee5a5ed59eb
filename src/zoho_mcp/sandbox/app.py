"""The local Zoho on one port: OAuth, CRM REST v2, hosted MCP, admin API — plus the ways to run it.

The HTTP layer is a raw ASGI callable (no router, no middleware) so a get-by-id costs little more
than a dict lookup and a `json.dumps`; only the hosted-MCP path is handed to the mcp SDK's app.
Faults are applied here, per surface, before and after the shared CRM code runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

from zoho_mcp.logs import get_logger
from zoho_mcp.sandbox.admin import handle_admin
from zoho_mcp.sandbox.config import SandboxConfig
from zoho_mcp.sandbox.crm import CrmApi, CrmRequest
from zoho_mcp.sandbox.faults import FaultRule, drop_connection, wait_hang
from zoho_mcp.sandbox.mcp import MCP_JOURNAL_PATH, HostedMcp
from zoho_mcp.sandbox.oauth import THROTTLE_BODY, handle_token_request
from zoho_mcp.sandbox.responses import JSON_CONTENT_TYPE, Reply, dump_json, error, for_status, invalid_url, too_many_requests
from zoho_mcp.sandbox.state import SandboxState

__all__ = ["AsyncSandboxServer", "SandboxApp", "SandboxConfig", "SandboxServer", "build_app", "run_sandbox_cli"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = get_logger("zoho_mcp.sandbox")
MCP_MAX_BODY = 4 * 1024 * 1024


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge()
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _query(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    raw = scope.get("query_string", b"")
    if raw:
        for k, v in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            out.setdefault(k, v)
    return out


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    payload = b"" if body is None else dump_json(body)
    await _send_raw(send, status, payload, headers, json_body=body is not None)


async def _send_raw(send: Send, status: int, payload: bytes, headers: dict[str, str] | None, *, json_body: bool) -> None:
    raw_headers: list[tuple[bytes, bytes]] = []
    if json_body:
        raw_headers.append((b"content-type", JSON_CONTENT_TYPE.encode()))
        raw_headers.append((b"content-length", str(len(payload)).encode()))
    for k, v in (headers or {}).items():
        raw_headers.append((k.lower().encode("latin-1"), str(v).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload if json_body else b""})


async def _send_reply(send: Send, reply: Reply) -> None:
    if reply.body is None:
        await _send_raw(send, reply.status, b"", reply.headers, json_body=False)
    else:
        await _send_raw(send, reply.status, reply.encode(), reply.headers, json_body=True)


def _drop(receive: Receive) -> None:
    if not drop_connection(receive):
        raise ConnectionResetError("sandbox fault: connection reset")


def _client(headers: dict[str, str]) -> str:
    """How the journal names the caller: zcrmsdk sends its own X-ZOHO-SDK header."""
    return "zcrmsdk" if "x-zoho-sdk" in headers else "other"


#: `journal(status, **extra)`: one journal entry for the request being served.
Journal = Callable[..., None]


async def _deliver(rule: FaultRule | None, reply: Reply, journal: Journal, receive: Receive, send: Send) -> None:
    """Send `reply`, or with a `reset_after` fault, apply it and drop the connection instead."""
    if rule is not None and rule.mode == "reset_after":
        journal(None, applied_status=reply.status)
        _drop(receive)
        return
    journal(reply.status)
    await _send_reply(send, reply)


class SandboxApp:
    """The ASGI application. `.state` is the sandbox's whole state, shared with `SandboxServer`."""

    def __init__(self, config: SandboxConfig, base_url: str = "http://127.0.0.1") -> None:
        self.state = SandboxState(config)
        self.state.base_url = base_url
        self.crm = CrmApi(self.state)
        self.hosted_mcp = HostedMcp(self.state, self.crm)
        self.mcp_app = self.hosted_mcp.app()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            started = False

            async def tracked_send(message: MutableMapping[str, Any]) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                await send(message)

            try:
                await self._http(scope, receive, tracked_send)
            except (ClientGone, ConnectionResetError):
                if started or drop_connection(receive):
                    return
                raise
            except Exception:  # noqa: BLE001 - a sandbox bug must still answer like Zoho, never a stack trace
                log.exception("sandbox_error", path=scope.get("path"))
                if not started:
                    await _send_reply(send, error(500, "INTERNAL_ERROR", "Internal Server Error"))
            return
        if kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        self.loop = asyncio.get_running_loop()
        try:
            async with self.hosted_mcp.server.session_manager.run():
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
                self.state.faults.clear()
        except Exception as exc:  # noqa: BLE001 - lifespan must report, not crash uvicorn
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    def release_hangs_threadsafe(self) -> None:
        """Clear every fault (releasing hung requests) from another thread."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.state.faults.clear)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith("/crm/"):
            await self._crm(scope, receive, send)
        elif path.startswith("/__sandbox__/"):
            await self._admin(scope, receive, send)
        elif path.startswith("/oauth/"):
            await self._oauth(scope, receive, send)
        elif path.startswith("/mcp/") or path == "/mcp":
            await self._mcp(scope, receive, send)
        elif path == "/.well-known/oauth-protected-resource" or path.startswith("/.well-known/oauth-protected-resource/"):
            base = self.state.base_url
            await _send_json(send, 200, {"resource": f"{base}/mcp", "authorization_servers": [base],
                                         "bearer_methods_supported": ["header"], "scopes_supported": ["ZohoMCP.tool.execute"]})
        else:
            await _send_reply(send, invalid_url())

    # ------------------------------------------------------------------ admin

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(receive, 1024 * 1024)
        except BodyTooLarge:
            await _send_json(send, 413, {"error": "admin body too large"})
            return
        parts = [p for p in scope["path"][len("/__sandbox__/"):].split("/") if p]
        status, payload = handle_admin(self.state, scope["method"], parts, _query(scope), body)
        await _send_json(send, status, payload)

    # ------------------------------------------------------------------ CRM REST

    async def _crm(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        headers = _headers(scope)
        client = _client(headers)
        method: str = scope["method"]
        path: str = scope["path"]
        rule = state.faults.pick("crm", client, path) if state.faults else None
        journal = self._journal("crm", client, method, path, rule)
        if await self._answer_with_fault(rule, "crm", journal, receive, send):
            return
        try:
            body = await _read_body(receive, state.config.max_body_bytes)
        except BodyTooLarge:
            reply = error(413, "REQUEST_ENTITY_TOO_LARGE", "request entity too large", {"max_size": state.config.max_body_bytes})
            journal(413)
            await _send_reply(send, reply)
            return
        req = CrmRequest(method=method, path=path, query=_query(scope), headers=headers, body=body)
        delay = self._delay(rule, receive) if rule is not None and rule.mode in ("latency", "hang") else None
        try:
            reply = await self.crm.handle(req, delay=delay)
        except Exception:  # noqa: BLE001 - a sandbox bug must still look like Zoho, never a stack trace
            log.exception("sandbox_crm_error", path=path)
            reply = error(500, "INTERNAL_ERROR", "Internal Server Error")
        if reply.status == 499:
            journal(None)
            return
        await _deliver(rule, reply, journal, receive, send)

    def _journal(self, surface: str, client: str, method: str, path: str, rule: FaultRule | None, **extra: Any) -> Journal:
        if rule is not None:
            extra["fault"] = rule.id
        return functools.partial(self.state.log, surface, client, method, path, **extra)

    async def _answer_with_fault(
        self, rule: FaultRule | None, surface: str, journal: Journal, receive: Receive, send: Send
    ) -> bool:
        """Play a fault that replaces the answer (error, rate_limit, reset); True when one did."""
        if rule is None or rule.mode not in ("error", "rate_limit", "reset"):
            return False
        if rule.mode == "reset":
            journal(None)
            _drop(receive)
            return True
        reply = self._fault_reply(rule, surface)
        journal(reply.status)
        await _send_reply(send, reply)
        return True

    def _delay(self, rule: FaultRule, receive: Receive) -> Callable[[], Awaitable[Reply | None]]:
        state = self.state

        async def delay() -> Reply | None:
            if rule.mode == "latency":
                await asyncio.sleep(rule.latency_ms / 1000.0)
                return None
            outcome = await wait_hang(rule, receive, state.config.hang_max_s)
            if outcome != "disconnected":
                _drop(receive)
            return Reply(499)

        return delay

    @staticmethod
    def _fault_reply(rule: FaultRule, surface: str) -> Reply:
        if rule.mode == "rate_limit":
            if surface == "oauth":
                return Reply(400, dict(THROTTLE_BODY))
            return too_many_requests("Number of API requests for the 24 hour period is exceeded or the concurrency limit of the user for the app is exceeded")
        if rule.body is not None:
            return Reply(rule.status, rule.body)
        if surface == "oauth" and rule.status == 200:
            return Reply(200, {"error": "invalid_code"})
        return Reply(rule.status, for_status(rule.status))

    # ------------------------------------------------------------------ OAuth

    async def _oauth(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        headers = _headers(scope)
        client = _client(headers)
        method: str = scope["method"]
        path: str = scope["path"].rstrip("/")
        rule = state.faults.pick("oauth", client, path) if state.faults else None
        journal = self._journal("oauth", client, method, path, rule)
        if await self._answer_with_fault(rule, "oauth", journal, receive, send):
            return
        try:
            body = await _read_body(receive, 64 * 1024)
        except BodyTooLarge:
            journal(400)
            await _send_reply(send, Reply(400, {"error": "invalid_request"}))
            return
        if rule is not None and rule.mode == "latency":
            await asyncio.sleep(rule.latency_ms / 1000.0)
        elif rule is not None and rule.mode == "hang":
            outcome = await wait_hang(rule, receive, state.config.hang_max_s)
            journal(None)
            if outcome != "disconnected":
                _drop(receive)
            return
        await _deliver(rule, self._oauth_reply(method, path, scope, headers, body), journal, receive, send)

    def _oauth_reply(self, method: str, path: str, scope: Scope, headers: dict[str, str], body: bytes) -> Reply:
        state = self.state
        params = _query(scope)
        if body:
            try:
                for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
                    params.setdefault(k, v)
            except UnicodeDecodeError:
                pass
        if path == "/oauth/v2/token":
            if method != "POST":
                return Reply(405, {"error": "invalid_request_method"})
            return handle_token_request(params, state.tokens, state.config, state.base_url)
        if path == "/oauth/v2/token/revoke":
            if method != "POST":
                return Reply(405, {"error": "invalid_request_method"})
            token = params.get("token", "")
            if token:
                state.tokens.revoke(token)
            return Reply(200, {"status": "success"})
        if path == "/oauth/user/info":
            auth = headers.get("authorization", "")
            token = auth.partition(" ")[2].strip()
            if not state.tokens.validate(token):
                return Reply(401, {"error": "invalid_token"})
            user = state.admin_user
            return Reply(200, {"First_Name": user["first_name"], "Last_Name": user["last_name"], "Email": user["email"],
                               "Display_Name": user["full_name"], "ZUID": user["id"]})
        return Reply(404, {"error": "invalid_url"})

    # ------------------------------------------------------------------ hosted MCP

    def _mcp_key(self, scope: Scope) -> str | None:
        parts = [p for p in scope["path"].split("/") if p]
        if len(parts) == 3 and parts[0] == "mcp" and parts[2] == "message":
            return parts[1]
        if len(parts) == 2 and parts[0] == "mcp" and parts[1] == "message":
            return _query(scope).get("key")
        return None

    async def _mcp(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        headers = _headers(scope)
        client = _client(headers)
        method: str = scope["method"]
        try:
            body = await _read_body(receive, MCP_MAX_BODY)
        except BodyTooLarge:
            await _send_json(send, 413, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "request body too large"}})
            return
        rpc_id: Any = None
        rpc_method: str | None = None
        tool: str | None = None
        if body:
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError, RecursionError):
                parsed = None
            if isinstance(parsed, dict):
                rpc_id = parsed.get("id")
                rpc_method = parsed.get("method") if isinstance(parsed.get("method"), str) else None
                params = parsed.get("params")
                if rpc_method == "tools/call" and isinstance(params, dict) and isinstance(params.get("name"), str):
                    tool = params["name"]
        is_call = rpc_method == "tools/call"
        entry: dict[str, Any] = {"tool": tool} if tool else {}
        key = self._mcp_key(scope)
        if key is None:
            await _send_reply(send, invalid_url())
            return
        if key != state.config.mcp_key:
            if is_call:
                state.log("mcp", client, method, MCP_JOURNAL_PATH, 200, error="APIKey parsing Exception", **entry)
            await _send_json(send, 200, {"jsonrpc": "2.0", "id": rpc_id,
                                         "error": {"code": -32600, "message": "APIKey parsing Exception"}})
            return
        if state.config.mcp_require_bearer:
            auth = headers.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not (token == state.config.mcp_token or state.tokens.validate(token)):
                if is_call:
                    state.log("mcp", client, method, MCP_JOURNAL_PATH, 401, **entry)
                meta = f"{state.base_url}/.well-known/oauth-protected-resource"
                await _send_json(send, 401, {"error": "invalid_token", "error_description": "Authentication required"},
                                 {"WWW-Authenticate": f'Bearer error="invalid_token", resource_metadata="{meta}"'})
                return
        rule = state.faults.pick("mcp", client, scope["path"]) if is_call and state.faults else None
        if await self._answer_with_fault(
            rule, "mcp", self._journal("mcp", client, method, MCP_JOURNAL_PATH, rule, **entry), receive, send
        ):
            return
        inner = dict(scope)
        inner["path"] = "/mcp"
        inner["raw_path"] = b"/mcp"
        inner["root_path"] = ""
        inner["query_string"] = b""
        inner["sandbox.fault"] = rule if rule is not None and rule.mode in ("latency", "hang") else None
        inner["sandbox.receive"] = receive
        sent_body = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        out_send = send
        if rule is not None and rule.mode == "reset_after":
            dropped = False

            async def drop_send(message: MutableMapping[str, Any]) -> None:
                nonlocal dropped
                if not dropped:
                    dropped = True
                    _drop(receive)

            out_send = drop_send
        await self.mcp_app(inner, replay, out_send)


def build_app(config: SandboxConfig | None = None, base_url: str = "http://127.0.0.1") -> SandboxApp:
    """The sandbox as an ASGI app; `app.state` holds its state (records, tokens, faults, journal)."""
    return SandboxApp(config or SandboxConfig(), base_url)


def _uvicorn_config(app: SandboxApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on", server_header=False,
        proxy_headers=False, http="h11", loop="asyncio", ws="none", timeout_graceful_shutdown=2,
        timeout_keep_alive=30, backlog=2048,
    )


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
    # and without it every response (headers, then body) waits out a 40 ms delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _Served:
    """What the thread-served and the loop-served sandbox share: the socket, the app and its server."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self._port = port
        self.app: SandboxApp | None = None
        self._server: uvicorn.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def state(self) -> SandboxState:
        assert self.app is not None, f"{type(self).__name__} is not started"
        return self.app.state

    @property
    def info(self) -> dict[str, Any]:
        return self.state.info()

    def _bind_app(self) -> tuple[socket.socket, uvicorn.Server]:
        """Binds the port (a free one for 0) and builds the app and its uvicorn server for it."""
        sock = _bind(self.host, self._port)
        self._port = sock.getsockname()[1]
        self.app = build_app(self.config, self.base_url)
        self._server = uvicorn.Server(_uvicorn_config(self.app, self.host, self._port))
        return sock, self._server


class SandboxServer(_Served):
    """The sandbox on a free loopback port, served by uvicorn in a background thread.

    `with SandboxServer(SandboxConfig(token_ttl=5)) as sb: httpx.get(sb.base_url + "/__sandbox__/info")`
    """

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(config, host, port)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    def start(self, timeout: float = 15.0) -> SandboxServer:
        if self._thread is not None:
            return self
        sock, server = self._bind_app()
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                        name=f"zoho-sandbox-{self._port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._server is None or self.app is None:
            return
        self.app.release_hangs_threadsafe()
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AsyncSandboxServer(_Served):
    """The sandbox served on the caller's event loop: `async with AsyncSandboxServer() as sb: ...`."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(config, host, port)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncSandboxServer:
        sock, server = self._bind_app()
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("the sandbox did not start")
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is None or self._task is None or self.app is None:
            return
        self.app.state.faults.clear()
        self._server.should_exit = True
        await self._task


@contextlib.asynccontextmanager
async def serve_async(config: SandboxConfig | None = None) -> AsyncIterator[AsyncSandboxServer]:
    async with AsyncSandboxServer(config) as server:
        yield server


KNOBS_ENV = "ZOHO_SANDBOX_KNOBS"


class KnobError(ValueError):
    pass


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> SandboxConfig:
    """The command-line flags, plus any other knob from `ZOHO_SANDBOX_KNOBS` (a JSON object, the same
    shape `POST /__sandbox__/config` takes), so every knob can be set when the sandbox starts."""
    config = SandboxConfig(
        seed=args.seed, accounts=args.accounts, edition=args.edition, token_ttl=args.token_ttl,
        latency_ms=args.latency_ms,
    )
    raw = (environ if environ is not None else dict(os.environ)).get(KNOBS_ENV, "").strip()
    if not raw:
        return config
    try:
        knobs = json.loads(raw)
    except ValueError:
        raise KnobError(f"{KNOBS_ENV} must be a JSON object of knobs, e.g. '{{\"mcp_require_bearer\": true}}'") from None
    if not isinstance(knobs, dict):
        raise KnobError(f"{KNOBS_ENV} must be a JSON object of knobs")
    try:
        return config.patched(knobs)
    except ValueError as exc:
        raise KnobError(f"{KNOBS_ENV}: {exc}") from None


def run_sandbox_cli(args: argparse.Namespace) -> None:
    """`zoho-mcp sandbox`: serve until interrupted; one startup line (the info JSON) on stderr."""
    from zoho_mcp.logs import configure_logging

    try:
        config = config_from_args(args)
    except KnobError as exc:
        print(f"zoho-mcp sandbox: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    configure_logging()
    host = args.host
    public_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    sock = _bind(host, args.port)
    port = sock.getsockname()[1]
    app = build_app(config, f"http://{public_host}:{port}")
    server = uvicorn.Server(_uvicorn_config(app, host, port))
    print(json.dumps({"event": "sandbox_started", **app.state.info()}), file=sys.stderr, flush=True)
    server.run(sockets=[sock])
