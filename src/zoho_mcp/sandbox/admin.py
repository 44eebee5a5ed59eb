"""The admin API tests and benchmarks drive (`/__sandbox__/...`): never faulted, limited, authenticated
or journaled.

    GET    /__sandbox__/info                  credentials and URLs (see DESIGN.md)
    POST   /__sandbox__/faults                add a fault rule -> {"id"}
    GET    /__sandbox__/faults                the active rules
    DELETE /__sandbox__/faults                clear every rule (releases hung requests)
    DELETE /__sandbox__/faults/{id}           clear one rule
    GET    /__sandbox__/journal               requests seen [{"surface","client","method","path","status",...}]
                                              (?surface=crm&since=N to filter; DELETE clears it)
    POST   /__sandbox__/reset                 reseed data; clear faults, journal, tokens, clock, knobs
    GET    /__sandbox__/records/{module}      {"module","ids"} (ground truth)
    GET    /__sandbox__/records/{module}/{id} the stored record, 404 if absent (ground truth)
    GET|POST /__sandbox__/clock               {"advance": seconds} moves the sandbox clock forward
    GET|POST /__sandbox__/config              patch run-time knobs (until the next reset)
    GET    /__sandbox__/limits                in-flight calls and credits
    GET    /__sandbox__/tokens                live access tokens per refresh token
    POST   /__sandbox__/tokens/revoke         {"token": refresh or access token}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from zoho_mcp.sandbox.faults import FaultRuleError
from zoho_mcp.sandbox.state import SandboxState


#: Moving the clock further than this only makes every new token expire at once; refuse it.
MAX_ADVANCE_S = 366 * 24 * 3600


def _bad(message: str, status: int = 400) -> tuple[int, Any]:
    return status, {"error": message}


def _json(body: bytes) -> Any:
    if not body:
        return {}
    return json.loads(body)


def handle_admin(state: SandboxState, method: str, parts: list[str], query: Mapping[str, str], body: bytes) -> tuple[int, Any]:
    """`parts` is the path after `/__sandbox__/`, split on `/`."""
    try:
        payload = _json(body) if method in ("POST", "PUT", "PATCH") else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _bad("body is not valid JSON")
    head = parts[0] if parts else ""
    if head == "info" and method == "GET":
        return 200, state.info()
    if head == "faults":
        if len(parts) == 1:
            if method == "POST":
                try:
                    rule = state.faults.add(payload)
                except FaultRuleError as exc:
                    return _bad(str(exc))
                return 200, {"id": rule.id}
            if method == "GET":
                return 200, [r.public() for r in state.faults.rules()]
            if method == "DELETE":
                return 200, {"cleared": state.faults.clear()}
        if len(parts) == 2 and method == "DELETE":
            if state.faults.remove(parts[1]):
                return 200, {"deleted": parts[1]}
            return _bad(f"no fault rule {parts[1]!r}", 404)
    if head == "journal" and len(parts) == 1:
        if method == "GET":
            entries = list(state.journal)
            since = query.get("since")
            if since is not None:
                if not (since.isascii() and since.isdigit()):
                    return _bad("since must be a whole number of journal entries, e.g. ?since=10")
                entries = entries[int(since):]
            surface = query.get("surface")
            if surface:
                entries = [e for e in entries if e["surface"] == surface]
            return 200, entries
        if method == "DELETE":
            state.journal.clear()
            return 200, {"cleared": True}
    if head == "reset" and method == "POST" and len(parts) == 1:
        state.reset()
        return 200, {"reset": True}
    if head == "records" and method == "GET" and len(parts) in (2, 3):
        module = parts[1]
        if not state.store.has_module(module):
            return _bad(f"unknown module {module!r}", 404)
        if len(parts) == 2:
            return 200, {"module": module, "ids": state.store.ids(module)}
        record = state.store.get(module, parts[2])
        if record is None:
            return _bad("no such record", 404)
        return 200, record
    if head == "clock" and len(parts) == 1:
        if method == "POST":
            advance = payload.get("advance", 0) if isinstance(payload, dict) else None
            if isinstance(advance, bool) or not isinstance(advance, (int, float)) or not 0 <= advance <= MAX_ADVANCE_S:
                return _bad(f"advance must be a number of seconds from 0 to {MAX_ADVANCE_S} (one year)")
            state.clock.advance(float(advance))
        if method in ("GET", "POST"):
            return 200, {"now": state.clock.now(), "offset": state.clock.offset}
    if head == "config" and len(parts) == 1:
        if method == "POST":
            if not isinstance(payload, dict):
                return _bad("config patch must be a JSON object")
            try:
                state.config = state.config.patched(payload)
            except ValueError as exc:
                return _bad(str(exc))
        if method in ("GET", "POST"):
            return 200, state.config.public()
    if head == "limits" and method == "GET":
        return 200, state.limits.snapshot(state.config)
    if head == "tokens":
        if len(parts) == 1 and method == "GET":
            refresh = state.config.refresh_token
            return 200, {"live": len(state.tokens.live_tokens(refresh)), "minted": state.tokens.minted}
        if len(parts) == 2 and parts[1] == "revoke" and method == "POST":
            token = payload.get("token") if isinstance(payload, dict) else None
            if not isinstance(token, str) or not token:
                return _bad("token is required")
            state.tokens.revoke(token)
            return 200, {"revoked": True}
    return _bad("unknown admin endpoint", 404)
