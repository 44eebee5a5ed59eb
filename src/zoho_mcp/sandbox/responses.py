"""Zoho's two error envelopes and the reply type every sandbox surface produces.

A `Reply` is framework-free (status, JSON body or None, headers) so the REST surface and the hosted-MCP
surface answer from the very same code path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


def dump_json(body: Any) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate (valid in a JSON string, not in UTF-8) is sent \\u-escaped."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode("ascii")


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return b"" if self.body is None else dump_json(self.body)

    def text(self) -> str:
        return "" if self.body is None else dump_json(self.body).decode("utf-8")


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "details": details or {}, "message": message, "status": "error"}


def error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Reply:
    return Reply(status, error_body(code, message, details))


def invalid_token() -> Reply:
    return error(401, "INVALID_TOKEN", "invalid oauth token")


def authentication_failure() -> Reply:
    return error(401, "AUTHENTICATION_FAILURE", "Authentication failed")


def scope_mismatch() -> Reply:
    return error(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")


def no_permission(module: str, message: str = "permission denied") -> Reply:
    return error(403, "NO_PERMISSION", message, {"permissions": [f"Crm_Implied_View_{module}"]})


def invalid_module() -> Reply:
    return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 0})


def invalid_url() -> Reply:
    return error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one")


def invalid_method() -> Reply:
    return error(405, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one")


def too_many_requests(message: str) -> Reply:
    return error(429, "TOO_MANY_REQUESTS", message)


def internal_error() -> Reply:
    return error(500, "INTERNAL_ERROR", "Internal Server Error")


def invalid_param(name: str, message: str = "invalid data") -> Reply:
    return error(400, "INVALID_DATA", message, {"param_name": name})


_STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_DATA", "invalid data"),
    401: ("INVALID_TOKEN", "invalid oauth token"),
    403: ("NO_PERMISSION", "permission denied"),
    404: ("INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"),
    405: ("INVALID_REQUEST_METHOD", "The http request method type is not a valid one"),
    413: ("REQUEST_ENTITY_TOO_LARGE", "request entity too large"),
    429: ("TOO_MANY_REQUESTS", "Number of API requests for the 24 hour period is exceeded or the concurrency limit of the user for the app is exceeded"),
    500: ("INTERNAL_ERROR", "Internal Server Error"),
    502: ("BAD_GATEWAY", "Bad Gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway Timeout"),
}


def for_status(status: int) -> dict[str, Any]:
    """A plausible Zoho request-level error body for an injected status."""
    code, message = _STATUS_ERRORS.get(status, ("INTERNAL_ERROR" if status >= 500 else "INVALID_REQUEST", "error"))
    return error_body(code, message)
