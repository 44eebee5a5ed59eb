"""Every tool through a real MCP client (in-memory), over the real gateway and the real sandbox."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent
from pydantic import SecretStr

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
    server = build_server(sandbox_settings, gateway)
    async with Client(server) as c:
        catalog = server.zoho_state.field_catalog()
        assert catalog is not None
        await catalog.describe("Accounts")  # the lifespan's warm-up is done: tests see only their own requests
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


def first_zoho_hop(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The first request that reached Zoho itself (token refreshes aside)."""
    return next(e for e in entries if e["surface"] != "oauth")


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
    limits = {
        "get_account": ["18-19 digits", "at most 50"],
        "search_accounts": ["At most 10 conditions", "1-200", "2,000"],
        "bulk_read_accounts": ["1 to 1,000"],
        "bulk_update": ["1 to 10,000", "100 at a time", "dry_run"],
    }
    for name, phrases in limits.items():
        for phrase in phrases:
            assert phrase in (tools[name].description or ""), (name, phrase)
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
    assert first_zoho_hop(admin.journal())["surface"] == "mcp"
    assert tiers_used(admin.journal()) == ["mcp"]


@pytest.mark.parametrize("tool", ["get_account", "search_accounts", "bulk_read_accounts", "bulk_update"])
async def test_every_tool_returns_structured_content_and_the_same_json_as_text(
    client: Client, ids: list[str], tool: str
) -> None:
    args: dict[str, Any] = {
        "get_account": {"account_id": ids[0]},
        "search_accounts": {"word": "Inc", "per_page": 2},
        "bulk_read_accounts": {"account_ids": ids[:2]},
        "bulk_update": {"updates": [{"id": ids[0], "fields": {"Phone": "555-0000"}}]},
    }[tool]
    r = await client.call_tool(tool, args)
    assert not r.is_error, text(r)
    assert isinstance(r.structured_content, dict) and r.structured_content
    assert [c.type for c in r.content] == ["text"]
    assert json.loads(text(r)) == r.structured_content


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


async def test_criteria_characters_in_a_filter_value_are_escaped_literals(
    client: Client, ids: list[str], admin: Any
) -> None:
    odd = "Odd (UK), Ltd\\ 100%"
    r = await client.call_tool("bulk_update", {"updates": [{"id": ids[7], "fields": {"Account_Name": odd}}]})
    assert not r.is_error and r.structured_content["summary"]["succeeded"] == 1  # type: ignore[index]
    for operator in ("equals", "starts_with"):
        r = await client.call_tool(
            "search_accounts", {"filters": [{"field": "Account_Name", "operator": operator, "value": odd}]}
        )
        assert not r.is_error, text(r)
        assert [a["id"] for a in r.structured_content["accounts"]] == [ids[7]]  # type: ignore[index]


async def test_criteria_syntax_smuggled_into_a_filter_value_is_refused(client: Client, admin: Any) -> None:
    admin.clear_journal()
    r = await client.call_tool(
        "search_accounts",
        {"filters": [{"field": "Account_Name", "operator": "starts_with", "value": ")or(Account_Name:starts_with:"}]},
    )
    assert error_code(r) == "INVALID_ARGUMENTS"
    assert "match='any'" in text(r) and "Nothing was sent to Zoho." in text(r)
    assert admin.journal() == []


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


async def test_zoho_business_error_comes_back_with_zohos_code_and_message(client: Client, admin: Any) -> None:
    # Well-formed locally, and of a type the local check leaves to Zoho, which cannot search image fields.
    admin.clear_journal()
    r = await client.call_tool(
        "search_accounts", {"filters": [{"field": "Record_Image", "operator": "equals", "value": "x"}]}
    )
    assert error_code(r) == "INVALID_QUERY"
    assert "Zoho refused the request: invalid query formed" in text(r)
    assert "Record_Image" in text(r)  # Zoho's details say which condition
    assert "Nothing was sent to Zoho." not in text(r)
    assert [e["status"] for e in admin.journal() if e["surface"] == "crm" and "search" in e["path"]] == [400]


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


async def test_bulk_read_of_20_is_bulk_work_served_by_the_sdk_first(
    client: Client, ids: list[str], admin: Any
) -> None:
    admin.clear_journal()
    r = await client.call_tool("bulk_read_accounts", {"account_ids": ids[:20]})
    assert not r.is_error, text(r)
    assert [a["id"] for a in r.structured_content["accounts"]] == ids[:20]  # type: ignore[index]
    hop = first_zoho_hop(admin.journal())
    assert (hop["surface"], hop["client"]) == ("crm", "zcrmsdk")
    assert "mcp" not in tiers_used(admin.journal())


async def test_bulk_read_of_10_is_still_an_agent_read_served_by_mcp_first(
    client: Client, ids: list[str], admin: Any
) -> None:
    admin.clear_journal()
    r = await client.call_tool("bulk_read_accounts", {"account_ids": ids[:10]})
    assert not r.is_error, text(r)
    assert first_zoho_hop(admin.journal())["surface"] == "mcp"


async def test_bulk_read_of_many_is_read_100_ids_per_call(client: Client, ids: list[str], admin: Any) -> None:
    admin.clear_journal()
    r = await client.call_tool("bulk_read_accounts", {"account_ids": ids[:250]})
    assert not r.is_error, text(r)
    assert [a["id"] for a in r.structured_content["accounts"]] == ids[:250]  # type: ignore[index]
    assert tiers_used(admin.journal()) == ["sdk"] * 3


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
    # Zoho answered 503: the request reached it, so the outcome is unknown, not "nothing was sent".
    assert res[0]["message"].startswith("outcome unknown: re-read before retrying"), res[0]["message"]
    assert "may not have been updated" not in res[0]["message"] and res[0]["details"]["sent"] is True
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


async def test_many_chunks_stay_within_zohos_concurrency_and_each_is_sent_once(
    sandbox_settings: Settings, ids: list[str], admin: Any
) -> None:
    # Each Zoho call takes 30 ms, so chunks overlap unless the limiter holds them back.
    admin.configure(latency_ms=30)
    settings = sandbox_settings.model_copy(update={"concurrency_limit": 2, "hedge_enabled": False})
    gw = await build_gateway(settings)
    peak = 0
    try:
        async with Client(build_server(settings, gw)) as c:
            progress: list[float] = []

            async def on_progress(p: float, total: float | None, message: str | None) -> None:
                progress.append(p)

            async def watch() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, gw.limiter.snapshot()["in_flight"])
                    await anyio.sleep(0.002)

            updates = [{"id": i, "fields": {"Phone": f"555-{n:04d}"}} for n, i in enumerate(ids[:500])]
            admin.clear_journal()
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                r = await c.call_tool("bulk_update", {"updates": updates}, progress_callback=on_progress)
                tg.cancel_scope.cancel()
    finally:
        await gw.aclose()
    assert not r.is_error, text(r)
    assert r.structured_content["summary"] == {"total": 500, "succeeded": 500, "failed": 0}  # type: ignore[index]
    assert [x["id"] for x in r.structured_content["results"]] == ids[:500]  # type: ignore[index]
    assert 1 <= peak <= 2
    writes = [e for e in admin.journal() if e["surface"] == "crm" and e["method"] == "PUT"]
    assert len(writes) == 5 and all(e["status"] == 200 for e in writes)  # 5 chunks, each sent exactly once
    assert len(progress) == 5 and sorted(progress) == progress and progress[-1] == 500
    assert admin.record("Accounts", ids[499])["Phone"] == "555-0499"


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
    # wrong types
    ("get_account", {"account_id": True}, "account_id"),
    ("get_account", {"account_id": 2.867825000000104e18}, "JSON string"),
    ("get_account", {"account_id": MISSING_ID, "fields": "Account_Name"}, "list"),
    ("search_accounts", {"word": "Acme", "per_page": "ten"}, "per_page"),
    ("search_accounts", {"word": "Acme", "match": "some"}, "match"),
    ("search_accounts", {"filters": {"field": "Account_Name"}}, "filters"),
    ("search_accounts", {"filters": [{"field": "Annual_Revenue", "operator": "between", "value": [1]}]}, "two values"),
    ("bulk_read_accounts", {"account_ids": [1.5]}, "JSON string"),
    # non-numeric ids
    ("bulk_read_accounts", {"account_ids": [MISSING_ID, "DROP TABLE"]}, "18-19 digits"),
    # unknown operators
    ("search_accounts", {"filters": [{"field": "Phone", "operator": "LIKE", "value": "5"}]}, "allowed operators"),
    # 100,000 updates
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Phone": "1"}}] * 100_000}, "split them into 10"),
    # unknown (malformed) field names
    ("get_account", {"account_id": MISSING_ID, "fields": ["Account_Name", "Owner.name"]}, "API name"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Phone Number": "1"}}]}, "API name"),
    ("search_accounts", {"filters": [{"field": "1Phone", "operator": "equals", "value": "1"}]}, "API name"),
    # unknown (well-formed) field names, checked against the module's field catalogue
    ("get_account", {"account_id": MISSING_ID, "fields": ["No_Such_Field"]}, "UNKNOWN_FIELD: Accounts has no field"),
    ("get_account", {"account_id": MISSING_ID, "fields": ["Acount_Name"]}, "did you mean 'Account_Name'"),
    ("bulk_read_accounts", {"account_ids": [MISSING_ID], "fields": ["Industy"]}, "did you mean 'Industry'"),
    ("search_accounts", {"filters": [{"field": "Anual_Revenue", "operator": "greater_than", "value": 1}]},
     "did you mean 'Annual_Revenue'"),
    ("search_accounts", {"criteria": "((Account_Name:starts_with:A)or(No_Such_Field:equals:x))"}, "'No_Such_Field'"),
    ("search_accounts", {"word": "Acme", "fields": ["phone"]}, "did you mean 'Phone'"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"No_Such_Fld": 1}}]}, "UNKNOWN_FIELD"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Phnoe": "1"}}], "dry_run": True}, "'Phone'"),
    ("bulk_update", {"updates": [{"id": MISSING_ID, "fields": {"Created_Time": "2024-01-01T00:00:00+00:00"}}]},
     "READ_ONLY_FIELD"),
    # injection attempts in filter values
    ("search_accounts", {"filters": [{"field": "Account_Name", "operator": "starts_with",
                                      "value": ")or(Account_Name:starts_with:"}]}, "match='any'"),
    ("search_accounts", {"filters": [{"field": "Account_Name", "operator": "equals",
                                      "value": "Acme)and(Annual_Revenue:greater_than:0"}]}, "criteria syntax"),
    ("search_accounts", {"filters": [{"field": "Industry", "operator": "in",
                                      "value": ["Finance", "(Account_Name:starts_with:A"]}]}, "criteria syntax"),
    # oversize strings
    ("search_accounts", {"filters": [{"field": "Account_Name", "operator": "equals", "value": "v" * 100_000}]},
     "3000"),
    ("get_account", {"account_id": MISSING_ID, "fields": ["F" * 500]}, "API name"),
    ("search_accounts", {"email": "e" * 300 + "@example.com"}, "254"),
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


def secrets_of(settings: Settings) -> list[str]:
    return [
        settings.client_secret.get_secret_value(),  # type: ignore[union-attr]
        settings.refresh_token.get_secret_value(),  # type: ignore[union-attr]
        settings.mcp_url.get_secret_value().split("/mcp/")[1].split("/")[0],  # type: ignore[union-attr]
    ]


async def test_no_secret_appears_in_any_result(
    client: Client, gateway: ZohoGateway, ids: list[str], admin: Any, sandbox_settings: Settings
) -> None:
    ok = [
        await client.call_tool("get_account", {"account_id": ids[0]}),
        await client.call_tool("search_accounts", {"word": "Inc"}),
        await client.call_tool("bulk_read_accounts", {"account_ids": ids[:20]}),
    ]
    access_token = await gateway.tiers["rest"].auth.get_token()  # type: ignore[attr-defined]
    admin.fault(surface="crm", mode="error", status=503)
    admin.fault(surface="mcp", mode="error", status=503)
    failed = [
        await client.call_tool("get_account", {"account_id": ids[0]}),
        await client.call_tool("search_accounts", {"word": "Acme"}),
        await client.call_tool("bulk_update", {"updates": [{"id": ids[0], "fields": {"Phone": "1"}}]}),
    ]
    admin.clear_faults()
    health = await client.read_resource("zoho://health", cache_mode="bypass")
    blobs = [text(r) + json.dumps(r.structured_content) for r in ok + failed]
    blobs.append(health.contents[0].text)  # type: ignore[union-attr]
    for blob in blobs:
        for secret in [*secrets_of(sandbox_settings), access_token]:
            assert secret not in blob
    assert error_code(failed[0]) == "ZOHO_UNAVAILABLE"


async def test_an_auth_failure_says_so_without_any_credential(
    sandbox_settings: Settings, ids: list[str], admin: Any
) -> None:
    url = sandbox_settings.mcp_url.get_secret_value()  # type: ignore[union-attr]
    wrong = sandbox_settings.model_copy(update={
        "client_secret": SecretStr("wrong-client-secret-7f3a9c"),
        "refresh_token": SecretStr("1000.wrongrefresh.7f3a9c2b"),
        "mcp_url": SecretStr(url.replace("sandbox-mcp-key-0000", "wrong-mcp-key-7f3a9c2b")),
    })
    gw = await build_gateway(wrong)
    try:
        async with Client(build_server(wrong, gw)) as c:
            results = [
                await c.call_tool("get_account", {"account_id": ids[0]}),
                await c.call_tool("bulk_update", {"updates": [{"id": ids[0], "fields": {"Phone": "1"}}]}),
            ]
            health = await c.read_resource("zoho://health", cache_mode="bypass")
    finally:
        await gw.aclose()
    assert error_code(results[0]) == "ZOHO_AUTH_FAILED"
    assert "credentials" in text(results[0])
    # Every tier refused the credentials before any CRM call: a total failure, not per-record errors.
    assert error_code(results[1]) == "ZOHO_AUTH_FAILED", text(results[1])
    assert "none of the 1 update was applied" in text(results[1]) and "Nothing was sent to Zoho." in text(results[1])
    assert "may not have been updated" not in text(results[1])
    blobs = [text(r) + json.dumps(r.structured_content) for r in results] + [health.contents[0].text]  # type: ignore[union-attr]
    for blob in blobs:
        for secret in secrets_of(wrong) + secrets_of(sandbox_settings):
            assert secret not in blob, secret


async def test_bulk_update_that_reaches_no_tier_is_an_error_saying_nothing_was_sent(
    sandbox_settings: Settings, ids: list[str], admin: Any
) -> None:
    """Every tier refuses before sending (no connection possible): isError with the cause, not 150 soft errors."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    url = sandbox_settings.mcp_url.get_secret_value()  # type: ignore[union-attr]
    nowhere = sandbox_settings.model_copy(update={
        "accounts_url_override": closed, "api_domain_override": closed,
        "mcp_url": SecretStr(closed + url[url.index("/mcp/"):]),
    })
    before = admin.record("Accounts", ids[0])
    gw = await build_gateway(nowhere)
    try:
        async with Client(build_server(nowhere, gw)) as c:
            updates = [{"id": i, "fields": {"Phone": "9"}} for i in ids[:150]]
            with anyio.fail_after(30):
                r = await c.call_tool("bulk_update", {"updates": updates})
    finally:
        await gw.aclose()
    message = text(r)
    assert r.is_error, message
    assert error_code(r) == "ZOHO_UNAVAILABLE"
    assert "none of the 150 updates was applied" in message and "Nothing was sent to Zoho." in message
    assert admin.record("Accounts", ids[0]) == before


@pytest.mark.parametrize(("tool", "args", "unknown", "guess"), [
    ("get_account", {"extra": 1}, "extra", None),
    ("get_account", {"field": ["Phone"]}, "field", "fields"),
    ("search_accounts", {"word": "Acme", "perpage": 5}, "perpage", "per_page"),
    ("bulk_read_accounts", {"fields": ["Phone"], "ids": []}, "ids", None),
    ("bulk_update", {"dryrun": True}, "dryrun", "dry_run"),
])
async def test_unknown_arguments_are_refused_naming_them_and_the_valid_ones(
    client: Client, ids: list[str], admin: Any, tool: str, args: dict[str, Any], unknown: str, guess: str | None
) -> None:
    base: dict[str, Any] = {
        "get_account": {"account_id": ids[0]},
        "search_accounts": {},
        "bulk_read_accounts": {"account_ids": ids[:2]},
        "bulk_update": {"updates": [{"id": ids[0], "fields": {"Phone": "1"}}]},
    }[tool]
    admin.clear_journal()
    r = await client.call_tool(tool, {**base, **args})
    message = text(r)
    assert error_code(r) == "INVALID_ARGUMENTS", message
    assert f"{tool} has no argument {unknown!r}" in message
    if guess:
        assert f"did you mean {guess!r}" in message
    listed = {"get_account": "account_id, fields", "bulk_update": "updates, trigger, dry_run"}.get(tool)
    if listed:
        assert f"its arguments are: {listed}" in message, message
    assert "Nothing was sent to Zoho." in message
    assert admin.journal() == []


async def test_every_input_schema_forbids_unknown_arguments(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert tools and all(t.input_schema.get("additionalProperties") is False for t in tools)
    bulk = next(t for t in tools if t.name == "bulk_update").input_schema
    names = bulk["$defs"]["RecordUpdate"]["properties"]["fields"]["propertyNames"]
    assert names["pattern"] == "^[A-Za-z][A-Za-z0-9_]{0,99}$"
