"""The contract every tier keeps: typed operations in, normalised results out, one error family.

The gateway and the tools only ever see these types, so the three tiers are interchangeable.
Operations validate themselves on construction: a bad id or module never reaches the network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from zoho_mcp.logs import redact
from zoho_mcp.resilience.errors import CategorizedError, ErrorCategory

TierName = Literal["mcp", "sdk", "rest"]
TIER_ORDER: tuple[TierName, ...] = ("mcp", "sdk", "rest")

#: Zoho writes at most this many records per call; tiers chunk larger updates.
MAX_RECORDS_PER_CALL = 100
MAX_PER_PAGE = 200
#: Zoho's search and list reach only this many results through page/per_page.
MAX_REACHABLE = 2000

_ID_RE = re.compile(r"^[0-9]{18,19}$")
_MODULE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_FIELD_RE = re.compile(r"^[A-Za-z$][A-Za-z0-9_$]{0,99}$")


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class ZohoError(CategorizedError):
    """A failure talking to Zoho, keeping Zoho's own code, message and details.

    `details["sent"]` (see `tiers/delivery.py`) says whether the operation may have reached Zoho:
    False — provably not applied; True — maybe applied (with `details["records_sent"]` for the
    chunks of an update already sent); absent — Zoho answered, and the class says what it means.
    The gateway reads it to never send a non-idempotent write twice.
    """

    category = ErrorCategory.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        code: str = "ERROR",
        details: Mapping[str, Any] | None = None,
        status: int | None = None,
        tier: str | None = None,
    ) -> None:
        self.code = code
        self.message = redact(message)
        self.details = dict(details or {})
        self.status = status
        self.tier = tier
        super().__init__(self.message)

    def __str__(self) -> str:
        where = f"[{self.tier}] " if self.tier else ""
        http = f" (HTTP {self.status})" if self.status else ""
        return f"{where}{self.code}: {self.message}{http}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, status={self.status!r}, tier={self.tier!r})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "category": self.category.value,
            "tier": self.tier,
        }


class TransientError(ZohoError):
    """Connect error, reset, timeout, 5xx: worth retrying and failing over."""

    category = ErrorCategory.TRANSIENT


class RateLimitedError(TransientError):
    """429 TOO_MANY_REQUESTS: Zoho's concurrency or credit limit.

    The limit is the org's, shared by every tier, so it says nothing about the health of the tier
    that met it: no breaker counts it (one slow tier must not open the others' breakers). It is
    still retried with backoff, then fails over.
    """

    @property
    def counts_as_failure(self) -> bool:
        return False


class AuthError(ZohoError):
    """INVALID_TOKEN after one refresh, OAUTH_SCOPE_MISMATCH, invalid client, token throttle."""

    category = ErrorCategory.AUTH


class BusinessError(ZohoError):
    """INVALID_DATA, INVALID_QUERY, not found, LIMIT_REACHED…: an answer, never retried."""

    category = ErrorCategory.BUSINESS


class ConfigurationError(ZohoError):
    """This tier cannot work as configured (no URL, SDK not initialisable…)."""

    category = ErrorCategory.CONFIGURATION


class InvalidRequestError(BusinessError):
    """Refused locally, before any network call."""


def error_from_zoho_body(status: int, body: Mapping[str, Any] | None, *, tier: str | None = None) -> ZohoError:
    """Classify a request-level Zoho error envelope `{"code","message","details","status"}`."""
    body = body or {}
    code = str(body.get("code") or f"HTTP_{status}")
    message = str(body.get("message") or "Zoho returned HTTP %d" % status)
    details = body.get("details") if isinstance(body.get("details"), Mapping) else {}
    cls: type[ZohoError]
    if status == 429 or code == "TOO_MANY_REQUESTS":
        cls = RateLimitedError
    elif status >= 500:
        cls = TransientError
    elif status in (401, 403) or code in {"INVALID_TOKEN", "OAUTH_SCOPE_MISMATCH", "AUTHENTICATION_FAILURE"}:
        cls = AuthError
    else:
        cls = BusinessError
    return cls(message, code=code, details=details, status=status, tier=tier)


# ---------------------------------------------------------------------------------------------
# Validation helpers (pure)
# ---------------------------------------------------------------------------------------------


def check_record_id(value: object) -> str:
    """Zoho ids are 18-19 digit numbers carried as strings; anything else is refused here."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidRequestError(
            f"record id must be a string of 18-19 digits, got {type(value).__name__}",
            code="INVALID_ID",
            details={"id": str(value)[:40]},
        )
    text = str(value).strip()
    if not _ID_RE.match(text):
        raise InvalidRequestError(
            f"record id {text[:40]!r} is not a Zoho id: ids are strings of 18-19 digits, e.g. '4876876000000624001'",
            code="INVALID_ID",
            details={"id": text[:40]},
        )
    return text


def check_module(value: str) -> str:
    if not isinstance(value, str) or not _MODULE_RE.match(value):
        raise InvalidRequestError(
            f"module {str(value)[:40]!r} is not a Zoho module API name (letters, digits, underscores)",
            code="INVALID_MODULE",
        )
    return value


def check_field_names(fields: Sequence[str] | None) -> tuple[str, ...] | None:
    if fields is None:
        return None
    out = tuple(fields)
    for name in out:
        if not isinstance(name, str) or not _FIELD_RE.match(name):
            raise InvalidRequestError(
                f"field {str(name)[:40]!r} is not a Zoho API name (e.g. 'Account_Name')", code="INVALID_FIELD"
            )
    if len(out) > 50:
        raise InvalidRequestError("at most 50 fields may be requested at once", code="LIMIT_EXCEEDED")
    return out


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetRecords:
    """Read records by id (one or many). Ids not found come back in `GetResult.missing`."""

    kind: ClassVar[str] = "get"
    is_read: ClassVar[bool] = True
    module: str
    ids: tuple[str, ...]
    fields: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_module(self.module)
        if not self.ids:
            raise InvalidRequestError("give at least one record id", code="MANDATORY_NOT_FOUND")
        object.__setattr__(self, "ids", tuple(check_record_id(i) for i in self.ids))
        object.__setattr__(self, "fields", check_field_names(self.fields))

    @property
    def idempotent(self) -> bool:
        return True

    @property
    def record_count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class SearchRecords:
    """Zoho search: exactly one of criteria / email / phone / word is used (that precedence)."""

    kind: ClassVar[str] = "search"
    is_read: ClassVar[bool] = True
    module: str
    criteria: str | None = None
    email: str | None = None
    phone: str | None = None
    word: str | None = None
    page: int = 1
    per_page: int = MAX_PER_PAGE
    fields: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_module(self.module)
        if not any((self.criteria, self.email, self.phone, self.word)):
            raise InvalidRequestError(
                "give one of criteria, email, phone or word", code="EXPECTED_PARAM_MISSING"
            )
        if not (1 <= self.per_page <= MAX_PER_PAGE):
            raise InvalidRequestError(f"per_page must be between 1 and {MAX_PER_PAGE}", code="INVALID_DATA")
        if self.page < 1:
            raise InvalidRequestError("page must be at least 1", code="INVALID_DATA")
        if (self.page - 1) * self.per_page >= MAX_REACHABLE:
            last = MAX_REACHABLE // self.per_page + (1 if MAX_REACHABLE % self.per_page else 0)
            raise InvalidRequestError(
                f"page {self.page} starts beyond the first {MAX_REACHABLE:,} results, the most Zoho's search "
                f"reaches; with per_page={self.per_page} the last page is {last}: narrow the search instead",
                code="LIMIT_REACHED",
            )
        object.__setattr__(self, "fields", check_field_names(self.fields))

    @property
    def idempotent(self) -> bool:
        return True

    @property
    def record_count(self) -> int:
        return self.per_page

    def query_params(self) -> dict[str, str]:
        """The REST query for this search (the one parameter Zoho would apply, plus paging)."""
        params: dict[str, str] = {}
        for key in ("criteria", "email", "phone", "word"):
            value = getattr(self, key)
            if value:
                params[key] = value
                break
        params["page"] = str(self.page)
        params["per_page"] = str(self.per_page)
        if self.fields:
            params["fields"] = ",".join(self.fields)
        return params


@dataclass(frozen=True, slots=True)
class UpdateRecords:
    """Update records; each record is a mapping of API names that includes `"id"`."""

    kind: ClassVar[str] = "update"
    is_read: ClassVar[bool] = False
    module: str
    records: tuple[Mapping[str, Any], ...]
    trigger: tuple[str, ...] | None = None
    #: Setting the same values twice is harmless, so plain field updates are idempotent.
    idempotent: bool = True

    def __post_init__(self) -> None:
        check_module(self.module)
        if not self.records:
            raise InvalidRequestError("give at least one record to update", code="MANDATORY_NOT_FOUND")
        cleaned = []
        for rec in self.records:
            if "id" not in rec:
                raise InvalidRequestError("every record to update needs its 'id'", code="MANDATORY_NOT_FOUND")
            cleaned.append({**rec, "id": check_record_id(rec["id"])})
        object.__setattr__(self, "records", tuple(cleaned))
        if self.trigger is not None:
            object.__setattr__(self, "trigger", tuple(self.trigger))

    @property
    def record_count(self) -> int:
        return len(self.records)

    def chunks(self, size: int = MAX_RECORDS_PER_CALL) -> list[tuple[Mapping[str, Any], ...]]:
        return [self.records[i : i + size] for i in range(0, len(self.records), size)]


@dataclass(frozen=True, slots=True)
class Probe:
    """A cheap call that proves a tier can reach Zoho and authenticate."""

    kind: ClassVar[str] = "probe"
    is_read: ClassVar[bool] = True
    module: str = "Accounts"

    @property
    def idempotent(self) -> bool:
        return True

    @property
    def record_count(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class DescribeFields:
    """The module's field metadata, so tools can refuse unknown field names before anything is sent."""

    kind: ClassVar[str] = "describe"
    is_read: ClassVar[bool] = True
    module: str = "Accounts"

    def __post_init__(self) -> None:
        check_module(self.module)

    @property
    def idempotent(self) -> bool:
        return True

    @property
    def record_count(self) -> int:
        return 0


Operation = GetRecords | SearchRecords | UpdateRecords | Probe | DescribeFields


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PageInfo:
    page: int
    per_page: int
    count: int
    more_records: bool


@dataclass(slots=True)
class GetResult:
    """Found records in the order their ids were asked for, plus the ids Zoho did not have."""

    records: list[dict[str, Any]]
    missing: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SearchResult:
    records: list[dict[str, Any]]
    page: PageInfo


@dataclass(slots=True)
class WriteResult:
    id: str
    status: Literal["success", "error"]
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "code": self.code, "message": self.message, "details": self.details}


@dataclass(slots=True)
class UpdateResult:
    """One result per input record, in input order."""

    results: list[WriteResult]


@dataclass(slots=True)
class ProbeResult:
    ok: bool = True
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    api_name: str
    data_type: str
    label: str = ""
    read_only: bool = False
    length: int | None = None


@dataclass(slots=True)
class FieldsResult:
    """Every field of a module, as Zoho's `settings/fields` describes it."""

    fields: list[FieldInfo]

    def names(self) -> frozenset[str]:
        return frozenset(f.api_name for f in self.fields)


Result = GetResult | SearchResult | UpdateResult | ProbeResult | FieldsResult


def normalise_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Plain dict keyed by API names with every id (the record's and lookups') as a string."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "id" and value is not None:
            out[key] = str(value)
        elif isinstance(value, Mapping):
            out[key] = normalise_record(value)
        elif isinstance(value, list):
            out[key] = [normalise_record(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class Tier(Protocol):
    """One way to reach Zoho. Implementations raise only `ZohoError` subclasses."""

    name: TierName

    async def execute(self, op: Operation) -> Result: ...

    async def aclose(self) -> None: ...
