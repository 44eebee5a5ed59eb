"""Read tools for Zoho Accounts: get one, search, and read many by id.

Handlers are thin: validate (pydantic, then the criteria grammar, then every field name against the
module's field catalogue), build a typed Operation, hand it to the gateway with routing hints, shape
the answer. A single read is an agent operation (the hosted-MCP tier first); more than 10 records is
bulk (the SDK first).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from zoho_mcp.criteria import OPERATORS, Condition, Filter, compile_filters, iter_conditions, parse_criteria, to_text
from zoho_mcp.tiers.base import BusinessError, GetRecords, GetResult, SearchRecords, SearchResult
from zoho_mcp.tiers.selector import RoutingHints
from zoho_mcp.tools.errors import INVALID_ARGUMENTS, NOT_FOUND, ToolFailure
from zoho_mcp.tools.fields import check_condition_types, check_fields, criteria_field
from zoho_mcp.tools.models import (
    EXAMPLE_ID,
    MAX_BULK_READ,
    MAX_FILTERS,
    AccountId,
    BulkReadOutput,
    FieldList,
    GetAccountOutput,
    PageOut,
    SearchAccountsOutput,
)
from zoho_mcp.tools.state import ServerState

MODULE = "Accounts"
#: Reads of more than this many records are bulk work (routing rule 2).
AGENT_READ_LIMIT = 10
ID_CHUNK = 100
_NOT_FOUND_CODES = {"NO_CONTENT", "NOT_FOUND", "RECORD_NOT_FOUND"}
#: Criteria syntax inside a filter value: a join ")or(" / ")and(", or a condition head "(Field:operator:".
_CRITERIA_SHAPED = re.compile(
    r"\)\s*(?:and|or)\s*\(|\(\s*[A-Za-z][A-Za-z0-9_]*\s*:\s*(?:" + "|".join(sorted(OPERATORS)) + r")\s*:",
    re.IGNORECASE,
)


def read_only(title: str) -> ToolAnnotations:
    """All four hints explicit: clients must not rely on the spec's defaults (destructive, not idempotent)."""
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    )


def read_hints(count: int) -> RoutingHints:
    return RoutingHints(agent=True) if count <= AGENT_READ_LIMIT else RoutingHints(bulk=True)


def _is_not_found(exc: BusinessError) -> bool:
    """Zoho's ways of saying "no such record": 204, or INVALID_DATA about the id(s) themselves."""
    if exc.code in _NOT_FOUND_CODES or exc.status == 204:
        return True
    return exc.code == "INVALID_DATA" and (
        exc.details.get("api_name") == "id" or exc.details.get("param_name") in ("id", "ids")
    )


GET_ACCOUNT_DESCRIPTION = f"""Fetch one Zoho CRM account (company) by its record id.

Returns {{"account": {{<field API name>: value}}}}, e.g. Account_Name, Phone, Website, Industry,
Annual_Revenue, Owner. Ids are strings of 18-19 digits (send them as JSON strings, not numbers);
pass `fields` (at most 50 API names) to get only some fields; 'id' is always returned.
If no account has that id, the result is an error with code NOT_FOUND: find the right id with
search_accounts. Read-only; safe to retry.

Example: get_account(account_id="{EXAMPLE_ID}", fields=["Account_Name", "Phone"])"""

SEARCH_DESCRIPTION = """Search Zoho CRM accounts. Give exactly ONE way to search:
- filters: structured conditions [{"field": "<API name>", "operator": "...", "value": ...}] joined by
  `match` ("all" = AND, "any" = OR). Operators: equals (on text: substring match), not_equal,
  starts_with, in (list of values), greater_than, greater_equal, less_than, less_equal,
  between ([from, to]). Values are escaped for you and are always literals; a value holding criteria
  syntax such as ")or(" is refused: use one filter per condition instead.
- criteria: a raw Zoho criteria string, e.g. "((Industry:equals:Finance)and(Annual_Revenue:greater_than:1000000))";
  it is checked locally first. Escape ( ) , \\ inside values with a backslash. Prefer `filters`.
- email, phone, or word (a free-text word search across the account).
At most 10 conditions. Returns {"accounts": [...], "page": {"page", "per_page", "count", "more_records"}};
no match is an empty list, not an error. Page with `page` (from 1) and `per_page` (1-200, default 20);
Zoho reaches only the first 2,000 results. Read-only.

Example: search_accounts(filters=[{"field": "Account_Name", "operator": "starts_with", "value": "Acme"}])"""

BULK_READ_DESCRIPTION = f"""Read many Zoho CRM accounts by id in one call (1 to {MAX_BULK_READ:,} ids).

Returns {{"accounts": [...], "missing": [ids]}}: found accounts in the order given, and the ids Zoho
does not have (no error for those). Duplicate ids are read once. Pass `fields` to limit the fields
returned. Use search_accounts to find ids. Read-only; safe to retry.

Example: bulk_read_accounts(account_ids=["{EXAMPLE_ID}", "4876876000000624002"], fields=["Account_Name"])"""


def register(server: MCPServer, state: ServerState) -> None:
    """Add the three read tools to `server`, reading the gateway from `state` at call time."""

    async def get_account(account_id: AccountId, fields: FieldList = None) -> GetAccountOutput:
        await check_fields(state.field_catalog(), MODULE, _listed(fields), tool="get_account")
        op = GetRecords(MODULE, (account_id,), tuple(fields) if fields else None)
        try:
            result = await state.require_gateway().execute(op, read_hints(1))
        except BusinessError as exc:
            if _is_not_found(exc):
                raise _not_found(account_id) from None
            raise
        assert isinstance(result, GetResult)
        if not result.records:
            raise _not_found(account_id)
        return GetAccountOutput(account=result.records[0])

    async def search_accounts(
        filters: Annotated[
            list[Filter] | None,
            Field(
                max_length=MAX_FILTERS,
                description="Structured conditions, e.g. [{'field': 'Industry', 'operator': 'equals', "
                "'value': 'Finance'}]. At most 10.",
            ),
        ] = None,
        match: Annotated[
            Literal["all", "any"], Field(description="How filters combine: 'all' (AND) or 'any' (OR)")
        ] = "all",
        criteria: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=3000,
                description="Raw Zoho criteria, e.g. '(Account_Name:starts_with:Acme)'. Use filters instead "
                "when you can.",
            ),
        ] = None,
        email: Annotated[
            str | None, Field(min_length=1, max_length=254, description="Find accounts with this email")
        ] = None,
        phone: Annotated[
            str | None, Field(min_length=1, max_length=50, description="Find accounts with this phone number")
        ] = None,
        word: Annotated[
            str | None,
            Field(min_length=2, max_length=200, description="Free-text word search (at least 2 characters)"),
        ] = None,
        page: Annotated[int, Field(ge=1, le=2000, description="Page number, from 1")] = 1,
        per_page: Annotated[int, Field(ge=1, le=200, description="Records per page, 1-200")] = 20,
        fields: FieldList = None,
    ) -> SearchAccountsOutput:
        given = [
            name
            for name, value in (
                ("filters", filters),
                ("criteria", criteria),
                ("email", email),
                ("phone", phone),
                ("word", word),
            )
            if value
        ]
        if len(given) != 1:
            what = "none was given" if not given else f"got {', '.join(given)}"
            raise ToolFailure(
                INVALID_ARGUMENTS,
                f"give exactly one of filters, criteria, email, phone or word; {what}",
                hint='e.g. search_accounts(filters=[{"field": "Account_Name", "operator": "starts_with", '
                '"value": "Acme"}]) or search_accounts(word="Acme")',
                local=True,
            )
        text: str | None = None
        conditions: list[tuple[str, str]] = []
        typed: list[tuple[Condition, str]] = []
        if filters:
            _refuse_criteria_in_values(filters)
            text = compile_filters(filters, match)
            parse_criteria(text)  # Zoho's limits (length, number of conditions) checked before sending.
            conditions = [(f.field, f"filters[{i}].field") for i, f in enumerate(filters)]
            typed = [(f.to_condition(), f"filters[{i}]") for i, f in enumerate(filters)]
        elif criteria:
            node = parse_criteria(criteria)
            text = to_text(node)
            named = (criteria_field(c.field) for c in iter_conditions(node))
            conditions = [(name, "criteria") for name in named if name]
            typed = [(c, "criteria") for c in iter_conditions(node)]
        catalog = state.field_catalog()
        await check_fields(catalog, MODULE, _listed(fields), conditions=conditions, tool="search_accounts")
        check_condition_types(catalog, MODULE, typed)
        op = SearchRecords(
            MODULE,
            criteria=text,
            email=email if not text else None,
            phone=phone if not text else None,
            word=word if not text else None,
            page=page,
            per_page=per_page,
            fields=tuple(fields) if fields else None,
        )
        try:
            result = await state.require_gateway().execute(op, read_hints(per_page))
        except BusinessError as exc:
            if exc.code in _NOT_FOUND_CODES or exc.status == 204:
                return SearchAccountsOutput(
                    accounts=[], page=PageOut(page=page, per_page=per_page, count=0, more_records=False)
                )
            raise
        assert isinstance(result, SearchResult)
        info = result.page
        return SearchAccountsOutput(
            accounts=result.records,
            page=PageOut(
                page=info.page, per_page=info.per_page, count=len(result.records), more_records=info.more_records
            ),
        )

    async def bulk_read_accounts(
        account_ids: Annotated[
            list[AccountId],
            Field(
                min_length=1,
                max_length=MAX_BULK_READ,
                description=f"Account ids to read, 1 to {MAX_BULK_READ:,}, e.g. ['{EXAMPLE_ID}']",
            ),
        ],
        ctx: Context,
        fields: FieldList = None,
    ) -> BulkReadOutput:
        await check_fields(state.field_catalog(), MODULE, _listed(fields), tool="bulk_read_accounts")
        ids = list(dict.fromkeys(account_ids))
        chunks = [tuple(ids[i : i + ID_CHUNK]) for i in range(0, len(ids), ID_CHUNK)]
        hints = read_hints(len(ids))
        gateway = state.require_gateway()
        found: dict[str, dict[str, Any]] = {}
        done = 0
        limiter = anyio.CapacityLimiter(max(1, state.settings.org_concurrency))

        async def read_ids(chunk: tuple[str, ...]) -> None:
            """One GET; when Zoho refuses the whole batch over one id, set that id aside and read the rest."""
            op = GetRecords(MODULE, chunk, tuple(fields) if fields else None)
            try:
                result = await gateway.execute(op, hints)
            except BusinessError as exc:
                if not _is_not_found(exc):
                    raise
                if len(chunk) == 1:
                    return
                bad = str(exc.details.get("id", ""))
                if bad in chunk:
                    rest = tuple(i for i in chunk if i != bad)
                    await read_ids(rest)
                else:
                    mid = len(chunk) // 2
                    await read_ids(chunk[:mid])
                    await read_ids(chunk[mid:])
                return
            assert isinstance(result, GetResult)
            for record in result.records:
                found[str(record.get("id"))] = record

        async def read(chunk: tuple[str, ...]) -> None:
            nonlocal done
            async with limiter:
                await read_ids(chunk)
                done += len(chunk)
            if len(chunks) > 1:
                await ctx.report_progress(done, len(ids), f"read {done} of {len(ids)} ids")

        async with anyio.create_task_group() as tg:
            for chunk in chunks:
                tg.start_soon(read, chunk)
        return BulkReadOutput(
            accounts=[found[i] for i in ids if i in found],
            missing=[i for i in ids if i not in found],
        )

    for fn, name, title, description in (
        (get_account, "get_account", "Get account", GET_ACCOUNT_DESCRIPTION),
        (search_accounts, "search_accounts", "Search accounts", SEARCH_DESCRIPTION),
        (bulk_read_accounts, "bulk_read_accounts", "Read many accounts", BULK_READ_DESCRIPTION),
    ):
        server.add_tool(fn, name=name, title=title, annotations=read_only(title), description=description)


def _listed(fields: list[str] | None) -> list[tuple[str, str]]:
    return [(name, f"fields[{i}]") for i, name in enumerate(fields or ())]


def _refuse_criteria_in_values(filters: list[Filter]) -> None:
    """A value carrying criteria syntax is an attempt to smuggle conditions into a literal.

    Escaping would make it harmless, but it would then silently match nothing: the caller almost
    always meant another condition, so say how to express that instead of sending it.
    """
    for i, f in enumerate(filters):
        for value in f.criteria_values():
            if _CRITERIA_SHAPED.search(value):
                raise ToolFailure(
                    INVALID_ARGUMENTS,
                    f"filters[{i}].value {value[:60]!r} contains search-criteria syntax (')or(', ')and(' or "
                    "'(Field:operator:'); a filter value is only ever a literal, so it cannot add conditions",
                    hint="Put each condition in its own filter and combine them with match='any' (OR) or "
                    "match='all' (AND), e.g. filters=[{\"field\": \"Account_Name\", \"operator\": "
                    "\"starts_with\", \"value\": \"Acme\"}, {\"field\": \"Account_Name\", \"operator\": "
                    "\"starts_with\", \"value\": \"Beta\"}], match=\"any\".",
                    details={"filter": i},
                    local=True,
                )


def _not_found(account_id: str) -> ToolFailure:
    return ToolFailure(
        NOT_FOUND,
        f"no account has id {account_id!r} (it may have been deleted).",
        hint="Check the id, or find the account with search_accounts, e.g. "
        'search_accounts(filters=[{"field": "Account_Name", "operator": "starts_with", "value": "<name>"}]). '
        "Send ids as JSON strings: as JSON numbers, 19-digit ids lose their last digits in many clients.",
        details={"id": account_id},
    )

