"""Whatever a client sends, the sandbox answers like Zoho: never a 500, always Zoho's envelopes.

Driven straight through the ASGI callable (no sockets) so hypothesis can try thousands of inputs."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoho_mcp.sandbox.app import build_app
from zoho_mcp.sandbox.config import SandboxConfig

APP = build_app(SandboxConfig(accounts=40))
STATE = APP.state
TOKEN = STATE.tokens.mint(STATE.config.refresh_token, STATE.config).token
IDS = STATE.store.ids("Accounts")


def call(method: str, path: str, query: dict[str, str] | None = None, body: bytes = b"",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []
    raw_headers = [(k.lower().encode(), v.encode("utf-8", "surrogateescape")) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": method, "path": path, "query_string": urlencode(query or {}).encode(),
             "headers": raw_headers}
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(APP(scope, receive, send))
    start = sent[0]
    out_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return int(start["status"]), out_headers, b"".join(m.get("body", b"") for m in sent[1:])


def assert_zoho_shaped(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status != 500, body
    if status in (204, 304):
        assert body == b"" and "content-type" not in headers
        return
    assert headers["content-type"] == "application/json;charset=UTF-8"
    payload = json.loads(body)
    if status >= 400:
        if "data" in payload:
            assert all(item["status"] == "error" for item in payload["data"])
        else:
            assert payload["status"] == "error" and isinstance(payload["code"], str)


AUTH = {"Authorization": f"Zoho-oauthtoken {TOKEN}"}
segments = st.sampled_from(["Accounts", "Contacts", "Leads", "Deals", "search", "settings", "fields", "modules",
                            "Nope", "", "..", "%00", "v2", *IDS[:3], "12345", "abc"]) | st.text(max_size=12)
query_keys = st.sampled_from(["criteria", "email", "phone", "word", "page", "per_page", "ids", "fields",
                              "sort_by", "sort_order", "module"])
query_values = st.text(max_size=60) | st.sampled_from(["(Account_Name:equals:A)", "((a:b:c)or(d:e:f))", "0", "-1",
                                                     "9" * 40, "((((", "\\", "Smith\\, Jones", "1,2,3", "\u00b2", "\u0661",
                                                     "1e3", " 7 ", "\x00"])
bodies = st.binary(max_size=300) | st.builds(
    lambda d: json.dumps(d).encode(),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                     st.sampled_from(["data", "id", "Account_Name", "Employees", "Annual_Revenue", "trigger", "Owner"]) | st.text(max_size=8),
                     inner, max_size=4), max_leaves=12))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"]),
       parts=st.lists(segments, min_size=0, max_size=4),
       query=st.dictionaries(query_keys, query_values, max_size=4),
       body=bodies)
def test_crm_never_500(method: str, parts: list[str], query: dict[str, str], body: bytes) -> None:
    status, headers, payload = call(method, "/crm/v2/" + "/".join(parts), query, body, AUTH)
    assert_zoho_shaped(status, headers, payload)


@settings(max_examples=150, deadline=None)
@given(data=st.lists(st.dictionaries(
    st.sampled_from(["id", "Account_Name", "Employees", "Annual_Revenue", "Email", "Owner", "Parent_Account",
                     "Created_Time", "Locked__s", "Website", "SIC_Code", "$state"]),
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats() | st.text(max_size=30)
    | st.sampled_from(IDS[:3]) | st.fixed_dictionaries({"id": st.sampled_from(IDS[:3] + ["1", "x"])}),
    max_size=5), min_size=1, max_size=8))
def test_put_results_are_one_per_record(data: list[dict[str, Any]]) -> None:
    body = json.dumps({"data": data}, allow_nan=True).encode()
    status, headers, payload = call("PUT", "/crm/v2/Accounts", body=body, headers=AUTH)
    assert_zoho_shaped(status, headers, payload)
    if status in (200, 207, 400) and "data" in json.loads(payload):
        results = json.loads(payload)["data"]
        assert len(results) == len(data)
        ok = [r["status"] == "success" for r in results]
        assert status == (200 if all(ok) else 400 if not any(ok) else 207)


@settings(max_examples=150, deadline=None)
@given(form=st.dictionaries(st.sampled_from(["grant_type", "client_id", "client_secret", "refresh_token", "code"]),
                            st.text(max_size=30), max_size=5))
def test_oauth_never_500(form: dict[str, str]) -> None:
    STATE.tokens.reset()
    status, headers, payload = call("POST", "/oauth/v2/token", body=urlencode(form).encode(),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert set(json.loads(payload)) == {"error"}


NEVER_500 = [
    pytest.param("GET", "/crm/v2/Accounts", {"page": "\u00b2"}, b"", id="superscript-page"),
    pytest.param("GET", "/crm/v2/Accounts", {"per_page": "\u00b9"}, b"", id="superscript-per-page"),
    pytest.param("GET", "/crm/v2/Accounts/search", {"word": "Acme", "page": "\u00b3"}, b"", id="superscript-search-page"),
    pytest.param("GET", "/crm/v2/Accounts/search", {"criteria": "(" * 20_000 + ")" * 20_000}, b"", id="deep-criteria"),
    pytest.param("GET", "/crm/v2/Accounts/search", {"criteria": "(Account_Name:equals:" + "\\" * 9_999 + ")"}, b"", id="backslash-storm"),
    pytest.param("PUT", "/crm/v2/Accounts", {}, b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="deep-json"),
    pytest.param("POST", "/crm/v2/Accounts", {}, b"{" * 100_000, id="deep-unclosed-json"),
    pytest.param("PUT", "/crm/v2/Accounts", {}, b'{"data":[{"id":"1","Employees":1e999}]}', id="infinite-number"),
    pytest.param("PUT", "/crm/v2/Accounts", {}, b'{"data":[{"id":"1","Annual_Revenue":NaN}]}', id="nan"),
    pytest.param("PUT", "/crm/v2/Accounts", {}, '{"data":[{"id":"1"}]}'.encode("utf-16"), id="utf16-body"),
    pytest.param("GET", "/__sandbox__/info", {}, b"", id="admin-get"),
    pytest.param("POST", "/__sandbox__/faults", {}, b"[" * 100_000, id="admin-deep-json"),
    pytest.param("POST", "/__sandbox__/config", {}, b'{"token_ttl": 1e999}', id="admin-infinite-knob"),
]


@pytest.mark.parametrize(("method", "path", "query", "body"), NEVER_500)
def test_absurd_input_is_never_a_500(method: str, path: str, query: dict[str, str], body: bytes) -> None:
    status, headers, payload = call(method, path, query, body, AUTH)
    assert status != 500 and b"Traceback" not in payload
    if path.startswith("/crm/"):
        assert_zoho_shaped(status, headers, payload)
    STATE.config = STATE.start_config


def test_a_lone_surrogate_is_escaped_not_a_crash() -> None:
    from zoho_mcp.sandbox.responses import Reply

    reply = Reply(200, {"v": "a\ud800"})
    assert json.loads(reply.encode()) == {"v": "a\ud800"}
    assert json.loads(reply.text()) == {"v": "a\ud800"}


def test_big_bodies_are_zoho_errors() -> None:
    status, headers, payload = call("PUT", "/crm/v2/Accounts", body=b"x" * (STATE.config.max_body_bytes + 1), headers=AUTH)
    assert status == 413 and json.loads(payload)["status"] == "error"
    status, _, payload = call("POST", "/oauth/v2/token", body=b"x" * 100_000)
    assert status == 400 and json.loads(payload) == {"error": "invalid_request"}
