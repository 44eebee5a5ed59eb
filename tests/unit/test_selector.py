"""The routing rules of DESIGN.md as a table: operation and hints in, ordered plan out."""

from __future__ import annotations

import pytest

from zoho_mcp.tiers.base import GetRecords, Probe, SearchRecords, UpdateRecords
from zoho_mcp.tiers.selector import RoutingHints, plan, primary_for

ID = "4876876000000624001"
ALL = ["mcp", "sdk", "rest"]


def ids(n: int) -> tuple[str, ...]:
    return tuple(f"48768760000006{i:05d}" for i in range(n))


def update(n: int) -> UpdateRecords:
    return UpdateRecords("Accounts", tuple({"id": i, "Phone": "1"} for i in ids(n)))


ONE = GetRecords("Accounts", (ID,))
TEN = GetRecords("Accounts", ids(10))
ELEVEN = GetRecords("Accounts", ids(11))
SEARCH_SMALL = SearchRecords("Accounts", word="acme", per_page=5)
SEARCH_DEFAULT = SearchRecords("Accounts", word="acme")  # per_page 200: more than 10 records
AGENT = RoutingHints(agent=True)
REALTIME = RoutingHints(realtime=True)
BULK = RoutingHints(bulk=True)
NONE = RoutingHints()

CASES = [
    # (id, op, hints, enabled, failover, expected)
    ("rule4-default", ONE, NONE, ALL, True, ["sdk", "mcp", "rest"]),
    ("rule1-agent", ONE, AGENT, ALL, True, ["mcp", "sdk", "rest"]),
    ("rule1-beats-bulk", ELEVEN, RoutingHints(agent=True, bulk=True), ALL, True, ["mcp", "sdk", "rest"]),
    ("rule1-beats-realtime", ONE, RoutingHints(agent=True, realtime=True), ALL, True, ["mcp", "sdk", "rest"]),
    ("rule2-bulk-hint", ONE, BULK, ALL, True, ["sdk", "mcp", "rest"]),
    ("rule2-eleven-ids", ELEVEN, NONE, ALL, True, ["sdk", "mcp", "rest"]),
    ("rule2-beats-realtime", ELEVEN, REALTIME, ALL, True, ["sdk", "mcp", "rest"]),
    ("rule2-update-11", update(11), REALTIME, ALL, True, ["sdk", "mcp", "rest"]),
    ("rule2-search-page-200", SEARCH_DEFAULT, REALTIME, ALL, True, ["sdk", "mcp", "rest"]),
    ("rule3-ten-is-not-bulk", TEN, REALTIME, ALL, True, ["mcp", "sdk", "rest"]),
    ("rule3-realtime", ONE, REALTIME, ALL, True, ["mcp", "sdk", "rest"]),
    ("rule3-small-search", SEARCH_SMALL, REALTIME, ALL, True, ["mcp", "sdk", "rest"]),
    ("rule3-update-10", update(10), REALTIME, ALL, True, ["mcp", "sdk", "rest"]),
    ("rule4-probe", Probe(), NONE, ALL, True, ["sdk", "mcp", "rest"]),
    ("rule4-small-update", update(3), NONE, ALL, True, ["sdk", "mcp", "rest"]),
    # disabled tiers drop out of the plan, keeping the order
    ("no-mcp-agent", ONE, AGENT, ["sdk", "rest"], True, ["sdk", "rest"]),
    ("no-sdk-default", ONE, NONE, ["mcp", "rest"], True, ["mcp", "rest"]),
    ("rest-only", ONE, AGENT, ["rest"], True, ["rest"]),
    ("none-enabled", ONE, NONE, [], True, []),
    ("enabled-order-ignored", ONE, NONE, ["rest", "mcp", "sdk"], True, ["sdk", "mcp", "rest"]),
    # failover off: the primary only, or the first enabled in the rule's order
    ("nofailover-default", ONE, NONE, ALL, False, ["sdk"]),
    ("nofailover-agent", ONE, AGENT, ALL, False, ["mcp"]),
    ("nofailover-primary-disabled", ONE, AGENT, ["sdk", "rest"], False, ["sdk"]),
    ("nofailover-sdk-disabled", ONE, NONE, ["mcp", "rest"], False, ["mcp"]),
    ("nofailover-rest-only", ELEVEN, NONE, ["rest"], False, ["rest"]),
    ("nofailover-none", ONE, NONE, [], False, []),
]


@pytest.mark.parametrize(
    ("op", "hints", "enabled", "failover", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_plan(op, hints, enabled, failover, expected) -> None:
    assert plan(op, hints, enabled, failover) == expected


def test_plan_has_no_duplicates_and_only_enabled_tiers() -> None:
    for op in (ONE, ELEVEN, SEARCH_SMALL, update(20), Probe()):
        for hints in (NONE, AGENT, REALTIME, BULK):
            for enabled in (ALL, ["mcp"], ["sdk", "rest"], ["mcp", "rest"]):
                got = plan(op, hints, enabled, True)
                assert len(got) == len(set(got)) == len(enabled)
                assert set(got) == set(enabled)
                assert got[0] == primary_for(op, hints) or primary_for(op, hints) not in enabled


def test_hints_are_frozen_with_false_defaults() -> None:
    hints = RoutingHints()
    assert (hints.agent, hints.realtime, hints.bulk) == (False, False, False)
    with pytest.raises(AttributeError):
        hints.agent = True  # type: ignore[misc]
