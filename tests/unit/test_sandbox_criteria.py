"""Sandbox criteria evaluation: Zoho's per-type validation errors and search semantics."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoho_mcp.criteria import Condition, CriteriaError, Group, parse_criteria
from zoho_mcp.sandbox.criteria import matches, validate

FIELD_TYPES = {
    "Account_Name": "text",
    "Description": "textarea",
    "Email": "email",
    "Phone": "phone",
    "Website": "website",
    "Industry": "picklist",
    "Tags_Multi": "multiselectpicklist",
    "Account_Number": "autonumber",
    "Annual_Revenue": "currency",
    "Employees": "integer",
    "Big": "bigint",
    "Rate": "percent",
    "Score": "double",
    "Founded": "date",
    "Created_Time": "datetime",
    "Locked__s": "boolean",
    "Owner": "ownerlookup",
    "Parent_Account": "lookup",
    "Logo": "profileimage",
}

RECORD: dict[str, Any] = {
    "id": "7328395000000686003",
    "Account_Name": "ABC Inc",
    "Description": "Makes (very) good widgets, cheaply",
    "Email": "sales@abc.example",
    "Phone": "+1 555 0100",
    "Website": "https://abc.example",
    "Industry": "Technology",
    "Tags_Multi": ["Gold", "Partner"],
    "Account_Number": "ACC-0042",
    "Annual_Revenue": 100000,
    "Employees": 50,
    "Big": 9007199254740993,
    "Rate": 12.5,
    "Score": None,
    "Founded": "2001-09-15",
    "Created_Time": "2026-05-14T12:51:36+03:00",
    "Locked__s": False,
    "Owner": {"name": "Nango Developer", "id": "7328395000000605001", "email": "api@nango.dev"},
    "Parent_Account": None,
}

MATCHES: list[tuple[str, bool]] = [
    # text equals behaves like a case-insensitive contains (reference §7.4)
    ("(Account_Name:equals:ABC)", True),
    ("(Account_Name:equals:abc inc)", True),
    ("(Account_Name:equals:inc)", True),
    ("(Account_Name:equals:ABCD)", False),
    ("(Account_Name:not_equal:ABC)", False),
    ("(Account_Name:not_equal:XYZ)", True),
    ("(Account_Name:starts_with:abc)", True),
    ("(Account_Name:starts_with:Inc)", False),
    ("(Account_Name:in:Foo,abc)", True),
    ("(Account_Name:in:Foo,Bar)", False),
    (r"(Description:equals:\(very\) good)", True),
    (r"(Description:equals:widgets\, cheaply)", True),
    ("(Email:equals:sales@abc.example)", True),
    ("(Phone:starts_with:+1 555)", True),
    ("(Website:equals:abc.example)", True),
    # picklist / autonumber compare whole values, case-insensitively
    ("(Industry:equals:technology)", True),
    ("(Industry:equals:Tech)", False),
    ("(Industry:not_equal:Finance)", True),
    ("(Industry:in:Finance,Technology)", True),
    ("(Account_Number:equals:ACC-0042)", True),
    ("(Account_Number:equals:ACC)", False),
    # multi-select
    ("(Tags_Multi:equals:gold)", True),
    ("(Tags_Multi:equals:Gold;Partner)", True),
    ("(Tags_Multi:equals:Gold;Silver)", False),
    ("(Tags_Multi:starts_with:Part)", True),
    ("(Tags_Multi:in:Silver,Partner)", True),
    # numbers
    ("(Annual_Revenue:equals:100000)", True),
    ("(Annual_Revenue:equals:100000.00)", True),
    ("(Annual_Revenue:greater_than:99999.99)", True),
    ("(Annual_Revenue:greater_than:100000)", False),
    ("(Annual_Revenue:greater_equal:100000)", True),
    ("(Annual_Revenue:less_than:100000)", False),
    ("(Annual_Revenue:less_equal:100000)", True),
    ("(Annual_Revenue:between:100000,200000)", True),
    ("(Annual_Revenue:between:1,100000)", True),
    ("(Annual_Revenue:between:100001,200000)", False),
    ("(Annual_Revenue:in:5,100000)", True),
    ("(Employees:not_equal:50)", False),
    ("(Employees:between:-5,50)", True),
    ("(Big:equals:9007199254740993)", True),  # no float rounding
    ("(Big:equals:9007199254740992)", False),
    ("(Rate:greater_than:12.4)", True),
    # null fields: nothing matches except not_equal (its complement)
    ("(Score:equals:1)", False),
    ("(Score:greater_than:0)", False),
    ("(Score:not_equal:1)", True),
    ("(Parent_Account:equals:x)", False),
    ("(Parent_Account:not_equal:x)", True),
    ("(Parent_Account:in:x,y)", False),
    # dates and datetimes (offsets respected: 12:51:36+03:00 == 09:51:36Z)
    ("(Founded:equals:2001-09-15)", True),
    ("(Founded:greater_than:2001-09-14)", True),
    ("(Founded:less_than:2001-09-15)", False),
    ("(Founded:between:2001-01-01,2001-12-31)", True),
    ("(Created_Time:equals:2026-05-14T09:51:36+00:00)", True),
    ("(Created_Time:greater_than:2026-05-14T09:51:35Z)", True),
    ("(Created_Time:greater_than:2026-05-14T09:51:36+00:00)", False),
    ("(Created_Time:less_equal:2026-05-14T12:51:36+03:00)", True),
    ("(Created_Time:between:2026-05-14T00:00:00+00:00,2026-05-14T09:51:36+00:00)", True),
    ("(Created_Time:between:2026-05-14T09:51:37+00:00,2026-05-15T00:00:00+00:00)", False),
    ("(Created_Time:equals:2026-05-14)", True),
    ("(Created_Time:greater_equal:2026-05-14)", True),
    # booleans
    ("(Locked__s:equals:false)", True),
    ("(Locked__s:equals:TRUE)", False),
    ("(Locked__s:not_equal:true)", True),
    # lookups by name (case-insensitive) or id (exact)
    ("(Owner:equals:nango developer)", True),
    ("(Owner:equals:7328395000000605001)", True),
    ("(Owner:equals:Nango)", False),
    ("(Owner:not_equal:7328395000000605001)", False),
    ("(Owner:in:1,7328395000000605001)", True),
    # groups
    ("((Account_Name:starts_with:ab)and(Industry:equals:Technology))", True),
    ("((Account_Name:starts_with:ab)and(Industry:equals:Finance))", False),
    ("((Account_Name:starts_with:zz)or(Industry:equals:Technology))", True),
    ("(((Employees:less_than:10)or(Employees:greater_than:40))and(Locked__s:equals:false))", True),
    ("(((Employees:less_than:10)or(Employees:greater_than:60))and(Locked__s:equals:false))", False),
]


@pytest.mark.parametrize(("text", "expected"), MATCHES, ids=[t for t, _ in MATCHES])
def test_matches(text: str, expected: bool) -> None:
    node = parse_criteria(text)
    validate(node, FIELD_TYPES)
    assert matches(node, RECORD, FIELD_TYPES) is expected


def test_matches_tolerates_messy_record_values() -> None:
    messy = {"Annual_Revenue": "not a number", "Created_Time": "garbage", "Tags_Multi": "Gold; Partner"}
    for text in ("(Annual_Revenue:greater_than:1)", "(Created_Time:less_than:2030-01-01T00:00:00+00:00)"):
        assert matches(parse_criteria(text), messy, FIELD_TYPES) is False
    assert matches(parse_criteria("(Tags_Multi:equals:partner)"), messy, FIELD_TYPES) is True
    assert matches(parse_criteria("(Annual_Revenue:equals:5)"), {"Annual_Revenue": "5.0"}, FIELD_TYPES) is True


def test_unknown_field_type_defaults_to_text() -> None:
    assert matches(Condition("Other", "equals", "b"), {"Other": "abc"}, {}) is True


Q = "INVALID_QUERY"

INVALID: list[tuple[str, dict[str, Any]]] = [
    ("(Nope:equals:x)", {"api_name": "Nope"}),
    ("((Account_Name:equals:x)and(Nope:equals:y))", {"api_name": "Nope"}),
    ("(Logo:equals:x)", {"api_name": "Logo"}),
    ("(Description:in:a,b)", {"operator": "in"}),
    ("(Industry:starts_with:Tech)", {"operator": "starts_with"}),
    ("(Account_Name:greater_than:a)", {"operator": "greater_than"}),
    ("(Account_Name:between:a,b)", {"operator": "between"}),
    ("(Annual_Revenue:starts_with:1)", {"operator": "starts_with"}),
    ("(Locked__s:in:true,false)", {"operator": "in"}),
    ("(Owner:starts_with:Nan)", {"operator": "starts_with"}),
    ("(Annual_Revenue:equals:lots)", {"api_name": "Annual_Revenue", "expected_data_type": "currency"}),
    ("(Annual_Revenue:between:1,lots)", {"expected_data_type": "currency"}),
    ("(Employees:equals:5.5)", {"expected_data_type": "integer"}),
    ("(Employees:in:1,x)", {"expected_data_type": "integer"}),
    ("(Rate:less_than:NaN)", {"expected_data_type": "percent"}),
    ("(Founded:equals:15/09/2001)", {"expected_data_type": "date"}),
    ("(Founded:equals:2001-09-15T00:00:00+00:00)", {"expected_data_type": "date"}),
    # '+' sent un-encoded arrives as a space (reference §7.2)
    ("(Created_Time:greater_than:2026-05-14T09:00:00 00:00)", {"expected_data_type": "datetime"}),
    ("(Created_Time:greater_than:2026-05-14T09:00:00)", {"expected_data_type": "datetime"}),
    ("(Locked__s:equals:yes)", {"expected_data_type": "boolean"}),
]


@pytest.mark.parametrize(("text", "details"), INVALID, ids=[t for t, _ in INVALID])
def test_validate_rejects(text: str, details: dict[str, Any]) -> None:
    with pytest.raises(CriteriaError) as info:
        validate(parse_criteria(text), FIELD_TYPES)
    err = info.value
    assert (err.code, err.message) == (Q, "invalid query formed")
    assert err.details["reason"]
    for key, value in details.items():
        assert err.details[key] == value


VALID = [text for text, _ in MATCHES] + [
    "(Employees:equals:-3)",
    "(Big:greater_than:12345678901234567890)",
    "(Created_Time:between:2024-02-01T18:52:56+00:00,2024-02-20T18:52:56+00:00)",
]


@pytest.mark.parametrize("text", VALID)
def test_validate_accepts(text: str) -> None:
    validate(parse_criteria(text), FIELD_TYPES)


V2_REJECTS = [
    "(Account_Name:not_equal:x)",
    "(Account_Name:in:x,y)",
    "(Annual_Revenue:greater_than:1)",
    "(Annual_Revenue:between:1,2)",
    "(Industry:not_equal:Technology)",
]
V2_ACCEPTS = ["(Account_Name:equals:x)", "(Account_Name:starts_with:x)", "(Annual_Revenue:equals:1)"]


@pytest.mark.parametrize("text", V2_REJECTS)
def test_strict_v2_rejects_v7_operators(text: str) -> None:
    validate(parse_criteria(text), FIELD_TYPES)
    with pytest.raises(CriteriaError) as info:
        validate(parse_criteria(text), FIELD_TYPES, strict_v2=True)
    assert info.value.code == Q and "operator" in info.value.details


@pytest.mark.parametrize("text", V2_ACCEPTS)
def test_strict_v2_accepts_equals_and_starts_with(text: str) -> None:
    validate(parse_criteria(text), FIELD_TYPES, strict_v2=True)


# --------------------------------------------------------------------------- properties

record_values = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(-100, 100),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.booleans(),
    st.fixed_dictionaries({"name": st.text(max_size=5), "id": st.text("0123456789", min_size=1, max_size=4)}),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    st.sampled_from(sorted(FIELD_TYPES)),
    record_values,
    st.text(alphabet="abAB01 -:.;T+", min_size=1, max_size=12),
)
def test_not_equal_is_the_complement_of_equals(field: str, actual: Any, value: str) -> None:
    record = {field: actual}
    eq = matches(Condition(field, "equals", value), record, FIELD_TYPES)
    ne = matches(Condition(field, "not_equal", value), record, FIELD_TYPES)
    assert eq is not ne


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_between_is_inclusive_and_consistent_with_comparisons(x: int, lo: int, hi: int) -> None:
    record = {"Employees": x}
    between = matches(Condition("Employees", "between", "", (str(lo), str(hi))), record, FIELD_TYPES)
    both = matches(
        Group("and", (Condition("Employees", "greater_equal", str(lo)), Condition("Employees", "less_equal", str(hi)))),
        record,
        FIELD_TYPES,
    )
    assert between is both is (lo <= x <= hi)
