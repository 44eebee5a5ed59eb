"""Error categories the resilience layer acts on, free of anything Zoho-specific.

The tiers raise subclasses of `CategorizedError`; breakers, retry and failover read only `category`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from zoho_mcp.logs import redact


class ErrorCategory(StrEnum):
    TRANSIENT = "transient"  # connect error, reset, timeout, 5xx, 429: retry, count, fail over
    AUTH = "auth"  # the credentials are wrong: fail over, but do not retry the same tier
    BUSINESS = "business"  # an answer (bad data, not found): never retried, never counted
    CONFIGURATION = "configuration"  # this tier cannot work as configured: fail over


_CATEGORY_PRIORITY = (
    ErrorCategory.TRANSIENT,
    ErrorCategory.AUTH,
    ErrorCategory.CONFIGURATION,
    ErrorCategory.BUSINESS,
)


class CategorizedError(Exception):
    """An error whose category tells the resilience layer what to do with it."""

    category: ErrorCategory = ErrorCategory.TRANSIENT

    @property
    def counts_as_failure(self) -> bool:
        """Whether a breaker should count it: answers are not failures of the service."""
        return self.category is not ErrorCategory.BUSINESS

    @property
    def retryable(self) -> bool:
        return self.category is ErrorCategory.TRANSIENT

    @property
    def fails_over(self) -> bool:
        return self.category is not ErrorCategory.BUSINESS


def cause_summary(exc: BaseException) -> dict[str, str]:
    """Category, code and message of an error, redacted: what a caller needs to act on it."""
    category = getattr(exc, "category", None)
    return {
        "category": category.value if isinstance(category, ErrorCategory) else ErrorCategory.TRANSIENT.value,
        "code": str(getattr(exc, "code", None) or type(exc).__name__),
        "message": redact(str(getattr(exc, "message", None) or exc) or type(exc).__name__),
    }


class CircuitOpenError(CategorizedError):
    """The tier was not called because its breaker is open (or half-open and full).

    `cause` is the last error that counted against the breaker: the real reason the tier is
    refused, which a caller must see instead of a bare "circuit open" (None if never recorded).
    """

    category = ErrorCategory.TRANSIENT

    def __init__(self, name: str, retry_in: float | None, cause: BaseException | None = None) -> None:
        self.name = name
        self.retry_in = retry_in
        self.cause = cause
        self.cause_info: dict[str, str] | None = None if cause is None else cause_summary(cause)
        when = f"; next trial in {retry_in:.1f}s" if retry_in is not None else ""
        text = f"circuit for {name} is open{when}"
        if self.cause_info is not None:
            text += f"; since the last failure: {self.cause_info['code']}: {self.cause_info['message']}"
        super().__init__(text)


def underlying(exc: BaseException) -> BaseException:
    """The error that explains `exc`: the cause behind an open circuit, else `exc` itself."""
    if isinstance(exc, CircuitOpenError) and exc.cause is not None:
        return exc.cause
    return exc


class AllTiersFailed(CategorizedError):
    """Every tier in the plan failed; `causes` keeps each tier's own error, in plan order.

    The category is read through open circuits (`underlying`): a tier refused because its breaker
    opened on bad credentials is an auth failure, not a temporary one.
    """

    def __init__(self, causes: dict[str, BaseException]) -> None:
        self.causes = causes
        cats = {getattr(underlying(c), "category", ErrorCategory.TRANSIENT) for c in causes.values()}
        # the most hopeful reading first: if any tier failed transiently, a later try may work
        self.category = next((c for c in _CATEGORY_PRIORITY if c in cats), ErrorCategory.TRANSIENT)
        parts = [f"{name}: {cause}" for name, cause in causes.items()] or ["no tier is enabled"]
        super().__init__("all tiers failed — " + "; ".join(parts))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, c in self.causes.items():
            entry: dict[str, Any] = {"error": type(c).__name__, "message": redact(str(c))}
            if isinstance(c, CircuitOpenError) and c.cause_info is not None:
                entry["cause"] = c.cause_info
            out[name] = entry
        return out


class DeadlineExceeded(CategorizedError, TimeoutError):
    """The call's overall deadline passed before another try could start; retrying cannot help."""

    category = ErrorCategory.TRANSIENT

    @property
    def retryable(self) -> bool:
        return False
