"""Every tool through a real MCP client (in-memory), over the real gateway and the real sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from zoho_mcp.config import Settings
from zoho_mcp.gateway import ZohoGateway, build_gateway
from zoho_mcp.server import build_server

pytestmark = pytest.mark.anyio

MISSING_ID = "1111111111111111111"


@pytest.fixture
async def gateway(sandbox_settings: Settings) -> AsyncIterator[ZohoGateway]:
    gw = await build_gateway(sandbox_settings)
    try:
        yield gw
    finally:
        await gw.aclose()


@pytest.fixture
async def client(sandbox_settings: Settings, gateway: ZohoGateway) -> AsyncIterator[Client]:
    async with Client(build_server(sandbox_settings, gateway)) as c:
        yield c


@pytest.fixture
def ids(admin: Any) -> list[str]:
    return list(admin.record_ids("Accounts"))


def text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def error_code(result: CallToolResult) -> str:
    assert result.is_error, text(result)
    return text(result).split(":", 1)[0]


def tiers_used(entries: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in entries:
        if e["surface"] == "mcp":
            out.append("mcp")
        elif e["surface"] == "crm" and "/settings/" not in e["path"]:
            out.append("sdk" if e["client"] == "zcrmsdk" else "rest")
    return out


# --------------------------------------------------------------------------- listing


async def test_lists_four_tools_with_all_annotations_schemas_and_titles(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"get_account", "search_accounts", "bulk_read_accounts", "bulk_update"}
    for tool in tools.values():
        a = tool.annotations
        assert a is not None
        assert None not in (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint)
        assert tool.title and a.title == tool.title
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        assert "Example:" in (tool.description or "")
    for name in ("get_account", "search_accounts", "bulk_read_accounts"):
        assert tools[name].annotations.read_only_hint is True  # type: ignore[union-attr]
        assert tools[name].annotations.destructive_hint is False  # type: ignore[union-attr]
    bu = tools["bulk_update"].annotations
    assert bu is not None and (bu.read_only_hint, bu.destructive_hint, bu.idempotent_hint) == (False, True, True)


async def test_read_only_setting_removes_bulk_update(sandbox_settings: Settings, gateway: ZohoGateway) -> None:
    server = build_server(sandbox_settings.model_copy(update={"read_only": True}), gateway)
    async with Client(server) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert names == {"get_account", "search_accounts", "bulk_read_accounts"}
        r = await c.call_tool("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Phone": "1"}}]})
        assert r.is_error


# --------------------------------------------------------------------------- get_account


async def test_get_account_returns_structured_content_and_a_json_text_copy(
    client: Client, ids: list[str], admin: Any
) -> None:
    r = await client.call_tool("get_account", {"account_id": ids[0]})
    assert not r.is_error, text(r)
    assert r.structured_content is not None
    account = r.structured_content["account"]
    assert account["id"] == ids[0]
    truth = admin.record("Accounts", ids[0])
    assert account["Account_Name"] == truth["Account_Name"]
    assert json.loads(text(r)) == r.structured_content


async def test_get_account_is_an_agent_operation_served_by_mcp_first(
    client: Client, ids: list[str], admin: Any
) -> None:
    admin.clear_journal()
    r = await client.call_tool("get_account", {"account_id": ids[1]})
    assert not r.is_error
    assert tiers_used(admin.journal())[0] == "mcp"


async def test_get_account_accepts_a_numeric_id_sent_as_a_json_number(client: Client, ids: list[str]) -> None:
    r = await client.call_tool("get_account", {"account_id": int(ids[2])})
    assert not r.is_error, text(r)
    assert r.structured_content["account"]["id"] == ids[2]  # type: ignore[index]


async def test_get_account_returns_only_the_fields_asked_for(client: Client, ids: list[str]) -> None:
    r = await client.call_tool("get_account", {"account_id": ids[3], "fields": ["Account_Name", "Phone"]})
    assert not r.is_error, text(r)
    assert set(r.structured_content["account"]) <= {"id", "Account_Name", "Phone"}  # type: ignore[index]


async def test_missing_account_is_not_found_and_says_what_to_do_next(client: Client) -> None:
    r = await client.call_tool("get_account", {"account_id": MISSING_ID})
    assert error_code(r) == "NOT_FOUND"
    assert "search_accounts" in text(r)


# --------------------------------------------------------------------------- search_accounts


async def test_search_with_filters_finds_matching_accounts(client: Client, ids: list[str], admin: Any) -> None:
    name = admin.record("Accounts", ids[5])["Account_Name"]
    r = await client.call_tool(
        "search_accounts",
        {"filters": [{"field": "Account_Name", "operator": "equals", "value": name}], "per_page": 5},
    )
    assert not r.is_error, text(r)
    found = r.structured_content["accounts"]  # type: ignore[index]
    assert ids[5] in [a["id"] for a in found]
    page = r.structured_content["page"]  # type: ignore[index]
    assert page["page"] == 1 and page["per_page"] == 5 and page["count"] == len(found)


async def test_injection_in_a_filter_value_is_a_literal(client: Client, ids: list[str], admin: Any) -> None:
    evil = "Evil)or(Account_Name:starts_with:"
    r = await client.call_tool("bulk_update", {"updates": [{"id": ids[7], "fields": {"Account_Name": evil}}]})
    assert not r.is_error and r.structured_content["summary"]["succeeded"] == 1  # type: ignore[index]
    r = await client.call_tool(
        "search_accounts", {"filters": [{"field": "Account_Name", "operator": "equals", "value": evil}]}
    )
    assert not r.is_error, text(r)
    assert [a["id"] for a in r.structured_content["accounts"]] == [ids[7]]  # type: ignore[index]
    r = await client.call_tool(
        "search_accounts",
        {"filters": [{"field": "Account_Name", "operator": "starts_with", "value": ")or(Account_Name:starts_with:"}]},
    )
    assert not r.is_error, text(r)
    assert r.structured_content["accounts"] == []  # type: ignore[index]


async def test_no_match_is_an_empty_list_not_an_error(client: Client) -> None:
    r = await client.call_tool(
        "search_accounts", {"filters": [{"field": "Account_Name", "operator": "equals", "value": "No Such Co 9z9"}]}
    )
    assert not r.is_error, text(r)
    assert r.structured_content == {
        "accounts": [],
        "page": {"page": 1, "per_page": 20, "count": 0, "more_records": False},
    }


async def test_search_by_word_and_paging(client: Client) -> None:
    first = await client.call_tool("search_accounts", {"word": "Inc", "per_page": 2})
    assert not first.is_error, text(first)
    page = first.structured_content["page"]  # type: ignore[index]
    if page["more_records"]:
        second = await client.call_tool("search_accounts", {"word": "Inc", "per_page": 2, "page": 2})
        assert not second.is_error
        a = {x["id"] for x in first.structured_content["accounts"]}  # type: ignore[index]
        b = {x["id"] for x in second.structured_content["accounts"]}  # type: ignore[index]
        assert not a & b


async def test_search_by_email(client: Client, ids: list[str], admin: Any) -> None:
    r = await client.call_tool("bulk_update", {"updates": [{"id": ids[9], "fields": {"Email": "ops@example.org"}}]})
    assert not r.is_error
    r = await client.call_tool("search_accounts", {"email": "ops@example.org"})
    assert not r.is_error, text(r)
    assert ids[9] in [a["id"] for a in r.structured_content["accounts"]]  # type: ignore[index]


async def test_raw_criteria_is_checked_locally_then_sent(client: Client, admin: Any) -> None:
    either = "((Account_Name:starts_with:A)or(Account_Name:starts_with:B))"
    r = await client.call_tool("search_accounts", {"criteria": either})
    assert not r.is_error, text(r)
    names = [a["Account_Name"] for a in r.structured_content["accounts"]]  # type: ignore[index]
    assert names and all(n[0] in "AB" for n in names)
    admin.clear_journal()
    r = await client.call_tool("search_accounts", {"criteria": "(Account_Name:starts_with:A)and(x"})
    assert error_code(r) == "INVALID_QUERY"
    assert admin.journal() == []


async def test_zoho_business_error_comes_back_with_zohos_code(client: Client) -> None:
    # Well-formed locally, but Zoho does not allow starts_with on a number field.
    r = await client.call_tool(
        "search_accounts", {"filters": [{"field": "Annual_Revenue", "operator": "starts_with", "value": "1"}]}
    )
    assert error_code(r) == "INVALID_QUERY"
    assert "Zoho" in text(r)


# --------------------------------------------------------------------------- bulk_read_accounts


async def test_bulk_read_returns_accounts_in_order_and_the_missing_ids(client: Client, ids: list[str]) -> None:
    wanted = [ids[20], MISSING_ID, ids[10], ids[20]]
    r = await client.call_tool("bulk_read_accounts", {"account_ids": wanted, "fields": ["Account_Name"]})
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert [a["id"] for a in sc["accounts"]] == [ids[20], ids[10]]  # type: ignore[index]
    assert sc["missing"] == [MISSING_ID]  # type: ignore[index]


async def test_bulk_read_sets_aside_an_id_zoho_refuses_and_reads_the_rest(client: Client, ids: list[str]) -> None:
    # Zoho refuses a whole batch (INVALID_DATA on ids) over one malformed-for-Zoho id.
    wanted = [ids[11], "000000000000000000", ids[12]]
    r = await client.call_tool("bulk_read_accounts", {"account_ids": wanted})
    assert not r.is_error, text(r)
    assert [a["id"] for a in r.structured_content["accounts"]] == [ids[11], ids[12]]  # type: ignore[index]
    assert r.structured_content["missing"] == ["000000000000000000"]  # type: ignore[index]


async def test_bulk_read_of_many_is_bulk_work_served_by_the_sdk_first(
    client: Client, ids: list[str], admin: Any
) -> None:
    admin.clear_journal()
    r = await client.call_tool("bulk_read_accounts", {"account_ids": ids[:250]})
    assert not r.is_error, text(r)
    assert len(r.structured_content["accounts"]) == 250  # type: ignore[index]
    assert tiers_used(admin.journal())[0] == "sdk"


async def test_bulk_read_is_bounded(client: Client, admin: Any) -> None:
    admin.clear_journal()
    r = await client.call_tool("bulk_read_accounts", {"account_ids": [MISSING_ID] * 1001})
    assert error_code(r) == "INVALID_ARGUMENTS"
    assert "1000" in text(r)
    assert admin.journal() == []


# --------------------------------------------------------------------------- bulk_update


async def test_bulk_update_250_records_in_chunks_with_progress(client: Client, ids: list[str], admin: Any) -> None:
    updates = [{"id": i, "fields": {"Phone": f"555-{n:04d}"}} for n, i in enumerate(ids[:250])]
    progress: list[tuple[float, float | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total))

    admin.clear_journal()
    r = await client.call_tool("bulk_update", {"updates": updates}, progress_callback=on_progress)
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert sc["summary"] == {"total": 250, "succeeded": 250, "failed": 0}  # type: ignore[index]
    assert [x["id"] for x in sc["results"]] == ids[:250]  # type: ignore[index]
    steps = [p for p, _ in progress]
    assert len(steps) == 3 and steps == sorted(steps) and steps[-1] == 250  # one per chunk, cumulative
    assert all(t == 250 for _, t in progress)
    assert admin.record("Accounts", ids[249])["Phone"] == "555-0249"
    assert tiers_used(admin.journal())[0] == "sdk"


async def test_bulk_update_keeps_order_and_reports_each_record(client: Client, ids: list[str]) -> None:
    updates = [
        {"id": ids[30], "fields": {"Phone": "1"}},
        {"id": MISSING_ID, "fields": {"Phone": "2"}},
        {"id": ids[31], "fields": {"Phone": "3"}},
    ]
    r = await client.call_tool("bulk_update", {"updates": updates, "trigger": []})
    assert not r.is_error, text(r)
    res = r.structured_content["results"]  # type: ignore[index]
    assert [x["id"] for x in res] == [ids[30], MISSING_ID, ids[31]]
    assert [x["status"] for x in res] == ["success", "error", "success"]
    assert res[1]["code"] == "INVALID_DATA"
    assert r.structured_content["summary"] == {"total": 3, "succeeded": 2, "failed": 1}  # type: ignore[index]


async def test_a_chunk_that_fails_as_a_whole_gives_each_record_an_error(
    client: Client, ids: list[str], admin: Any
) -> None:
    admin.fault(surface="crm", mode="error", status=503)
    admin.fault(surface="mcp", mode="error", status=503)
    updates = [{"id": i, "fields": {"Phone": "9"}} for i in ids[40:190]]
    with anyio.fail_after(30):
        r = await client.call_tool("bulk_update", {"updates": updates})
    assert not r.is_error, text(r)
    res = r.structured_content["results"]  # type: ignore[index]
    assert [x["id"] for x in res] == ids[40:190]
    assert all(x["status"] == "error" and x["code"] == "ZOHO_UNAVAILABLE" for x in res)
    assert "chunk" in res[0]["message"]
    assert r.structured_content["summary"] == {"total": 150, "succeeded": 0, "failed": 150}  # type: ignore[index]


async def test_duplicate_ids_are_refused_and_nothing_is_sent(client: Client, ids: list[str], admin: Any) -> None:
    admin.clear_journal()
    updates = [{"id": ids[0], "fields": {"Phone": "1"}}, {"id": ids[1], "fields": {"Phone": "2"}},
               {"id": ids[0], "fields": {"Fax": "3"}}]
    r = await client.call_tool("bulk_update", {"updates": updates})
    assert error_code(r) == "DUPLICATE_ID"
    assert "updates[0]" in text(r) and "updates[2]" in text(r)
    assert admin.journal() == []


async def test_dry_run_validates_and_shows_what_would_be_sent(client: Client, ids: list[str], admin: Any) -> None:
    admin.clear_journal()
    updates = [{"id": i, "fields": {"Rating": "Hot"}} for i in ids[:150]]
    r = await client.call_tool("bulk_update", {"updates": updates, "dry_run": True, "trigger": ["workflow"]})
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert sc["dry_run"] is True  # type: ignore[index]
    chunks = sc["would_send"]  # type: ignore[index]
    assert [len(c["data"]) for c in chunks] == [100, 50]
    assert chunks[0]["data"][0] == {"id": ids[0], "Rating": "Hot"} and chunks[0]["trigger"] == ["workflow"]
    assert len(sc["results"]) == 150  # type: ignore[index]
    assert admin.journal() == []


async def test_100000_updates_are_refused_with_how_to_split(client: Client, admin: Any) -> None:
    admin.clear_journal()
    updates = [{"id": MISSING_ID, "fields": {"Phone": "1"}}] * 100_000
    r = await client.call_tool("bulk_update", {"updates": updates})
    assert error_code(r) == "INVALID_ARGUMENTS"
    assert "10,000" in text(r) and "Split" in text(r)
    assert admin.journal() == []


# --------------------------------------------------------------------------- bad input


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("get_account", {"account_id": "abc"}, "18-19 digits"),
    ("get_account", {"account_id": "12345"}, "18-19 digits"),
    ("get_account", {"account_id": ["1111111111111111111"]}, "account_id"),
    ("get_account", {}, "required"),
    ("get_account", {"account_id": MISSING_ID, "fields": ["Account Name"]}, "API name"),
    ("get_account", {"account_id": MISSING_ID, "fields": ["x;drop"]}, "API name"),
    ("get_account", {"account_id": "1" * 5000}, "18-19 digits"),
    ("search_accounts", {}, "exactly one"),
    ("search_accounts", {"word": "a", "email": "x@y.z"}, "word"),
    ("search_accounts", {"email": "a@b.c", "phone": "1234"}, "exactly one"),
    ("search_accounts", {"filters": [{"field": "Name", "operator": "contains", "value": "x"}]}, "operator"),
    ("search_accounts", {"filters": [{"field": "Account Name", "operator": "equals", "value": "x"}]}, "API name"),
    ("search_accounts", {"filters": [{"field": "Account_Name", "operator": "in", "value": "x"}]}, "list"),
    ("search_accounts", {"filters": [{"field": "A", "operator": "equals", "value": "x"}] * 11}, "10"),
    ("search_accounts", {"criteria": "(Account_Name:like:x)"}, "operator"),
    ("search_accounts", {"criteria": "x" * 3001}, "3000"),
    ("search_accounts", {"word": "w" * 5000}, "200"),
    ("search_accounts", {"word": "Acme", "per_page": 500}, "200"),
    ("search_accounts", {"word": "Acme", "page": 0}, "page"),
    ("search_accounts", {"word": "Acme", "per_page": 200, "page": 12}, "2,000"),
    ("search_accounts", {"filters": [{"field": "Account_Name", "operator": "equals", "value": "v" * 2990}]}, "3000"),
    ("bulk_read_accounts", {"account_ids": []}, "at least 1"),
    ("bulk_read_accounts", {"account_ids": ["12"]}, "18-19 digits"),
    ("bulk_read_accounts", {"account_ids": "1111111111111111111"}, "list"),
    ("bulk_update", {"updates": []}, "at least one"),
    ("bulk_update", {"updates": "all of them"}, "list"),
    ("bulk_update", {"updates": [{"id": "abc", "fields": {"Phone": "1"}}]}, "18-19 digits"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {}}]}, "at least one field"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Bad Name": "1"}}]}, "API name"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"id": "1"}}]}, "'id'"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Description": "d" * 40_000}}]}, "32000"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Phone": "1"}, "extra": 1}]}, "unknown argument"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Phone": "1"}}], "trigger": ["everything"]}, "trigger"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Phone": "1"}}], "dry_run": "maybe"}, "dry_run"),
]


@pytest.mark.parametrize(("tool", "args", "says"), BAD_CALLS, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(BAD_CALLS)])
async def test_bad_input_is_an_error_result_that_says_how_to_fix_it_and_sends_nothing(
    client: Client, admin: Any, ids: list[str], tool: str, args: dict[str, Any], says: str
) -> None:
    admin.clear_journal()
    r = await client.call_tool(tool, args)
    assert r.is_error, text(r)
    message = text(r)
    assert says.lower() in message.lower(), message
    assert "How to fix:" in message
    assert "Nothing was sent to Zoho." in message
    assert admin.journal() == []
    ok = await client.call_tool("get_account", {"account_id": ids[0]})
    assert not ok.is_error


async def test_unknown_tool_is_an_error_and_the_server_keeps_serving(client: Client, ids: list[str]) -> None:
    r = await client.call_tool("delete_everything", {})
    assert r.is_error
    assert not (await client.call_tool("get_account", {"account_id": ids[0]})).is_error


async def test_no_secret_appears_in_any_result(
    client: Client, ids: list[str], admin: Any, sandbox_settings: Settings
) -> None:
    admin.fault(surface="crm", mode="error", status=503)
    admin.fault(surface="mcp", mode="error", status=503)
    outputs = [
        await client.call_tool("get_account", {"account_id": ids[0]}),
        await client.call_tool("search_accounts", {"word": "Acme"}),
        await client.call_tool("bulk_update", {"updates": [{"id": ids[0], "fields": {"Phone": "1"}}]}),
    ]
    admin.clear_faults()
    health = await client.read_resource("zoho://health")
    blobs = [text(r) + json.dumps(r.structured_content) for r in outputs]
    blobs.append(health.contents[0].text)  # type: ignore[union-attr]
    secrets = [
        sandbox_settings.client_secret.get_secret_value(),  # type: ignore[union-attr]
        sandbox_settings.refresh_token.get_secret_value(),  # type: ignore[union-attr]
        sandbox_settings.mcp_url.get_secret_value().split("/mcp/")[1].split("/")[0],  # type: ignore[union-attr]
    ]
    for blob in blobs:
        for secret in secrets:
            assert secret not in blob
    assert error_code(outputs[0]) == "ZOHO_UNAVAILABLE"
