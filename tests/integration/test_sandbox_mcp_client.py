"""The mcp client library (mcp.Client + streamable_http_client + httpx2) against the hosted-MCP
surface: tools, argument shapes, REST JSON as text, key and bearer modes, journal, limits, faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import SandboxAdmin

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def mcp_client(url: str, mode: str = "legacy", headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(timeout=10, headers=headers or {}) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, read_timeout_seconds=10) as client:
            yield client


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def text_of(result: Any) -> str:
    return str(result.content[0].text)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_tools_list_and_get_record(admin: SandboxAdmin, mode: str) -> None:
    rid = admin.record_ids()[0]
    async with mcp_client(admin.info()["mcp_url"], mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"ZohoCRM_Get_Record", "ZohoCRM_Get_Records", "ZohoCRM_Search_Records", "ZohoCRM_Update_Records"} <= names
        result = await client.call_tool("ZohoCRM_Get_Record", {"path_variables": {"module": "Accounts", "recordID": rid}})
    assert result.is_error is False
    assert json.loads(text_of(result)) == {"data": [admin.record("Accounts", rid)]}


TOOL_SHAPES = [
    pytest.param("ZohoCRM_Get_Record", {"path_variables", "query_params"}, {"path_variables"}, True, id="get-record"),
    pytest.param("ZohoCRM_Get_Records", {"path_variables", "query_params"}, {"path_variables"}, True, id="get-records"),
    pytest.param("ZohoCRM_Search_Records", {"path_variables", "query_params"}, {"path_variables"}, True, id="search-records"),
    pytest.param("ZohoCRM_Update_Records", {"path_variables", "query_params", "body"}, {"path_variables"}, False, id="update-records"),
]


@pytest.mark.parametrize(("name", "properties", "required", "read_only"), TOOL_SHAPES)
async def test_tool_shapes(admin: SandboxAdmin, name: str, properties: set[str], required: set[str], read_only: bool) -> None:
    """Zoho MCP platform style: the arguments mirror the HTTP request (reference §10.2)."""
    async with mcp_client(admin.info()["mcp_url"]) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    tool = tools[name]
    assert set(tool.input_schema["properties"]) == properties
    assert set(tool.input_schema.get("required", [])) == required
    assert tool.annotations is not None and tool.annotations.read_only_hint is read_only


async def test_query_key_url_form(admin: SandboxAdmin) -> None:
    info = admin.info()
    url = f"{info['base_url']}/mcp/message?key={info['mcp_key']}"
    async with mcp_client(url) as client:
        result = await client.call_tool("ZohoCRM_Get_Records", {"path_variables": {"module": "Accounts"}, "query_params": {"per_page": 5, "page": 1}})
    body = json.loads(text_of(result))
    assert body["info"] == {"per_page": 5, "count": 5, "page": 1, "sort_by": "id", "sort_order": "desc", "more_records": True}


TOOL_CALLS = [
    pytest.param("ZohoCRM_Search_Records", {"path_variables": {"module": "Accounts"}, "query_params": {"criteria": "(Account_Name:equals:Smith\\, Jones and Co)"}}, False, lambda b: [r["Account_Name"] for r in b["data"]] == ["Smith, Jones and Co"], id="search-criteria"),
    pytest.param("ZohoCRM_Search_Records", {"path_variables": {"module": "Accounts"}, "query_params": {"word": "Söhne"}}, False, lambda b: b["info"]["count"] == 1, id="search-word"),
    pytest.param("ZohoCRM_Search_Records", {"path_variables": {"module": "Accounts"}, "query_params": {}}, True, lambda b: b["code"] == "EXPECTED_PARAM_MISSING", id="search-no-param"),
    pytest.param("ZohoCRM_Get_Record", {"path_variables": {"module": "Accounts", "recordID": "abc"}}, True, lambda b: b["code"] == "INVALID_DATA", id="get-malformed-id"),
    pytest.param("ZohoCRM_Get_Records", {"path_variables": {"module": "Nope"}}, True, lambda b: b["code"] == "INVALID_MODULE", id="unknown-module"),
    pytest.param("ZohoCRM_Get_Records", {"path_variables": {}}, True, lambda b: b["code"] == "MANDATORY_NOT_FOUND", id="missing-module"),
    pytest.param("ZohoCRM_Get_Fields", {"query_params": {"module": "Accounts"}}, False, lambda b: any(f["api_name"] == "Annual_Revenue" for f in b["fields"]), id="get-fields"),
]


@pytest.mark.parametrize(("tool", "args", "is_error", "check"), TOOL_CALLS)
async def test_tool_calls(admin: SandboxAdmin, tool: str, args: dict[str, Any], is_error: bool, check: Any) -> None:
    async with mcp_client(admin.info()["mcp_url"]) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error is is_error
    assert check(json.loads(text_of(result)))


async def test_update_records_per_record_results(admin: SandboxAdmin) -> None:
    ids = admin.record_ids()[:3]
    data = [{"id": ids[0], "Phone": "1"}, {"id": ids[1], "Employees": "many"}, {"id": ids[2], "Phone": "3"}]
    async with mcp_client(admin.info()["mcp_url"]) as client:
        result = await client.call_tool("ZohoCRM_Update_Records", {"path_variables": {"module": "Accounts"}, "body": {"data": data, "trigger": []}})
    body = json.loads(text_of(result))
    assert [r["status"] for r in body["data"]] == ["success", "error", "success"]
    assert body["data"][1]["details"]["api_name"] == "Employees"
    assert admin.record("Accounts", ids[2])["Phone"] == "3"  # type: ignore[index]


@pytest.mark.parametrize(("knob", "text"), [pytest.param("", "", id="empty-text"), pytest.param("{}", "{}", id="empty-object")])
async def test_rest_204_as_text_knob(admin: SandboxAdmin, knob: str, text: str) -> None:
    admin.configure(mcp_empty_text=knob)
    async with mcp_client(admin.info()["mcp_url"]) as client:
        result = await client.call_tool("ZohoCRM_Get_Record", {"path_variables": {"module": "Accounts", "recordID": "1234567890123456789"}})
    assert result.is_error is False and text_of(result) == text


async def test_wrong_key_is_refused_on_the_wire(admin: SandboxAdmin) -> None:
    import httpx

    url = admin.info()["mcp_url"].replace("sandbox-mcp-key-0000", "rotated-key")
    raw = httpx.post(url, json={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "ZohoCRM_Get_Records", "arguments": {}}},
                     headers={"Accept": "application/json, text/event-stream"})
    assert raw.status_code == 200
    assert raw.json() == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32600, "message": "APIKey parsing Exception"}}
    assert admin.limits()["credits_used"] == 0, "a refused call reaches no data and costs nothing"


async def test_wrong_key_is_refused(admin: SandboxAdmin) -> None:
    url = admin.info()["mcp_url"].replace("sandbox-mcp-key-0000", "rotated-key")
    with pytest.raises(BaseException) as caught:
        async with mcp_client(url):
            pass
    assert any("APIKey parsing Exception" in str(e) for e in leaves(caught.value))


async def test_bearer_mode(admin: SandboxAdmin) -> None:
    admin.configure(mcp_require_bearer=True)
    info = admin.info()
    import httpx

    raw = httpx.post(info["mcp_url"], json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                     headers={"Accept": "application/json, text/event-stream"})
    assert raw.status_code == 401
    assert "resource_metadata=" in raw.headers["www-authenticate"]
    assert httpx.get(raw.headers["www-authenticate"].split('resource_metadata="')[1].rstrip('"')).json()["resource"]
    with pytest.raises(BaseException):
        async with mcp_client(info["mcp_url"]):
            pass
    async with mcp_client(info["mcp_url"], headers={"Authorization": f"Bearer {info['mcp_token']}"}) as client:
        result = await client.call_tool("ZohoCRM_Get_Records", {"path_variables": {"module": "Accounts"}, "query_params": {"per_page": 1}})
    assert result.is_error is False
    with pytest.raises(BaseException):
        async with mcp_client(info["mcp_url"], headers={"Authorization": "Bearer not-the-token"}):
            pass


async def test_bearer_mode_accepts_a_live_oauth_token(admin: SandboxAdmin, sandbox_token: str) -> None:
    admin.configure(mcp_require_bearer=True)
    async with mcp_client(admin.info()["mcp_url"], headers={"Authorization": f"Bearer {sandbox_token}"}) as client:
        result = await client.call_tool("ZohoCRM_Get_Records", {"path_variables": {"module": "Accounts"}, "query_params": {"per_page": 1}})
    assert result.is_error is False


async def test_bad_jsonrpc_bodies_are_refused_cleanly(admin: SandboxAdmin) -> None:
    import httpx

    url = admin.info()["mcp_url"]
    for body in (b"{not json", b"[" * 50_000 + b"]" * 50_000, b"\xff\xfe"):
        raw = httpx.post(url, content=body, headers={"Accept": "application/json, text/event-stream", "Content-Type": "application/json"})
        assert 400 <= raw.status_code < 500, (body[:10], raw.status_code)
        assert "Traceback" not in raw.text


async def test_one_journal_entry_per_tool_call_and_credits(admin: SandboxAdmin) -> None:
    rid = admin.record_ids()[0]
    async with mcp_client(admin.info()["mcp_url"]) as client:
        await client.list_tools()
        for _ in range(3):
            await client.call_tool("ZohoCRM_Get_Record", {"path_variables": {"module": "Accounts", "recordID": rid}})
    journal = admin.journal()
    assert journal == [{"surface": "mcp", "client": "other", "method": "POST", "path": "/mcp/***/message", "status": 200, "tool": "ZohoCRM_Get_Record"}] * 3
    assert admin.limits()["credits_used"] == 3


async def test_mcp_consumes_the_same_credits(admin: SandboxAdmin) -> None:
    admin.configure(credits_per_day=2)
    rid = admin.record_ids()[0]
    async with mcp_client(admin.info()["mcp_url"]) as client:
        results = [await client.call_tool("ZohoCRM_Get_Record", {"path_variables": {"module": "Accounts", "recordID": rid}}) for _ in range(3)]
    assert [r.is_error for r in results] == [False, False, True]
    assert json.loads(text_of(results[2]))["code"] == "TOO_MANY_REQUESTS"


@pytest.mark.parametrize(("rule", "expect"), [
    pytest.param({"mode": "error", "status": 503}, "error", id="error-503"),
    pytest.param({"mode": "rate_limit"}, "error", id="rate-limit"),
    pytest.param({"mode": "reset"}, "error", id="reset"),
    pytest.param({"mode": "latency", "latency_ms": 20}, "ok", id="latency"),
])
async def test_mcp_faults_hit_tool_calls_only(admin: SandboxAdmin, rule: dict[str, Any], expect: str) -> None:
    rid = admin.record_ids()[0]
    admin.fault("mcp", count=1, **rule)
    outcome = "ok"
    listed = False
    try:
        async with mcp_client(admin.info()["mcp_url"]) as client:
            await client.list_tools()  # not a tool call: never faulted
            listed = True
            result = await client.call_tool("ZohoCRM_Get_Record", {"path_variables": {"module": "Accounts", "recordID": rid}})
            outcome = "error" if result.is_error else "ok"
    except BaseException:  # noqa: BLE001 - the client surfaces transport failures as exception groups
        outcome = "error"
    assert listed
    assert outcome == expect
    entry = admin.journal()[0]
    assert entry["surface"] == "mcp" and entry["tool"] == "ZohoCRM_Get_Record" and "fault" in entry


async def test_mcp_faults_leave_rest_alone(admin: SandboxAdmin, sandbox_token: str) -> None:
    import httpx

    admin.fault("mcp", status=503)
    rid = admin.record_ids()[0]
    response = httpx.get(f"{admin.base_url}/crm/v2/Accounts/{rid}", headers={"Authorization": f"Zoho-oauthtoken {sandbox_token}"})
    assert response.status_code == 200


async def test_mcp_reset_after_applies_the_write(admin: SandboxAdmin) -> None:
    rid = admin.record_ids()[0]
    admin.fault("mcp", mode="reset_after", count=1)
    with pytest.raises(BaseException):
        async with mcp_client(admin.info()["mcp_url"]) as client:
            await client.call_tool("ZohoCRM_Update_Records", {"path_variables": {"module": "Accounts"},
                                                              "body": {"data": [{"id": rid, "Phone": "applied"}]}})
    assert admin.record("Accounts", rid)["Phone"] == "applied"  # type: ignore[index]


async def test_mcp_hang_holds_a_concurrency_slot_until_released(admin: SandboxAdmin) -> None:
    import anyio

    rid = admin.record_ids()[0]
    admin.fault("mcp", mode="hang")
    outcome: dict[str, Any] = {}

    async def call() -> None:
        try:
            async with mcp_client(admin.info()["mcp_url"]) as client:
                outcome["result"] = await client.call_tool(
                    "ZohoCRM_Get_Record", {"path_variables": {"module": "Accounts", "recordID": rid}})
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        with anyio.fail_after(5):
            while (await anyio.to_thread.run_sync(admin.limits))["in_flight"] == 0:
                await anyio.sleep(0.02)
        await anyio.to_thread.run_sync(admin.clear_faults)
    assert outcome, "the hung call ended once the fault was cleared"


async def test_async_sandbox_server() -> None:
    import httpx

    from zoho_mcp.sandbox.app import AsyncSandboxServer, SandboxConfig

    async with AsyncSandboxServer(SandboxConfig(accounts=5)) as sb:
        async with httpx.AsyncClient() as http:
            info = (await http.get(f"{sb.base_url}/__sandbox__/info")).json()
    assert info["accounts"] == 5 and info["api_domain"] == sb.base_url
