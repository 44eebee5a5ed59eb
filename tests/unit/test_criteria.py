"""The criteria grammar: Zoho's documented examples, escaping, error bodies, and round-trip properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from zoho_mcp.criteria import (
    MAX_CRITERIA_LENGTH,
    OPERATORS,
    OPERATORS_BY_TYPE,
    Condition,
    CriteriaError,
    Filter,
    Group,
    Node,
    allowed_operators,
    check_condition,
    compile_filters,
    count_conditions,
    escape_value,
    format_condition,
    iter_conditions,
    parse_criteria,
    to_text,
)

C = Condition


def AND(*items: Node) -> Group:
    return Group("and", items)


def OR(*items: Node) -> Group:
    return Group("or", items)


# --------------------------------------------------------------------------- the reference's examples

PARSES: list[tuple[str, Node]] = [
    # §7.2 examples, verbatim
    (
        "((Account_Name:equals:Acme) and (Industry:starts_with:Storage))",
        AND(C("Account_Name", "equals", "Acme"), C("Industry", "starts_with", "Storage")),
    ),
    ("(Email:equals:deborah@healthnet.com)", C("Email", "equals", "deborah@healthnet.com")),
    ("Campaign_Name:equals:CRM", C("Campaign_Name", "equals", "CRM")),
    (
        "(((Last_Name:equals:Steve) and (Company:equals:Zillum)) or (Lead_Status:equals:Contacted))",
        OR(
            AND(C("Last_Name", "equals", "Steve"), C("Company", "equals", "Zillum")),
            C("Lead_Status", "equals", "Contacted"),
        ),
    ),
    (
        "Created_Time:between:2024-02-01T18:52:56+00:00,2024-02-20T18:52:56+00:00",
        C("Created_Time", "between", "", ("2024-02-01T18:52:56+00:00", "2024-02-20T18:52:56+00:00")),
    ),
    # §7.3 escaping examples
    (
        r"((Last_Name:equals:Burns\,B)and(First_Name:starts_with:M))",
        AND(C("Last_Name", "equals", "Burns,B"), C("First_Name", "starts_with", "M")),
    ),
    (r"(Last_Name:equals:Patricia\(Boyle\))", C("Last_Name", "equals", "Patricia(Boyle)")),
    (r"(Last_Name:equals:K\\)", C("Last_Name", "equals", "K\\")),
    # and/or spelling and spacing
    ("(A:equals:x)and(B:equals:y)", AND(C("A", "equals", "x"), C("B", "equals", "y"))),
    ("(A:equals:x) and (B:equals:y)", AND(C("A", "equals", "x"), C("B", "equals", "y"))),
    ("((A:equals:x)AND(B:equals:y))", AND(C("A", "equals", "x"), C("B", "equals", "y"))),
    ("((A:equals:x)  Or\t(B:equals:y))", OR(C("A", "equals", "x"), C("B", "equals", "y"))),
    ("  ( (A:equals:x) or (B:equals:y) )  ", OR(C("A", "equals", "x"), C("B", "equals", "y"))),
    (
        "(A:equals:1)and(B:equals:2)and(C:equals:3)",
        AND(C("A", "equals", "1"), C("B", "equals", "2"), C("C", "equals", "3")),
    ),
    # redundant parentheses collapse to the inner node
    ("((A:equals:x))", C("A", "equals", "x")),
    ("(((A:equals:x)))", C("A", "equals", "x")),
    # nesting is kept as written (not flattened) so to_text round-trips
    (
        "(((A:equals:1)and(B:equals:2))and(C:equals:3))",
        AND(AND(C("A", "equals", "1"), C("B", "equals", "2")), C("C", "equals", "3")),
    ),
    # values: colons, spaces, unicode, and backslashes before ordinary characters are literal
    ("(Website:equals:https://zoho.com:443/x)", C("Website", "equals", "https://zoho.com:443/x")),
    ("(Account_Name:equals: Acme  Inc )", C("Account_Name", "equals", " Acme  Inc ")),
    ("(Account_Name:starts_with:Ünïcødé 株式会社)", C("Account_Name", "starts_with", "Ünïcødé 株式会社")),
    (r"(Description:equals:C:\temp\new)", C("Description", "equals", "C:\\temp\\new")),
    (r"(Description:equals:a\\\(b)", C("Description", "equals", "a\\(b")),
    ("(Account_Name:equals:x and (y))".replace("(y)", r"\(y\)"), C("Account_Name", "equals", "x and (y)")),
    # operators are case-insensitive, stored lower-case
    ("(Industry:EQUALS:Technology)", C("Industry", "equals", "Technology")),
    # in lists: escaped commas stay inside one value
    ("(Industry:in:Technology,Finance)", C("Industry", "in", "", ("Technology", "Finance"))),
    (r"(Account_Name:in:Burns\,B,Smith)", C("Account_Name", "in", "", ("Burns,B", "Smith"))),
    ("(Industry:in:Technology)", C("Industry", "in", "", ("Technology",))),
    ("(Annual_Revenue:between:1000,5000)", C("Annual_Revenue", "between", "", ("1000", "5000"))),
    ("(Annual_Revenue:greater_equal:-10.5)", C("Annual_Revenue", "greater_equal", "-10.5")),
    ("(Owner.name:equals:x)", C("Owner.name", "equals", "x")),
]


@pytest.mark.parametrize(("text", "expected"), PARSES, ids=[t for t, _ in PARSES])
def test_parses(text: str, expected: Node) -> None:
    assert parse_criteria(text) == expected


@pytest.mark.parametrize(("text", "expected"), PARSES, ids=[t for t, _ in PARSES])
def test_canonical_text_round_trips(text: str, expected: Node) -> None:
    assert parse_criteria(to_text(expected)) == expected


def test_condition_values_are_split_for_list_operators() -> None:
    assert C("Industry", "in", "a,b").values == ("a", "b")
    assert C("Industry", "in", "ignored", ("a,b", "c")).value == "a,b,c"
    assert C("Account_Name", "equals", "a,b").values == ("a,b",)


# --------------------------------------------------------------------------- errors

Q = "INVALID_QUERY"

ERRORS: list[tuple[str, str, dict[str, Any]]] = [
    # (text, code, details keys/values that must be present; "reason" always checked for presence)
    ("", Q, {"param_name": "criteria"}),
    ("   ", Q, {"param_name": "criteria"}),
    ("(A:contains:x)", Q, {"operator": "contains"}),
    ("(A:like:x)", Q, {"operator": "like"}),
    ("(A:equals)", Q, {}),
    ("(A)", Q, {}),
    ("()", Q, {}),
    ("(A:equals:)", Q, {"operator": "equals"}),
    ("(A:equals:x", Q, {}),
    (r"(Last_Name:equals:K\)", Q, {}),  # trailing backslash not doubled swallows the ')'
    (r"Last_Name:equals:K\\" + "\\", Q, {}),  # bare value ending in a lone backslash
    ("(A:equals:x))", Q, {}),
    ("((A:equals:x)", Q, {}),
    ("(A:equals:x)(B:equals:y)", Q, {}),
    ("(A:equals:x) xor (B:equals:y)", Q, {}),
    ("(A:equals:x) and", Q, {}),
    ("and (A:equals:x)", Q, {}),
    ("(A:equals:x)andy(B:equals:y)", Q, {}),
    ("(A:equals:x)and(B:equals:y)or(C:equals:z)", Q, {}),  # mixed and/or at one level
    ("((A:equals:x) or (B:equals:y) and (C:equals:z))", Q, {}),
    ("(A:equals:a,b)", Q, {"operator": "equals"}),  # unescaped comma in a single value
    ("(A:equals:a(b)", Q, {}),  # unescaped '('
    ("A:equals:a)b", Q, {}),  # unbalanced ')' in a bare condition
    ("(1A:equals:x)", Q, {"api_name": "1A"}),
    ("( A B:equals:x)", Q, {"api_name": "A B"}),
    ("(A:between:1)", Q, {"operator": "between"}),
    ("(A:between:1,2,3)", Q, {"operator": "between"}),
    ("(A:in:a,,b)", Q, {"operator": "in"}),
    ("(A:in:a,)", Q, {"operator": "in"}),
    ("(" * 40 + "A:equals:x" + ")" * 40, Q, {}),
]


@pytest.mark.parametrize(("text", "code", "details"), ERRORS, ids=[e[0][:60] for e in ERRORS])
def test_errors(text: str, code: str, details: dict[str, Any]) -> None:
    with pytest.raises(CriteriaError) as info:
        parse_criteria(text)
    err = info.value
    assert err.code == code
    assert err.message == "invalid query formed"
    assert err.details.get("reason")
    for key, value in details.items():
        assert err.details[key] == value
    assert err.to_body() == {"code": code, "details": err.details, "message": err.message, "status": "error"}


def test_mixed_operators_error_tells_how_to_fix() -> None:
    with pytest.raises(CriteriaError) as info:
        parse_criteria("(A:equals:x)and(B:equals:y)or(C:equals:z)")
    assert "parentheses" in info.value.details["reason"]


def test_undoubled_trailing_backslash_error_hints_at_the_fix() -> None:
    with pytest.raises(CriteriaError) as info:
        parse_criteria(r"(Last_Name:equals:K\)")
    assert "double" in info.value.details["reason"]


def _n_conditions(n: int, op: str = "and") -> str:
    return "(" + op.join(f"(F{i}:equals:v{i})" for i in range(n)) + ")"


def test_ten_conditions_allowed_eleven_rejected_like_zoho() -> None:
    assert count_conditions(parse_criteria(_n_conditions(10))) == 10
    with pytest.raises(CriteriaError) as info:
        parse_criteria(_n_conditions(11, "or"))
    assert info.value.code == "CRITERIA_LIMIT_EXCEEDED"
    assert info.value.message == "no of criterium that can be given exceed the limit 10"
    assert info.value.details == {}


def test_limit_is_configurable_for_v8() -> None:
    assert count_conditions(parse_criteria(_n_conditions(15), max_conditions=15)) == 15
    with pytest.raises(CriteriaError) as info:
        parse_criteria(_n_conditions(16), max_conditions=15)
    assert info.value.message == "no of criterium that can be given exceed the limit 15"


def test_nested_conditions_all_count() -> None:
    text = "(" + "or".join(f"((A:equals:{i})and(B:equals:{i}))" for i in range(6)) + ")"
    with pytest.raises(CriteriaError) as info:
        parse_criteria(text)
    assert info.value.code == "CRITERIA_LIMIT_EXCEEDED"


def test_in_allows_100_values_not_101() -> None:
    ok = parse_criteria("(Industry:in:" + ",".join(f"v{i}" for i in range(100)) + ")")
    assert isinstance(ok, Condition) and len(ok.values) == 100
    with pytest.raises(CriteriaError) as info:
        parse_criteria("(Industry:in:" + ",".join(f"v{i}" for i in range(101)) + ")")
    assert info.value.code == "INVALID_QUERY"
    assert info.value.details == {"operator": "in", "reason": 'Only 100 values are allowed in "IN" criteria'}


def test_length_limit_3000() -> None:
    head = "(Account_Name:equals:"
    fits = head + "x" * (MAX_CRITERIA_LENGTH - len(head) - 1) + ")"
    assert len(fits) == 3000
    assert isinstance(parse_criteria(fits), Condition)
    with pytest.raises(CriteriaError) as info:
        parse_criteria(fits[:-1] + "x)")
    assert info.value.code == "INVALID_QUERY"
    assert info.value.details["param_name"] == "criteria"


def test_non_string_rejected() -> None:
    with pytest.raises(CriteriaError):
        parse_criteria(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- printing helpers

ESCAPES = [
    ("Burns,B", r"Burns\,B"),
    ("Patricia(Boyle)", r"Patricia\(Boyle\)"),
    ("K\\", r"K\\"),
    ("a\\,b", r"a\\\,b"),
    ("plain text", "plain text"),
    ("a:b+c", "a:b+c"),
    (")or(Account_Name:starts_with:", r"\)or\(Account_Name:starts_with:"),
]


@pytest.mark.parametrize(("raw", "escaped"), ESCAPES)
def test_escape_value(raw: str, escaped: str) -> None:
    assert escape_value(raw) == escaped
    assert parse_criteria(format_condition("Last_Name", "equals", raw)) == C("Last_Name", "equals", raw)


def test_format_condition_lists() -> None:
    assert format_condition("Industry", "in", ["a,b", "c"]) == r"(Industry:in:a\,b,c)"
    assert format_condition("Annual_Revenue", "between", ("1", "2")) == "(Annual_Revenue:between:1,2)"


def test_single_item_group_prints_its_item() -> None:
    assert to_text(Group("and", (C("A", "equals", "x"),))) == "(A:equals:x)"


def test_group_validates_op() -> None:
    with pytest.raises(ValueError):
        Group("xor", (C("A", "equals", "x"),))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Group("and", ())


def test_iter_and_count_conditions() -> None:
    node = parse_criteria("(((A:equals:1)or(B:in:2,3))and(C:equals:4))")
    assert [c.field for c in iter_conditions(node)] == ["A", "B", "C"]
    assert count_conditions(node) == 3


# --------------------------------------------------------------------------- operator table


def test_operator_table_matches_reference() -> None:
    assert OPERATORS_BY_TYPE["text"] == {"equals", "not_equal", "starts_with", "in"}
    assert OPERATORS_BY_TYPE["textarea"] == {"equals", "not_equal", "starts_with"}
    assert OPERATORS_BY_TYPE["picklist"] == {"equals", "not_equal", "in"}
    assert OPERATORS_BY_TYPE["multiselectpicklist"] == {"equals", "not_equal", "in", "starts_with"}
    assert OPERATORS_BY_TYPE["ownerlookup"] == {"equals", "not_equal", "in"}
    assert OPERATORS_BY_TYPE["boolean"] == {"equals", "not_equal"}
    for t in ("integer", "currency", "decimal", "bigint", "percent", "date", "datetime", "double"):
        assert OPERATORS_BY_TYPE[t] == OPERATORS - {"starts_with"}
    assert all(ops <= OPERATORS for ops in OPERATORS_BY_TYPE.values())


def test_allowed_operators_v2_strictness() -> None:
    assert allowed_operators("text", strict_v2=True) == {"equals", "starts_with"}
    assert allowed_operators("currency", strict_v2=True) == {"equals"}
    assert allowed_operators("currency") == OPERATORS - {"starts_with"}
    assert allowed_operators("fileupload") == frozenset()


# --------------------------------------------------------------------------- Filter model

VALID_FILTERS: list[tuple[dict[str, Any], Condition]] = [
    ({"field": "Account_Name", "operator": "equals", "value": "Acme"}, C("Account_Name", "equals", "Acme")),
    ({"field": "Account_Name", "operator": "Starts_With", "value": "Ac"}, C("Account_Name", "starts_with", "Ac")),
    ({"field": "Employees", "operator": "greater_than", "value": 50}, C("Employees", "greater_than", "50")),
    (
        {"field": "Annual_Revenue", "operator": "less_equal", "value": 1500.5},
        C("Annual_Revenue", "less_equal", "1500.5"),
    ),
    (
        {"field": "Annual_Revenue", "operator": "less_equal", "value": 1e20},
        C("Annual_Revenue", "less_equal", "100000000000000000000"),
    ),
    ({"field": "Locked__s", "operator": "equals", "value": True}, C("Locked__s", "equals", "true")),
    ({"field": "Locked__s", "operator": "not_equal", "value": False}, C("Locked__s", "not_equal", "false")),
    (
        {"field": "Industry", "operator": "in", "value": ["Tech, Inc", "Finance"]},
        C("Industry", "in", "", ("Tech, Inc", "Finance")),
    ),
    (
        {"field": "Annual_Revenue", "operator": "between", "value": [1000, 5000]},
        C("Annual_Revenue", "between", "", ("1000", "5000")),
    ),
    ({"field": "Employees", "operator": "equals", "value": "50"}, C("Employees", "equals", "50")),
]


@pytest.mark.parametrize(("data", "condition"), VALID_FILTERS)
def test_filter_to_condition(data: dict[str, Any], condition: Condition) -> None:
    f = Filter.model_validate(data)
    assert f.to_condition() == condition
    assert parse_criteria(compile_filters([f])) == condition


INVALID_FILTERS: list[tuple[dict[str, Any], str]] = [
    ({"field": "Account Name", "operator": "equals", "value": "x"}, "API name"),
    ({"field": "1st", "operator": "equals", "value": "x"}, "starting with a letter"),
    ({"field": "A)or(B", "operator": "equals", "value": "x"}, "API name"),
    (
        {"field": "Account_Name", "operator": "contains", "value": "x"},
        "'equals' on text fields already matches substrings",
    ),
    ({"field": "Employees", "operator": ">", "value": 1}, "greater_than"),
    ({"field": "Employees", "operator": "approx", "value": 1}, "Allowed operators"),
    ({"field": "Industry", "operator": "in", "value": "Technology"}, "needs a list"),
    ({"field": "Industry", "operator": "in", "value": []}, "1 to 100"),
    ({"field": "Industry", "operator": "in", "value": [str(i) for i in range(101)]}, "1 to 100"),
    ({"field": "Annual_Revenue", "operator": "between", "value": [1]}, "exactly two"),
    ({"field": "Annual_Revenue", "operator": "between", "value": 5}, "exactly two"),
    ({"field": "Account_Name", "operator": "equals", "value": ["a", "b"]}, "use 'in'"),
    ({"field": "Account_Name", "operator": "equals", "value": ""}, "must not be empty"),
    ({"field": "Industry", "operator": "in", "value": ["a", ""]}, "must not be empty"),
    ({"field": "Annual_Revenue", "operator": "less_than", "value": float("nan")}, "finite"),
    ({"field": "Locked__s", "operator": "greater_than", "value": True}, "boolean values only"),
    ({"field": "Account_Name", "operator": "equals", "value": {"a": 1}}, "value"),
    ({"field": "Account_Name", "operator": "equals", "value": "x", "extra": 1}, "extra"),
]


@pytest.mark.parametrize(("data", "message"), INVALID_FILTERS, ids=[str(d) for d, _ in INVALID_FILTERS])
def test_filter_validation_messages(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Filter.model_validate(data)
    assert message in str(info.value)


def test_filter_schema_exposes_pattern_and_operators() -> None:
    schema = Filter.model_json_schema()
    assert schema["properties"]["field"]["pattern"] == "^[A-Za-z][A-Za-z0-9_]*$"
    assert set(schema["properties"]["operator"]["enum"]) == OPERATORS


# --------------------------------------------------------------------------- compile_filters


def test_compile_filters_shapes() -> None:
    a = Filter(field="Account_Name", operator="equals", value="Acme")
    b = Filter(field="Industry", operator="in", value=["Tech", "Fin"])
    assert compile_filters([a]) == "(Account_Name:equals:Acme)"
    assert compile_filters([a, b]) == "((Account_Name:equals:Acme)and(Industry:in:Tech,Fin))"
    assert compile_filters([a, b], "any") == "((Account_Name:equals:Acme)or(Industry:in:Tech,Fin))"
    with pytest.raises(ValueError):
        compile_filters([])
    with pytest.raises(ValueError):
        compile_filters([a], "some")  # type: ignore[arg-type]


INJECTIONS = [
    ")or(Account_Name:starts_with:",
    "x)or(Account_Name:starts_with:a",
    "x) or (Annual_Revenue:greater_than:0",
    "a,b",
    "K\\",
    "\\)",
    "\\",
    "((((",
    "))))",
    ")and(",
    "x:equals:y",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_stays_a_literal_value(value: str) -> None:
    f = Filter(field="Account_Name", operator="equals", value=value)
    g = Filter(field="Industry", operator="in", value=[value, value + "2"])
    node = parse_criteria(compile_filters([f, g]))
    assert node == AND(C("Account_Name", "equals", value), C("Industry", "in", "", (value, value + "2")))
    assert count_conditions(node) == 2


# --------------------------------------------------------------------------- properties

field_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,20}\Z")
nasty_text = st.text(
    alphabet=st.one_of(st.sampled_from("()\\,: andor\t"), st.characters(codec="utf-8")),
    min_size=1,
    max_size=20,
)
scalar = st.one_of(
    nasty_text,
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
)


@st.composite
def filters(draw: st.DrawFn) -> Filter:
    field = draw(field_names)
    op = draw(st.sampled_from(sorted(OPERATORS)))
    if op == "in":
        value: Any = draw(st.lists(st.one_of(nasty_text, st.integers()), min_size=1, max_size=5))
    elif op == "between":
        value = draw(st.lists(st.one_of(nasty_text, st.integers()), min_size=2, max_size=2))
    elif op in ("equals", "not_equal"):
        value = draw(scalar)
    else:
        value = draw(st.one_of(nasty_text, st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
    return Filter(field=field, operator=op, value=value)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(filters(), min_size=1, max_size=10), st.sampled_from(["all", "any"]))
def test_compile_then_parse_yields_exactly_the_filters(fs: list[Filter], match: str) -> None:
    text = compile_filters(fs, match)  # type: ignore[arg-type]
    node = parse_criteria(text)
    conditions = iter_conditions(node)
    assert conditions == [f.to_condition() for f in fs]
    for cond, f in zip(conditions, fs, strict=True):
        assert cond.values == f.criteria_values()
    if len(fs) > 1:
        assert isinstance(node, Group) and node.op == ("and" if match == "all" else "or")


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(nasty_text)
def test_any_value_survives_escaping(value: str) -> None:
    assert parse_criteria(format_condition("Account_Name", "equals", value)) == C("Account_Name", "equals", value)


def _conditions() -> st.SearchStrategy[Condition]:
    scalar_cond = st.builds(
        Condition, field_names, st.sampled_from(["equals", "not_equal", "starts_with", "less_than"]), nasty_text
    )
    list_cond = st.builds(
        lambda f, vs: Condition(f, "in", "", tuple(vs)), field_names, st.lists(nasty_text, min_size=1, max_size=4)
    )
    return st.one_of(scalar_cond, list_cond)


trees: st.SearchStrategy[Node] = st.recursive(
    _conditions(),
    lambda children: st.builds(
        lambda op, items: Group(op, tuple(items)),
        st.sampled_from(["and", "or"]),
        st.lists(children, min_size=2, max_size=3),
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(trees)
def test_to_text_round_trips_any_tree(node: Node) -> None:
    assert parse_criteria(to_text(node)) == node


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet=st.one_of(st.sampled_from("()\\,: andorAND_xX1"), st.characters()), max_size=80))
def test_parser_only_ever_raises_criteria_error(text: str) -> None:
    try:
        node = parse_criteria(text, max_conditions=100)
    except CriteriaError as err:
        assert err.code in {"INVALID_QUERY", "CRITERIA_LIMIT_EXCEEDED"}
        assert err.details.get("reason") or err.code == "CRITERIA_LIMIT_EXCEEDED"
    else:
        assert parse_criteria(to_text(node), max_conditions=100) == node


@pytest.mark.parametrize(("cond", "data_type", "reason"), [
    (Condition("Annual_Revenue", "greater_than", "abc"), "currency", "value 'abc' is not valid for currency"),
    (Condition("Employees", "equals", "1.5"), "integer", "expected a whole number"),
    (Condition("Account_Name", "greater_than", "M"), "text", "operator 'greater_than' is not allowed"),
    (Condition("Closing", "less_than", "2024-13-01"), "date", "expected a date as YYYY-MM-DD"),
    (Condition("Created_Time", "greater_than", "2024-02-01T10:00:00"), "datetime", "ISO-8601 datetime"),
    (Condition("Active", "equals", "yes"), "boolean", "true or false"),
    (Condition("Annual_Revenue", "between", "1,x"), "currency", "value 'x'"),
])
def test_check_condition_refuses_what_the_field_type_cannot_take(cond: Condition, data_type: str, reason: str) -> None:
    with pytest.raises(CriteriaError) as info:
        check_condition(cond, data_type)
    assert info.value.code == "INVALID_QUERY"
    assert reason in info.value.details["reason"]
    assert info.value.details["api_name"] == cond.field


def test_check_condition_names_the_allowed_operators() -> None:
    with pytest.raises(CriteriaError) as info:
        check_condition(Condition("Account_Name", "greater_than", "M"), "text")
    assert info.value.details["allowed_operators"] == sorted(allowed_operators("text"))
    assert "allowed: equals, in, not_equal, starts_with" in info.value.details["reason"]


@pytest.mark.parametrize(("cond", "data_type"), [
    (Condition("Annual_Revenue", "greater_than", "1500.50"), "currency"),
    (Condition("Employees", "in", "1,2,3"), "integer"),
    (Condition("Closing", "between", "2024-01-01,2024-02-01"), "date"),
    (Condition("Created_Time", "equals", "2024-02-01"), "datetime"),
    (Condition("Created_Time", "greater_than", "2024-02-01T10:00:00+05:30"), "datetime"),
    (Condition("Active", "equals", "TRUE"), "boolean"),
    (Condition("Account_Name", "starts_with", "anything (at) all"), "text"),
    (Condition("Some_Formula", "greater_than", "x"), "formula"),
])
def test_check_condition_accepts_what_fits(cond: Condition, data_type: str) -> None:
    check_condition(cond, data_type)
