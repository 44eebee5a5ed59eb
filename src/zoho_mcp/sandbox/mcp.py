"""The hosted-MCP surface: Zoho MCP platform tool names and argument shapes over streamable HTTP.

Each tool turns `path_variables` / `query_params` / `body` into the REST request it stands for and
answers with that REST response's JSON as text, through the same `CrmApi` (same data, credits and
concurrency). One tool call is one journal entry with surface "mcp".
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from starlette.applications import Starlette

from zoho_mcp.sandbox.crm import CrmApi, CrmRequest
from zoho_mcp.sandbox.faults import FaultRule, drop_connection, wait_hang
from zoho_mcp.sandbox.responses import Reply, error
from zoho_mcp.sandbox.state import SandboxState

MCP_JOURNAL_PATH = "/mcp/***/message"
_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_query_text(v) for v in value)
    return str(value)


def _module(path_variables: dict[str, Any] | None) -> str | None:
    module = (path_variables or {}).get("module")
    return module if isinstance(module, str) and module else None


def _record_id(path_variables: dict[str, Any] | None) -> str | None:
    pv = path_variables or {}
    for key in ("recordID", "record_id", "recordId", "id"):
        value = pv.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


class HostedMcp:
    """Builds the MCPServer whose tools call into `CrmApi`."""

    def __init__(self, state: SandboxState, crm: CrmApi) -> None:
        self.state = state
        self.crm = crm
        self.server = MCPServer("zoho-crm-sandbox", version="1.0.0",
                                instructions="Local Zoho CRM (sandbox) exposing Zoho MCP platform style tools.")
        self._register()

    def app(self) -> Starlette:
        return self.server.streamable_http_app(
            streamable_http_path="/mcp",
            json_response=True,
            stateless_http=False,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    async def _call(self, ctx: Context, tool: str, method: str, path: str, query: dict[str, Any] | None,
                    body: Any = None, invalid: Reply | None = None) -> CallToolResult:
        request = ctx.request_context.request
        scope: dict[str, Any] = getattr(request, "scope", {}) or {}
        headers = getattr(request, "headers", {}) or {}
        client = "zcrmsdk" if "x-zoho-sdk" in headers else "other"
        rule: FaultRule | None = scope.get("sandbox.fault")
        receive = scope.get("sandbox.receive")
        state = self.state
        if invalid is not None:
            reply = invalid
        else:
            req = CrmRequest(method=method, path=path, query={k: _query_text(v) for k, v in (query or {}).items() if v is not None},
                             headers={k.lower(): v for k, v in headers.items()},
                             body=b"" if body is None else json.dumps(body).encode())

            async def delay() -> Reply | None:
                if rule is None:
                    return None
                if rule.mode == "latency":
                    await asyncio.sleep(rule.latency_ms / 1000.0)
                    return None
                if rule.mode == "hang":
                    await wait_hang(rule, None, state.config.hang_max_s)
                    if receive is not None:
                        drop_connection(receive)
                    return error(503, "SERVICE_UNAVAILABLE", "request was held by a hang fault and released")
                return None

            reply = await self.crm.handle(req, authenticate=False, delay=delay)
        extra: dict[str, Any] = {"tool": tool}
        if rule is not None:
            extra["fault"] = rule.id
        state.log("mcp", client, "POST", MCP_JOURNAL_PATH, reply.status, **extra)
        text = reply.text() if reply.body is not None else state.config.mcp_empty_text
        is_error = reply.status >= 400 and state.config.mcp_errors_as_is_error
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=is_error)

    def _register(self) -> None:
        server = self.server

        def bad_module() -> Reply:
            return error(400, "MANDATORY_NOT_FOUND", "required field not found", {"param_name": "module"})

        @server.tool(name="ZohoCRM_Get_Record", description="Get one record by id (GET /crm/v2/{module}/{recordID}).", annotations=_READ)
        async def get_record(ctx: Context, path_variables: dict[str, Any], query_params: dict[str, Any] | None = None) -> CallToolResult:
            module, rid = _module(path_variables), _record_id(path_variables)
            invalid = bad_module() if module is None else (
                error(400, "MANDATORY_NOT_FOUND", "required field not found", {"param_name": "recordID"}) if rid is None else None)
            return await self._call(ctx, "ZohoCRM_Get_Record", "GET", f"/crm/v2/{module}/{quote(rid or '', safe='')}", query_params, invalid=invalid)

        @server.tool(name="ZohoCRM_Get_Records", description="List records or read them by ids (GET /crm/v2/{module}).", annotations=_READ)
        async def get_records(ctx: Context, path_variables: dict[str, Any], query_params: dict[str, Any] | None = None) -> CallToolResult:
            module = _module(path_variables)
            return await self._call(ctx, "ZohoCRM_Get_Records", "GET", f"/crm/v2/{module}", query_params,
                                    invalid=bad_module() if module is None else None)

        @server.tool(name="ZohoCRM_Search_Records",
                     description="Search records by criteria, email, phone or word (GET /crm/v2/{module}/search). "
                                 "At least one search parameter required. Max 2,000 records, 10 criteria conditions.",
                     annotations=_READ)
        async def search_records(ctx: Context, path_variables: dict[str, Any], query_params: dict[str, Any] | None = None) -> CallToolResult:
            module = _module(path_variables)
            return await self._call(ctx, "ZohoCRM_Search_Records", "GET", f"/crm/v2/{module}/search", query_params,
                                    invalid=bad_module() if module is None else None)

        @server.tool(name="ZohoCRM_Update_Records", description="Update up to 100 records (PUT /crm/v2/{module}).", annotations=_WRITE)
        async def update_records(ctx: Context, path_variables: dict[str, Any], body: dict[str, Any] | None = None,
                                 query_params: dict[str, Any] | None = None) -> CallToolResult:
            module = _module(path_variables)
            return await self._call(ctx, "ZohoCRM_Update_Records", "PUT", f"/crm/v2/{module}", query_params, body,
                                    invalid=bad_module() if module is None else None)

        @server.tool(name="ZohoCRM_Update_Record", description="Update one record (PUT /crm/v2/{module}/{recordID}).", annotations=_WRITE)
        async def update_record(ctx: Context, path_variables: dict[str, Any], body: dict[str, Any] | None = None,
                                query_params: dict[str, Any] | None = None) -> CallToolResult:
            module, rid = _module(path_variables), _record_id(path_variables)
            invalid = bad_module() if module is None else (
                error(400, "MANDATORY_NOT_FOUND", "required field not found", {"param_name": "recordID"}) if rid is None else None)
            return await self._call(ctx, "ZohoCRM_Update_Record", "PUT", f"/crm/v2/{module}/{quote(rid or '', safe='')}",
                                    query_params, body, invalid=invalid)

        @server.tool(name="ZohoCRM_Get_Fields", description="Field metadata of a module (GET /crm/v2/settings/fields?module=).", annotations=_READ)
        async def get_fields(ctx: Context, query_params: dict[str, Any] | None = None) -> CallToolResult:
            return await self._call(ctx, "ZohoCRM_Get_Fields", "GET", "/crm/v2/settings/fields", query_params)

        @server.tool(name="ZohoCRM_Get_Modules", description="The org's modules (GET /crm/v2/settings/modules).", annotations=_READ)
        async def get_modules(ctx: Context, query_params: dict[str, Any] | None = None) -> CallToolResult:
            return await self._call(ctx, "ZohoCRM_Get_Modules", "GET", "/crm/v2/settings/modules", query_params)
