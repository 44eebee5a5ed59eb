"""Fault injection and admin API contract (DESIGN.md "Sandbox"): every mode on every surface it
applies to, client and path matching, count expiry, probability, hang release, ground truth."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from tests.conftest import SandboxAdmin, mint_token, shared_http


def _get(admin: SandboxAdmin, token: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> httpx.Response:
    rid = admin.record_ids()[0]
    return shared_http().get(f"{admin.base_url}/crm/v2/Accounts/{rid}", timeout=timeout,
                             headers={"Authorization": f"Zoho-oauthtoken {token}", **(headers or {})})


ERROR_FAULTS = [
    pytest.param({"status": 503}, 503, "SERVICE_UNAVAILABLE", id="503"),
    pytest.param({"status": 500}, 500, "INTERNAL_ERROR", id="500"),
    pytest.param({"status": 502}, 502, "BAD_GATEWAY", id="502"),
    pytest.param({"status": 401}, 401, "INVALID_TOKEN", id="401"),
    pytest.param({"status": 429}, 429, "TOO_MANY_REQUESTS", id="429"),
    pytest.param({"mode": "rate_limit"}, 429, "TOO_MANY_REQUESTS", id="rate-limit-mode"),
    pytest.param({"status": 400, "body": {"code": "CUSTOM", "details": {}, "message": "m", "status": "error"}}, 400, "CUSTOM", id="custom-body"),
]


@pytest.mark.parametrize(("rule", "status", "code"), ERROR_FAULTS)
def test_crm_error_faults(admin: SandboxAdmin, sandbox_token: str, rule: dict[str, Any], status: int, code: str) -> None:
    fault_id = admin.fault("crm", **{"mode": "error", **rule})
    response = _get(admin, sandbox_token)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    assert response.json()["code"] == code
    entry = admin.journal()[-1]
    assert entry["surface"] == "crm" and entry["status"] == status and entry["fault"] == fault_id


def test_count_expires_the_rule(admin: SandboxAdmin, sandbox_token: str) -> None:
    admin.fault("crm", status=503, count=2)
    statuses = [_get(admin, sandbox_token).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert admin.faults() == []


@pytest.mark.parametrize(("client", "sdk_header", "faulted"), [
    pytest.param("zcrmsdk", True, True, id="zcrmsdk-rule-sdk-request"),
    pytest.param("zcrmsdk", False, False, id="zcrmsdk-rule-other-request"),
    pytest.param("other", True, False, id="other-rule-sdk-request"),
    pytest.param("other", False, True, id="other-rule-other-request"),
    pytest.param("any", True, True, id="any-rule"),
])
def test_client_matching(admin: SandboxAdmin, sandbox_token: str, client: str, sdk_header: bool, faulted: bool) -> None:
    admin.fault("crm", status=503, client=client)
    headers = {"X-ZOHO-SDK": "Linux/5 python/3.11:3.1.0"} if sdk_header else {}
    assert (_get(admin, sandbox_token, headers).status_code == 503) is faulted
    assert admin.journal()[-1]["client"] == ("zcrmsdk" if sdk_header else "other")


@pytest.mark.parametrize(("pattern", "faulted"), [
    pytest.param(r"/search$", False, id="non-matching-path"),
    pytest.param(r"/Accounts/\d+$", True, id="matching-path"),
])
def test_path_matching(admin: SandboxAdmin, sandbox_token: str, pattern: str, faulted: bool) -> None:
    admin.fault("crm", status=503, path=pattern)
    assert (_get(admin, sandbox_token).status_code == 503) is faulted


def test_probability_is_seeded(admin: SandboxAdmin, sandbox_token: str) -> None:
    def run() -> list[int]:
        admin.reset()
        token = mint_token(admin.base_url).json()["access_token"]
        admin.fault("crm", status=503, probability=0.5)
        return [_get(admin, token).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert 503 in first and 200 in first


@pytest.mark.parametrize("surface", ["crm", "oauth"])
def test_latency_fault(admin: SandboxAdmin, sandbox_token: str, surface: str) -> None:
    """Only a lower bound on the elapsed time: it cannot flake, and it fails if the latency is skipped."""
    admin.fault(surface, mode="latency", latency_ms=120, count=1)
    started = time.perf_counter()
    response = _get(admin, sandbox_token) if surface == "crm" else mint_token(admin.base_url)
    assert time.perf_counter() - started >= 0.12
    assert response.status_code == 200
    assert admin.journal()[-1]["status"] == 200


def test_latency_fault_holds_a_concurrency_slot(admin: SandboxAdmin, sandbox_token: str) -> None:
    admin.fault("crm", mode="latency", latency_ms=400, count=1)
    worker = threading.Thread(target=_get, args=(admin, sandbox_token))
    worker.start()
    seen = 0
    deadline = time.monotonic() + 5
    while worker.is_alive() and time.monotonic() < deadline:
        seen = max(seen, admin.limits()["in_flight"])
        time.sleep(0.01)
    worker.join()
    assert seen == 1


def test_oauth_hang_then_release(admin: SandboxAdmin) -> None:
    admin.fault("oauth", mode="hang")
    with pytest.raises(httpx.ReadTimeout):
        shared_http().post(f"{admin.base_url}/oauth/v2/token", data={}, timeout=0.2)
    admin.clear_faults()
    assert "access_token" in mint_token(admin.base_url).json()


def test_oauth_reset_after_mints_then_drops(admin: SandboxAdmin) -> None:
    admin.fault("oauth", mode="reset_after", count=1)
    with pytest.raises(httpx.TransportError):
        mint_token(admin.base_url)
    assert admin.tokens()["live"] == 1, "the token was minted though the caller never saw it"
    entry = admin.journal()[-1]
    assert entry["status"] is None and entry["applied_status"] == 200


def test_fault_rule_defaults(admin: SandboxAdmin) -> None:
    response = admin.http.post("/faults", json={"surface": "crm"})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["id"]
    (rule,) = admin.faults()
    assert {k: rule[k] for k in ("id", "surface", "client", "path", "mode", "status", "latency_ms", "probability", "count")} == {
        "id": body["id"], "surface": "crm", "client": "any", "path": None, "mode": "error", "status": 503,
        "latency_ms": 0, "probability": 1.0, "count": None}


def test_journal_entries_have_the_design_keys(admin: SandboxAdmin, sandbox_token: str) -> None:
    _get(admin, sandbox_token, {"X-ZOHO-SDK": "Linux/5 python/3.11:3.1.0"})
    shared_http().get(f"{admin.base_url}/crm/v2/Nope", headers={"Authorization": f"Zoho-oauthtoken {sandbox_token}"})
    rid = admin.record_ids()[0]
    assert admin.journal() == [
        {"surface": "oauth", "client": "other", "method": "POST", "path": "/oauth/v2/token", "status": 200},
        {"surface": "crm", "client": "zcrmsdk", "method": "GET", "path": f"/crm/v2/Accounts/{rid}", "status": 200},
        {"surface": "crm", "client": "other", "method": "GET", "path": "/crm/v2/Nope", "status": 400},
    ]


@pytest.mark.parametrize("surface", ["crm", "oauth"])
def test_reset_drops_the_connection(admin: SandboxAdmin, sandbox_token: str, surface: str) -> None:
    admin.fault(surface, mode="reset", count=1)
    with pytest.raises(httpx.TransportError):
        if surface == "crm":
            _get(admin, sandbox_token)
        else:
            mint_token(admin.base_url)
    assert admin.journal()[-1]["status"] is None
    assert _get(admin, sandbox_token).status_code == 200


def test_reset_after_applies_then_drops(admin: SandboxAdmin, sandbox_token: str) -> None:
    rid = admin.record_ids()[0]
    admin.fault("crm", mode="reset_after", count=1)
    with pytest.raises(httpx.TransportError):
        shared_http().put(f"{admin.base_url}/crm/v2/Accounts", json={"data": [{"id": rid, "Phone": "applied-anyway"}]},
                          headers={"Authorization": f"Zoho-oauthtoken {sandbox_token}"})
    stored = admin.record("Accounts", rid)
    assert stored is not None and stored["Phone"] == "applied-anyway"
    entry = admin.journal()[-1]
    assert entry["status"] is None and entry["applied_status"] == 200


def test_hang_times_out_client_then_releases(admin: SandboxAdmin, sandbox_token: str) -> None:
    fault_id = admin.fault("crm", mode="hang")
    with pytest.raises(httpx.ReadTimeout):
        _get(admin, sandbox_token, timeout=0.3)
    admin.clear_faults(fault_id)
    assert _get(admin, sandbox_token).status_code == 200


@pytest.mark.parametrize("count", [None, 1], ids=["unlimited", "spent-after-one"])
def test_hang_released_by_clearing_faults(admin: SandboxAdmin, sandbox_token: str, count: int | None) -> None:
    admin.fault("crm", mode="hang", count=count)
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["response"] = _get(admin, sandbox_token, timeout=30)
        except httpx.TransportError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 5
    while admin.limits()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert admin.limits()["in_flight"] == 1, "a hung request holds a concurrency slot"
    admin.clear_faults()
    worker.join(5)
    assert not worker.is_alive()
    assert "error" in outcome, "a released hang drops the connection"


def test_oauth_error_fault_default_is_invalid_code(admin: SandboxAdmin) -> None:
    admin.fault("oauth", status=200)
    assert mint_token(admin.base_url).json() == {"error": "invalid_code"}


def test_oauth_rate_limit_fault_is_the_throttle_body(admin: SandboxAdmin) -> None:
    admin.fault("oauth", mode="rate_limit")
    response = mint_token(admin.base_url)
    assert response.status_code == 400 and response.json()["error"] == "Access Denied"


def test_delete_one_fault(admin: SandboxAdmin, sandbox_token: str) -> None:
    keep = admin.fault("crm", status=500, path="/search")
    drop = admin.fault("crm", status=503)
    admin.clear_faults(drop)
    assert [f["id"] for f in admin.faults()] == [keep]
    assert _get(admin, sandbox_token).status_code == 200


BAD_RULES = [
    pytest.param({"surface": "smtp", "mode": "error"}, id="bad-surface"),
    pytest.param({"surface": "crm", "mode": "explode"}, id="bad-mode"),
    pytest.param({"surface": "crm", "client": "curl"}, id="bad-client"),
    pytest.param({"surface": "crm", "path": "("}, id="bad-regex"),
    pytest.param({"surface": "crm", "status": 42}, id="bad-status"),
    pytest.param({"surface": "crm", "probability": 2}, id="bad-probability"),
    pytest.param({"surface": "crm", "count": 0}, id="bad-count"),
    pytest.param({"surface": "crm", "colour": "red"}, id="unknown-key"),
    pytest.param({"surface": "crm", "mode": "error", "status": 200}, id="error-with-success-status"),
    pytest.param({"surface": "mcp", "mode": "rate_limit", "status": 302}, id="rate-limit-with-redirect"),
]


@pytest.mark.parametrize("rule", BAD_RULES)
def test_bad_fault_rules_are_rejected(admin: SandboxAdmin, rule: dict[str, Any]) -> None:
    response = admin.http.post("/faults", json=rule)
    assert response.status_code == 400 and "error" in response.json()


def test_admin_is_not_faulted_limited_or_journaled(admin: SandboxAdmin) -> None:
    admin.fault("crm", status=503)
    admin.fault("oauth", status=503)
    admin.fault("crm", mode="hang", path="records")
    admin.configure(credits_per_day=0)
    assert admin.info()["client_id"]
    rid = admin.record_ids()[0]
    record = admin.record("Accounts", rid)  # no Authorization header, faults staged, no credits left
    assert record is not None and record["id"] == rid
    assert admin.journal() == []
    assert admin.limits()["credits_used"] == 0


def test_info_matches_design(admin: SandboxAdmin) -> None:
    info = admin.info()
    base = admin.base_url
    assert {k: info[k] for k in ("client_id", "client_secret", "refresh_token", "accounts_url", "api_domain", "mcp_url")} == {
        "client_id": "1000.SANDBOXCLIENTID", "client_secret": "sandbox-client-secret-0000",
        "refresh_token": "1000.sandboxrefresh.0000", "accounts_url": base, "api_domain": base,
        "mcp_url": f"{base}/mcp/sandbox-mcp-key-0000/message"}


def test_ground_truth_records(admin: SandboxAdmin) -> None:
    ids = admin.record_ids()
    assert len(ids) == 500 and all(len(i) == 19 and i.isdigit() for i in ids)
    assert admin.record("Accounts", "1") is None
    assert admin.http.get("/records/Nope").status_code == 404


def test_reset_clears_faults_journal_and_tokens(admin: SandboxAdmin, sandbox_token: str) -> None:
    admin.fault("crm", status=503)
    _get(admin, sandbox_token)
    admin.reset()
    assert admin.faults() == [] and admin.journal() == []
    assert _get(admin, sandbox_token).status_code == 401


def test_bad_admin_input(admin: SandboxAdmin) -> None:
    assert admin.http.post("/faults", content=b"{nope").status_code == 400
    assert admin.http.post("/clock", json={"advance": -1}).status_code == 400
    assert admin.http.post("/clock", json={"advance": 1e308}).status_code == 400
    assert admin.http.get("/journal", params={"since": "abc"}).status_code == 400
    assert admin.http.get("/journal", params={"since": "0"}).status_code == 200
    assert admin.http.post("/config", json={"no_such_knob": 1}).status_code == 400
    for knob in ({"concurrency": 0}, {"token_ttl": -1}, {"latency_ms": -1}, {"credits_per_day": -1},
                 {"token_ttl": 0}, {"max_active_tokens": 0}):
        response = admin.http.post("/config", json=knob)
        assert response.status_code == 400 and next(iter(knob)) in response.text, knob
    assert admin.http.post("/config", json={"concurrency": 3, "credits_per_day": 0}).status_code == 200
    assert admin.http.get("/nothing").status_code == 404
