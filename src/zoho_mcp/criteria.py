"""Zoho search-criteria grammar: one parser and one printer shared by the sandbox and the MCP tools.

Keeping both directions in one pure module is what makes escaping trustworthy: the tools build
criteria with `compile_filters`, the local Zoho reads them with `parse_criteria`, and property tests
prove that any value (brackets, commas, backslashes, unicode) survives the trip as a literal.

Grammar (reference §7.2/§7.3)::

    criteria  := sequence | bare_condition
    sequence  := operand ( ws? ("and"|"or") ws? operand )*     # one operator per level
    operand   := "(" ws? ( sequence | condition ) ws? ")"
    condition := api_name ":" operator ":" value
    value     := chars, with "\\(", "\\)", "\\,", "\\\\" as escapes; unescaped "," separates list items

Decisions where Zoho's docs are silent (kept here so the sandbox and the tools agree):

* Mixing ``and`` and ``or`` at one level, e.g. ``(a)and(b)or(c)``: Zoho documents no precedence, so
  it is rejected as INVALID_QUERY rather than guessed; add parentheses.
* Too many conditions: Zoho v2 documents the limit (10) but not the error; we answer with v8's
  documented ``CRITERIA_LIMIT_EXCEEDED`` body, with the limit in the message.
* Over 3000 characters (v8 OAS limit): INVALID_QUERY with ``{"param_name": "criteria", "reason"}``.
* A backslash before any other character is literal (only a *trailing* one must be doubled, §7.3);
  a lone backslash at the very end of a value is rejected.
* Unescaped ``,`` in a single-value operator and unescaped ``(`` anywhere in a value are rejected
  ("must be escaped", §7.3), so client escaping bugs surface against the sandbox.
* Operators are matched case-insensitively and stored lower-case; ``and``/``or`` likewise.
* Nesting deeper than 32 levels is rejected (it bounds recursion; no real query needs it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CRITERIA_LIMIT_EXCEEDED",
    "INVALID_QUERY",
    "INVALID_QUERY_MESSAGE",
    "LIST_OPERATORS",
    "MAX_CRITERIA_LENGTH",
    "MAX_IN_VALUES",
    "OPERATORS",
    "OPERATORS_BY_TYPE",
    "V2_OPERATORS",
    "Condition",
    "CriteriaError",
    "Filter",
    "Group",
    "Node",
    "Operator",
    "allowed_operators",
    "check_condition",
    "expected_value",
    "compile_filters",
    "count_conditions",
    "escape_value",
    "format_condition",
    "iter_conditions",
    "parse_criteria",
    "to_text",
]

Operator = Literal[
    "equals",
    "not_equal",
    "starts_with",
    "in",
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "between",
]
OPERATORS: frozenset[str] = frozenset(get_args(Operator))
LIST_OPERATORS: frozenset[str] = frozenset({"in", "between"})
V2_OPERATORS: frozenset[str] = frozenset({"equals", "starts_with"})
MAX_CRITERIA_LENGTH = 3000
MAX_IN_VALUES = 100
MAX_DEPTH = 32

_TEXT_OPS = frozenset({"equals", "not_equal", "starts_with", "in"})
_ORDERED_OPS = frozenset(
    {"equals", "not_equal", "greater_equal", "greater_than", "less_equal", "less_than", "between", "in"}
)
_CHOICE_OPS = frozenset({"equals", "not_equal", "in"})

OPERATORS_BY_TYPE: Mapping[str, frozenset[str]] = {
    "text": _TEXT_OPS,
    "email": _TEXT_OPS,
    "phone": _TEXT_OPS,
    "website": _TEXT_OPS,
    "textarea": frozenset({"equals", "not_equal", "starts_with"}),
    "picklist": _CHOICE_OPS,
    "autonumber": _CHOICE_OPS,
    "multiselectpicklist": frozenset({"equals", "not_equal", "in", "starts_with"}),
    "lookup": _CHOICE_OPS,
    "ownerlookup": _CHOICE_OPS,
    "userlookup": _CHOICE_OPS,
    "integer": _ORDERED_OPS,
    "bigint": _ORDERED_OPS,
    "double": _ORDERED_OPS,
    "currency": _ORDERED_OPS,
    "decimal": _ORDERED_OPS,
    "percent": _ORDERED_OPS,
    "date": _ORDERED_OPS,
    "datetime": _ORDERED_OPS,
    "boolean": frozenset({"equals", "not_equal"}),
}
"""Operators Zoho v7/v8 accept per field ``data_type`` (reference §7.4). A formula field searches
with the operators of its return type: pass that type. Types absent here are not searchable."""

INVALID_QUERY = "INVALID_QUERY"
INVALID_QUERY_MESSAGE = "invalid query formed"
CRITERIA_LIMIT_EXCEEDED = "CRITERIA_LIMIT_EXCEEDED"

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CRITERIA_FIELD = re.compile(r"^[A-Za-z$][A-Za-z0-9_$.]*$")
_KEYWORD = re.compile(r"(and|or)(?=\s*\()", re.IGNORECASE)
_ESCAPABLE = "(),\\"


class CriteriaError(Exception):
    """A criteria problem carrying Zoho's own error triple, so the sandbox can answer with Zoho's
    exact body and the tools can show agents the same reason Zoho would."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message} {dict(details or {})}")
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_body(self) -> dict[str, Any]:
        """Zoho's request-level error envelope (HTTP 400)."""
        return {"code": self.code, "details": self.details, "message": self.message, "status": "error"}


def _invalid(reason: str, **extra: Any) -> CriteriaError:
    return CriteriaError(INVALID_QUERY, INVALID_QUERY_MESSAGE, {**extra, "reason": reason})


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``(field:operator:value)`` term. ``value`` is unescaped. For ``in``/``between`` the exact
    items live in ``values`` (``value`` is then only their comma-join, for display); for other
    operators ``values == (value,)``. Passing only ``value`` for a list operator splits it on commas."""

    field: str
    operator: str
    value: str
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.operator in LIST_OPERATORS:
            if self.values:
                object.__setattr__(self, "value", ",".join(self.values))
            else:
                object.__setattr__(self, "values", tuple(self.value.split(",")))
        else:
            object.__setattr__(self, "values", (self.value,))


@dataclass(frozen=True, slots=True)
class Group:
    """Conditions or groups joined by a single operator; mixed operators need nesting."""

    op: Literal["and", "or"]
    items: tuple[Node, ...]

    def __post_init__(self) -> None:
        if self.op not in ("and", "or"):
            raise ValueError(f"Group.op must be 'and' or 'or', not {self.op!r}")
        if not self.items:
            raise ValueError("Group needs at least one item")
        object.__setattr__(self, "items", tuple(self.items))


Node: TypeAlias = Condition | Group


# --------------------------------------------------------------------------- parsing


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> Node:
        self.skip_ws()
        if self.peek() != "(":
            return self.condition(bare=True)
        node = self.sequence(depth=0)
        self.skip_ws()
        if self.pos != len(self.text):
            raise _invalid(
                f"unexpected {self.text[self.pos]!r} at position {self.pos}; conditions must be "
                "joined with 'and' or 'or'"
            )
        return node

    def sequence(self, depth: int) -> Node:
        items = [self.operand(depth)]
        ops: set[str] = set()
        while True:
            save = self.pos
            self.skip_ws()
            m = _KEYWORD.match(self.text, self.pos)
            if not m:
                self.pos = save
                break
            ops.add(m.group(1).lower())
            if len(ops) > 1:
                raise _invalid(
                    f"'and' and 'or' are mixed at the same level (position {m.start()}); Zoho defines no "
                    "precedence, so wrap one side in parentheses, e.g. ((a)and(b))or(c)"
                )
            self.pos = m.end()
            self.skip_ws()
            items.append(self.operand(depth))
        if len(items) == 1:
            return items[0]
        return Group(ops.pop(), tuple(items))  # type: ignore[arg-type]

    def operand(self, depth: int) -> Node:
        if depth >= MAX_DEPTH:
            raise _invalid(f"parentheses nested deeper than {MAX_DEPTH} levels")
        if self.peek() != "(":
            found = repr(self.peek()) if self.peek() else "end of criteria"
            raise _invalid(f"expected '(' at position {self.pos}, found {found}")
        self.pos += 1
        self.skip_ws()
        if self.peek() == "(":
            node = self.sequence(depth + 1)
            self.skip_ws()
            if self.peek() != ")":
                found = repr(self.peek()) if self.peek() else "end of criteria"
                raise _invalid(f"expected ')' at position {self.pos}, found {found}")
            self.pos += 1
            return node
        return self.condition(bare=False)

    def condition(self, *, bare: bool) -> Condition:
        start = self.pos
        name = self.until_colon("field API name")
        if not _CRITERIA_FIELD.match(name):
            raise _invalid(f"invalid field API name {name!r} at position {start}", api_name=name)
        op_start = self.pos
        operator = self.until_colon("operator").lower()
        if operator not in OPERATORS:
            raise CriteriaError(
                INVALID_QUERY,
                INVALID_QUERY_MESSAGE,
                {
                    "operator": operator,
                    "reason": f"invalid operator found at position {op_start}; use one of "
                    + ", ".join(sorted(OPERATORS)),
                },
            )
        items = self.value(operator, bare=bare)
        if operator == "between" and len(items) != 2:
            raise CriteriaError(
                INVALID_QUERY,
                INVALID_QUERY_MESSAGE,
                {"operator": operator, "reason": f"'between' needs exactly two values 'from,to', got {len(items)}"},
            )
        if operator == "in" and len(items) > MAX_IN_VALUES:
            raise CriteriaError(
                INVALID_QUERY,
                INVALID_QUERY_MESSAGE,
                {"operator": operator, "reason": f'Only {MAX_IN_VALUES} values are allowed in "IN" criteria'},
            )
        if operator in LIST_OPERATORS:
            return Condition(name, operator, ",".join(items), items)
        return Condition(name, operator, items[0])

    def until_colon(self, what: str) -> str:
        start = self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == ":":
                self.pos += 1
                return self.text[start : self.pos - 1]
            if ch in "()":
                break
            self.pos += 1
        raise _invalid(
            f"expected ':' after the {what} starting at position {start}; a condition is field:operator:value"
        )

    def value(self, operator: str, *, bare: bool) -> tuple[str, ...]:
        is_list = operator in LIST_OPERATORS
        text = self.text
        items: list[str] = []
        buf: list[str] = []
        start = self.pos
        while True:
            if self.pos >= len(text):
                if not bare:
                    hint = (
                        "; a value ending in a backslash must double it, e.g. (Last_Name:equals:K\\\\)"
                        if text.endswith("\\)")
                        else ""
                    )
                    raise _invalid(f"missing ')' to close the condition starting before position {start}{hint}")
                break
            ch = text[self.pos]
            if ch == "\\":
                nxt = text[self.pos + 1] if self.pos + 1 < len(text) else ""
                if nxt in _ESCAPABLE and nxt:
                    buf.append(nxt)
                    self.pos += 2
                    continue
                if nxt == "":
                    raise _invalid(f"value ends with a lone backslash at position {self.pos}; write it as \\\\")
                buf.append(ch)
                self.pos += 1
                continue
            if ch == ")":
                if bare:
                    raise _invalid(f"unbalanced ')' at position {self.pos}; escape it as \\) inside a value")
                self.pos += 1
                break
            if ch == "(":
                raise _invalid(f"unescaped '(' in value at position {self.pos}; escape it as \\(")
            if ch == ",":
                if not is_list:
                    raise CriteriaError(
                        INVALID_QUERY,
                        INVALID_QUERY_MESSAGE,
                        {
                            "operator": operator,
                            "reason": f"unescaped ',' in value at position {self.pos}; escape it as \\, "
                            "(only 'in' and 'between' take comma-separated values)",
                        },
                    )
                items.append(self.nonempty("".join(buf), operator))
                buf = []
                self.pos += 1
                continue
            buf.append(ch)
            self.pos += 1
        items.append(self.nonempty("".join(buf), operator))
        return tuple(items)

    def nonempty(self, item: str, operator: str) -> str:
        if item == "":
            raise CriteriaError(
                INVALID_QUERY,
                INVALID_QUERY_MESSAGE,
                {"operator": operator, "reason": f"empty value near position {self.pos}"},
            )
        return item


def parse_criteria(text: str, *, max_conditions: int = 10) -> Node:
    """Parse Zoho criteria text into a tree, rejecting exactly what Zoho rejects with Zoho's codes.

    ``max_conditions`` defaults to v2's 10; pass 15 to mimic v8.
    """
    if not isinstance(text, str):
        raise _invalid("criteria must be a string")
    if len(text) > MAX_CRITERIA_LENGTH:
        raise _invalid(
            f"criteria is {len(text)} characters; at most {MAX_CRITERIA_LENGTH} are allowed",
            param_name="criteria",
        )
    if not text.strip():
        raise _invalid("criteria is empty", param_name="criteria")
    node = _Parser(text).parse()
    if count_conditions(node) > max_conditions:
        raise CriteriaError(
            CRITERIA_LIMIT_EXCEEDED,
            f"no of criterium that can be given exceed the limit {max_conditions}",
            {},
        )
    return node


# --------------------------------------------------------------------------- printing


def escape_value(value: str) -> str:
    """Backslash-escape the four characters that are syntax inside a value: ``\\ ( ) ,``."""
    out = value.replace("\\", "\\\\")
    for ch in "(),":
        out = out.replace(ch, "\\" + ch)
    return out


def format_condition(field: str, operator: str, value: str | Sequence[str]) -> str:
    """One parenthesised condition; a sequence value becomes a comma list (for ``in``/``between``)."""
    text = escape_value(value) if isinstance(value, str) else ",".join(escape_value(v) for v in value)
    return f"({field}:{operator}:{text})"


def to_text(node: Node) -> str:
    """Canonical criteria text; ``parse_criteria(to_text(n)) == n`` for every parsed tree."""
    if isinstance(node, Condition):
        if node.operator in LIST_OPERATORS:
            return format_condition(node.field, node.operator, node.values)
        return format_condition(node.field, node.operator, node.value)
    if len(node.items) == 1:
        return to_text(node.items[0])
    return "(" + node.op.join(to_text(item) for item in node.items) + ")"


def iter_conditions(node: Node) -> list[Condition]:
    """The leaf conditions in text order."""
    if isinstance(node, Condition):
        return [node]
    return [c for item in node.items for c in iter_conditions(item)]


def count_conditions(node: Node) -> int:
    """Number of leaf conditions: what Zoho's criteria limit counts (an ``in`` list is one)."""
    if isinstance(node, Condition):
        return 1
    return sum(count_conditions(item) for item in node.items)


def allowed_operators(data_type: str, *, strict_v2: bool = False) -> frozenset[str]:
    """Operators usable on a field of ``data_type``; empty when the type is not searchable.

    ``strict_v2`` narrows to what ``/crm/v2`` documents (equals/starts_with only)."""
    ops = OPERATORS_BY_TYPE.get(data_type, frozenset())
    return ops & V2_OPERATORS if strict_v2 else ops


# --------------------------------------------------------------------------- values by field type

_INTEGER_TYPES = frozenset({"integer", "bigint"})
_NUMERIC_TYPES = frozenset({"integer", "bigint", "double", "currency", "decimal", "percent"})


def _is_number(text: str, data_type: str) -> bool:
    try:
        num = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return False
    return num.is_finite() and (data_type not in _INTEGER_TYPES or num == num.to_integral_value())


def _is_date(text: str) -> bool:
    text = text.strip()
    try:
        return len(text) == 10 and bool(date.fromisoformat(text))
    except ValueError:
        return False


def _is_datetime(text: str) -> bool:
    """An ISO-8601 datetime with an offset, or a plain date (Zoho compares on that day)."""
    text = text.strip()
    if _is_date(text):
        return True
    if len(text) <= 10 or "T" not in text:
        return False
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def expected_value(data_type: str) -> str | None:
    """What a value must look like for a field of ``data_type``, or None when any text will do."""
    if data_type in _INTEGER_TYPES:
        return "a whole number, e.g. 42"
    if data_type in _NUMERIC_TYPES:
        return "a number, e.g. 1500.50"
    if data_type == "date":
        return "a date as YYYY-MM-DD, e.g. 2024-02-01"
    if data_type == "datetime":
        return "an ISO-8601 datetime with offset, e.g. 2024-02-01T18:52:56+00:00, or a date YYYY-MM-DD"
    if data_type == "boolean":
        return "true or false"
    return None


def _value_fits(text: str, data_type: str) -> bool:
    if data_type in _NUMERIC_TYPES:
        return _is_number(text, data_type)
    if data_type == "date":
        return _is_date(text)
    if data_type == "datetime":
        return _is_datetime(text)
    if data_type == "boolean":
        return text.strip().lower() in ("true", "false")
    return True


def check_condition(cond: Condition, data_type: str) -> None:
    """Refuse what Zoho refuses for a known field type: an operator the type does not allow, or a
    value that is not a number/date/datetime/boolean where the field needs one (INVALID_QUERY).

    Types absent from ``OPERATORS_BY_TYPE`` (e.g. a formula whose return type is unknown) are not
    judged here: Zoho decides. Pure, so the tools and the sandbox can share it."""
    allowed = allowed_operators(data_type)
    if not allowed:
        return
    if cond.operator not in allowed:
        raise _invalid(
            f"operator {cond.operator!r} is not allowed for {data_type} field {cond.field}; "
            f"allowed: {', '.join(sorted(allowed))}",
            api_name=cond.field,
            operator=cond.operator,
            data_type=data_type,
            allowed_operators=sorted(allowed),
        )
    what = expected_value(data_type)
    if what is None:
        return
    for item in cond.values:
        if not _value_fits(item, data_type):
            raise _invalid(
                f"value {item!r} is not valid for {data_type} field {cond.field}; expected {what}",
                api_name=cond.field,
                expected_data_type=data_type,
            )


# --------------------------------------------------------------------------- structured filters

Scalar: TypeAlias = bool | int | float | str

_OPERATOR_HINTS = {
    "contains": "Zoho has no 'contains'; 'equals' on text fields already matches substrings, or use 'starts_with'",
    "like": "Zoho has no 'like'; 'equals' on text fields matches substrings, or use 'starts_with'",
    "eq": "use 'equals'",
    "=": "use 'equals'",
    "==": "use 'equals'",
    "ne": "use 'not_equal'",
    "!=": "use 'not_equal'",
    "not_equals": "use 'not_equal'",
    "gt": "use 'greater_than'",
    ">": "use 'greater_than'",
    "gte": "use 'greater_equal'",
    ">=": "use 'greater_equal'",
    "lt": "use 'less_than'",
    "<": "use 'less_than'",
    "lte": "use 'less_equal'",
    "<=": "use 'less_equal'",
    "startswith": "use 'starts_with'",
}


def _scalar_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return value


class Filter(BaseModel):
    """One structured search condition, as AI agents supply it to ``search_accounts``.

    Validation messages say what was wrong and how to fix it, because agents read them verbatim."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(
        description="Zoho field API name, e.g. Account_Name, Industry, Annual_Revenue",
        json_schema_extra={"pattern": _API_NAME.pattern},
    )
    operator: Operator = Field(
        description="equals (substring match on text), not_equal, starts_with, in (list), greater_than, "
        "greater_equal, less_than, less_equal, between (list of two: [from, to])"
    )
    value: Scalar | list[Scalar] = Field(
        description="A string, number or boolean; a list only for 'in' (1-100 items) or 'between' (2 items). "
        "Dates as YYYY-MM-DD, datetimes as ISO-8601 with offset, e.g. 2024-02-01T18:52:56+00:00"
    )

    @field_validator("field", mode="before")
    @classmethod
    def _check_field(cls, v: Any) -> Any:
        if not isinstance(v, str) or not _API_NAME.match(v):
            raise ValueError(
                f"field must be a Zoho field API name: letters, digits and underscores, starting with a letter "
                f"(e.g. 'Account_Name', 'Annual_Revenue'); got {v!r}. Use the API name, not the display label"
            )
        return v

    @field_validator("operator", mode="before")
    @classmethod
    def _check_operator(cls, v: Any) -> Any:
        if isinstance(v, str):
            norm = v.strip().lower()
            if norm in OPERATORS:
                return norm
            hint = _OPERATOR_HINTS.get(norm, "")
            allowed = ", ".join(get_args(Operator))
            raise ValueError(f"unknown operator {v!r}. {hint + '. ' if hint else ''}Allowed operators: {allowed}")
        return v

    @field_validator("value", mode="after")
    @classmethod
    def _check_value_items(cls, v: Scalar | list[Scalar]) -> Scalar | list[Scalar]:
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"value {item!r} is not a finite number")
            if isinstance(item, str) and item == "":
                raise ValueError("value must not be empty; Zoho cannot search for an empty string")
        return v

    @model_validator(mode="after")
    def _check_shape(self) -> Filter:
        op, v = self.operator, self.value
        if op == "between":
            if not isinstance(v, list) or len(v) != 2:
                raise ValueError(
                    f"operator 'between' needs a list of exactly two values [from, to], e.g. [1000, 5000]; got {v!r}"
                )
        elif op == "in":
            if not isinstance(v, list):
                raise ValueError(f"operator 'in' needs a list of values, e.g. ['Technology', 'Finance']; got {v!r}")
            if not 1 <= len(v) <= MAX_IN_VALUES:
                raise ValueError(f"operator 'in' takes 1 to {MAX_IN_VALUES} values; got {len(v)}. Split the search")
        elif isinstance(v, list):
            raise ValueError(
                f"operator {op!r} takes a single value, not a list; use 'in' to match any of several values"
            )
        if op not in ("equals", "not_equal", "in") and any(
            isinstance(i, bool) for i in (v if isinstance(v, list) else [v])
        ):
            raise ValueError(f"boolean values only work with 'equals' or 'not_equal', not {op!r}")
        return self

    def criteria_values(self) -> tuple[str, ...]:
        """The value(s) as Zoho criteria text, unescaped (bools as true/false, no float exponents)."""
        if isinstance(self.value, list):
            return tuple(_scalar_text(i) for i in self.value)
        return (_scalar_text(self.value),)

    def to_condition(self) -> Condition:
        """The condition Zoho will see; ``parse_criteria(compile_filters([f]))`` equals this."""
        values = self.criteria_values()
        if self.operator in LIST_OPERATORS:
            return Condition(self.field, self.operator, ",".join(values), values)
        return Condition(self.field, self.operator, values[0])


def compile_filters(filters: Sequence[Filter], match: Literal["all", "any"] = "all") -> str:
    """Criteria text for structured filters, every value escaped so it can only ever be a literal.

    Does not enforce Zoho's condition/length limits: ``parse_criteria`` (or Zoho) reports those."""
    if not filters:
        raise ValueError("at least one filter is required")
    if match not in ("all", "any"):
        raise ValueError(f"match must be 'all' or 'any', not {match!r}")
    conditions = [f.to_condition() for f in filters]
    if len(conditions) == 1:
        return to_text(conditions[0])
    return to_text(Group("and" if match == "all" else "or", tuple(conditions)))
