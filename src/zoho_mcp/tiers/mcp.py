"""Tier 1: Zoho's hosted MCP server, reached with the mcp client over streamable HTTP.

One long-lived MCP session serves every call. The mcp `Client` must be entered and exited in the
same task, and the tier is called from many tasks (tool handlers, hedged calls that get cancelled),
so each session lives in its own background task owned by the tier:

    caller ──► _connection() ──(no live session)──► spawn _run(conn) ─► enter Client, list tools,
       ▲                                                                 set conn.ready, wait conn.stop
       └──── awaits conn.ready (a cancelled waiter leaves the attempt running for the next caller)

Callers then use the shared session directly; a caller's cancellation ends only its own request
(the dispatcher sends the courtesy cancel). A connection-level failure (connect error, reset,
timeout, expired session) marks the session broken: it is closed once its last call returns, and
the next call connects anew (lazily). `aclose()` stops every session and waits for its task.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import Implementation
from pydantic import SecretStr

from zoho_mcp import __version__
from zoho_mcp.config import Settings
from zoho_mcp.logs import get_logger, redact, register_secret
from zoho_mcp.tiers.base import (
    MAX_RECORDS_PER_CALL,
    BusinessError,
    ConfigurationError,
    DescribeFields,
    FieldsResult,
    GetRecords,
    GetResult,
    Operation,
    Probe,
    ProbeResult,
    Result,
    SearchRecords,
    SearchResult,
    TierName,
    TransientError,
    UpdateRecords,
    UpdateResult,
    WriteResult,
    ZohoError,
)
from zoho_mcp.tiers.delivery import after_chunks, dispatch, maybe_sent, not_sent
from zoho_mcp.tiers.field_meta import fields_from_body
from zoho_mcp.tiers.mcp_parse import (
    CONNECTION_LEVEL_CODES,
    SOURCE,
    TIER,
    TOOL_GET_FIELDS,
    TOOL_GET_RECORD,
    TOOL_GET_RECORDS,
    TOOL_SEARCH_RECORDS,
    TOOL_UPDATE_RECORDS,
    error_from_exception,
    error_from_mcp_error,
    get_record_args,
    get_records_args,
    probe_args,
    resolve_tool_name,
    search_args,
    tool_payload,
    update_args,
    write_results,
)
from zoho_mcp.tiers.zoho_json import get_result, is_missing_id_error, records_by_id, search_result
from zoho_mcp.tiers.mcp_transport import GuardedTransport

log = get_logger(__name__)

ConnectMode = Literal["legacy", "auto"]

#: How many tools/list pages are walked when a session opens (Zoho's CRM servers list ~1,300 tools).
_MAX_TOOL_PAGES = 50
#: How long `aclose()` lets a session end politely (DELETE of the session) before cancelling it.
_CLOSE_GRACE_S = 5.0


class _RedactFilter(logging.Filter):
    """The mcp and httpx2 loggers print the endpoint URL, which carries the key: mask it at the source."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log call must not break the tier
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


for _name in ("mcp.client.streamable_http", "mcp.client.client", "mcp.client.session", "httpx2"):
    logging.getLogger(_name).addFilter(_RedactFilter())


@dataclass(eq=False)
class _Connection:
    """One MCP session and the background task that owns it."""

    number: int
    ready: anyio.Event = field(default_factory=anyio.Event)
    stop: anyio.Event = field(default_factory=anyio.Event)
    closed: anyio.Event = field(default_factory=anyio.Event)
    client: Client | None = None
    tools: frozenset[str] | None = None
    error: BaseException | None = None
    broken: bool = False
    active: int = 0
    scope: anyio.CancelScope | None = None

    @property
    def usable(self) -> bool:
        return not self.broken and not self.closed.is_set()


class McpTier:
    """`Tier` over Zoho's hosted MCP server (the Zoho MCP platform's `ZohoCRM_*` tools).

    `mode="legacy"` uses the initialize handshake (2025-11-25), the one verified to work with
    streamable-HTTP servers like Zoho's; `"auto"` probes the 2026 `server/discover` first.
    `transport` replaces the real HTTP transport (for tests); it is still wrapped by the guard.
    """

    name: TierName = "mcp"

    def __init__(
        self,
        settings: Settings,
        *,
        mode: ConnectMode = "legacy",
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.mode: ConnectMode = mode
        self._timeout = float(settings.mcp_timeout)
        self._inner_transport = transport
        self._url = _plain(settings.mcp_url)
        self._token = _plain(settings.mcp_token)
        for secret in _secrets_of(self._url, self._token):
            register_secret(secret)
        self._config_error: ConfigurationError | None = _check_url(self._url)
        self._conn: _Connection | None = None
        self._live: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._counter = 0
        #: Sessions opened successfully (initialize handshakes that completed); for tests and health.
        self.connects = 0

    def __repr__(self) -> str:
        state = "connected" if self._conn is not None and self._conn.client is not None else "idle"
        return f"McpTier(mode={self.mode!r}, {state}, connects={self.connects})"

    # --- the Tier protocol ------------------------------------------------------------------------

    async def execute(self, op: Operation) -> Result:
        return await dispatch(self, op)

    async def aclose(self) -> None:
        """Ends every session (politely, then by cancellation) and waits for their tasks; final."""
        self._closed = True
        conns = list(self._live)
        self._conn = None
        for conn in conns:
            conn.broken = True
            conn.stop.set()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(_CLOSE_GRACE_S):
                for conn in conns:
                    await conn.closed.wait()
            for conn in conns:
                if not conn.closed.is_set() and conn.scope is not None:
                    conn.scope.cancel()
            with anyio.move_on_after(_CLOSE_GRACE_S):
                for conn in conns:
                    await conn.closed.wait()

    # --- operations -------------------------------------------------------------------------------

    async def _get(self, op: GetRecords) -> GetResult:
        wanted = list(dict.fromkeys(op.ids))
        found: dict[str, dict[str, Any]] = {}
        if len(wanted) == 1:
            rid = wanted[0]
            try:
                body = await self._call(TOOL_GET_RECORD, get_record_args(op.module, rid, op.fields))
            except BusinessError as exc:
                if not is_missing_id_error(exc):
                    raise
                body = None
            if body is not None:
                # Lenient on purpose: a single-record answer without a data list means "not found" here.
                found.update(records_by_id({"data": list(body.get("data") or [])}, SOURCE, default_id=rid))
        else:
            for start in range(0, len(wanted), MAX_RECORDS_PER_CALL):
                chunk = wanted[start : start + MAX_RECORDS_PER_CALL]
                body = await self._call(TOOL_GET_RECORDS, get_records_args(op.module, chunk, op.fields))
                found.update(records_by_id(body, SOURCE))
        return get_result(wanted, found)

    async def _search(self, op: SearchRecords) -> SearchResult:
        return search_result(op, await self._call(TOOL_SEARCH_RECORDS, search_args(op)), SOURCE)

    async def _update(self, op: UpdateRecords) -> UpdateResult:
        """Chunks of 100 one after another; a request-level failure of any chunk raises (updates are idempotent)."""
        results: list[WriteResult] = []
        for chunk in op.chunks(MAX_RECORDS_PER_CALL):
            try:
                body = await self._call(
                    TOOL_UPDATE_RECORDS, update_args(op.module, chunk, op.trigger), allow_record_errors=True
                )
                results.extend(write_results(chunk, body))
            except ZohoError as exc:
                raise after_chunks(exc, len(results)) from None
        return UpdateResult(results=results)

    async def _describe(self, op: DescribeFields) -> FieldsResult:
        body = await self._call(TOOL_GET_FIELDS, {"query_params": {"module": op.module}})
        return fields_from_body(body, tier=TIER)

    async def _probe(self, op: Probe) -> ProbeResult:
        await self._call(TOOL_GET_RECORDS, probe_args(op.module))
        conn = self._conn
        tools = len(conn.tools) if conn is not None and conn.tools is not None else None
        detail = "Zoho's hosted MCP server answered" + (f" ({tools} tools)" if tools is not None else "")
        return ProbeResult(ok=True, detail=detail)

    # --- one tool call on the shared session ------------------------------------------------------

    async def _call(
        self, tool: str, arguments: dict[str, Any], *, allow_record_errors: bool = False
    ) -> dict[str, Any] | None:
        """Calls `tool` and returns its Zoho JSON (None for a 204); raises only `ZohoError`.

        An expired session is replaced and the call sent once more: the server never saw it.
        """
        for attempt in (1, 2):
            conn = await self._connection()
            name = resolve_tool_name(tool, conn.tools)
            if name is None:
                missing = ConfigurationError(
                    f"Zoho's MCP server behind ZOHO_MCP_URL does not offer the tool {tool}; add it to the server "
                    "in the Zoho MCP console",
                    code="MCP_TOOL_MISSING",
                    tier=TIER,
                )
                raise not_sent(missing)
            client = conn.client
            assert client is not None
            error: ZohoError
            connection_failed = False
            conn.active += 1
            try:
                result = await client.call_tool(name, arguments, read_timeout_seconds=self._timeout)
            except MCPError as exc:
                error = error_from_mcp_error(exc.code, exc.message, exc.data)
                connection_failed = error.code in CONNECTION_LEVEL_CODES
            except Exception as exc:  # noqa: BLE001 - groups, transport and client state errors
                error = _in_flight(error_from_exception(exc))
                connection_failed = True
            else:
                return tool_payload(result, allow_record_errors=allow_record_errors)
            finally:
                conn.active -= 1
                if conn.broken and conn.active == 0:
                    conn.stop.set()
            if connection_failed:
                self._discard(conn, error)
            if error.code == "SESSION_EXPIRED" and attempt == 1:
                continue
            raise error
        raise AssertionError("unreachable")

    async def _connection(self) -> _Connection:
        """The live session, opening one if needed; every caller waiting at once shares one attempt."""
        if self._config_error is not None:
            raise not_sent(_copy(self._config_error))
        if self._closed:
            raise not_sent(ConfigurationError("the MCP tier has been closed", code="TIER_CLOSED", tier=TIER))
        conn = self._conn
        if conn is None or not conn.usable:
            conn = self._open()
        await conn.ready.wait()
        if conn.client is None:
            # The session never opened, so this call was never sent, whatever broke the handshake.
            failure = conn.error if conn.error is not None else RuntimeError("the MCP session ended")
            raise not_sent(_copy(error_from_exception(failure)))
        return conn

    def _open(self) -> _Connection:
        self._counter += 1
        conn = _Connection(number=self._counter)
        self._conn = conn
        self._live.add(conn)
        _spawn_detached(self._run, conn, tasks=self._tasks)
        return conn

    def _discard(self, conn: _Connection, error: ZohoError) -> None:
        if not conn.broken:
            log.info("mcp session dropped; the next call reconnects", tier=TIER, session=conn.number, code=error.code)
        conn.broken = True
        if self._conn is conn:
            self._conn = None
        if conn.active == 0:
            conn.stop.set()

    # --- the background task that owns one session ------------------------------------------------

    async def _run(self, conn: _Connection) -> None:
        try:
            with anyio.CancelScope() as scope:
                conn.scope = scope
                try:
                    await self._serve(conn)
                except Exception as exc:  # noqa: BLE001 - recorded for the callers, never raised here
                    conn.error = exc
                    if conn.client is None:
                        err = error_from_exception(exc)
                        log.warning(
                            "mcp connect failed", tier=TIER, session=conn.number, code=err.code, error=err.message
                        )
                    else:
                        log.info("mcp session ended", tier=TIER, session=conn.number, error=type(exc).__name__)
        finally:
            conn.broken = True
            if self._conn is conn:
                self._conn = None
            conn.client = None
            if conn.error is None:
                conn.error = RuntimeError("the MCP session was closed")
            self._live.discard(conn)
            conn.ready.set()
            conn.closed.set()

    async def _serve(self, conn: _Connection) -> None:
        assert self._url is not None
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        http = httpx2.AsyncClient(
            headers=headers,
            timeout=httpx2.Timeout(self._timeout, connect=min(self._timeout, 10.0)),
            transport=GuardedTransport(self._inner_transport),
            follow_redirects=False,
        )
        client = Client(
            streamable_http_client(self._url, http_client=http),
            mode=self.mode,
            read_timeout_seconds=self._timeout,
            cache=None,
            client_info=Implementation(name="zoho-mcp", version=__version__),
        )
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(http)
            await stack.enter_async_context(client)
            conn.tools = await _list_tool_names(client)
            conn.client = client
            self.connects += 1
            log.info(
                "mcp session open",
                tier=TIER,
                session=conn.number,
                protocol=client.protocol_version,
                tools=len(conn.tools) if conn.tools is not None else None,
            )
            conn.ready.set()
            await conn.stop.wait()


async def _list_tool_names(client: Client) -> frozenset[str] | None:
    """Every tool name the server offers (walking its pages), or None if it will not say.

    Walking all pages also fills the session's output-schema cache, which otherwise re-lists
    tools on every call of a tool that is not on the first page.
    """
    names: set[str] = set()
    cursor: str | None = None
    try:
        for _ in range(_MAX_TOOL_PAGES):
            page = await client.list_tools(cursor=cursor, cache_mode="bypass")
            names.update(tool.name for tool in page.tools)
            cursor = page.next_cursor
            if not cursor:
                return frozenset(names)
    except MCPError as exc:
        log.info("mcp server did not list its tools", tier=TIER, code=exc.code)
        return None
    return None


def _spawn_detached(fn: Callable[[_Connection], Awaitable[None]], conn: _Connection, *, tasks: set[Any]) -> None:
    """Start `fn(conn)` as a task of the event loop itself, outside every caller's cancel scope."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: trio's equivalent of a loop-owned task
        import trio  # type: ignore[import-not-found]

        trio.lowlevel.spawn_system_task(fn, conn)
        return
    task = loop.create_task(fn(conn), name=f"zoho-mcp tier1 session {conn.number}", context=contextvars.Context())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def _check_url(url: str | None) -> ConfigurationError | None:
    if not url:
        return ConfigurationError(
            "ZOHO_MCP_URL is not set: copy the server URL (key included) from the Zoho MCP console, "
            "or disable this tier with ENABLE_TIER1_MCP=false",
            code="MCP_URL_MISSING",
            tier=TIER,
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ConfigurationError(
            "ZOHO_MCP_URL is not an http(s) URL: it should look like https://<server>.zohomcp.com/mcp/<key>/message",
            code="MCP_URL_INVALID",
            tier=TIER,
        )
    return None


def _secrets_of(url: str | None, token: str | None) -> list[str]:
    """The URL, the key inside it (path segment or `?key=`), and the bearer token."""
    out: list[str] = [s for s in (url, token) if s]
    if url:
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        if "mcp" in segments:
            index = segments.index("mcp")
            if index + 1 < len(segments) and segments[index + 1] != "message":
                out.append(segments[index + 1])
        for name, values in parse_qs(parts.query).items():
            if name.lower() in ("key", "apikey", "api_key", "token"):
                out.extend(values)
    return out


def _plain(value: SecretStr | str | None) -> str | None:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text.strip() or None if text else None


def _in_flight(err: ZohoError) -> ZohoError:
    """A failure of the shared session surfacing in a call: only the guard (mcp_transport) knows what
    happened to this call's own POST, so a connect failure seen here (another request's, the event
    stream's) proves nothing about this call: it may have left."""
    if err.details.get("sent") is not False:
        return err
    return maybe_sent(
        TransientError(
            f"the MCP session failed while the call was in flight ({err.message})",
            code="CONNECTION_RESET",
            details={"cause": err.code},
            tier=TIER,
        )
    )


def _copy(err: ZohoError) -> ZohoError:
    """A fresh exception per raise: one instance raised from many tasks would share a traceback."""
    return type(err)(err.message, code=err.code, details=err.details, status=err.status, tier=err.tier)


__all__ = ["McpTier"]
