"""Error categories the resilience layer acts on, free of anything Zoho-specific.

The tiers raise subclasses of `CategorizedError`; breakers, retry and failover read only `category`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


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


class CircuitOpenError(CategorizedError):
    """The tier was not called because its breaker is open (or half-open and full)."""

    category = ErrorCategory.TRANSIENT

    def __init__(self, name: str, retry_in: float | None) -> None:
        self.name = name
        self.retry_in = retry_in
        when = f"; next trial in {retry_in:.1f}s" if retry_in is not None else ""
        super().__init__(f"circuit for {name} is open{when}")


class AllTiersFailed(CategorizedError):
    """Every tier in the plan failed; `causes` keeps each tier's own error, in plan order."""

    def __init__(self, causes: dict[str, BaseException]) -> None:
        self.causes = causes
        cats = {getattr(c, "category", ErrorCategory.TRANSIENT) for c in causes.values()}
        # the most hopeful reading first: if any tier failed transiently, a later try may work
        self.category = next((c for c in _CATEGORY_PRIORITY if c in cats), ErrorCategory.TRANSIENT)
        parts = [f"{name}: {cause}" for name, cause in causes.items()] or ["no tier is enabled"]
        super().__init__("all tiers failed — " + "; ".join(parts))

    def as_dict(self) -> dict[str, Any]:
        return {name: {"error": type(c).__name__, "message": str(c)} for name, c in self.causes.items()}


class DeadlineExceeded(CategorizedError, TimeoutError):
    """The call's overall deadline passed before another try could start; retrying cannot help."""

    category = ErrorCategory.TRANSIENT

    @property
    def retryable(self) -> bool:
        return False
