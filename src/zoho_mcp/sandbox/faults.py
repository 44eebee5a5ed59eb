"""Fault rules staged through the admin API, and the one trick that really drops a TCP connection.

A rule matches a request by surface, client (zcrmsdk = has the X-ZOHO-SDK header) and path regex;
probability uses a seeded RNG so a run is reproducible; `count` makes a rule expire after N uses.
Hangs wait on a per-rule event that clearing the rule sets, so tests end quickly.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

SURFACES = ("oauth", "crm", "mcp")
CLIENTS = ("any", "zcrmsdk", "other")
MODES = ("error", "latency", "hang", "reset", "reset_after", "rate_limit")


class FaultRuleError(ValueError):
    pass


@dataclass
class FaultRule:
    id: str
    surface: str
    mode: str
    client: str = "any"
    path: str | None = None
    status: int = 503
    latency_ms: float = 0.0
    probability: float = 1.0
    count: int | None = None
    body: Any = None
    applied: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _regex: re.Pattern[str] | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "surface": self.surface, "client": self.client, "path": self.path, "mode": self.mode,
            "status": self.status, "latency_ms": self.latency_ms, "probability": self.probability,
            "count": self.count, "applied": self.applied,
        }


def parse_rule(rule_id: str, spec: Any) -> FaultRule:
    """Validate an admin-supplied rule; FaultRuleError says exactly which key is wrong."""
    if not isinstance(spec, dict):
        raise FaultRuleError("a fault rule is a JSON object")
    known = {"surface", "client", "path", "mode", "status", "latency_ms", "probability", "count", "body"}
    unknown = set(spec) - known
    if unknown:
        raise FaultRuleError(f"unknown keys: {sorted(unknown)}")
    surface = spec.get("surface")
    if surface not in SURFACES:
        raise FaultRuleError(f"surface must be one of {list(SURFACES)}")
    mode = spec.get("mode", "error")
    if mode not in MODES:
        raise FaultRuleError(f"mode must be one of {list(MODES)}")
    client = spec.get("client", "any") or "any"
    if client not in CLIENTS:
        raise FaultRuleError(f"client must be one of {list(CLIENTS)}")
    path = spec.get("path")
    regex = None
    if path is not None:
        if not isinstance(path, str):
            raise FaultRuleError("path must be a regular expression string")
        try:
            regex = re.compile(path)
        except re.error as exc:
            raise FaultRuleError(f"path is not a valid regular expression: {exc}") from None
    status = spec.get("status", 429 if mode == "rate_limit" else 503)
    if status is None:
        status = 429 if mode == "rate_limit" else 503
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise FaultRuleError("status must be an HTTP status code")
    if mode in ("error", "rate_limit") and surface != "oauth" and status < 400 and spec.get("body") is None:
        raise FaultRuleError("an error fault needs an error status (400-599), or a 'body' to answer with; only the oauth surface answers errors with 200 by itself")
    latency = spec.get("latency_ms", 0) or 0
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency < 0 or latency > 600_000:
        raise FaultRuleError("latency_ms must be a number from 0 to 600000")
    probability = spec.get("probability", 1.0)
    if probability is None:
        probability = 1.0
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        raise FaultRuleError("probability must be from 0 to 1")
    count = spec.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise FaultRuleError("count must be a positive whole number or null")
    return FaultRule(id=rule_id, surface=surface, mode=mode, client=client, path=path, status=status,
                     latency_ms=float(latency), probability=float(probability), count=count,
                     body=spec.get("body"), _regex=regex)


class FaultRegistry:
    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: dict[str, FaultRule] = {}
        # spent hang rules: gone from matching, but their held requests must still be released
        self._spent_hangs: dict[str, FaultRule] = {}
        self._next = 1

    def add(self, spec: Any) -> FaultRule:
        rule = parse_rule(f"fault-{self._next}", spec)
        self._next += 1
        self._rules[rule.id] = rule
        return rule

    def remove(self, rule_id: str) -> bool:
        spent = self._spent_hangs.pop(rule_id, None)
        if spent is not None:
            spent.released.set()
        rule = self._rules.pop(rule_id, None)
        if rule is None:
            return spent is not None
        rule.released.set()
        return True

    def clear(self) -> int:
        n = len(self._rules)
        for rule in [*self._rules.values(), *self._spent_hangs.values()]:
            rule.released.set()
        self._rules.clear()
        self._spent_hangs.clear()
        return n

    def reset(self) -> None:
        self.clear()
        self._rng = random.Random(self._seed)
        self._next = 1

    def rules(self) -> list[FaultRule]:
        return list(self._rules.values())

    def __bool__(self) -> bool:
        return bool(self._rules)

    def pick(self, surface: str, client: str, path: str) -> FaultRule | None:
        """The first rule that matches and fires; firing consumes one of its `count`."""
        if not self._rules:
            return None
        for rule in list(self._rules.values()):
            if rule.surface != surface:
                continue
            if rule.client != "any" and rule.client != client:
                continue
            if rule._regex is not None and not rule._regex.search(path):
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            rule.applied += 1
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self._rules.pop(rule.id, None)
                    if rule.mode == "hang":
                        self._spent_hangs[rule.id] = rule
            return rule
        return None


def drop_connection(receive: Any) -> bool:
    """Abort the client's TCP connection with an RST and no response.

    ASGI has no way to say "close without answering": raising makes uvicorn send a 500. uvicorn's
    `receive` is a bound method of its RequestResponseCycle, which holds the asyncio transport; we set
    SO_LINGER to 0 (so close sends RST, not FIN) and abort the transport, then mark the cycle
    disconnected so uvicorn does not try to write a 500 into the dead socket.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
    try:
        cycle.disconnected = True
        cycle.keep_alive = False
    except AttributeError:
        pass
    return True


async def wait_hang(rule: FaultRule, receive: Any, max_s: float) -> str:
    """Hold a request until the rule is cleared ("released"), the client leaves ("disconnected"),
    or `max_s` passes ("timeout")."""
    release = asyncio.ensure_future(rule.released.wait())
    tasks: set[asyncio.Future[Any]] = {release}
    gone: asyncio.Future[Any] | None = None
    if receive is not None:
        async def _disconnected() -> None:
            while True:
                message = await receive()
                if message.get("type") == "http.disconnect":
                    return

        gone = asyncio.ensure_future(_disconnected())
        tasks.add(gone)
    try:
        done, _ = await asyncio.wait(tasks, timeout=max_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
    if release in done:
        return "released"
    if gone is not None and gone in done:
        return "disconnected"
    return "timeout"
