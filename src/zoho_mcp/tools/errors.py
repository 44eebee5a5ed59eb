"""Every failure a tool can meet, turned into an `isError` result a model can act on.

A tool result is read by a model that will try again, so each error says three things: a stable
code (Zoho's own where Zoho answered), what was wrong, and what to do next. Secrets never survive:
every text goes through `redact`. Protocol errors are left for what the SDK itself refuses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from zoho_mcp.criteria import CriteriaError
from zoho_mcp.logs import get_logger, redact, redact_value
from zoho_mcp.resilience.errors import (
    AllTiersFailed,
    CategorizedError,
    CircuitOpenError,
    ErrorCategory,
    cause_summary,
    underlying,
)
from zoho_mcp.tiers.base import AuthError, BusinessError, ConfigurationError, InvalidRequestError, ZohoError

log = get_logger(__name__)

#: Codes a model can branch on. Zoho's own codes (INVALID_DATA, INVALID_QUERY, …) pass through as they are.
INVALID_ARGUMENTS = "INVALID_ARGUMENTS"
NOT_FOUND = "NOT_FOUND"
DUPLICATE_ID = "DUPLICATE_ID"
#: A field API name the module does not have (checked against Zoho's field catalogue).
UNKNOWN_FIELD = "UNKNOWN_FIELD"
#: A field Zoho sets itself, named in an update.
READ_ONLY_FIELD = "READ_ONLY_FIELD"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
ZOHO_UNAVAILABLE = "ZOHO_UNAVAILABLE"
ZOHO_AUTH_FAILED = "ZOHO_AUTH_FAILED"
ZOHO_MISCONFIGURED = "ZOHO_MISCONFIGURED"
#: No new access token may be requested yet (our mirror of Zoho's 10-per-10-minutes, or Zoho's throttle).
TOKEN_LIMIT_CODES = frozenset({"TOKEN_REQUEST_LIMIT", "TOKEN_THROTTLED"})
INTERNAL_ERROR = "INTERNAL_ERROR"

#: Every refusal made before any network call says so, in these words.
LOCAL_NOTE = "Nothing was sent to Zoho."

_MAX_SHOWN = 60
_MAX_ERRORS_LISTED = 8

_LOCAL_HINTS: dict[str, str] = {
    "INVALID_ID": "Zoho record ids are strings of 18-19 digits, e.g. '4876876000000624001'; "
    "find ids with search_accounts.",
    "INVALID_FIELD": "Use Zoho field API names (letters, digits, underscores), e.g. 'Account_Name', 'Phone'.",
    "INVALID_MODULE": "Only the Accounts module is served by these tools.",
    "LIMIT_REACHED": "Zoho search reaches only the first 2,000 results: narrow the search instead of paging further.",
    "LIMIT_EXCEEDED": "Ask for fewer items in one call.",
    "EXPECTED_PARAM_MISSING": "Give one of filters, criteria, email, phone or word.",
    "MANDATORY_NOT_FOUND": "A required value is missing; see the tool's input schema.",
    "INVALID_QUERY": "Fix the criteria (see details.reason), or use structured 'filters' which are escaped for you.",
    "CRITERIA_LIMIT_EXCEEDED": "Use at most 10 conditions; split the search into several calls.",
}


class ToolFailure(Exception):
    """A failure the tool saw coming; `to_result()` is what the model reads."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        details: Mapping[str, Any] | None = None,
        local: bool = False,
    ) -> None:
        self.code = code
        self.local = local
        self.message = redact(message)
        self.hint = redact(hint) if hint else None
        self.details: dict[str, Any] = redact_value(dict(details or {}))
        super().__init__(f"{code}: {self.message}")

    def text(self) -> str:
        lines = [f"{self.code}: {self.message}"]
        if self.hint:
            lines.append(f"How to fix: {self.hint}")
        if self.local:
            lines.append(LOCAL_NOTE)
        if self.details:
            lines.append("Details: " + json.dumps(self.details, default=str, ensure_ascii=False)[:2000])
        return "\n".join(lines)

    def to_result(self) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=self.text())], is_error=True)


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return redact(text)


def _loc(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "arguments"


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One short line per problem: where, what pydantic (or our validator) said, and what was sent."""
    lines: list[str] = []
    for err in exc.errors(include_url=False)[:_MAX_ERRORS_LISTED]:
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        where = _loc(err.get("loc", ()))
        if err.get("type") == "missing":
            lines.append(f"{where}: required but missing")
        elif err.get("type") == "extra_forbidden":
            lines.append(f"{where}: unknown argument; remove it (see the tool's input schema)")
        else:
            lines.append(f"{where}: {msg} (got {_shown(err.get('input'))})")
    if exc.error_count() > _MAX_ERRORS_LISTED:
        lines.append(f"... and {exc.error_count() - _MAX_ERRORS_LISTED} more problems")
    return lines


def invalid_arguments(tool: str, exc: ValidationError, example: str | None = None) -> ToolFailure:
    problems = describe_validation_error(exc)
    hint = "Correct the arguments listed and call again."
    if example:
        hint += f" Example: {tool}({example})"
    return ToolFailure(
        INVALID_ARGUMENTS,
        f"{tool} was called with invalid arguments: " + "; ".join(problems),
        hint=hint,
        local=True,
    )


def _tier_summary(exc: AllTiersFailed) -> dict[str, Any]:
    """Each tier's real reason: behind an open circuit, the last failure that opened it."""
    out: dict[str, Any] = {}
    for name, cause in exc.causes.items():
        if isinstance(cause, CircuitOpenError):
            retry = None if cause.retry_in is None else round(cause.retry_in, 1)
            entry: dict[str, Any] = {"circuit": "open", "retry_in": retry}
            if cause.cause_info is not None:
                info = cause.cause_info
                entry.update(
                    code=info["code"],
                    category=info["category"],
                    message=f"circuit open since the last failure: {info['code']}: {info['message']}",
                )
            else:
                entry.update(code="CIRCUIT_OPEN", category=ErrorCategory.TRANSIENT.value, message=str(cause))
            out[name] = entry
        else:
            out[name] = cause_summary(cause)
            retry_in = _retry_in_of(cause)
            if retry_in is not None:
                out[name]["retry_in"] = round(retry_in, 1)
    return out


def _retry_in_of(exc: BaseException) -> float | None:
    if isinstance(exc, CircuitOpenError):
        return exc.retry_in
    details = getattr(exc, "details", None)
    value = details.get("retry_in") if isinstance(details, Mapping) else None
    return float(value) if isinstance(value, (int, float)) else None


def _soonest_retry(exc: AllTiersFailed) -> float | None:
    # an open circuit's own wait, not its (older) cause's
    waits = [w for w in (_retry_in_of(c) for c in exc.causes.values()) if w is not None]
    return min(waits) if waits else None


def _tier_list(exc: AllTiersFailed) -> str:
    return ", ".join(name.upper() for name in exc.causes) or "none enabled"


def _cause_lines(summary: Mapping[str, Any]) -> str:
    def line(entry: Mapping[str, Any]) -> str:
        if "circuit" in entry:
            return str(entry["message"])
        return f"{entry['code']}: {entry['message']}"

    return "; ".join(f"{name}: {line(entry)}" for name, entry in summary.items())


def _names_a_setting(exc: AllTiersFailed) -> bool:
    """Whether some cause, though transient, says which setting to check (an unreachable host)."""
    return any("check ZOHO_" in str(getattr(underlying(c), "message", "")) for c in exc.causes.values())


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def _all_tiers_failure(exc: AllTiersFailed) -> ToolFailure:
    """Code, category and hint chosen from what really failed on each tier tried (through open
    circuits), so a credentials or setup problem is never presented as merely temporary."""
    causes = _tier_summary(exc)
    category = exc.category  # read through open circuits, deterministically (resilience/errors.py)
    tried = _tier_list(exc)
    why = _cause_lines(causes)
    details: dict[str, Any] = {"tiers": causes}
    if category is ErrorCategory.AUTH:
        return ToolFailure(
            ZOHO_AUTH_FAILED,
            f"Zoho rejected this server's credentials on every tier tried ({tried}): {why}",
            hint="An operator must fix the Zoho credentials (client id/secret, refresh token); "
            "retrying will not help.",
            details=details,
        )
    if category is ErrorCategory.CONFIGURATION:
        return ToolFailure(
            ZOHO_MISCONFIGURED,
            f"no tier tried ({tried}) is configured to reach Zoho: {why}",
            hint="An operator must fix the server's Zoho settings; retrying will not help.",
            details=details,
        )
    retry_in = _soonest_retry(exc)
    codes = {str(getattr(underlying(c), "code", "")) for c in exc.causes.values()}
    if codes and codes <= TOKEN_LIMIT_CODES:
        when = f"in about {retry_in:.0f} s" if retry_in is not None else "in a few minutes"
        if retry_in is not None:
            details["retry_in"] = round(retry_in, 1)
        return ToolFailure(
            sorted(codes)[-1],
            "no new Zoho access token may be requested yet: Zoho allows 10 token requests per 10 minutes "
            "for one refresh token, and this limit protects the account from being locked out. "
            f"Nothing was sent to Zoho's CRM ({tried}): {why}",
            hint=f"Retry {when}; this is not a credentials problem. If it recurs, make sure only one "
            "process uses this refresh token.",
            details=details,
        )
    after = f"retry in about {retry_in:.0f} s" if retry_in else "wait a little and retry"
    if _names_a_setting(exc):
        hint = (
            "Zoho's servers could not be reached: check the setting named in the cause (e.g. ZOHO_ACCOUNTS_URL / "
            f"ZOHO_DATA_CENTER) and the network. If they are right, this is temporary: {after}."
        )
    else:
        hint = f"This is temporary: {after}. Read the zoho://health resource for each tier's state."
    return ToolFailure(
        ZOHO_UNAVAILABLE,
        f"Zoho could not be reached through any tier tried ({tried}); nothing was changed by this call "
        f"unless a tier reported otherwise. {why}",
        hint=hint,
        details=details,
    )


def failure_from_exception(exc: BaseException, *, tool: str) -> ToolFailure:
    """Map anything a tool body can raise to a ToolFailure; never leaks a secret or a traceback."""
    if isinstance(exc, BaseExceptionGroup):
        # Concurrent chunks fail together; the first failure that explains itself speaks for all.
        leaves = _leaves(exc)
        known = [e for e in leaves if isinstance(e, (ToolFailure, CriteriaError, CategorizedError))]
        return failure_from_exception((known or leaves)[0], tool=tool)
    if isinstance(exc, ToolFailure):
        return exc
    if isinstance(exc, CriteriaError):
        reason = exc.details.get("reason")
        return ToolFailure(
            exc.code,
            f"the search criteria were refused before sending: {reason or exc.message}",
            hint=_LOCAL_HINTS.get(exc.code),
            details=exc.details,
            local=True,
        )
    if isinstance(exc, InvalidRequestError):
        return ToolFailure(exc.code, exc.message, hint=_LOCAL_HINTS.get(exc.code), details=exc.details, local=True)
    if isinstance(exc, BusinessError):
        return ToolFailure(
            exc.code,
            f"Zoho refused the request: {exc.message}",
            hint=_LOCAL_HINTS.get(exc.code)
            or "This is Zoho's answer, not a temporary failure: change the request (see details) instead of retrying.",
            details=exc.details,
        )
    if isinstance(exc, AllTiersFailed):
        return _all_tiers_failure(exc)
    if isinstance(exc, CircuitOpenError):
        if exc.cause is not None and isinstance(exc.cause, ZohoError):
            return failure_from_exception(AllTiersFailed({exc.name: exc}), tool=tool)
        return ToolFailure(
            ZOHO_UNAVAILABLE,
            str(exc),
            hint="This is temporary: retry after the time shown. Read zoho://health for each tier's state.",
        )
    if isinstance(exc, AuthError):
        return ToolFailure(ZOHO_AUTH_FAILED, exc.message, hint="An operator must fix the Zoho credentials.")
    if isinstance(exc, ConfigurationError):
        return ToolFailure(ZOHO_MISCONFIGURED, exc.message, hint="An operator must fix the server's Zoho settings.")
    if isinstance(exc, ZohoError):
        return ToolFailure(
            exc.code,
            f"Zoho call failed: {exc.message}",
            hint="Temporary failures can be retried; read zoho://health for each tier's state.",
            details=exc.details,
        )
    if isinstance(exc, CategorizedError):
        return ToolFailure(ZOHO_UNAVAILABLE, redact(str(exc)), hint="Retry later; read zoho://health.")
    log.error("tool_crashed", tool=tool, error=redact(f"{type(exc).__name__}: {exc}"), exc_info=exc)
    return ToolFailure(
        INTERNAL_ERROR,
        f"{tool} failed unexpectedly inside the server; the server is still running.",
        hint="Retry once; if it fails again, report it to the operator (the server log has the details).",
    )
