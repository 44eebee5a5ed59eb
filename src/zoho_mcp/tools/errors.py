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
from zoho_mcp.resilience.errors import AllTiersFailed, CategorizedError, CircuitOpenError, ErrorCategory
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
    out: dict[str, Any] = {}
    for name, cause in exc.causes.items():
        if isinstance(cause, ZohoError):
            out[name] = {"code": cause.code, "message": cause.message}
        elif isinstance(cause, CircuitOpenError):
            out[name] = {"code": "CIRCUIT_OPEN", "message": str(cause)}
        else:
            out[name] = {"code": type(cause).__name__, "message": str(cause)}
    return out


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def _overall_category(exc: AllTiersFailed) -> ErrorCategory:
    """Deterministic, whatever the mix: anything temporary means "retry later"; else credentials before setup."""
    cats = {getattr(c, "category", ErrorCategory.TRANSIENT) for c in exc.causes.values()}
    for category in (ErrorCategory.TRANSIENT, ErrorCategory.AUTH, ErrorCategory.CONFIGURATION):
        if category in cats or (category is ErrorCategory.TRANSIENT and not cats):
            return category
    return exc.category


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
        causes = _tier_summary(exc)
        category = _overall_category(exc)
        if category is ErrorCategory.AUTH:
            return ToolFailure(
                ZOHO_AUTH_FAILED,
                "Zoho rejected this server's credentials on every tier.",
                hint="An operator must fix the Zoho credentials (client id/secret, refresh token); "
                "retrying will not help.",
                details={"tiers": causes},
            )
        if category is ErrorCategory.CONFIGURATION:
            return ToolFailure(
                ZOHO_MISCONFIGURED,
                "no tier of this server is configured to reach Zoho.",
                hint="An operator must fix the server's Zoho settings; retrying will not help.",
                details={"tiers": causes},
            )
        return ToolFailure(
            ZOHO_UNAVAILABLE,
            "Zoho could not be reached through any tier (MCP, SDK, REST); nothing was changed by this call "
            "unless a tier reported otherwise.",
            hint="This is temporary: wait a little and retry. Read the zoho://health resource for each tier's state.",
            details={"tiers": causes},
        )
    if isinstance(exc, CircuitOpenError):
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
