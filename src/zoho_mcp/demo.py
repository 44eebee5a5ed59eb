"""`zoho-mcp demo`: a newcomer's first run, as a real MCP client over stdio, with a readable transcript.

The demo starts the local Zoho (sandbox) itself and hands its documented credentials to
`python -m zoho_mcp serve` through the same ZOHO_* variables a real deployment uses. Owning the
sandbox is what lets it break a tier (through the sandbox admin API) and show the failover from
the outside: the sandbox journal says which path answered each call.

This is the one module that prints to stdout: it is a client, not an MCP server.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import Any, TextIO

import anyio
import httpx
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

def _tier(entry: dict[str, Any]) -> str | None:
    if entry.get("surface") == "mcp":
        return "mcp"
    if entry.get("surface") == "crm":
        return "sdk" if entry.get("client") == "zcrmsdk" else "rest"
    return None


class Transcript:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.step = 0

    def title(self, text: str) -> None:
        self.out.write(f"\n{text}\n{'=' * len(text)}\n")

    def section(self, text: str) -> None:
        self.step += 1
        self.out.write(f"\n{self.step}. {text}\n")

    def line(self, text: str = "") -> None:
        self.out.write(f"   {text}\n")
        self.out.flush()


#: The demo's breaker recovery timeout: short, so step 10 can show the circuit closing again.
DEMO_RECOVERY_TIMEOUT = 2.0


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word boundary, with "…" when anything was cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def _text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


class _Sandbox:
    """The sandbox admin API, as documented in DESIGN.md."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def journal(self) -> list[dict[str, Any]]:
        data = self.http.get("/__sandbox__/journal").json()
        return list(data.get("entries", data) if isinstance(data, dict) else data)

    def fault(self, **rule: Any) -> str:
        return str(self.http.post("/__sandbox__/faults", json=rule).json().get("id"))

    def clear_faults(self) -> None:
        self.http.delete("/__sandbox__/faults")

    def close(self) -> None:
        self.http.close()


def _server_env(info: dict[str, Any], state_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOHO_", "ENABLE_TIER"))}
    env.update(
        {
            "ZOHO_CLIENT_ID": info["client_id"],
            "ZOHO_CLIENT_SECRET": info["client_secret"],
            "ZOHO_REFRESH_TOKEN": info["refresh_token"],
            "ZOHO_ACCOUNTS_URL": info["accounts_url"],
            "ZOHO_API_DOMAIN": info["api_domain"],
            "ZOHO_MCP_URL": info["mcp_url"],
            "ZOHO_STATE_DIR": state_dir,
            "ZOHO_EDITION": "enterprise",
            "ENABLE_TIER1_MCP": "true",
            "ENABLE_TIER2_SDK": "true",
            "ENABLE_TIER3_REST": "true",
            "ENABLE_FAILOVER": "true",
            # Show the breaker opening within a few calls, without waiting on back-off.
            "CIRCUIT_BREAKER_FAILURE_THRESHOLD": "2",
            # Short enough to show the breaker closing again within the demo (step 10).
            "CIRCUIT_BREAKER_RECOVERY_TIMEOUT": str(DEMO_RECOVERY_TIMEOUT),
            "CIRCUIT_BREAKER_SUCCESS_THRESHOLD": "1",
            "MAX_RETRY_ATTEMPTS": "1",
            "RETRY_BASE_DELAY": "0",
            "HEDGE_ENABLED": "false",
            "HEALTH_CHECK_INTERVAL": "3600",
            "ZOHO_MCP_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


async def _call(
    client: Client,
    t: Transcript,
    name: str,
    args: dict[str, Any],
    *,
    shown: str | None = None,
    progress: Callable[[float, float | None, str | None], Any] | None = None,
) -> CallToolResult:
    t.line(f"→ {name}({shown if shown is not None else json.dumps(args)})")
    result = await client.call_tool(name, args, progress_callback=progress)
    return result


async def _demo(out: TextIO) -> int:
    from zoho_mcp.sandbox.app import SandboxConfig, SandboxServer

    t = Transcript(out)
    t.title("zoho-mcp demo: an MCP server for Zoho CRM, with three ways in and automatic failover")
    sandbox = SandboxServer(SandboxConfig())
    sandbox.start()
    admin = _Sandbox(sandbox.base_url)
    state_dir = tempfile.mkdtemp(prefix="zoho-mcp-demo-")
    errlog = tempfile.TemporaryFile("w+")
    try:
        t.section("Start a local Zoho CRM (the sandbox)")
        t.line(f"sandbox at {sandbox.base_url}: OAuth, CRM REST v2 and Zoho's hosted-MCP surface, seeded accounts")
        t.line(f"admin API (fault injection, journal) at {sandbox.base_url}/__sandbox__")

        params = StdioServerParameters(
            command=sys.executable, args=["-m", "zoho_mcp", "serve"], env=_server_env(dict(sandbox.info), state_dir)
        )
        t.section("Start `zoho-mcp serve` over stdio and connect as an MCP client")
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=60) as client:
            info = client.server_info
            t.line(f"connected to {info.name if info else '?'} {info.version if info else ''} "
                   f"(protocol {client.protocol_version})")
            tools = (await client.list_tools()).tools
            for tool in tools:
                a = tool.annotations
                kind = "read-only" if a and a.read_only_hint else "writes (destructive, idempotent)"
                t.line(f"tool {tool.name}: {tool.title} — {kind}")

            t.section("search_accounts: structured filters, escaped for Zoho")
            r = await _call(client, t, "search_accounts",
                            {"filters": [{"field": "Account_Name", "operator": "starts_with", "value": "A"}],
                             "per_page": 3, "fields": ["Account_Name", "Industry"]})
            if r.is_error or not r.structured_content:
                t.line(f"unexpected error: {_text(r)}")
                return 1
            accounts = r.structured_content["accounts"]
            if not accounts:
                r = await _call(client, t, "search_accounts", {"word": "Inc", "per_page": 3})
                accounts = (r.structured_content or {}).get("accounts", [])
            for acc in accounts:
                t.line(f"  {acc['id']}  {acc.get('Account_Name')}  ({acc.get('Industry') or '-'})")
            t.line(f"page info: {json.dumps(r.structured_content['page'])}")
            if not accounts:
                t.line("no accounts found; the sandbox looks empty")
                return 1
            first = accounts[0]["id"]
            ids = [a["id"] for a in accounts]

            t.section("get_account: one record by id")
            r = await _call(client, t, "get_account", {"account_id": first, "fields": ["Account_Name", "Phone"]})
            acc = (r.structured_content or {}).get("account", {})
            t.line(f"← {acc.get('Account_Name')}, phone {acc.get('Phone')}")

            t.section("bulk_read_accounts: many ids at once; unknown ids are reported, not errors")
            missing_id = "1" * 19
            r = await _call(client, t, "bulk_read_accounts", {"account_ids": [*ids, missing_id],
                                                               "fields": ["Account_Name"]})
            sc = r.structured_content or {}
            t.line(f"← {len(sc.get('accounts', []))} found, missing: {sc.get('missing')}")

            t.section("bulk_update: a dry run first, then the real thing, with progress")
            updates = [{"id": i, "fields": {"Phone": f"555-01{n:02d}"}} for n, i in enumerate(ids)]
            r = await _call(client, t, "bulk_update", {"updates": updates, "dry_run": True},
                            shown=f"updates=<{len(updates)} records>, dry_run=true")
            sc = r.structured_content or {}
            t.line(f"← dry run: {len(sc.get('would_send') or [])} chunk(s) would be sent; nothing changed")
            seen: list[str] = []

            async def on_progress(p: float, total: float | None, msg: str | None) -> None:
                seen.append(f"{p:g}/{total:g}" if total else f"{p:g}")

            r = await _call(client, t, "bulk_update", {"updates": updates},
                            shown=f"updates=<{len(updates)} records>", progress=on_progress)
            sc = r.structured_content or {}
            t.line(f"← summary {json.dumps(sc.get('summary'))}; progress notifications: {seen or 'none'}")
            for res in sc.get("results", [])[:3]:
                t.line(f"  {res['id']}: {res['status']} {res['code']}")

            t.section("Bad input is refused with a clear message, and never reaches Zoho")
            before = len(admin.journal())
            for name, args in (
                ("get_account", {"account_id": "not-an-id"}),
                ("search_accounts", {"filters": [{"field": "Account_Name", "operator": "contains", "value": "x"}]}),
                ("bulk_update", {"updates": []}),
            ):
                r = await _call(client, t, name, args)
                t.line(f"← isError={r.is_error}: {clip(_text(r).splitlines()[0], 150)}")
            t.line(f"requests that reached the sandbox meanwhile: {len(admin.journal()) - before}")

            t.section("Health: the zoho://health resource")
            health = await _read_health(client)
            _show_health(t, health)

            t.section("Break Tier 1: Zoho's hosted MCP endpoint now answers HTTP 503")
            notes = await _break_tier_one(client, t, admin, first)
            if notes:
                t.line(f"subscribers of zoho://health were notified {notes} time(s) (resources/updated)")
            health = await _read_health(client)
            _show_health(t, health)
            t.line("failover: the agent kept getting answers while Tier 1 was down")

            admin.clear_faults()
            t.section(
                f"Repair Tier 1 (faults cleared); its breaker closes again after the {DEMO_RECOVERY_TIMEOUT:g}s "
                "recovery timeout"
            )
            t.line(f"(waiting {DEMO_RECOVERY_TIMEOUT:g}s; a real server waits CIRCUIT_BREAKER_RECOVERY_TIMEOUT)")
            await anyio.sleep(DEMO_RECOVERY_TIMEOUT + 0.5)
            start = len(admin.journal())
            r = await _call(client, t, "get_account", {"account_id": first, "fields": ["Account_Name"]})
            hops = " → ".join(f"{_tier(e)} {e.get('status')}" for e in admin.journal()[start:] if _tier(e))
            t.line(f"← {'error' if r.is_error else 'answered'}; path through the tiers: {hops or 'no CRM request'}")
            health = await _read_health(client)
            _show_health(t, health)
            circuit = (health.get("tiers") or {}).get("mcp", {}).get("circuit")
            t.line(
                "Tier 1 is back: its circuit closed again after a trial call succeeded"
                if circuit == "closed"
                else f"Tier 1's circuit is {circuit}; it closes after enough trial calls succeed"
            )
        t.line("server stopped")
        t.title("Done: every tool was called, health was read, and failover was shown")
        return 0
    except Exception as exc:  # the demo must end with a readable line, not a traceback
        t.line(f"demo failed: {type(exc).__name__}: {exc}")
        errlog.seek(0)
        tail = errlog.read()[-2000:]
        if tail:
            t.line("server stderr (last lines):")
            for line in tail.splitlines()[-10:]:
                t.line("  " + line[:200])
        return 1
    finally:
        admin.close()
        sandbox.stop()
        errlog.close()
        shutil.rmtree(state_dir, ignore_errors=True)


async def _break_tier_one(client: Client, t: Transcript, admin: _Sandbox, account_id: str) -> int:
    """Inject the fault, call get_account three times, and count health notifications meanwhile."""
    notified = 0

    async def listen(task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        nonlocal notified
        started = False
        try:
            async with client.listen(resource_subscriptions=["zoho://health"]) as sub:
                task_status.started()
                started = True
                async for _event in sub:
                    notified += 1
        except Exception:  # older protocol: no listen streams; the demo goes on without them
            if not started:
                task_status.started()

    async with anyio.create_task_group() as tg:
        await tg.start(listen)
        admin.fault(surface="mcp", mode="error", status=503)
        t.line("(injected through the sandbox admin API)")
        for attempt in range(3):
            start = len(admin.journal())
            r = await _call(client, t, "get_account", {"account_id": account_id, "fields": ["Account_Name"]})
            path = [e for e in admin.journal()[start:] if _tier(e)]
            hops = " → ".join(f"{_tier(e)} {e.get('status')}" for e in path) or "no CRM request"
            status = "error" if r.is_error else "answered"
            t.line(f"← {status}; path through the tiers: {hops}")
            if attempt == 2 and not any(_tier(e) == "mcp" for e in path):
                t.line("  (Tier 1 was skipped without a call: its circuit breaker is open)")
        await anyio.sleep(0.2)  # let the last notification arrive
        tg.cancel_scope.cancel()
    return notified


async def _read_health(client: Client) -> dict[str, Any]:
    res = await client.read_resource("zoho://health", cache_mode="bypass")
    text = next((c.text for c in res.contents if hasattr(c, "text")), "{}")
    return dict(json.loads(text))


def _show_health(t: Transcript, health: dict[str, Any]) -> None:
    t.line(f"← status: {health.get('status')}")
    for name, tier in (health.get("tiers") or {}).items():
        t.line(
            f"  {name:<4} circuit={tier.get('circuit'):<9} requests={tier.get('requests')} "
            f"failures={tier.get('failures')} success_rate={tier.get('success_rate')}"
        )


def run_demo() -> int:
    """Run the demo; 0 when every step worked."""
    from zoho_mcp.logs import configure_logging

    configure_logging("warning")  # the in-process sandbox stays quiet; the transcript is on stdout
    return anyio.run(_demo, sys.stdout)
