"""One OAuth token manager for the SDK and REST tiers, so the process holds one access token.

Zoho allows ten live access tokens and ten token requests per ten minutes for one refresh token; an
eleventh token silently evicts the oldest. So every refresh here is single-flight (one request however
many callers find the token expired), proactive (shortly before expiry), capped by a local sliding
window that never lets a runaway loop burn Zoho's allowance, and persisted so a restart reuses the
token instead of minting another.

Zoho reports token failures as HTTP 200 with an `error` key; they become an `AuthError` whose message
names the variable to fix. No secret ever reaches a log line, an error message or a repr.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import httpx

from zoho_mcp.config import Settings
from zoho_mcp.logs import get_logger, register_secret
from zoho_mcp.tiers.base import AuthError, ConfigurationError, RateLimitedError, TransientError, ZohoError
from zoho_mcp.tiers.token_store import StoredToken, TokenStore, store_key

log = get_logger(__name__)

#: Zoho: at most 10 access-token requests per 10 minutes per refresh token (reference §3.3).
TOKEN_REQUEST_LIMIT = 10
TOKEN_REQUEST_WINDOW = 600.0
#: After a failed refresh, callers get the same error without a new request for this long, doubling
#: per consecutive failure up to the maximum: retries across tiers and probes then cost one request.
FAILURE_BACKOFF_MIN = 1.0
FAILURE_BACKOFF_MAX = 30.0
#: Refresh this long before expiry (capped at 10% of the token's lifetime for short test ttls).
REFRESH_MARGIN = 60.0
DEFAULT_TTL = 3600.0

DATA_CENTER_HINT = (
    "the access token was just issued, so it most likely belongs to another data centre than the API host: "
    "set ZOHO_DATA_CENTER (us, eu, in, au, jp, cn, ca, sa, uk) or ZOHO_ACCOUNTS_URL / ZOHO_API_DOMAIN to the "
    "data centre where the Zoho client was registered (the token response's api_domain is the host to use)"
)

_TOKEN_ERRORS: dict[str, tuple[str, str]] = {
    "invalid_client": (
        "INVALID_CLIENT",
        "Zoho's accounts server {accounts} does not know this client: check ZOHO_CLIENT_ID, and that "
        "ZOHO_DATA_CENTER / ZOHO_ACCOUNTS_URL names the data centre where the client was registered",
    ),
    "invalid_client_secret": (
        "INVALID_CLIENT_SECRET",
        "Zoho's accounts server {accounts} refused the client secret: check ZOHO_CLIENT_SECRET "
        "(Zoho API console, client details)",
    ),
    "invalid_code": (
        "INVALID_REFRESH_TOKEN",
        "Zoho's accounts server {accounts} refused the refresh token (revoked, expired, or issued to another "
        "client or data centre): generate a new one for this client and set ZOHO_REFRESH_TOKEN",
    ),
}


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    api_domain: str | None
    expires_at: float
    minted_at: float

    @property
    def refresh_at(self) -> float:
        ttl = max(self.expires_at - self.minted_at, 0.0)
        return self.expires_at - min(REFRESH_MARGIN, ttl * 0.1)

    def __repr__(self) -> str:
        return f"_Token(value='***', api_domain={self.api_domain!r}, expires_at={self.expires_at!r})"


class TokenRequestLimited(RateLimitedError):
    """No token request was sent because of a token-request limit: our local window (mirroring
    Zoho's 10 per 10 minutes) or Zoho's own throttle answer. Not a credentials problem, not this
    tier's failure (no breaker counts it), and not worth an immediate retry: `details["retry_in"]`
    says when a request may be made again, `details["sent"]` is False (no CRM call was made)."""

    @property
    def retryable(self) -> bool:
        return False


def _copy_error(exc: ZohoError, **extra: Any) -> ZohoError:
    details = {**exc.details, **extra}
    return type(exc)(exc.message, code=exc.code, details=details, status=exc.status, tier=exc.tier)


def token_error_from_response(status: int, body: Any, *, accounts_url: str) -> ZohoError:
    """Classify a token-endpoint answer that carries no `access_token` (Zoho: usually HTTP 200)."""
    if not isinstance(body, Mapping):
        if status >= 500:
            return TransientError(
                f"Zoho's accounts server {accounts_url} answered HTTP {status} without a token",
                code="TOKEN_ENDPOINT_ERROR",
                status=status,
            )
        return AuthError(
            f"Zoho's accounts server {accounts_url} answered HTTP {status} with no access token and no JSON body: "
            "check ZOHO_ACCOUNTS_URL / ZOHO_DATA_CENTER",
            code="TOKEN_RESPONSE_INVALID",
            status=status,
        )
    error = str(body.get("error") or "")
    description = str(body.get("error_description") or "")
    if status == 429 or error.lower() == "access denied" or "too many requests" in description.lower():
        return TokenRequestLimited(
            "Zoho throttled access-token requests for this refresh token (more than 10 in 10 minutes); "
            "wait about 10 minutes before retrying, and make sure only one process refreshes this token "
            "(zoho-mcp persists its token in ZOHO_STATE_DIR to avoid this)",
            code="TOKEN_THROTTLED",
            details={"error": error, "retry_in": TOKEN_REQUEST_WINDOW, "sent": False},
            status=status,
        )
    if error in _TOKEN_ERRORS:
        code, template = _TOKEN_ERRORS[error]
        return AuthError(template.format(accounts=accounts_url), code=code, details={"error": error}, status=status)
    if status >= 500:
        return TransientError(
            f"Zoho's accounts server {accounts_url} answered HTTP {status}", code="TOKEN_ENDPOINT_ERROR", status=status
        )
    shown = error or "no access_token"
    return AuthError(
        f"Zoho's accounts server {accounts_url} refused the token request ({shown}): check ZOHO_CLIENT_ID, "
        "ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN and ZOHO_DATA_CENTER",
        code="TOKEN_REQUEST_FAILED",
        details={"error": error} if error else {},
        status=status,
    )


class TokenManager:
    """The process's one Zoho access token: single-flight, proactive, persisted, rate-capped refresh.

    Coroutines call `get_token()`; after a 401 INVALID_TOKEN they call `refresh_after_401(old)`, which
    refreshes only if `old` is still the current token, so fifty concurrent 401s cause one refresh.
    Worker threads (the SDK tier) call `get_token_blocking()`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
        persist: bool = True,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._accounts_url = settings.accounts_url
        self._token_url = settings.token_url
        self._default_api_domain = settings.api_domain
        self._client_id = settings.client_id or ""
        self._client_secret = settings.client_secret.get_secret_value() if settings.client_secret else ""
        self._refresh_token = settings.refresh_token.get_secret_value() if settings.refresh_token else ""
        register_secret(self._client_secret)
        register_secret(self._refresh_token)
        self._key = store_key(self._accounts_url, self._client_id, self._refresh_token)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(min(settings.rest_timeout, 30.0), connect=min(settings.rest_timeout, 10.0))
        )
        self._lock = anyio.Lock()
        self._token: _Token | None = None
        self._loaded = False
        self._generation = 0
        self._last_error: ZohoError | None = None
        self._requests: deque[float] = deque()
        self._blocked_until = 0.0
        self._proactive_retry_at = 0.0
        self._failures_in_row = 0
        self._retry_after = 0.0
        self._loop_token: anyio.lowlevel.EventLoopToken | None = None
        self._loop_thread: int | None = None
        self._closed = False
        #: How many token requests this manager sent (tests and health read it).
        self.token_requests = 0
        self._store: TokenStore | None = None
        if persist:
            try:
                self._store = TokenStore(settings.resolved_state_dir())
            except OSError as exc:
                log.warning("token store unavailable; tokens will not survive a restart", error=str(exc))
        if settings.access_token is not None:
            value = settings.access_token.get_secret_value()
            register_secret(value)
            now = clock()
            # Unknown age: trust it for one Zoho lifetime; a 401 replaces it sooner.
            self._token = _Token(value, None, now + DEFAULT_TTL, now)

    def __repr__(self) -> str:
        state = "none" if self._token is None else "held"
        return f"TokenManager(accounts_url={self._accounts_url!r}, client_id={self._client_id!r}, token={state})"

    # --- public ------------------------------------------------------------------------------

    @property
    def api_domain(self) -> str:
        """The API host of the current token (Zoho's `api_domain`), else the configured one."""
        tok = self._token
        if tok is not None and tok.api_domain:
            return tok.api_domain
        return self._default_api_domain

    @property
    def accounts_url(self) -> str:
        return self._accounts_url

    @property
    def state_file(self) -> str | None:
        return None if self._store is None else str(self._store.path)

    def current_token_age(self) -> float | None:
        """Seconds since the current token was obtained (None without one)."""
        tok = self._token
        return None if tok is None else max(self._clock() - tok.minted_at, 0.0)

    async def get_token(self) -> str:
        """A valid access token, refreshing (once, for every waiting caller) when due."""
        self._remember_loop()
        tok = self._token
        if tok is not None and self._clock() < tok.refresh_at:
            return tok.value
        generation = self._generation
        async with self._lock:
            self._load_persisted()
            tok = self._token
            now = self._clock()
            if tok is not None and now < tok.refresh_at:
                return tok.value
            still_valid = tok is not None and now < tok.expires_at
            if self._generation != generation and self._last_error is not None:
                if tok is not None and still_valid:
                    return tok.value
                raise _copy_error(self._last_error)
            if tok is not None and still_valid and now < self._proactive_retry_at:
                return tok.value
            try:
                return (await self._refresh_locked()).value
            except ZohoError:
                if tok is not None and self._token is tok and self._clock() < tok.expires_at:
                    # The early refresh failed but the token still works: use it, try again a bit later.
                    self._proactive_retry_at = self._clock() + max((tok.expires_at - self._clock()) / 4, 0.0)
                    return tok.value
                raise

    async def refresh_after_401(self, old_token: str) -> str:
        """After Zoho refused `old_token`: a new token, minted only if nobody replaced it already."""
        self._remember_loop()
        generation = self._generation
        async with self._lock:
            self._load_persisted()
            tok = self._token
            now = self._clock()
            if tok is not None and tok.value != old_token and now < tok.expires_at:
                return tok.value
            if self._generation != generation and self._last_error is not None:
                raise _copy_error(self._last_error)
            if tok is not None and tok.value == old_token:
                self._drop(tok)
            return (await self._refresh_locked()).value

    async def invalidate(self, token: str) -> None:
        """Forget `token` (if it is still the current one) so the next caller refreshes."""
        tok = self._token
        if tok is not None and tok.value == token:
            self._drop(tok)

    def get_token_blocking(self) -> str:
        """`get_token()` for synchronous code running in a worker thread (the SDK tier).

        From a thread started by `anyio.to_thread.run_sync` this hops to the event loop with
        `anyio.from_thread.run(self.get_token)`, so the refresh stays single-flight with the async
        callers. From any other thread it uses the loop this manager last ran on. It must never be
        called on the event-loop thread itself (that would deadlock): await `get_token()` there.
        """
        tok = self._token
        if tok is not None and self._clock() < tok.refresh_at:
            return tok.value
        try:
            return anyio.from_thread.run(self.get_token)
        except anyio.NoEventLoopError:
            pass
        if self._loop_token is None:
            raise ConfigurationError(
                "get_token_blocking() needs an anyio worker thread or a prior await of get_token() on the event loop",
                code="NO_EVENT_LOOP",
            )
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("get_token_blocking() was called on the event loop thread; await get_token() instead")
        return anyio.from_thread.run(self.get_token, token=self._loop_token)

    def dc_mismatch_error(self, body: Mapping[str, Any] | None, *, tier: str, status: int = 401) -> AuthError:
        """The error for INVALID_TOKEN on a token that was refreshed just before: a wrong data centre."""
        body = body or {}
        return AuthError(
            f"Zoho's API at {self.api_domain} refused a freshly issued access token ({body.get('message') or 'invalid oauth token'}); "
            + DATA_CENTER_HINT,
            code=str(body.get("code") or "INVALID_TOKEN"),
            details={**(body.get("details") if isinstance(body.get("details"), Mapping) else {}), "hint": "data_center"},
            status=status,
            tier=tier,
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            await self._http.aclose()

    # --- internals -----------------------------------------------------------------------------

    def _remember_loop(self) -> None:
        if self._loop_token is None:
            try:
                self._loop_token = anyio.lowlevel.current_token()
                self._loop_thread = threading.get_ident()
            except Exception:  # noqa: BLE001 - only an optimisation for get_token_blocking
                self._loop_token = None

    def _load_persisted(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._store is None:
            return
        now = self._clock()
        try:
            for at in self._store.recent_requests(self._key, since=now - TOKEN_REQUEST_WINDOW):
                self._requests.append(at)
            self._blocked_until = max(self._blocked_until, self._store.blocked_until(self._key) or 0.0)
            stored = self._store.load(self._key, now=now)
        except Exception as exc:  # noqa: BLE001 - a broken state file must not stop the tier
            log.warning("could not read the token store", error=type(exc).__name__)
            return
        if stored is None:
            return
        register_secret(stored.value)
        held = self._token
        # A token this process minted before beats an access token of unknown age from the environment.
        if held is None or held.api_domain is None:
            self._token = _Token(stored.value, stored.api_domain, stored.expires_at, stored.minted_at)
            log.info("reusing persisted zoho access token", expires_in=round(stored.expires_at - now))

    def _drop(self, tok: _Token) -> None:
        if self._token is tok:
            self._token = None
        if self._store is not None:
            try:
                self._store.delete(self._key, token=tok.value)
            except Exception:  # noqa: BLE001
                log.warning("could not update the token store")

    def _sync_budget(self, now: float) -> None:
        """Take in token requests other processes on this state dir made since we loaded it.

        Zoho counts requests per refresh token, not per process, so the shared file is the record;
        read only before a refresh (at most ten times in ten minutes).
        """
        if self._store is None:
            return
        try:
            recent = self._store.recent_requests(self._key, since=now - TOKEN_REQUEST_WINDOW)
            blocked = self._store.blocked_until(self._key) or 0.0
        except Exception:  # noqa: BLE001 - the local window still applies
            return
        while self._requests and self._requests[0] <= now - TOKEN_REQUEST_WINDOW:
            self._requests.popleft()
        if len(recent) > len(self._requests):
            self._requests = deque(recent)
        self._blocked_until = max(self._blocked_until, blocked)

    def _check_budget(self, now: float) -> None:
        while self._requests and self._requests[0] <= now - TOKEN_REQUEST_WINDOW:
            self._requests.popleft()
        if now < self._blocked_until:
            wait = self._blocked_until - now
            raise TokenRequestLimited(
                f"Zoho throttled access-token requests; not asking again for {wait:.0f} s",
                code="TOKEN_THROTTLED",
                details={"retry_in": round(wait, 1), "sent": False},
            )
        if len(self._requests) >= TOKEN_REQUEST_LIMIT:
            wait = self._requests[0] + TOKEN_REQUEST_WINDOW - now
            raise TokenRequestLimited(
                f"not asking Zoho for another access token: {TOKEN_REQUEST_LIMIT} token requests were made in the "
                f"last 10 minutes (Zoho's limit per refresh token); try again in {wait:.0f} s",
                code="TOKEN_REQUEST_LIMIT",
                details={
                    "retry_in": round(wait, 1),
                    "limit": TOKEN_REQUEST_LIMIT,
                    "window_s": TOKEN_REQUEST_WINDOW,
                    "sent": False,
                },
            )

    def _missing_credentials(self) -> list[str]:
        missing = []
        if not self._client_id:
            missing.append("ZOHO_CLIENT_ID")
        if not self._client_secret:
            missing.append("ZOHO_CLIENT_SECRET")
        if not self._refresh_token:
            missing.append("ZOHO_REFRESH_TOKEN")
        return missing

    async def _refresh_locked(self) -> _Token:
        missing = self._missing_credentials()
        if missing:
            raise ConfigurationError(
                "cannot obtain a Zoho access token: set " + ", ".join(missing), code="MISSING_CREDENTIALS"
            )
        if self._closed:
            raise ConfigurationError("the token manager is closed", code="CLOSED")
        now = self._clock()
        if self._last_error is not None and now < self._retry_after:
            # A refresh just failed: give every caller (other tiers, retries, probes) that answer
            # instead of spending another of Zoho's ten token requests on it.
            raise _copy_error(self._last_error, retry_in=round(self._retry_after - now, 1))
        self._sync_budget(now)
        self._check_budget(now)
        self._generation += 1
        self._requests.append(now)
        self.token_requests += 1
        try:
            token = await self._request_token(now)
        except ZohoError as exc:
            if exc.details.get("sent") is False:
                self._uncount(now)  # it never reached Zoho, so it used none of Zoho's allowance
            else:
                self._record_request(now)
            self._last_error = exc
            self._failures_in_row += 1
            backoff = min(FAILURE_BACKOFF_MIN * 2 ** (self._failures_in_row - 1), FAILURE_BACKOFF_MAX)
            self._retry_after = self._clock() + backoff
            if exc.code == "TOKEN_THROTTLED":
                self._blocked_until = now + TOKEN_REQUEST_WINDOW
                if self._store is not None:
                    try:
                        self._store.set_blocked_until(self._key, self._blocked_until)
                    except Exception:  # noqa: BLE001
                        pass
            log.warning("zoho token refresh failed", code=exc.code, accounts_url=self._accounts_url)
            raise
        self._record_request(now)
        self._last_error = None
        self._failures_in_row = 0
        self._retry_after = 0.0
        self._token = token
        if self._store is not None:
            try:
                self._store.save(
                    self._key, StoredToken(token.value, token.api_domain, token.expires_at, token.minted_at)
                )
            except Exception:  # noqa: BLE001
                log.warning("could not persist the access token")
        log.info(
            "zoho access token refreshed",
            api_domain=token.api_domain,
            expires_in=round(token.expires_at - token.minted_at),
        )
        return token

    def _record_request(self, at: float) -> None:
        """Persist a token request that reached (or may have reached) Zoho, for other processes."""
        if self._store is not None:
            try:
                self._store.record_request(self._key, at)
            except Exception:  # noqa: BLE001
                log.warning("could not record the token request")

    def _uncount(self, at: float) -> None:
        try:
            self._requests.remove(at)
        except ValueError:
            pass

    async def _request_token(self, now: float) -> _Token:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        try:
            resp = await self._http.post(self._token_url, data=form, headers={"Accept": "application/json"})
        except httpx.ConnectTimeout:
            raise TransientError(
                f"could not connect to Zoho's accounts server {self._accounts_url} in time: "
                "check ZOHO_ACCOUNTS_URL / ZOHO_DATA_CENTER and the network",
                code="TOKEN_CONNECT_ERROR",
                details={"sent": False},
            ) from None
        except httpx.ConnectError as exc:
            raise TransientError(
                f"could not reach Zoho's accounts server {self._accounts_url} ({type(exc).__name__}): "
                "check ZOHO_ACCOUNTS_URL / ZOHO_DATA_CENTER and the network",
                code="TOKEN_CONNECT_ERROR",
                details={"sent": False},
            ) from None
        except httpx.TimeoutException:
            raise TransientError(
                f"Zoho's accounts server {self._accounts_url} did not answer the token request in time",
                code="TOKEN_TIMEOUT",
            ) from None
        except httpx.HTTPError as exc:
            raise TransientError(
                f"could not reach Zoho's accounts server {self._accounts_url} ({type(exc).__name__}): "
                "check ZOHO_ACCOUNTS_URL / ZOHO_DATA_CENTER and the network",
                code="TOKEN_CONNECT_ERROR",
            ) from None
        try:
            body: Any = resp.json() if resp.content else None
        except ValueError:
            body = None
        if not isinstance(body, Mapping) or not body.get("access_token"):
            raise token_error_from_response(resp.status_code, body, accounts_url=self._accounts_url)
        value = str(body["access_token"])
        register_secret(value)
        ttl = _ttl_from(body)
        api_domain = str(body.get("api_domain") or self._default_api_domain).rstrip("/")
        return _Token(value, api_domain, now + ttl, now)


def _ttl_from(body: Mapping[str, Any]) -> float:
    """Seconds of validity; the legacy shape gave milliseconds in `expires_in` plus `expires_in_sec`."""
    for key in ("expires_in_sec", "expires_in"):
        raw = body.get(key)
        if raw is None:
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if key == "expires_in" and value > 86_400:
            value /= 1000.0
        if value > 0:
            return value
    return DEFAULT_TTL
