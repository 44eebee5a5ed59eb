"""Every sandbox knob in one dataclass, fixed when the sandbox starts.

The same dataclass is what `POST /__sandbox__/config` patches at run time (until the next reset), so
tests can change a knob on the shared session sandbox without starting a new one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

EDITION_CONCURRENCY: dict[str, int] = {
    "free": 5,
    "standard": 10,
    "professional": 15,
    "enterprise": 20,
    "ultimate": 25,
}
# Zoho: 50,000 + N per user license per 24 h (Free is flat 5,000). The sandbox org has 10 users.
EDITION_DAILY_CREDITS: dict[str, int] = {
    "free": 5_000,
    "standard": 52_500,
    "professional": 55_000,
    "enterprise": 60_000,
    "ultimate": 70_000,
}

CLIENT_ID = "1000.SANDBOXCLIENTID"
CLIENT_SECRET = "sandbox-client-secret-0000"
REFRESH_TOKEN = "1000.sandboxrefresh.0000"
GRANT_CODE = "1000.sandboxgrant.0000"
MCP_KEY = "sandbox-mcp-key-0000"
MCP_TOKEN = "sandbox-mcp-token-0000"
USER_EMAIL = "admin@sandbox.example.com"
FULL_SCOPE = "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.users.READ ZohoCRM.org.READ ZohoSearch.securesearch.READ"


#: Knobs that must be positive (a zero would make every token expire or every call a 429), and those
#: that may be zero but never negative.
_POSITIVE = frozenset({
    "token_ttl", "max_active_tokens", "token_requests_per_window", "token_window_s", "max_body_bytes",
    "search_max_conditions", "search_reachable", "concurrency", "sub_concurrency", "journal_max", "hang_max_s",
})
_NON_NEGATIVE = frozenset({"latency_ms", "credits_per_day"})


@dataclass
class SandboxConfig:
    """Knobs of the local Zoho. Defaults follow real Zoho where it is documented."""

    seed: int = 42
    accounts: int = 500
    contacts: int | None = None  # None: half the accounts
    edition: Literal["free", "standard", "professional", "enterprise", "ultimate"] = "enterprise"
    token_ttl: float = 3600.0
    latency_ms: float = 0.0

    # OAuth
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    refresh_token: str = REFRESH_TOKEN
    grant_code: str = GRANT_CODE
    legacy_token_shape: bool = False
    max_active_tokens: int = 10
    token_requests_per_window: int = 10
    token_window_s: float = 600.0
    token_scope: str = FULL_SCOPE  # what newly minted tokens may do (OAUTH_SCOPE_MISMATCH otherwise)

    # CRM
    missing_record_mode: Literal["204", "400"] = "204"
    partial_status: int = 207
    max_body_bytes: int = 5 * 1024 * 1024
    search_max_conditions: int = 10
    search_reachable: int = 2000
    strict_v2_operators: bool = False  # True: /crm/v2 search allows only equals/starts_with (v2 docs)
    user_offset: str = "+01:00"
    unsearchable_modules: str = ""  # comma-separated: search there -> 400 NOT_SUPPORTED
    denied_modules: str = ""  # comma-separated: the user lacks permission -> 403 NO_PERMISSION

    # limits
    concurrency: int | None = None  # None: by edition
    sub_concurrency: int = 10
    credits_per_day: int | None = None  # None: by edition
    emit_retry_after: bool = False

    # hosted MCP
    mcp_key: str = MCP_KEY
    mcp_token: str = MCP_TOKEN
    mcp_require_bearer: bool = False
    mcp_empty_text: Literal["", "{}"] = ""
    mcp_errors_as_is_error: bool = True

    # admin
    journal_max: int = 100_000
    hang_max_s: float = 300.0

    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_concurrency(self) -> int:
        return self.concurrency if self.concurrency is not None else EDITION_CONCURRENCY[self.edition]

    @property
    def effective_credits(self) -> int:
        return self.credits_per_day if self.credits_per_day is not None else EDITION_DAILY_CREDITS[self.edition]

    def patched(self, changes: dict[str, Any]) -> SandboxConfig:  # noqa: C901 - one check per knob
        """A copy with `changes` applied; raises ValueError naming any unknown or ill-typed knob."""
        names = {f.name: f for f in dataclasses.fields(self)}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in names or key in {"seed", "accounts", "contacts", "extra"}:
                raise ValueError(f"unknown or start-only knob: {key!r}")
            current = getattr(self, key)
            if isinstance(current, bool) and not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            numeric = isinstance(current, (int, float)) and not isinstance(current, bool)
            if numeric or (current is None and key in _POSITIVE | _NON_NEGATIVE):
                if value is None and current is None:
                    clean[key] = value
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                    raise ValueError(f"{key} must be a number")
                if key in _POSITIVE and value <= 0:
                    raise ValueError(f"{key} must be greater than 0")
                if value < 0:
                    raise ValueError(f"{key} must not be negative")
            if key == "edition" and value not in EDITION_CONCURRENCY:
                raise ValueError(f"edition must be one of {sorted(EDITION_CONCURRENCY)}")
            if key == "missing_record_mode" and value not in ("204", "400"):
                raise ValueError("missing_record_mode must be '204' or '400'")
            if key == "mcp_empty_text" and value not in ("", "{}"):
                raise ValueError("mcp_empty_text must be '' or '{}'")
            if isinstance(current, str) and not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            clean[key] = value
        return dataclasses.replace(self, **clean)

    def public(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("extra", None)
        data["effective_concurrency"] = self.effective_concurrency
        data["effective_credits"] = self.effective_credits
        return data
