"""The MCP server: tools, resources, lifespan, and `zoho-mcp serve`.

`build_server(settings, gateway=None)` is the one way to get a server: tests pass a gateway they
own; `serve` lets the server build (and close) its own in the lifespan. Every tool failure becomes
an `isError` result that says what was wrong and what to do next; nothing the server refuses
locally reaches Zoho, and the server keeps serving.
"""

from __future__ import annotations

import argparse
import difflib
import io
import ipaddress
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, BinaryIO, TextIO
from urllib.parse import urlsplit

import anyio
import anyio.abc
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.types import CallToolResult
from pydantic import BaseModel, ConfigDict, ValidationError

from zoho_mcp import __version__
from zoho_mcp.config import (
    Settings,
    SettingsError,
    exit_on_settings_error,
    load_settings,
    sandbox_connection,
)
from zoho_mcp.logs import configure_logging, get_logger, register_secret
from zoho_mcp.resources import HealthNotifier
from zoho_mcp.resources import register as register_resources
from zoho_mcp.tools import accounts, bulk_update
from zoho_mcp.tools.errors import INVALID_ARGUMENTS, ToolFailure, failure_from_exception, invalid_arguments
from zoho_mcp.tools.models import EXAMPLE_ID
from zoho_mcp.tools.state import Gateway, ServerState

log = get_logger(__name__)

#: Startup waits at most this long for the Accounts field catalogue; the fetch then goes on in the
#: background, so a slow or unreachable Zoho delays startup by no more than this.
FIELD_WARM_UP_GRACE = 1.0

INSTRUCTIONS = """Zoho CRM accounts, reached through a resilient gateway (Zoho's hosted MCP, the SDK and REST,
with automatic failover). Find accounts with search_accounts, read one with get_account or many with
bulk_read_accounts, and change many with bulk_update (try dry_run=true first). Ids are 18-19 digit
strings. Errors say what was wrong and how to fix it; ZOHO_UNAVAILABLE is temporary, so retry later.
The zoho://health resource shows the state of each path to Zoho."""

_EXAMPLES: dict[str, str] = {
    "get_account": f'account_id="{EXAMPLE_ID}"',
    "search_accounts": 'filters=[{"field": "Account_Name", "operator": "starts_with", "value": "Acme"}]',
    "bulk_read_accounts": f'account_ids=["{EXAMPLE_ID}"]',
    "bulk_update": f'updates=[{{"id": "{EXAMPLE_ID}", "fields": {{"Phone": "555-0100"}}}}]',
}


class ZohoMCPServer(MCPServer[ServerState]):
    """MCPServer whose tool failures are always model-readable `isError` results."""

    zoho_state: ServerState
    health_notifier: HealthNotifier

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[ServerState, Any] | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError):
                failure = failure_from_exception(cause if cause is not None else exc, tool=name)
            elif isinstance(cause, ValidationError):
                failure = invalid_arguments(name, cause, _EXAMPLES.get(name))
                failure = self._name_unknown_arguments(name, arguments, cause, failure)
            else:
                raise  # unknown tool and the like: the SDK's own answer is right
            log.info("tool_error", tool=name, code=failure.code)
            result: CallToolResult = failure.to_result()
            return result


    def _name_unknown_arguments(
        self, name: str, arguments: dict[str, Any], exc: ValidationError, failure: ToolFailure
    ) -> ToolFailure:
        """An unknown top-level argument (often a typo such as `field`): name it, the valid ones, a likely fix."""
        tool = self._tool_manager.get_tool(name)
        if tool is None:
            return failure
        valid = list(tool.parameters.get("properties", {}))
        unknown = [
            str(e["loc"][0]) for e in exc.errors() if e.get("type") == "extra_forbidden" and len(e.get("loc", ())) == 1
        ]
        if not unknown:
            return failure
        guesses = {u: difflib.get_close_matches(u, valid, n=1, cutoff=0.6) for u in unknown}
        parts = [f"{u!r}" + (f" (did you mean {g[0]!r}?)" if g else "") for u, g in guesses.items()]
        noun = "argument" if len(unknown) == 1 else "arguments"
        return ToolFailure(
            INVALID_ARGUMENTS,
            f"{name} has no {noun} {', '.join(parts)}; its arguments are: {', '.join(valid)}. {failure.message}",
            hint=(failure.hint or "") + " Unknown arguments are refused rather than ignored, so a misspelt "
            "option never silently does something else.",
            details={"unknown_arguments": unknown, "valid_arguments": valid},
            local=True,
        )


def forbid_unknown_arguments(server: MCPServer[Any]) -> None:
    """Every tool refuses arguments it does not declare, and says so in its input schema.

    The SDK's argument models ignore extra keys, so `get_account(extra=1)` worked and a typo such as
    `field` for `fields` silently returned every field; a model reading the schema now sees
    `additionalProperties: false` too.
    """
    for tool in server._tool_manager.list_tools():  # no public hook for the argument model's config
        meta = tool.fn_metadata
        base: type[BaseModel] = meta.arg_model
        if base.model_config.get("extra") == "forbid":
            continue
        meta.arg_model = type(  # type: ignore[assignment]
            base.__name__, (base,), {"model_config": ConfigDict(**{**base.model_config, "extra": "forbid"})}
        )
        tool.parameters["additionalProperties"] = False


def build_server(settings: Settings, gateway: Gateway | None = None) -> ZohoMCPServer:
    """The MCP server over `gateway`; without one, the lifespan builds, starts and closes its own."""
    _register_secrets(settings)  # here, not only in `serve`: embedded servers must redact too
    state = ServerState(settings=settings, gateway=gateway)
    bus = InMemorySubscriptionBus()
    notifier = HealthNotifier(bus)
    if gateway is not None:
        gateway.add_circuit_listener(notifier.on_circuit_change)

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        built: Any = None
        if state.gateway is None:
            from zoho_mcp.gateway import build_gateway

            built = await build_gateway(settings)
            built.add_circuit_listener(notifier.on_circuit_change)
            await built.start()
            state.gateway = built
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(notifier.run)
                await _warm_field_catalog(state, tg)
                try:
                    yield state
                finally:
                    tg.cancel_scope.cancel()
        finally:
            if built is not None:
                state.gateway = None
                # Not shielded: the gateway's own task group must be exited from this very scope stack.
                await built.aclose()
                log.info("gateway_closed")

    server = ZohoMCPServer(
        "zoho-mcp",
        title="Zoho CRM",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        subscriptions=bus,
    )
    accounts.register(server, state)
    if not settings.read_only:
        bulk_update.register(server, state)
    register_resources(server, state, notifier)
    forbid_unknown_arguments(server)
    server.zoho_state = state
    server.health_notifier = notifier
    return server


async def _warm_field_catalog(state: ServerState, tg: anyio.abc.TaskGroup) -> None:
    """Fetch the Accounts field catalogue in the background, so a call with a bad field name costs no request.

    Startup waits for it only briefly (`FIELD_WARM_UP_GRACE`); a failure is logged by the catalogue and
    the tools fall back to syntax checks until it can be fetched.
    """
    catalog = state.field_catalog()
    if catalog is None:
        return
    done = anyio.Event()

    async def warm() -> None:
        try:
            await catalog.describe(accounts.MODULE)
        except Exception as exc:  # the catalogue never raises; a bug here must not stop the server
            log.warning("field_catalog_warm_up_failed", error=f"{type(exc).__name__}")
        finally:
            done.set()

    tg.start_soon(warm)
    with anyio.move_on_after(FIELD_WARM_UP_GRACE):
        await done.wait()


# --------------------------------------------------------------------------- zoho-mcp serve


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _sandbox_overrides(info: dict[str, Any], state_dir: str) -> dict[str, Any]:
    return {
        **sandbox_connection(info),
        "state_dir": state_dir,
        "enable_mcp": True,
        "enable_sdk": True,
        "enable_rest": True,
    }


def _register_secrets(settings: Settings) -> None:
    for secret in (settings.client_secret, settings.refresh_token, settings.access_token, settings.mcp_url,
                   settings.mcp_token, settings.server_token):
        if secret is not None:
            register_secret(secret.get_secret_value())
    if settings.mcp_url is not None:  # the key alone can surface too, e.g. in a path Zoho echoes back
        parts = [p for p in urlsplit(settings.mcp_url.get_secret_value()).path.split("/") if p]
        for before, part in zip(parts, parts[1:], strict=False):
            if before == "mcp":
                register_secret(part)


# --------------------------------------------------------------------------- stdio, signals

#: Exit code of `serve` stopped by SIGINT or SIGTERM (stdio or HTTP), after its cleanup: a requested stop
#: is a clean stop, and it is how MCP clients stop the servers they start.
SIGNAL_EXIT_CODE = 0
#: After a signal, in-flight requests get this long to finish before they are cancelled; a second signal
#: cancels them at once.
STOP_GRACE = 3.0


class _AbandonableLines:
    """The lines of stdin, each read in a worker thread that a stop leaves behind rather than waits for.

    The SDK reads stdin in a thread it waits for even when cancelled, so a server whose client keeps stdin
    open could not be stopped by a signal. `stop()` ends the lines as end of input would, so the server
    shuts down through its normal path (lifespan exit, gateway closed); the thread stays blocked on the
    read, which is why `run_serve` ends the process with `os._exit` once its cleanup is done.
    """

    def __init__(self, fp: TextIO) -> None:
        self._fp = fp
        self._scope: anyio.CancelScope | None = None
        self._stopped = False

    def __aiter__(self) -> _AbandonableLines:
        return self

    async def __anext__(self) -> str:
        line = ""
        if not self._stopped:
            with anyio.CancelScope() as self._scope:
                line = await anyio.to_thread.run_sync(self._fp.readline, abandon_on_cancel=True)
            self._scope = None
        if not line or self._stopped:
            raise StopAsyncIteration
        return line

    def stop(self) -> None:
        self._stopped = True
        if self._scope is not None:
            self._scope.cancel()


@contextmanager
def _claimed_stdin() -> Iterator[TextIO]:
    """The client's stdin on a private descriptor, with fd 0 on the null device while serving.

    What the SDK's `stdio_server()` does for stdin when it reads it itself: nothing else in the process
    (a child, a stray `input()`) can take bytes off the wire. Where fd 0 cannot be moved, it is read in place.
    """
    try:
        private = os.dup(0)
    except OSError:
        yield io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        return
    wire: BinaryIO = open(private, "rb", closefd=False)  # noqa: SIM115 - an abandoned read may still use it
    moved = False
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            os.dup2(null, 0)
            moved = True
        finally:
            os.close(null)
    except OSError:
        pass
    try:
        yield io.TextIOWrapper(wire, encoding="utf-8", errors="replace")
    finally:
        if moved:
            os.dup2(private, 0)
        # `private` stays open: a worker thread may still be blocked reading it.


async def serve_stdio(server: ZohoMCPServer, stdin: TextIO) -> int | None:
    """Serve one client over stdio until end of input, SIGINT or SIGTERM; the signal's number, if any.

    On a signal the server stops as on end of input, so the lifespan closes the gateway; requests still
    running after `STOP_GRACE` seconds (or at a second signal) are cancelled.
    """
    lines = _AbandonableLines(stdin)
    received: list[int] = []
    lowlevel = server._lowlevel_server  # noqa: SLF001 - run_stdio_async, with our stdin reader
    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if received:
                        break
                    received.append(signum)
                    log.info("server_stopping", signal=signal.Signals(signum).name, grace_seconds=STOP_GRACE)
                    lines.stop()
                    tg.start_soon(cancel_after_grace)
            tg.cancel_scope.cancel()

        async def cancel_after_grace() -> None:
            await anyio.sleep(STOP_GRACE)
            log.warning("server_stop_forced", reason="requests still running after the grace period")
            tg.cancel_scope.cancel()

        tg.start_soon(stop_on_signal)
        async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        tg.cancel_scope.cancel()
    return received[0] if received else None


class _Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> None:
    raise _Interrupted(signum)


def _exit_if_threads_linger(code: int) -> None:
    """End the process now if a worker thread is still blocked (the stdin read a signal abandoned).

    Python waits for every non-daemon thread at exit, and a read of a pipe the client keeps open never
    returns, so a stopped server would hang. Cleanup has run by the time this is called; only the
    interpreter's own teardown is skipped, so the log streams are flushed first.
    """
    main = threading.main_thread()
    if any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate()):
        for stream in (sys.stderr, sys.stdout):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def run_serve(args: argparse.Namespace) -> None:
    """`zoho-mcp serve`: configuration errors are one line on stderr and exit code 2."""
    overrides: dict[str, Any] = {"read_only": True} if getattr(args, "read_only", False) else {}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        exit_on_settings_error(exc)
        return
    configure_logging(settings.log_level)
    transport = getattr(args, "transport", "stdio")
    host = getattr(args, "host", "127.0.0.1")
    if transport == "http" and not is_loopback(host):
        from zoho_mcp.http_app import MIN_TOKEN_LENGTH, server_token

        token = server_token(settings)
        if token is None or len(token) < MIN_TOKEN_LENGTH:
            what = "without ZOHO_MCP_SERVER_TOKEN" if token is None else "with too short a ZOHO_MCP_SERVER_TOKEN"
            exit_on_settings_error(
                SettingsError(
                    f"refusing to serve HTTP on {host} {what}: set it to a random secret of at least "
                    f"{MIN_TOKEN_LENGTH} characters (clients then send 'Authorization: Bearer <token>'), "
                    "or bind --host 127.0.0.1"
                )
            )
    sandbox: Any = None
    state_dir: str | None = None
    stopped_by: int | None = None
    exit_code = 0
    if threading.current_thread() is threading.main_thread():
        # SIGTERM unwinds like Ctrl-C, so the cleanup below runs: during startup, before `serve_stdio`
        # watches signals itself, and after uvicorn's graceful stop, which re-raises the signal it caught.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if getattr(args, "sandbox", False):
            from zoho_mcp.sandbox.app import SandboxConfig, SandboxServer

            sandbox = SandboxServer(SandboxConfig())
            sandbox.start()
            state_dir = tempfile.mkdtemp(prefix="zoho-mcp-sandbox-")
            try:
                settings = load_settings(**overrides, **_sandbox_overrides(dict(sandbox.info), state_dir))
            except SettingsError as exc:
                exit_on_settings_error(exc)
                return
            log.info(
                "sandbox_started",
                base_url=sandbox.base_url,
                admin_url=f"{sandbox.base_url}/__sandbox__",
                note="a local Zoho with seeded demo data; faults can be injected through the admin URL",
            )
        else:
            missing = settings.missing_connection_settings()
            if missing:
                exit_on_settings_error(
                    SettingsError(
                        "missing " + ", ".join(missing) + ": set them in the environment or .env "
                        "(see .env.example), or try the local Zoho with `zoho-mcp serve --sandbox`"
                    )
                )
        try:
            settings.check_state_dir()
        except SettingsError as exc:
            exit_on_settings_error(exc)
        server = build_server(settings)
        log.info("server_starting", transport=transport, read_only=settings.read_only, tiers=settings.enabled_tiers)
        if transport == "http":
            from zoho_mcp.http_app import run_http

            run_http(server, settings, host=host, port=getattr(args, "port", 8000))
        else:
            with _claimed_stdin() as stdin:
                stopped_by = anyio.run(serve_stdio, server, stdin)
            if stopped_by is not None:
                exit_code = SIGNAL_EXIT_CODE
    except* KeyboardInterrupt as group:  # `except*`: raised inside a task group during startup, it comes grouped
        stopped_by, exit_code = getattr(group.exceptions[0], "signum", signal.SIGINT), SIGNAL_EXIT_CODE
    finally:
        if sandbox is not None:
            sandbox.stop()
        if state_dir is not None:
            shutil.rmtree(state_dir, ignore_errors=True)
    if stopped_by is not None:
        log.info("server_stopped", signal=signal.Signals(stopped_by).name, exit_code=exit_code)
        _exit_if_threads_linger(exit_code)
        raise SystemExit(exit_code)
