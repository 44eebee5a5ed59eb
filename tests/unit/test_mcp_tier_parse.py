"""Tier 1's pure translation: tool arguments, tool results → normalised results, error classification."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    REQUEST_TIMEOUT,
    CallToolResult,
    TextContent,
)

from zoho_mcp.logs import register_secret
from zoho_mcp.tiers.base import (
    AuthError,
    BusinessError,
    ConfigurationError,
    GetResult,
    PageInfo,
    RateLimitedError,
    SearchRecords,
    TransientError,
)
from zoho_mcp.tiers.mcp_parse import (
    GUARD_KEY,
    TRANSPORT_ERROR_CODE,
    error_from_envelope,
    error_from_exception,
    error_from_mcp_error,
    get_record_args,
    get_records_args,
    probe_args,
    resolve_tool_name,
    search_args,
    tool_payload,
    update_args,
    write_results,
)
from zoho_mcp.tiers.zoho_json import get_result, is_missing_id_error, records_by_id, search_result

A = "4876876000000624001"
B = "4876876000000624002"
C = "4876876000000624003"


def _result(text: str | None, *, is_error: bool = False, structured: Any = None) -> CallToolResult:
    content = [] if text is None else [TextContent(type="text", text=text)]
    return CallToolResult(content=content, is_error=is_error, structured_content=structured)


# --- arguments -------------------------------------------------------------------------------------


def test_arguments_mirror_the_http_request() -> None:
    assert get_record_args("Accounts", A, None) == {"path_variables": {"module": "Accounts", "recordID": A}}
    assert get_record_args("Accounts", A, ("Account_Name", "Phone")) == {
        "path_variables": {"module": "Accounts", "recordID": A},
        "query_params": {"fields": "Account_Name,Phone"},
    }
    assert get_records_args("Accounts", [A, B], ("Phone",)) == {
        "path_variables": {"module": "Accounts"},
        "query_params": {"ids": f"{A},{B}", "page": 1, "per_page": 200, "fields": "Phone"},
    }
    assert probe_args("Contacts") == {
        "path_variables": {"module": "Contacts"},
        "query_params": {"page": 1, "per_page": 1},
    }
    assert update_args("Accounts", [{"id": A, "Phone": "1"}], None) == {
        "path_variables": {"module": "Accounts"},
        "body": {"data": [{"id": A, "Phone": "1"}]},
    }
    assert update_args("Accounts", [{"id": A}], ("workflow",))["body"]["trigger"] == ["workflow"]
    assert update_args("Accounts", [{"id": A}], ())["body"]["trigger"] == []


def test_search_arguments_use_one_search_parameter_and_integer_paging() -> None:
    op = SearchRecords("Accounts", criteria=r"(Account_Name:equals:Burns\,B)", email="x@y.z", page=2, per_page=50)
    assert search_args(op) == {
        "path_variables": {"module": "Accounts"},
        "query_params": {"criteria": r"(Account_Name:equals:Burns\,B)", "page": 2, "per_page": 50},
    }
    op = SearchRecords("Contacts", phone="555", fields=("Email",))
    assert search_args(op)["query_params"] == {"phone": "555", "page": 1, "per_page": 200, "fields": "Email"}


# --- payloads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "  ", "{}"])
def test_a_rest_204_is_empty_text_or_an_empty_object(text: str) -> None:
    assert tool_payload(_result(text)) is None


def test_no_content_at_all_is_empty() -> None:
    assert tool_payload(_result(None)) is None


def test_json_text_is_parsed() -> None:
    body = {"data": [{"id": A}], "info": {"more_records": False}}
    assert tool_payload(_result(json.dumps(body))) == body


def test_structured_content_is_used_when_there_is_no_text() -> None:
    assert tool_payload(_result(None, structured={"data": [{"id": A}]})) == {"data": [{"id": A}]}


def test_rewrapped_answer_is_unwrapped() -> None:
    inner = {"data": [{"id": A}], "info": {"count": 1}}
    assert tool_payload(_result(json.dumps({"data": inner, "status": "success"}))) == inner


@pytest.mark.parametrize("is_error", [True, False])
def test_error_envelope_is_classified_with_or_without_is_error(is_error: bool) -> None:
    text = json.dumps(
        {"code": "INVALID_QUERY", "details": {"reason": "x"}, "message": "invalid query formed", "status": "error"}
    )
    with pytest.raises(BusinessError) as info:
        tool_payload(_result(text, is_error=is_error))
    assert (info.value.code, info.value.tier, info.value.details) == ("INVALID_QUERY", "mcp", {"reason": "x"})
    assert info.value.status is None


def test_envelope_without_status_is_still_an_error() -> None:
    with pytest.raises(AuthError):
        tool_payload(_result(json.dumps({"code": "INVALID_TOKEN", "message": "invalid oauth token"})))


def test_is_error_with_record_data_is_data_for_updates_only() -> None:
    text = json.dumps({"data": [{"code": "INVALID_DATA", "details": {}, "message": "invalid data", "status": "error"}]})
    assert tool_payload(_result(text, is_error=True), allow_record_errors=True) is not None
    with pytest.raises(TransientError):
        tool_payload(_result(text, is_error=True))


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("TOO_MANY_REQUESTS", RateLimitedError),
        ("INVALID_TOKEN", AuthError),
        ("AUTHENTICATION_FAILURE", AuthError),
        ("OAUTH_SCOPE_MISMATCH", AuthError),
        ("INTERNAL_ERROR", TransientError),
        ("INVALID_DATA", BusinessError),
        ("LIMIT_EXCEEDED", BusinessError),
        ("NO_PERMISSION", BusinessError),
    ],
)
def test_envelope_codes_map_to_categories(code: str, cls: type) -> None:
    err = error_from_envelope({"code": code, "message": "m", "status": "error"})
    assert type(err) is cls
    assert err.tier == "mcp"


def test_envelope_with_known_status() -> None:
    assert isinstance(error_from_envelope({"code": "WHATEVER", "message": "m"}, status=503), TransientError)
    assert isinstance(error_from_envelope({"code": "WHATEVER", "message": "m"}, status=401), AuthError)


@pytest.mark.parametrize(
    "result",
    [
        _result("APIKey parsing Exception", is_error=True),
        _result("APIKey parsing Exception"),
        _result(
            json.dumps({"code": "INVALID_REQUEST", "message": "APIKey parsing Exception", "status": "error"}),
            is_error=True,
        ),
    ],
)
def test_wrong_key_is_a_configuration_error_naming_the_variable(result: CallToolResult) -> None:
    with pytest.raises(ConfigurationError) as info:
        tool_payload(result)
    assert "ZOHO_MCP_URL" in str(info.value)
    assert info.value.code == "MCP_KEY_INVALID"


def test_plain_text_tool_errors() -> None:
    with pytest.raises(TransientError) as info:
        tool_payload(_result("something broke", is_error=True))
    assert info.value.code == "MCP_TOOL_ERROR"
    with pytest.raises(ConfigurationError):
        tool_payload(_result("Unknown tool: ZohoCRM_Get_Records", is_error=True))
    with pytest.raises(TransientError) as info:
        tool_payload(_result("<html>proxy error</html>"))
    assert info.value.code == "INVALID_RESPONSE"
    with pytest.raises(TransientError):
        tool_payload(_result("[1, 2]"))


def test_secrets_in_tool_text_are_redacted() -> None:
    register_secret("tool-text-secret-98765")
    with pytest.raises(TransientError) as info:
        tool_payload(_result("failed with tool-text-secret-98765", is_error=True))
    assert "tool-text-secret-98765" not in str(info.value)


# --- normalised results ----------------------------------------------------------------------------


def test_records_and_missing_keep_the_asked_order() -> None:
    found = records_by_id({"data": [{"id": int(C), "Owner": {"id": 5}}, {"id": A}]})
    assert found[C] == {"id": C, "Owner": {"id": "5"}}
    assert get_result([A, B, C], found) == GetResult(records=[{"id": A}, found[C]], missing=[B])
    assert records_by_id(None) == {}
    with pytest.raises(TransientError):
        records_by_id({"info": {}})


def test_missing_id_error_detection() -> None:
    assert is_missing_id_error(BusinessError("the id given seems to be invalid", code="INVALID_DATA"))
    assert not is_missing_id_error(BusinessError("invalid data", code="INVALID_DATA"))
    assert not is_missing_id_error(TransientError("the id given seems to be invalid", code="INVALID_DATA"))


def test_search_result_and_empty_page() -> None:
    op = SearchRecords("Accounts", word="Acme", page=3, per_page=10)
    assert search_result(op, None).page == PageInfo(page=3, per_page=10, count=0, more_records=False)
    body = {"data": [{"id": A}, {"id": B}], "info": {"page": 3, "per_page": 10, "count": 2, "more_records": True}}
    res = search_result(op, body)
    assert [r["id"] for r in res.records] == [A, B]
    assert res.page == PageInfo(page=3, per_page=10, count=2, more_records=True)
    res = search_result(op, {"data": [{"id": A}]})
    assert res.page == PageInfo(page=3, per_page=10, count=1, more_records=False)


def test_write_results_in_input_order() -> None:
    chunk = [{"id": A, "Phone": "1"}, {"id": B, "Annual_Revenue": "x"}, {"id": C}]
    body = {
        "data": [
            {
                "code": "SUCCESS",
                "details": {"id": A, "Modified_By": {"id": 7}},
                "message": "record updated",
                "status": "success",
            },
            {
                "code": "INVALID_DATA",
                "details": {"api_name": "Annual_Revenue"},
                "message": "invalid data",
                "status": "error",
            },
        ]
    }
    results = write_results(chunk, body)
    assert [(r.id, r.status, r.code) for r in results] == [
        (A, "success", "SUCCESS"),
        (B, "error", "INVALID_DATA"),
        (C, "error", "NO_RESULT"),
    ]
    assert results[0].details["Modified_By"] == {"id": "7"}
    with pytest.raises(TransientError):
        write_results(chunk, None)
    with pytest.raises(TransientError):
        write_results(chunk, {"code": "X"})


# --- JSON-RPC errors and exceptions ----------------------------------------------------------------


def _guard(kind: str, **extra: Any) -> dict[str, Any]:
    return {GUARD_KEY: {"kind": kind, "detail": "X", **extra}}


@pytest.mark.parametrize(
    ("data", "cls", "code"),
    [
        (_guard("timeout"), TransientError, "TIMEOUT"),
        (_guard("connect"), TransientError, "CONNECT_ERROR"),
        (_guard("network"), TransientError, "CONNECTION_RESET"),
        (_guard("http", status=401), AuthError, "MCP_UNAUTHORIZED"),
        (_guard("http", status=403), AuthError, "MCP_UNAUTHORIZED"),
        (_guard("http", status=404), TransientError, "SESSION_EXPIRED"),
        (_guard("http", status=429), RateLimitedError, "TOO_MANY_REQUESTS"),
        (_guard("http", status=502), TransientError, "HTTP_502"),
        (_guard("http", status=418), TransientError, "HTTP_418"),
        (
            _guard("http", status=503, body={"code": "INTERNAL_ERROR", "message": "m", "status": "error"}),
            TransientError,
            "INTERNAL_ERROR",
        ),
        (
            _guard("http", status=429, body={"code": "TOO_MANY_REQUESTS", "message": "m"}),
            RateLimitedError,
            "TOO_MANY_REQUESTS",
        ),
        (_guard("http", status=401, body={"error": "invalid_token"}), AuthError, "MCP_UNAUTHORIZED"),
    ],
)
def test_guarded_transport_errors(data: dict[str, Any], cls: type, code: str) -> None:
    err = error_from_mcp_error(TRANSPORT_ERROR_CODE, "whatever", data)
    assert type(err) is cls
    assert err.code == code
    assert err.tier == "mcp"


@pytest.mark.parametrize(
    ("code", "message", "cls", "zcode"),
    [
        (REQUEST_TIMEOUT, "Request 'tools/call' timed out", TransientError, "TIMEOUT"),
        (CONNECTION_CLOSED, "Connection closed", TransientError, "CONNECTION_RESET"),
        (METHOD_NOT_FOUND, "Method not found", ConfigurationError, "MCP_TOOL_MISSING"),
        (INVALID_PARAMS, "bad arguments", ConfigurationError, "MCP_INVALID_PARAMS"),
        (INVALID_REQUEST, "Session terminated", TransientError, "SESSION_EXPIRED"),
        (INTERNAL_ERROR, "Server returned an error response", TransientError, "MCP_INTERNAL_ERROR"),
        (-32600, "APIKey parsing Exception", ConfigurationError, "MCP_KEY_INVALID"),
        (-32000, "Unauthorized", AuthError, "MCP_UNAUTHORIZED"),
        (-32000, "SSE stream ended without a response", TransientError, "CONNECTION_RESET"),
        (-31999, "Unauthorized", AuthError, "MCP_UNAUTHORIZED"),
        (-31000, "odd", TransientError, "MCP_ERROR"),
    ],
)
def test_json_rpc_errors(code: int, message: str, cls: type, zcode: str) -> None:
    err = error_from_mcp_error(code, message, None)
    assert type(err) is cls
    assert err.code == zcode


def test_json_rpc_error_carrying_a_zoho_envelope() -> None:
    err = error_from_mcp_error(-32603, "tool failed", {"code": "INVALID_TOKEN", "message": "invalid oauth token"})
    assert isinstance(err, AuthError) and err.code == "INVALID_TOKEN"


def test_exception_groups_are_unwrapped() -> None:
    req = httpx2.Request("POST", "http://127.0.0.1:1/mcp/k/message")
    group = ExceptionGroup("tg", [ExceptionGroup("inner", [httpx2.ConnectError("refused", request=req)])])
    err = error_from_exception(group)
    assert isinstance(err, TransientError) and err.code == "CONNECT_ERROR"
    assert error_from_exception(ExceptionGroup("g", [httpx2.ReadTimeout("t", request=req)])).code == "TIMEOUT"
    assert error_from_exception(httpx2.ConnectTimeout("t", request=req)).code == "CONNECT_TIMEOUT"
    assert error_from_exception(httpx2.RemoteProtocolError("x", request=req)).code == "CONNECTION_RESET"
    assert error_from_exception(TimeoutError()).code == "TIMEOUT"
    mcp_err = error_from_exception(ExceptionGroup("g", [MCPError(-32600, "APIKey parsing Exception")]))
    assert isinstance(mcp_err, ConfigurationError)
    status = httpx2.HTTPStatusError("x", request=req, response=httpx2.Response(401, request=req))
    assert isinstance(error_from_exception(status), AuthError)
    assert error_from_exception(RuntimeError("weird")).code == "MCP_CLIENT_ERROR"


def test_exception_messages_are_redacted() -> None:
    register_secret("exc-secret-key-5555")
    err = error_from_exception(RuntimeError("boom at http://h/mcp/exc-secret-key-5555/message"))
    assert "exc-secret-key-5555" not in str(err) and "exc-secret-key-5555" not in repr(err)


def test_tool_names_resolve_across_naming_styles() -> None:
    assert resolve_tool_name("ZohoCRM_Get_Records", None) == "ZohoCRM_Get_Records"
    assert (
        resolve_tool_name("ZohoCRM_Get_Records", frozenset({"ZohoCRM_Get_Records", "getRecords"}))
        == "ZohoCRM_Get_Records"
    )
    assert resolve_tool_name("ZohoCRM_Get_Records", frozenset({"getRecords", "getRecord"})) == "getRecords"
    assert resolve_tool_name("ZohoCRM_Get_Record", frozenset({"Get_Record"})) == "Get_Record"
    assert resolve_tool_name("ZohoCRM_Update_Records", frozenset({"getRecords"})) is None


def test_a_session_failure_seen_by_a_call_never_claims_the_call_was_not_sent() -> None:
    """Only the transport guard speaks for one POST; a connect error inside the session's task group
    (another request's, the event stream's) says nothing about a call already written."""
    from zoho_mcp.tiers.mcp import _in_flight

    group = ExceptionGroup("session", [httpx2.ConnectError("refused")])
    err = _in_flight(error_from_exception(group))
    assert isinstance(err, TransientError)
    assert err.code == "CONNECTION_RESET" and err.details["sent"] is True and err.details["cause"] == "CONNECT_ERROR"
    timeout = _in_flight(error_from_exception(ExceptionGroup("s", [httpx2.ReadTimeout("slow")])))
    assert timeout.code == "TIMEOUT" and timeout.details["sent"] is True
