"""The field catalogue: cached per module with a TTL, one fetch for concurrent callers, and tools that keep
working (syntax checks only) when Zoho cannot describe its fields. A tiny stand-in gateway answers
`DescribeFields`; everything else here is the real code."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from zoho_mcp.resilience.errors import AllTiersFailed
from zoho_mcp.tiers.base import DescribeFields, FieldInfo, FieldsResult, TransientError
from zoho_mcp.tiers.selector import RoutingHints
from zoho_mcp.tools.errors import LOCAL_NOTE, READ_ONLY_FIELD, UNKNOWN_FIELD, ToolFailure
from zoho_mcp.tools.fields import FieldCatalog, check_fields, criteria_field

pytestmark = pytest.mark.anyio

FIELDS = [
    FieldInfo("Account_Name", "text", "Account Name", length=200),
    FieldInfo("Phone", "phone", "Phone", length=30),
    FieldInfo("Fax", "phone", "Fax", length=30),
    FieldInfo("Owner", "ownerlookup", "Account Owner"),
    FieldInfo("Annual_Revenue", "currency", "Annual Revenue"),
    FieldInfo("Parent_Account", "lookup", "Parent Account"),
    FieldInfo("Created_Time", "datetime", "Created Time", read_only=True),
    FieldInfo("Billing_Address", "textarea", "Billing Address", read_only=True),
    FieldInfo("Loyalty_Tier", "picklist", "Loyalty Tier"),  # a custom field
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StandInGateway:
    """Answers DescribeFields from a list; can fail, or hold every call until `release()`."""

    def __init__(self, fields: list[FieldInfo] | None = None) -> None:
        self.fields = list(FIELDS if fields is None else fields)
        self.calls: list[tuple[Any, RoutingHints]] = []
        self.error: BaseException | None = None
        self.gate: anyio.Event | None = None
        self.started = anyio.Event()

    def hold(self) -> None:
        self.gate = anyio.Event()

    def release(self) -> None:
        assert self.gate is not None
        self.gate.set()

    async def execute(self, op: Any, hints: RoutingHints = RoutingHints()) -> FieldsResult:
        self.calls.append((op, hints))
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return FieldsResult(list(self.fields))


def down() -> AllTiersFailed:
    return AllTiersFailed({name: TransientError("connect failed", tier=name) for name in ("mcp", "sdk", "rest")})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gw() -> StandInGateway:
    return StandInGateway()


@pytest.fixture
def catalog(gw: StandInGateway, clock: Clock) -> FieldCatalog:
    return FieldCatalog(gw, ttl=3600, retry_after=30, miss_refresh=300, clock=clock)


# --------------------------------------------------------------------------- the catalogue


async def test_fetches_through_the_gateway_as_an_agent_operation(catalog: FieldCatalog, gw: StandInGateway) -> None:
    names = await catalog.names("Accounts")
    assert names == frozenset(f.api_name for f in FIELDS)
    [(op, hints)] = gw.calls
    assert op == DescribeFields("Accounts") and hints == RoutingHints(agent=True)


async def test_cached_per_module_until_the_ttl_passes(catalog: FieldCatalog, gw: StandInGateway, clock: Clock) -> None:
    await catalog.names("Accounts")
    clock.now += 3599
    await catalog.names("Accounts")
    assert len(gw.calls) == 1
    await catalog.names("Contacts")
    assert [op.module for op, _ in gw.calls] == ["Accounts", "Contacts"]
    clock.now += 1
    gw.fields.append(FieldInfo("New_Field", "text"))
    assert "New_Field" in (await catalog.names("Accounts") or ())
    assert len(gw.calls) == 3


async def test_concurrent_first_calls_share_one_fetch(catalog: FieldCatalog, gw: StandInGateway) -> None:
    gw.hold()
    got: list[frozenset[str] | None] = []

    async def ask() -> None:
        got.append(await catalog.names("Accounts"))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(ask)
        await gw.started.wait()
        await anyio.sleep(0.001)
        gw.release()
    assert len(gw.calls) == 1
    assert len(got) == 20 and all(g == got[0] and g for g in got)


async def test_a_cancelled_fetch_does_not_strand_the_callers_waiting_on_it(
    catalog: FieldCatalog, gw: StandInGateway
) -> None:
    gw.hold()
    got: list[frozenset[str] | None] = []

    async def waiter() -> None:
        got.append(await catalog.names("Accounts"))

    async with anyio.create_task_group() as outer:
        async with anyio.create_task_group() as leader:
            leader.start_soon(catalog.names, "Accounts")
            await gw.started.wait()
            outer.start_soon(waiter)
            await anyio.sleep(0.001)
            leader.cancel_scope.cancel()
        gw.release()
    assert got and got[0] is not None and "Phone" in got[0]
    assert len(gw.calls) == 2  # the waiter fetched again itself


async def test_unavailable_catalogue_is_none_and_not_asked_again_at_once(
    catalog: FieldCatalog, gw: StandInGateway, clock: Clock
) -> None:
    gw.error = down()
    assert await catalog.names("Accounts") is None
    clock.now += 29
    assert await catalog.names("Accounts") is None
    assert len(gw.calls) == 1
    gw.error = None
    clock.now += 1
    assert await catalog.names("Accounts")
    assert len(gw.calls) == 2


@pytest.mark.parametrize("error", [TypeError("unknown operation DescribeFields"), down()])
async def test_any_failure_of_the_fetch_means_unknown_never_an_exception(
    gw: StandInGateway, clock: Clock, error: BaseException
) -> None:
    gw.error = error
    assert await FieldCatalog(gw, clock=clock).names("Accounts") is None


async def test_a_stale_catalogue_is_kept_when_the_refresh_fails(
    catalog: FieldCatalog, gw: StandInGateway, clock: Clock
) -> None:
    first = await catalog.names("Accounts")
    clock.now += 4000
    gw.error = down()
    assert await catalog.names("Accounts") == first


async def test_an_empty_catalogue_counts_as_unavailable(gw: StandInGateway, clock: Clock) -> None:
    gw.fields = []
    assert await FieldCatalog(gw, clock=clock).names("Accounts") is None


async def test_a_hanging_fetch_gives_up_after_its_timeout(gw: StandInGateway, clock: Clock) -> None:
    gw.hold()
    with anyio.fail_after(5):
        assert await FieldCatalog(gw, fetch_timeout=0.01, clock=clock).names("Accounts") is None


async def test_invalidate_forgets(catalog: FieldCatalog, gw: StandInGateway) -> None:
    await catalog.names("Accounts")
    catalog.invalidate("Accounts")
    assert catalog.cached("Accounts") is None
    await catalog.names("Accounts")
    assert len(gw.calls) == 2


# --------------------------------------------------------------------------- the checks the tools make


async def refused(catalog: FieldCatalog | None, used: list[tuple[str, str]], *, write: bool = False) -> ToolFailure:
    with pytest.raises(ToolFailure) as info:
        await check_fields(catalog, "Accounts", used, tool="t", write=write)
    return info.value


async def test_known_names_pass_and_id_is_always_readable(catalog: FieldCatalog) -> None:
    await check_fields(catalog, "Accounts", [("Account_Name", "fields[0]"), ("id", "fields[1]"),
                                             ("Loyalty_Tier", "fields[2]")], tool="t")


async def test_an_unknown_name_is_refused_with_suggestions_where_and_how_to_fix(catalog: FieldCatalog) -> None:
    failure = await refused(catalog, [("Phone", "fields[0]"), ("Phnoe", "fields[1]")])
    assert failure.code == UNKNOWN_FIELD and failure.local
    text = failure.text()
    assert text.startswith("UNKNOWN_FIELD: Accounts has no field named 'Phnoe' in fields[1] (did you mean 'Phone'")
    assert "How to fix:" in text and text.splitlines()[-2] == LOCAL_NOTE
    assert failure.details["unknown_fields"]["Phnoe"]["did_you_mean"][0] == "Phone"


async def test_case_and_display_labels_lead_the_suggestions(catalog: FieldCatalog) -> None:
    failure = await refused(catalog, [("account_name", "fields[0]"), ("Account_Owner", "fields[1]"),
                                      ("Zzzzzz", "fields[2]")])
    unknown = failure.details["unknown_fields"]
    assert unknown["account_name"]["did_you_mean"][0] == "Account_Name"
    assert unknown["Account_Owner"]["did_you_mean"][0] == "Owner"
    assert unknown["Zzzzzz"]["did_you_mean"] == []
    assert "no similar field" in failure.message


async def test_many_places_are_summarised(catalog: FieldCatalog) -> None:
    failure = await refused(catalog, [("No_Such_Fld", f"updates[{i}].fields") for i in range(1000)], write=True)
    where = failure.details["unknown_fields"]["No_Such_Fld"]["where"]
    assert where[:2] == ["updates[0].fields", "updates[1].fields"] and where[-1] == "995 more"
    assert "updates[4].fields and 995 more (no similar field)" in failure.message
    assert "SUCCESS" in (failure.hint or "")


async def test_read_only_fields_are_refused_in_writes_only(catalog: FieldCatalog) -> None:
    await check_fields(catalog, "Accounts", [("Created_Time", "fields[0]")], tool="t")
    failure = await refused(catalog, [("Phone", "updates[0].fields"), ("Billing_Address", "updates[1].fields"),
                                      ("Modified_By", "updates[1].fields")], write=True)
    assert failure.code == UNKNOWN_FIELD  # Modified_By is not in this catalogue
    failure = await refused(catalog, [("Phone", "updates[0].fields"), ("Billing_Address", "updates[1].fields"),
                                      ("Created_Time", "updates[2].fields")], write=True)
    assert failure.code == READ_ONLY_FIELD and failure.local
    assert failure.details["read_only_fields"] == ["Billing_Address", "Created_Time"]
    assert "How to fix: Remove" in failure.text()


async def test_without_a_catalogue_names_are_checked_for_syntax_only_and_it_is_logged(
    gw: StandInGateway, clock: Clock
) -> None:
    gw.error = down()
    catalog = FieldCatalog(gw, clock=clock)
    with capture_logs() as logs:
        await check_fields(catalog, "Accounts", [("No_Such_Field", "fields[0]")], tool="get_account")
        await check_fields(None, "Accounts", [("No_Such_Field", "fields[0]")], tool="get_account")
    events = [e["event"] for e in logs]
    assert events == ["field_catalog_unavailable", "field_check_syntax_only", "field_check_syntax_only"]
    assert "connect failed" in logs[0]["error"] and logs[0]["fallback"] == "API-name syntax checks only"
    failure = await refused(catalog, [("Modified_Time", "updates[0].fields")], write=True)
    assert failure.code == READ_ONLY_FIELD  # Zoho's system fields are known without asking


async def test_a_miss_on_an_old_catalogue_refreshes_once_before_refusing(
    catalog: FieldCatalog, gw: StandInGateway, clock: Clock
) -> None:
    await catalog.names("Accounts")
    gw.fields.append(FieldInfo("Just_Created", "text"))
    await refused(catalog, [("Just_Created", "fields[0]")])  # young catalogue: no refresh
    assert len(gw.calls) == 1
    clock.now += 300
    await check_fields(catalog, "Accounts", [("Just_Created", "fields[0]")], tool="t")
    assert len(gw.calls) == 2
    clock.now += 300
    await check_fields(catalog, "Accounts", [("Phone", "fields[0]")], tool="t")  # no miss: no refresh
    assert len(gw.calls) == 2


async def test_nothing_to_check_costs_nothing(catalog: FieldCatalog, gw: StandInGateway) -> None:
    await check_fields(catalog, "Accounts", [], tool="t")
    assert gw.calls == []


@pytest.mark.parametrize(("name", "field"), [
    ("Account_Name", "Account_Name"), ("Parent_Account.id", "Parent_Account"), ("$approved", None),
])
def test_criteria_field(name: str, field: str | None) -> None:
    assert criteria_field(name) == field
