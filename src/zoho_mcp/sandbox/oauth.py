"""Zoho Accounts' token endpoint: refresh grant, 10 live tokens per refresh token, request throttle.

Failures are HTTP 200 with an `error` key, as real Zoho does; only the throttle answers 400.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from zoho_mcp.sandbox.clock import SandboxClock
from zoho_mcp.sandbox.config import SandboxConfig
from zoho_mcp.sandbox.responses import Reply

THROTTLE_BODY = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}


@dataclass
class AccessToken:
    token: str
    refresh_token: str
    expires_at: float
    scope: str = ""


@dataclass
class RefreshState:
    live: OrderedDict[str, AccessToken] = field(default_factory=OrderedDict)
    requests: deque[float] = field(default_factory=deque)
    revoked: bool = False


class TokenRegistry:
    """Every access token the sandbox has minted, per refresh token."""

    def __init__(self, clock: SandboxClock, seed: int) -> None:
        self.clock = clock
        self._rng = random.Random(seed * 7919 + 1)
        self._tokens: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshState] = {}
        self.minted = 0

    def reset(self) -> None:
        self._tokens.clear()
        self._refresh.clear()

    def _new_token(self) -> str:
        self.minted += 1
        return f"1000.{self._rng.getrandbits(128):032x}.{self._rng.getrandbits(128):032x}"

    def validate(self, token: str) -> bool:
        entry = self._tokens.get(token)
        if entry is None:
            return False
        if entry.expires_at <= self.clock.now():
            return False
        state = self._refresh.get(entry.refresh_token)
        return state is not None and not state.revoked

    def scope_of(self, token: str) -> str:
        entry = self._tokens.get(token)
        return entry.scope if entry is not None else ""

    def live_tokens(self, refresh_token: str) -> list[str]:
        state = self._refresh.get(refresh_token)
        return list(state.live) if state else []

    def revoke(self, token: str) -> bool:
        entry = self._tokens.pop(token, None)
        if entry is not None:
            state = self._refresh.get(entry.refresh_token)
            if state:
                state.live.pop(token, None)
            return True
        state = self._refresh.setdefault(token, RefreshState())
        state.revoked = True
        for t in list(state.live):
            self._tokens.pop(t, None)
        state.live.clear()
        return True

    def is_revoked(self, refresh_token: str) -> bool:
        state = self._refresh.get(refresh_token)
        return bool(state and state.revoked)

    def throttled(self, refresh_token: str, config: SandboxConfig) -> bool:
        """True when this refresh token has used up its token requests for the window."""
        state = self._refresh.setdefault(refresh_token, RefreshState())
        now = self.clock.now()
        while state.requests and state.requests[0] <= now - config.token_window_s:
            state.requests.popleft()
        return len(state.requests) >= config.token_requests_per_window

    def mint(self, refresh_token: str, config: SandboxConfig) -> AccessToken:
        state = self._refresh.setdefault(refresh_token, RefreshState())
        now = self.clock.now()
        state.requests.append(now)
        token = AccessToken(self._new_token(), refresh_token, now + config.token_ttl, config.token_scope)
        state.live[token.token] = token
        self._tokens[token.token] = token
        while len(state.live) > config.max_active_tokens:
            _, oldest = state.live.popitem(last=False)
            self._tokens.pop(oldest.token, None)
        return token


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def token_response(token: AccessToken, config: SandboxConfig, api_domain: str, refresh_token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": token.token}
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    body.update({"scope": token.scope, "api_domain": api_domain, "token_type": "Bearer"})
    if config.legacy_token_shape:
        body["expires_in_sec"] = _num(config.token_ttl)
        body["expires_in"] = _num(config.token_ttl * 1000)
    else:
        body["expires_in"] = _num(config.token_ttl)
    return body


def handle_token_request(params: dict[str, str], registry: TokenRegistry, config: SandboxConfig, api_domain: str) -> Reply:
    """`POST /oauth/v2/token` with its parameters merged from the query string and the form body."""
    grant = params.get("grant_type", "")
    if grant not in ("refresh_token", "authorization_code"):
        return Reply(200, {"error": "unsupported_grant_type"})
    if params.get("client_id") != config.client_id:
        return Reply(200, {"error": "invalid_client"})
    if params.get("client_secret") != config.client_secret:
        # reference §3.2: Zoho names the secret itself (secondary sources), so clients can say which to fix
        return Reply(200, {"error": "invalid_client_secret"})
    if grant == "authorization_code":
        if params.get("code") != config.grant_code:
            return Reply(200, {"error": "invalid_code"})
        refresh = config.refresh_token
        if registry.throttled(refresh, config):
            return Reply(400, dict(THROTTLE_BODY))
        token = registry.mint(refresh, config)
        return Reply(200, token_response(token, config, api_domain, refresh_token=refresh))
    refresh = params.get("refresh_token", "")
    if refresh != config.refresh_token or registry.is_revoked(refresh):
        return Reply(200, {"error": "invalid_code"})
    if registry.throttled(refresh, config):
        return Reply(400, dict(THROTTLE_BODY))
    token = registry.mint(refresh, config)
    return Reply(200, token_response(token, config, api_domain))
