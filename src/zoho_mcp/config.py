"""One Settings object for the whole process.

Every knob has an environment name (documented in `.env.example`). The product spec's names
(`ZOHO_REST_*`, `ENABLE_TIER*`, `CIRCUIT_BREAKER_*`, `RETRY_*`, `HEALTH_CHECK_*`) are accepted as they
are, beside the shorter `ZOHO_*` names, so a deployment written against either keeps working.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DataCenter = Literal["us", "eu", "in", "au", "jp", "cn", "ca", "sa", "uk"]
Edition = Literal["free", "standard", "professional", "enterprise", "ultimate"]
TierName = Literal["mcp", "sdk", "rest"]

#: accounts server and API domain per data centre (reference/zoho-crm-api.md §1.1).
DATA_CENTERS: dict[str, tuple[str, str]] = {
    "us": ("https://accounts.zoho.com", "https://www.zohoapis.com"),
    "eu": ("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    "in": ("https://accounts.zoho.in", "https://www.zohoapis.in"),
    "au": ("https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
    "jp": ("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    "cn": ("https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
    "ca": ("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    "sa": ("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
    "uk": ("https://accounts.zoho.uk", "https://www.zohoapis.uk"),
}

#: Zoho's per-org concurrency by edition (reference/zoho-crm-api.md §9.2).
EDITION_CONCURRENCY: dict[str, int] = {
    "free": 5,
    "standard": 10,
    "professional": 15,
    "enterprise": 20,
    "ultimate": 25,
}
#: Daily API credits by edition (the floor of each edition's allowance, §9.1).
EDITION_CREDITS: dict[str, int] = {
    "free": 5_000,
    "standard": 50_000,
    "professional": 50_000,
    "enterprise": 50_000,
    "ultimate": 50_000,
}


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Process configuration, read from the environment and `.env`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # --- Zoho connection -------------------------------------------------------------------
    client_id: str | None = Field(None, validation_alias=_env("ZOHO_CLIENT_ID", "ZOHO_REST_CLIENT_ID"))
    client_secret: SecretStr | None = Field(
        None, validation_alias=_env("ZOHO_CLIENT_SECRET", "ZOHO_REST_CLIENT_SECRET")
    )
    refresh_token: SecretStr | None = Field(
        None, validation_alias=_env("ZOHO_REFRESH_TOKEN", "ZOHO_REST_REFRESH_TOKEN")
    )
    access_token: SecretStr | None = Field(
        None, validation_alias=_env("ZOHO_ACCESS_TOKEN", "ZOHO_REST_ACCESS_TOKEN")
    )
    data_center: DataCenter | None = Field(None, validation_alias=_env("ZOHO_DATA_CENTER"))
    accounts_url_override: str | None = Field(None, validation_alias=_env("ZOHO_ACCOUNTS_URL"))
    api_domain_override: str | None = Field(
        None, validation_alias=_env("ZOHO_API_DOMAIN", "ZOHO_REST_API_DOMAIN")
    )
    mcp_url: SecretStr | None = Field(None, validation_alias=_env("ZOHO_MCP_URL"))
    mcp_token: SecretStr | None = Field(None, validation_alias=_env("ZOHO_MCP_TOKEN"))
    user_email: str = Field("zoho-mcp@localhost", validation_alias=_env("ZOHO_USER_EMAIL"))
    edition: Edition = Field("standard", validation_alias=_env("ZOHO_EDITION"))
    concurrency_limit: int | None = Field(None, ge=1, le=100, validation_alias=_env("ZOHO_CONCURRENCY_LIMIT"))
    daily_credits: int | None = Field(None, ge=1, validation_alias=_env("ZOHO_DAILY_CREDITS"))
    state_dir: Path | None = Field(None, validation_alias=_env("ZOHO_STATE_DIR"))

    # --- tiers and failover ------------------------------------------------------------------
    enable_mcp: bool = Field(True, validation_alias=_env("ENABLE_TIER1_MCP"))
    enable_sdk: bool = Field(True, validation_alias=_env("ENABLE_TIER2_SDK"))
    enable_rest: bool = Field(True, validation_alias=_env("ENABLE_TIER3_REST"))
    enable_failover: bool = Field(True, validation_alias=_env("ENABLE_FAILOVER"))
    mcp_timeout: float = Field(30.0, gt=0, validation_alias=_env("ZOHO_MCP_TIMEOUT", "TIER1_TIMEOUT"))
    sdk_timeout: float = Field(60.0, gt=0, validation_alias=_env("ZOHO_SDK_TIMEOUT", "TIER2_TIMEOUT"))
    rest_timeout: float = Field(45.0, gt=0, validation_alias=_env("ZOHO_REST_TIMEOUT", "TIER3_TIMEOUT"))
    #: How long the concurrency slot of a call we gave up on (timeout, cancellation, hedge loser)
    #: stays reserved, because Zoho may still be processing it. None: the tier's timeout; 0: none.
    abandoned_slot_linger: float | None = Field(None, ge=0, validation_alias=_env("ZOHO_ABANDONED_SLOT_LINGER"))

    # --- circuit breakers --------------------------------------------------------------------
    breaker_failure_threshold: int = Field(5, ge=1, validation_alias=_env("CIRCUIT_BREAKER_FAILURE_THRESHOLD"))
    breaker_recovery_timeout: float = Field(60.0, gt=0, validation_alias=_env("CIRCUIT_BREAKER_RECOVERY_TIMEOUT"))
    breaker_half_open_calls: int = Field(3, ge=1, validation_alias=_env("CIRCUIT_BREAKER_HALF_OPEN_CALLS"))
    breaker_success_threshold: int = Field(2, ge=1, validation_alias=_env("CIRCUIT_BREAKER_SUCCESS_THRESHOLD"))

    # --- retry ---------------------------------------------------------------------------------
    retry_max_attempts: int = Field(3, ge=1, le=10, validation_alias=_env("MAX_RETRY_ATTEMPTS"))
    retry_base_delay: float = Field(1.0, ge=0, validation_alias=_env("RETRY_BASE_DELAY"))
    retry_max_delay: float = Field(60.0, ge=0, validation_alias=_env("RETRY_MAX_DELAY"))
    retry_exponential_base: float = Field(2.0, ge=1, validation_alias=_env("RETRY_EXPONENTIAL_BASE"))
    retry_jitter: bool = Field(True, validation_alias=_env("RETRY_JITTER_ENABLED"))
    retry_budget_ratio: float = Field(0.2, ge=0, le=1, validation_alias=_env("RETRY_BUDGET_RATIO"))

    # --- hedging (reads only) -----------------------------------------------------------------
    hedge_enabled: bool = Field(True, validation_alias=_env("HEDGE_ENABLED"))
    hedge_min_delay: float = Field(0.05, ge=0, validation_alias=_env("HEDGE_MIN_DELAY"))
    hedge_max_delay: float = Field(2.0, ge=0, validation_alias=_env("HEDGE_MAX_DELAY"))

    # --- health ----------------------------------------------------------------------------------
    health_check_interval: float = Field(30.0, gt=0, validation_alias=_env("HEALTH_CHECK_INTERVAL"))
    health_check_timeout: float = Field(10.0, gt=0, validation_alias=_env("HEALTH_CHECK_TIMEOUT"))

    # --- the MCP server itself --------------------------------------------------------------------
    read_only: bool = Field(False, validation_alias=_env("ZOHO_MCP_READ_ONLY"))
    server_token: SecretStr | None = Field(None, validation_alias=_env("ZOHO_MCP_SERVER_TOKEN"))
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", validation_alias=_env("ZOHO_MCP_LOG_LEVEL", "LOG_LEVEL")
    )

    @field_validator(
        "client_id",
        "client_secret",
        "refresh_token",
        "access_token",
        "data_center",
        "accounts_url_override",
        "api_domain_override",
        "mcp_url",
        "mcp_token",
        "server_token",
        "concurrency_limit",
        "daily_credits",
        "state_dir",
        "abandoned_slot_linger",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`ZOHO_CLIENT_SECRET=` in a .env file means "not set", never an empty secret."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("data_center", "edition", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("accounts_url_override", "api_domain_override")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not _looks_like_http_url(value):
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://accounts.zoho.eu")
        return value

    @field_validator("mcp_url")
    @classmethod
    def _mcp_http_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _looks_like_http_url(value.get_secret_value()):
            raise ValueError("must be an http:// or https:// URL, e.g. https://<server>.zohomcp.com/mcp/<key>/message")
        return value

    @model_validator(mode="after")
    def _check_delays(self) -> Settings:
        if not (self.enable_mcp or self.enable_sdk or self.enable_rest):
            raise ValueError(
                "every tier is disabled: set at least one of ENABLE_TIER1_MCP, ENABLE_TIER2_SDK, ENABLE_TIER3_REST to true"
            )
        if self.retry_max_delay < self.retry_base_delay:
            raise ValueError("RETRY_MAX_DELAY must be at least RETRY_BASE_DELAY")
        if self.hedge_max_delay < self.hedge_min_delay:
            raise ValueError("HEDGE_MAX_DELAY must be at least HEDGE_MIN_DELAY")
        return self

    # --- derived -----------------------------------------------------------------------------------
    @property
    def accounts_url(self) -> str:
        if self.accounts_url_override:
            return self.accounts_url_override.rstrip("/")
        return DATA_CENTERS[self.data_center or "us"][0]

    @property
    def api_domain(self) -> str:
        if self.api_domain_override:
            return self.api_domain_override.rstrip("/")
        return DATA_CENTERS[self.data_center or "us"][1]

    @property
    def token_url(self) -> str:
        return f"{self.accounts_url}/oauth/v2/token"

    @property
    def org_concurrency(self) -> int:
        return self.concurrency_limit or EDITION_CONCURRENCY[self.edition]

    @property
    def org_daily_credits(self) -> int:
        return self.daily_credits or EDITION_CREDITS[self.edition]

    @property
    def enabled_tiers(self) -> list[TierName]:
        flags: list[tuple[TierName, bool]] = [
            ("mcp", self.enable_mcp),
            ("sdk", self.enable_sdk),
            ("rest", self.enable_rest),
        ]
        return [name for name, on in flags if on]

    def tier_timeout(self, tier: TierName) -> float:
        return {"mcp": self.mcp_timeout, "sdk": self.sdk_timeout, "rest": self.rest_timeout}[tier]

    def resolved_state_dir(self) -> Path:
        """Where tokens and the SDK's field cache live; created with owner-only permissions."""
        if self.state_dir is not None:
            path = self.state_dir
        else:
            import platformdirs

            path = Path(platformdirs.user_state_dir("zoho-mcp"))
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def check_state_dir(self) -> Path:
        """The state folder, usable; checked at startup so a bad ZOHO_STATE_DIR is one clear line, not a
        crash on the first call that needs a token."""
        name = "ZOHO_STATE_DIR" if self.state_dir is not None else "the state folder (set ZOHO_STATE_DIR)"
        try:
            path = self.resolved_state_dir()
        except FileExistsError as exc:
            raise SettingsError(f"{name} {exc.filename or self.state_dir} is not a directory") from None
        except OSError as exc:
            where = exc.filename or self.state_dir
            raise SettingsError(f"{name} {where} cannot be created: {exc.strerror or exc}") from None
        if not path.is_dir():
            raise SettingsError(f"{name} {path} is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise SettingsError(f"{name} {path} is not writable by this user")
        return path

    def missing_connection_settings(self) -> list[str]:
        """Names of the variables a real (non-sandbox) run still needs, in the order to fix them."""
        missing: list[str] = []
        if self.enable_sdk or self.enable_rest:
            if not self.client_id:
                missing.append("ZOHO_CLIENT_ID")
            if self.client_secret is None:
                missing.append("ZOHO_CLIENT_SECRET")
            if self.refresh_token is None:
                missing.append("ZOHO_REFRESH_TOKEN")
        if self.enable_mcp and self.mcp_url is None:
            missing.append("ZOHO_MCP_URL (or ENABLE_TIER1_MCP=false)")
        return missing


def _looks_like_http_url(value: str) -> bool:
    """An http(s) URL with a host. An unexpanded `${VAR}` passes here: `serve` names every such
    placeholder in one line, which says more than "not a URL" would."""
    from urllib.parse import urlsplit

    if value.strip().startswith("${"):
        return True
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def sandbox_connection(info: Mapping[str, object]) -> dict[str, object]:
    """Settings fields that point every tier at a sandbox, from its `GET /__sandbox__/info`.

    One mapping for `serve --sandbox`, the test fixtures and the benchmarks, so they cannot drift.
    """
    overrides: dict[str, object] = {
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "refresh_token": info["refresh_token"],
        "accounts_url_override": info["accounts_url"],
        "api_domain_override": info["api_domain"],
        "mcp_url": info["mcp_url"],
    }
    for key in ("user_email", "edition"):
        if info.get(key):
            overrides[key] = info[key]
    if info.get("daily_credits"):  # the sandbox says what its org is granted; no need to assume
        overrides["daily_credits"] = info["daily_credits"]
    return overrides


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable and says how to fix it."""


def _alias_of(field_name: str) -> str:
    field = Settings.model_fields.get(field_name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        return str(first)
    return field_name.upper()


_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


def unexpanded_placeholders(environ: Mapping[str, str] | None = None) -> list[str]:
    """Setting variables whose value is a literal `${VAR}`: the client that started us did not expand
    its config (Claude Desktop does not). Checked before parsing, so `ENABLE_TIER1_MCP=${…}` is named
    as a placeholder rather than as "not a boolean"."""
    env = os.environ if environ is None else environ
    upper = {k.upper(): v for k, v in env.items()}
    names: list[str] = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if not isinstance(alias, AliasChoices):
            continue
        for choice in alias.choices:
            value = upper.get(str(choice).upper())
            if value is not None and _PLACEHOLDER.search(value):
                names.append(str(alias.choices[0]))
                break
    return names


def placeholder_error(names: list[str]) -> SettingsError:
    """The one message for variables left as literal `${...}` (checked in the environment and in Settings)."""
    verb, noun = ("holds", "a '${...}' placeholder") if len(names) == 1 else ("hold", "'${...}' placeholders")
    return SettingsError(
        f"{', '.join(names)} still {verb} {noun}: the MCP client that started "
        "this server does not expand variables in its config (Claude Desktop does not); write the "
        "values themselves in its \"env\" block, or start the server from a shell that has them set"
    )


def _placeholder_values(settings: Settings) -> list[str]:
    """The same check on parsed values, for a `${...}` that came from a `.env` file."""
    names: list[str] = []
    for field, info in Settings.model_fields.items():
        value = getattr(settings, field)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and _PLACEHOLDER.search(value):
            names.append(_alias_of(field))
    return names


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning pydantic's report into one line that names the variable."""
    placeholders = unexpanded_placeholders()
    if placeholders:
        raise placeholder_error(placeholders)
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err.get("loc") or ()
        name = _alias_of(str(loc[0])) if loc else "settings"
        if not loc:
            raise SettingsError(f"invalid settings: {str(err.get('msg')).removeprefix('Value error, ')}") from None
        value = err.get("input")
        shown = "" if name in _SECRET_VARS or isinstance(value, dict) else f" (got {value!r})"
        raise SettingsError(f"invalid setting {name}{shown}: {err.get('msg')}") from None
    placeholders = _placeholder_values(settings)
    if placeholders:
        raise placeholder_error(placeholders)
    return settings


_SECRET_VARS = {
    "ZOHO_CLIENT_SECRET",
    "ZOHO_REFRESH_TOKEN",
    "ZOHO_ACCESS_TOKEN",
    "ZOHO_MCP_URL",
    "ZOHO_MCP_TOKEN",
    "ZOHO_MCP_SERVER_TOKEN",
}


def exit_on_settings_error(exc: SettingsError) -> None:
    """The one-line failure the command line promises: no traceback, exit code 2."""
    sys.stderr.write(f"zoho-mcp: {exc}\n")
    raise SystemExit(2)
