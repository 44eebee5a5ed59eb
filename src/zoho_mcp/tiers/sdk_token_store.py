"""The SDK's token store, answered by the shared TokenManager instead of a file or MySQL.

zcrmsdk 3.1.0 asks `store.get_token(user, token)` before every request (under its global
`OAuthToken.lock`) and then:
- `None` -> it mints a token itself (a POST to the token URL with its own copy of the credentials);
- a token whose `expires_in` (epoch milliseconds, as a string) is less than 5 s away -> it refreshes;
- otherwise it sends `Authorization: Zoho-oauthtoken <access_token>`.
So this store never returns `None` and always hands back a fresh token object whose expiry is an hour
ahead: the SDK then uses the manager's access token as it is. The real expiry is the manager's business
(it refreshes ahead of time, and the tier asks it for a new token after a 401).

The async side fetches the token before dispatching to a worker thread and hands it over with
`handed_token(...)`; without one (a call outside the tier), `fetch_blocking` asks the manager from
the thread. The SDK never sees the client secret or the refresh token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from zcrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken, TokenType
from zcrmsdk.src.com.zoho.api.authenticator.store import TokenStore

#: Stands in for the refresh token the SDK insists on holding; it is never sent anywhere.
PLACEHOLDER_REFRESH = "managed-by-zoho-mcp"
_AHEAD_MS = 3_600_000

_local = threading.local()


@contextmanager
def handed_token(access_token: str) -> Iterator[None]:
    """Make `access_token` the token every SDK request of this thread uses until the block ends."""
    previous = getattr(_local, "token", None)
    _local.token = access_token
    _local.used = None
    try:
        yield
    finally:
        _local.token = previous


def token_used() -> str | None:
    """The access token the SDK last put on a request from this thread (to report a 401 against)."""
    return getattr(_local, "used", None)


def placeholder_token(client_id: str) -> OAuthToken:
    """The `token` argument `Initializer` requires: the client id only, no secret, no real token."""
    return OAuthToken(client_id=client_id, client_secret=None, token=PLACEHOLDER_REFRESH, token_type=TokenType.REFRESH)


class ManagedTokenStore(TokenStore):  # type: ignore[misc]
    """Hands the SDK the shared TokenManager's access token; stores nothing."""

    def __init__(self, fetch_blocking: Callable[[], str]) -> None:
        self._fetch_blocking = fetch_blocking

    def get_token(self, user: Any, token: Any) -> OAuthToken:
        access = getattr(_local, "token", None) or self._fetch_blocking()
        fresh = OAuthToken(
            client_id=getattr(token, "client_id", None) or "zoho-mcp",
            client_secret=None,
            token=PLACEHOLDER_REFRESH,
            token_type=TokenType.REFRESH,
        )
        fresh.access_token = access
        fresh.expires_in = str(int(time.time() * 1000) + _AHEAD_MS)
        fresh.user_mail = getattr(user, "email", None)
        _local.used = access
        return fresh

    def save_token(self, user: Any, token: Any) -> None:
        """Only reached if the SDK minted a token itself, which `sdk_http` makes impossible."""

    def delete_token(self, token: Any) -> None:
        """The manager owns token lifetime; nothing to delete here."""

    def get_tokens(self) -> list[Any]:
        return []

    def delete_tokens(self) -> None:
        """Nothing is stored."""

    def __repr__(self) -> str:
        return "ManagedTokenStore()"
