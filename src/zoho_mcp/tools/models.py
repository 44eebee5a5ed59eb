"""Pydantic models for what agents send and receive: they are the published input and output schemas.

Validation messages are written for a model to read and correct: each says what is allowed and gives
an example. Everything here is checked locally, before anything is sent to Zoho.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

ID_PATTERN = r"^[0-9]{18,19}$"
FIELD_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,99}$"
EXAMPLE_ID = "4876876000000624001"

MAX_FIELDS = 50
MAX_BULK_READ = 1_000
MAX_BULK_UPDATE = 10_000
MAX_FIELDS_PER_UPDATE = 200
MAX_STRING = 32_000
MAX_VALUE_DEPTH = 4
MAX_LIST_VALUE = 100
MAX_FILTERS = 10

_ID_RE = re.compile(ID_PATTERN)
_FIELD_RE = re.compile(FIELD_PATTERN)


def _coerce_id(value: Any) -> Any:
    """Clients (and the Inspector CLI) send numeric-looking ids as JSON numbers; accept them as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        raise ValueError(
            "send the id as a JSON string, e.g. \"" + EXAMPLE_ID + "\": it arrived as a floating-point number, "
            "which cannot hold 18-19 digits exactly (the last digits are already lost)"
        )
    if isinstance(value, str):
        return value.strip()
    return value


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(
            f"not a Zoho record id: ids are strings of 18-19 digits, e.g. '{EXAMPLE_ID}'; "
            "find ids with search_accounts"
        )
    return value


def _check_field(value: str) -> str:
    if not _FIELD_RE.match(value):
        raise ValueError(
            "not a Zoho field API name: letters, digits and underscores, starting with a letter, "
            "e.g. 'Account_Name', 'Phone', 'Annual_Revenue' (use the API name, not the display label)"
        )
    return value


AccountId = Annotated[
    str,
    BeforeValidator(_coerce_id),
    AfterValidator(_check_id),
    Field(
        description=f"Zoho record id of the account: a string of 18-19 digits, e.g. '{EXAMPLE_ID}'",
        json_schema_extra={"pattern": ID_PATTERN, "examples": [EXAMPLE_ID]},
    ),
]

FieldName = Annotated[
    str,
    AfterValidator(_check_field),
    Field(
        description="Zoho field API name, e.g. 'Account_Name'",
        json_schema_extra={"pattern": FIELD_PATTERN},
    ),
]

FieldList = Annotated[
    list[FieldName] | None,
    Field(
        max_length=MAX_FIELDS,
        description=f"Field API names to return (at most {MAX_FIELDS}), e.g. ['Account_Name', 'Phone']. "
        "Omit to get every field. 'id' is always returned.",
    ),
]


def _check_value(value: Any, depth: int = 0) -> None:
    if depth > MAX_VALUE_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_VALUE_DEPTH} levels; Zoho fields are flat or one lookup deep")
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ValueError(
                f"text value is {len(value)} characters; Zoho fields hold at most {MAX_STRING} (most hold 255)"
            )
    elif isinstance(value, list):
        if len(value) > MAX_LIST_VALUE:
            raise ValueError(f"list value has {len(value)} items; at most {MAX_LIST_VALUE} are allowed")
        for item in value:
            _check_value(item, depth + 1)
    elif isinstance(value, dict):
        if len(value) > MAX_FIELDS_PER_UPDATE:
            raise ValueError(f"object value has {len(value)} keys; at most {MAX_FIELDS_PER_UPDATE} are allowed")
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > 100:
                raise ValueError("object keys must be API names of at most 100 characters")
            _check_value(item, depth + 1)


def _check_update_fields(fields: dict[str, Any]) -> dict[str, Any]:
    if not fields:
        raise ValueError("give at least one field to change, e.g. {'Phone': '555-0100'}")
    if len(fields) > MAX_FIELDS_PER_UPDATE:
        raise ValueError(f"{len(fields)} fields in one record; at most {MAX_FIELDS_PER_UPDATE} are allowed")
    if any(name.lower() == "id" for name in fields):
        raise ValueError("put the record id in 'id', not inside 'fields'")
    for value in fields.values():
        _check_value(value)
    return fields


def _field_names_schema(schema: dict[str, Any]) -> None:
    """Publish the API-name syntax as `propertyNames.pattern` (what strict schema checkers look for),
    instead of pydantic's `patternProperties`, which leaves other names formally allowed."""
    schema.pop("patternProperties", None)
    schema["propertyNames"] = {
        "type": "string",
        "pattern": FIELD_PATTERN,
        "description": "Zoho field API name, e.g. 'Account_Name'",
    }
    schema["minProperties"] = 1


class RecordUpdate(BaseModel):
    """One record to change: its id and the fields to set (Zoho API names → new values)."""

    model_config = ConfigDict(extra="forbid")

    id: AccountId
    fields: Annotated[
        dict[FieldName, Any],
        AfterValidator(_check_update_fields),
        Field(
            description="Field API names and their new values, e.g. {'Phone': '555-0100', 'Industry': 'Finance'}. "
            "Lookups as {'id': '<record id>'}; dates as 'YYYY-MM-DD'.",
            json_schema_extra=_field_names_schema,
        ),
    ]


Trigger = Literal["workflow", "approval", "blueprint"]


# --------------------------------------------------------------------------- outputs


class GetAccountOutput(BaseModel):
    account: dict[str, Any] = Field(description="The account: Zoho field API names to values; ids are strings")


class PageOut(BaseModel):
    page: int = Field(description="The page returned, from 1")
    per_page: int = Field(description="Records per page asked for")
    count: int = Field(description="Records on this page")
    more_records: bool = Field(description="True when another page exists: call again with page + 1")


class SearchAccountsOutput(BaseModel):
    accounts: list[dict[str, Any]] = Field(description="Matching accounts; empty when nothing matches")
    page: PageOut


class BulkReadOutput(BaseModel):
    accounts: list[dict[str, Any]] = Field(description="Found accounts, in the order their ids were given")
    missing: list[str] = Field(description="Ids Zoho does not have (deleted or never existed)")


class RecordResult(BaseModel):
    id: str = Field(description="The record id, as given")
    status: Literal["success", "error"]
    code: str = Field(description="Zoho's code, e.g. SUCCESS, INVALID_DATA; or a local code")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class UpdateSummary(BaseModel):
    total: int
    succeeded: int
    failed: int


class SentChunk(BaseModel):
    chunk: int = Field(description="1-based chunk number")
    data: list[dict[str, Any]] = Field(description="The records exactly as they would be sent to Zoho")
    trigger: list[str] | None = None


class BulkUpdateOutput(BaseModel):
    results: list[RecordResult] = Field(description="One result per input record, in input order")
    summary: UpdateSummary
    dry_run: bool = Field(False, description="True when nothing was sent (dry_run); 'success' then means 'valid'")
    would_send: list[SentChunk] | None = Field(
        None, description="Only for dry_run: the chunks of at most 100 records that would be sent"
    )
