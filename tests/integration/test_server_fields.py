"""Field names checked against Zoho's own field catalogue, through a real MCP client (in-memory), over the
real gateway and the real sandbox: unknown or read-only names are refused with suggestions and nothing
reaches Zoho; real fields (custom ones included) work; reads keep working when the catalogue cannot
be fetched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from zoho_mcp.config import Settings
from zoho_mcp.gateway import ZohoGateway, build_gateway
from zoho_mcp.sandbox.data import ACCOUNT_FIELDS
from zoho_mcp.server import ZohoMCPServer, build_server
from zoho_mcp.tools.errors import LOCAL_NOTE
from zoho_mcp.tools.fields import FieldCatalog

pytestmark = pytest.mark.anyio


@pytest.fixture
async def gateway(sandbox_settings: Settings) -> AsyncIterator[ZohoGateway]:
    gw = await build_gateway(sandbox_settings)
    try:
        yield gw
    finally:
        await gw.aclose()


@pytest.fixture
def server(sandbox_settings: Settings, gateway: ZohoGateway) -> ZohoMCPServer:
    return build_server(sandbox_settings, gateway)


def catalog_of(server: ZohoMCPServer) -> FieldCatalog:
    catalog = server.zoho_state.field_catalog()
    assert catalog is not None
    return catalog


@pytest.fixture
async def client(server: ZohoMCPServer) -> AsyncIterator[Client]:
    async with Client(server) as c:
        await catalog_of(server).describe("Accounts")  # joins the lifespan's warm-up if still running
        yield c


@pytest.fixture
def ids(admin: Any) -> list[str]:
    return list(admin.record_ids("Accounts"))


def text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def describe_requests(journal: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in journal if e.get("tool") == "ZohoCRM_Get_Fields" or "/settings/fields" in e["path"]]


async def test_the_lifespan_warms_the_catalogue_with_one_request(server: ZohoMCPServer, admin: Any) -> None:
    admin.clear_journal()
    async with Client(server):
        catalogue = await catalog_of(server).describe("Accounts")
        await catalog_of(server).describe("Accounts")
    assert catalogue is not None, "the tiers cannot describe fields yet (DescribeFields)"
    assert catalogue.names() == {f.api_name for f in ACCOUNT_FIELDS}
    assert catalogue.fields["Created_Time"].read_only and not catalogue.fields["Phone"].read_only
    assert len(describe_requests(admin.journal())) == 1


UNKNOWN: list[tuple[str, dict[str, Any], str, str]] = [
    ("get_account", {"fields": ["No_Such_Field"]}, "No_Such_Field", ""),
    ("get_account", {"fields": ["Account_Name", "Acount_Name"]}, "Acount_Name", "Account_Name"),
    ("get_account", {"fields": ["account_name"]}, "account_name", "Account_Name"),
    ("bulk_read_accounts", {"fields": ["Industy"]}, "Industy", "Industry"),
    ("search_accounts", {"filters": [{"field": "Anual_Revenue", "operator": "greater_than", "value": 1}]},
     "Anual_Revenue", "Annual_Revenue"),
    ("search_accounts", {"criteria": "((Account_Name:starts_with:A)and(Ratng:equals:Active))"}, "Ratng", "Rating"),
    ("search_accounts", {"word": "Acme", "fields": ["Webiste"]}, "Webiste", "Website"),
    ("search_accounts", {"criteria": "(id:equals:1111111111111111111)"}, "id", ""),
    ("bulk_update", {"updates": [{"fields": {"No_Such_Fld": 1}}]}, "No_Such_Fld", ""),
    ("bulk_update", {"updates": [{"fields": {"Phone": "1"}}, {"fields": {"phone": "2"}}]}, "phone", "Phone"),
    ("bulk_update", {"updates": [{"fields": {"Phoen": "1"}}], "dry_run": True}, "Phoen", "Phone"),
]


def with_ids(tool: str, args: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    if tool == "get_account":
        return {"account_id": ids[0], **args}
    if tool == "bulk_read_accounts":
        return {"account_ids": ids[:3], **args}
    if tool == "bulk_update":
        return {**args, "updates": [{"id": ids[n], **u} for n, u in enumerate(args["updates"])]}
    return args


@pytest.mark.parametrize(("tool", "args", "name", "suggestion"), UNKNOWN,
                         ids=[f"{t}-{n}" for t, _, n, _ in UNKNOWN])
async def test_an_unknown_field_is_refused_with_a_suggestion_and_nothing_reaches_zoho(
    client: Client, admin: Any, ids: list[str], tool: str, args: dict[str, Any], name: str, suggestion: str
) -> None:
    before = {i: admin.record("Accounts", i) for i in ids[:2]}
    admin.clear_journal()
    r = await client.call_tool(tool, with_ids(tool, args, ids))
    message = text(r)
    assert r.is_error, message
    assert message.startswith("UNKNOWN_FIELD: Accounts has no field named "), message
    assert repr(name) in message
    if suggestion:
        assert f"did you mean {suggestion!r}" in message
    assert "How to fix:" in message and LOCAL_NOTE in message
    assert admin.journal() == []
    assert {i: admin.record("Accounts", i) for i in ids[:2]} == before
    ok = await client.call_tool("get_account", {"account_id": ids[0], "fields": ["Account_Name"]})
    assert not ok.is_error, text(ok)


@pytest.mark.parametrize("name", ["Created_Time", "Modified_By", "Billing_Address"])
async def test_a_read_only_field_in_an_update_is_refused(
    client: Client, admin: Any, ids: list[str], name: str
) -> None:
    admin.clear_journal()
    r = await client.call_tool("bulk_update", {"updates": [{"id": ids[0], "fields": {"Phone": "1", name: "x"}}]})
    message = text(r)
    assert r.is_error and message.startswith("READ_ONLY_FIELD: "), message
    assert repr(name) in message and "updates[0].fields" in message
    assert "How to fix:" in message and LOCAL_NOTE in message
    assert admin.journal() == []


async def test_real_fields_work_including_custom_ones(client: Client, admin: Any, ids: list[str]) -> None:
    custom = next(f.api_name for f in ACCOUNT_FIELDS if f.custom)
    r = await client.call_tool("bulk_update", {"updates": [{"id": ids[4], "fields": {custom: "ops@example.com"}}]})
    assert not r.is_error and r.structured_content["summary"]["succeeded"] == 1, text(r)  # type: ignore[index]
    assert admin.record("Accounts", ids[4])[custom] == "ops@example.com"
    r = await client.call_tool("get_account", {"account_id": ids[4], "fields": [custom, "Locked__s", "id"]})
    assert not r.is_error, text(r)
    assert r.structured_content["account"][custom] == "ops@example.com"  # type: ignore[index]
    r = await client.call_tool(
        "search_accounts", {"filters": [{"field": custom, "operator": "equals", "value": "ops@example.com"}]}
    )
    assert not r.is_error, text(r)
    assert ids[4] in [a["id"] for a in r.structured_content["accounts"]]  # type: ignore[index]
    r = await client.call_tool("search_accounts", {"criteria": f"({custom}:equals:ops@example.com)", "fields": ["id"]})
    assert [a["id"] for a in r.structured_content["accounts"]] == [ids[4]], text(r)  # type: ignore[index]


async def test_reads_keep_working_when_the_catalogue_cannot_be_fetched(
    sandbox_settings: Settings, admin: Any, ids: list[str]
) -> None:
    """A token without the fields scope: the catalogue is unavailable, tools fall back to syntax checks."""
    settings = sandbox_settings.model_copy(update={"enable_mcp": False, "enable_sdk": False})
    admin.fault(surface="crm", path=r"/settings/fields", status=401, body={
        "code": "OAUTH_SCOPE_MISMATCH", "message": "invalid oauth scope to access this URL", "details": {},
        "status": "error"})
    gw = await build_gateway(settings)
    try:
        server = build_server(settings, gw)
        async with Client(server) as c:
            assert await catalog_of(server).describe("Accounts") is None
            asked = len(describe_requests(admin.journal()))
            r = await c.call_tool("get_account", {"account_id": ids[0], "fields": ["Account_Name"]})
            assert not r.is_error, text(r)
            r = await c.call_tool("get_account", {"account_id": ids[0], "fields": ["No_Such_Field"]})
            assert not text(r).startswith("UNKNOWN_FIELD"), text(r)
            r = await c.call_tool("bulk_update", {"updates": [{"id": ids[0], "fields": {"Created_Time": "x"}}]})
            assert text(r).startswith("READ_ONLY_FIELD"), text(r)  # known without asking Zoho
            assert len(describe_requests(admin.journal())) == asked  # not asked again on every call
    finally:
        await gw.aclose()


WRONG_TYPE: list[tuple[dict[str, Any], list[str]]] = [
    ({"filters": [{"field": "Annual_Revenue", "operator": "greater_than", "value": "abc"}]},
     ["'abc'", "Annual_Revenue", "a number", "filters[0]"]),
    ({"filters": [{"field": "Account_Name", "operator": "greater_than", "value": "M"}]},
     ["'greater_than' is not allowed", "Account_Name", "allowed: equals, in, not_equal, starts_with"]),
    ({"filters": [{"field": "Account_Name", "operator": "starts_with", "value": "A"},
                  {"field": "Annual_Revenue", "operator": "between", "value": [1, "lots"]}]},
     ["'lots'", "filters[1]"]),
    ({"criteria": "((Account_Name:starts_with:A)and(Annual_Revenue:greater_than:abc))"},
     ["'abc'", "Annual_Revenue", "a number"]),
    ({"criteria": "(Account_Name:less_than:M)"}, ["'less_than' is not allowed", "Account_Name"]),
    ({"criteria": "(Created_Time:greater_than:yesterday)"}, ["'yesterday'", "datetime"]),
]


@pytest.mark.parametrize(("args", "expected"), WRONG_TYPE, ids=[str(i) for i in range(len(WRONG_TYPE))])
async def test_a_condition_that_does_not_fit_the_field_type_is_refused_locally(
    client: Client, admin: Any, args: dict[str, Any], expected: list[str]
) -> None:
    admin.clear_journal()
    r = await client.call_tool("search_accounts", args)
    message = text(r)
    assert r.is_error, message
    assert message.startswith("INVALID_QUERY: "), message
    for part in expected:
        assert part in message, (part, message)
    assert LOCAL_NOTE in message and "How to fix:" in message
    assert admin.journal() == []


async def test_conditions_that_fit_the_field_type_still_search(client: Client) -> None:
    for args in (
        {"filters": [{"field": "Annual_Revenue", "operator": "greater_than", "value": 1000}]},
        {"filters": [{"field": "Annual_Revenue", "operator": "between", "value": ["10", 2000000.5]}]},
        {"criteria": "((Account_Name:starts_with:A)and(Annual_Revenue:greater_equal:0))"},
        {"criteria": "(Created_Time:greater_than:2020-01-01T00:00:00+00:00)"},
    ):
        r = await client.call_tool("search_accounts", args)
        assert not r.is_error, (args, text(r))
