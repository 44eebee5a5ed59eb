"""Unit rows for the sandbox's building blocks (no HTTP): tokens, limits, faults, coercion, config."""

from __future__ import annotations

from typing import Any

import pytest

from zoho_mcp.sandbox.clock import SandboxClock, format_zoho_time, parse_zoho_time
from zoho_mcp.sandbox.config import SandboxConfig
from zoho_mcp.sandbox.data import ACCOUNT_FIELDS, generate
from zoho_mcp.sandbox.faults import FaultRegistry, FaultRuleError
from zoho_mcp.sandbox.limits import OrgLimits, Slot, credits_for
from zoho_mcp.sandbox.oauth import TokenRegistry, handle_token_request
from zoho_mcp.sandbox.responses import Reply
from zoho_mcp.sandbox.store import InvalidValue, RecordStore, coerce, well_formed_id


class FakeTime:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_tokens_expire_and_evict() -> None:
    clock = SandboxClock(FakeTime())
    reg = TokenRegistry(clock, 1)
    config = SandboxConfig(token_ttl=10, token_requests_per_window=100)
    tokens = [reg.mint("r", config).token for _ in range(11)]
    assert not reg.validate(tokens[0]) and all(reg.validate(t) for t in tokens[1:])
    clock.advance(10)
    assert not any(reg.validate(t) for t in tokens)


def test_token_throttle_window_slides() -> None:
    clock = SandboxClock(FakeTime())
    reg = TokenRegistry(clock, 1)
    config = SandboxConfig()
    params = {"grant_type": "refresh_token", "client_id": config.client_id, "client_secret": config.client_secret,
              "refresh_token": config.refresh_token}
    replies = [handle_token_request(params, reg, config, "http://x") for _ in range(11)]
    assert [r.status for r in replies] == [200] * 10 + [400]
    clock.advance(600)
    assert handle_token_request(params, reg, config, "http://x").status == 200


@pytest.mark.parametrize(("method", "records", "credits"), [
    ("GET", 0, 1), ("PUT", 1, 1), ("PUT", 10, 1), ("PUT", 11, 2), ("PUT", 100, 10), ("POST", 25, 3),
])
def test_credits_for(method: str, records: int, credits: int) -> None:
    assert credits_for(method, records) == credits


def test_credits_roll_over_after_a_day() -> None:
    clock = SandboxClock(FakeTime())
    limits = OrgLimits(clock)
    config = SandboxConfig(credits_per_day=2)
    for _ in range(2):
        slot = limits.acquire(config, heavy=False, cost=1)
        assert isinstance(slot, Slot)
        limits.release(slot)
    assert isinstance(limits.acquire(config, heavy=False, cost=1), Reply)
    clock.advance(86_400)
    assert isinstance(limits.acquire(config, heavy=False, cost=1), Slot)


def test_fault_count_and_matching() -> None:
    faults = FaultRegistry(1)
    faults.add({"surface": "crm", "mode": "error", "count": 1, "client": "zcrmsdk", "path": "Accounts"})
    assert faults.pick("crm", "other", "/crm/v2/Accounts") is None
    assert faults.pick("oauth", "zcrmsdk", "/crm/v2/Accounts") is None
    assert faults.pick("crm", "zcrmsdk", "/crm/v2/Accounts") is not None
    assert faults.pick("crm", "zcrmsdk", "/crm/v2/Accounts") is None


@pytest.mark.parametrize("spec", [None, [], {"surface": "crm", "latency_ms": -1}, {"surface": "crm", "status": True},
                                  {"surface": "crm", "probability": "1"}, {"surface": "crm", "path": 5}])
def test_fault_rule_validation(spec: Any) -> None:
    with pytest.raises(FaultRuleError):
        FaultRegistry(1).add(spec)


@pytest.fixture(scope="module")
def store() -> RecordStore:
    return RecordStore(generate(1, 5, None, "+01:00"))


FIELDS = {f.api_name: f for f in ACCOUNT_FIELDS}
COERCE = [
    ("Annual_Revenue", 10, 10), ("Annual_Revenue", "12.5", 12.5), ("Annual_Revenue", "x", InvalidValue),
    ("Annual_Revenue", True, InvalidValue), ("Employees", 5.0, 5), ("Employees", "7", 7), ("Employees", 2**40, InvalidValue),
    ("Account_Name", "ok", "ok"), ("Account_Name", ["x"], InvalidValue), ("Email", "a@b.co", "a@b.co"),
    ("Email", "a@", InvalidValue), ("Locked__s", True, True), ("Locked__s", "true", InvalidValue),
    ("Parent_Account", {"id": "1"}, InvalidValue), ("Owner", "nope", InvalidValue), ("Phone", None, None),
]


@pytest.mark.parametrize(("field", "value", "expected"), COERCE, ids=[f"{f}-{v!r}"[:40] for f, v, _ in COERCE])
def test_coerce(store: RecordStore, field: str, value: Any, expected: Any) -> None:
    if expected is InvalidValue:
        with pytest.raises(InvalidValue):
            coerce(FIELDS[field], value, store)
    else:
        assert coerce(FIELDS[field], value, store) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("7328395000000686003", "7328395000000686003"), (7328395000000686003, "7328395000000686003"), ("0", None),
    ("abc", None), ("1" * 20, None), (True, None), (None, None), ("9" * 19, None),
])
def test_well_formed_id(value: Any, expected: str | None) -> None:
    assert well_formed_id(value) == expected


def test_zoho_time_round_trip() -> None:
    text = format_zoho_time(1_767_225_600, "+03:00")
    assert text == "2026-01-01T03:00:00+03:00"
    parsed = parse_zoho_time(text.replace("+", " "))
    assert parsed is not None and parsed.timestamp() == 1_767_225_600
    assert parse_zoho_time("2026-01-01T00:00:00") is None


@pytest.mark.parametrize(("patch", "ok"), [
    ({"token_ttl": 5}, True), ({"edition": "free"}, True), ({"edition": "gold"}, False), ({"seed": 1}, False),
    ({"legacy_token_shape": 1}, False), ({"token_ttl": "5"}, False), ({"missing_record_mode": "404"}, False),
])
def test_config_patch(patch: dict[str, Any], ok: bool) -> None:
    if ok:
        SandboxConfig().patched(patch)
    else:
        with pytest.raises(ValueError):
            SandboxConfig().patched(patch)


def test_seeded_names_include_the_hard_cases() -> None:
    names = [r["Account_Name"] for r in generate(42, 500, None, "+01:00").records["Accounts"]]
    assert "Müller & Söhne (Berlin)" in names and "Smith, Jones and Co" in names
    assert len(set(names)) == len(names)


def test_listening_socket_is_tcp_with_nodelay() -> None:
    """Regression: a socket made without proto=IPPROTO_TCP makes asyncio skip TCP_NODELAY on accepted
    connections, and every keep-alive response then waits out a 40 ms delayed ACK (a 500-request test
    took 22 s). Accepted sockets inherit TCP_NODELAY from the listener on Linux."""
    import socket

    from zoho_mcp.sandbox.app import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


def test_in_process_sandbox_never_writes_to_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    """Started, used (including a request that makes the sandbox log an internal error) and stopped:
    stdout stays empty, because in `zoho-mcp serve --sandbox` stdout is the MCP channel."""
    import httpx

    from zoho_mcp.sandbox.app import SandboxServer

    with SandboxServer(SandboxConfig(accounts=3)) as sb:
        assert sb.app is not None

        def boom(*_: Any) -> Any:
            raise RuntimeError("injected sandbox bug")

        sb.app.crm.route = boom  # type: ignore[method-assign]
        token = httpx.post(f"{sb.base_url}/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": sb.info["client_id"], "client_secret": sb.info["client_secret"],
            "refresh_token": sb.info["refresh_token"]}).json()["access_token"]
        crashed = httpx.get(f"{sb.base_url}/crm/v2/Accounts", headers={"Authorization": f"Zoho-oauthtoken {token}"})
        assert crashed.status_code == 500
        assert crashed.json() == {"code": "INTERNAL_ERROR", "details": {}, "message": "Internal Server Error", "status": "error"}
        httpx.get(f"{sb.base_url}/nothing")
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "injected sandbox bug" not in crashed.text


def _cli_args(**over: Any) -> Any:
    import argparse

    base = {"host": "127.0.0.1", "port": 0, "seed": 42, "accounts": 500, "edition": "enterprise", "token_ttl": 3600.0, "latency_ms": 0.0}
    return argparse.Namespace(**{**base, **over})


START_KNOBS = [
    pytest.param({}, {"edition": "standard", "latency_ms": 5.0, "token_ttl": 9.0, "seed": 3, "accounts": 7}, id="flags-only"),
    pytest.param({"ZOHO_SANDBOX_KNOBS": '{"mcp_require_bearer": true, "missing_record_mode": "400", "partial_status": 200}'},
                 {"mcp_require_bearer": True, "missing_record_mode": "400", "partial_status": 200}, id="env-knobs"),
    pytest.param({"ZOHO_SANDBOX_KNOBS": '{"credits_per_day": 10, "legacy_token_shape": true, "concurrency": 2}'},
                 {"credits_per_day": 10, "legacy_token_shape": True, "effective_concurrency": 2}, id="env-limits"),
    pytest.param({"ZOHO_SANDBOX_KNOBS": "  "}, {"mcp_require_bearer": False}, id="blank-env"),
]


@pytest.mark.parametrize(("env", "expected"), START_KNOBS)
def test_every_knob_is_settable_at_start(env: dict[str, str], expected: dict[str, Any]) -> None:
    from zoho_mcp.sandbox.app import config_from_args

    config = config_from_args(_cli_args(edition="standard", latency_ms=5.0, token_ttl=9.0, seed=3, accounts=7), env)
    public = config.public()
    assert {k: public[k] for k in expected} == expected


@pytest.mark.parametrize("raw", ['{"nope": 1}', '{"edition": "gold"}', "[1]", "{not json", '{"seed": 3}', '{"token_ttl": "x"}'])
def test_bad_start_knobs_name_the_variable(raw: str) -> None:
    from zoho_mcp.sandbox.app import KnobError, config_from_args

    with pytest.raises(KnobError, match="ZOHO_SANDBOX_KNOBS"):
        config_from_args(_cli_args(), {"ZOHO_SANDBOX_KNOBS": raw})
