"""Turning failures into isError results: stable codes, a next step, and never a secret or a traceback."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from zoho_mcp.criteria import CriteriaError
from zoho_mcp.logs import register_secret
from zoho_mcp.resilience.errors import AllTiersFailed, CircuitOpenError
from zoho_mcp.tiers.base import AuthError, BusinessError, InvalidRequestError, TransientError
from zoho_mcp.tools.errors import LOCAL_NOTE, ToolFailure, failure_from_exception, invalid_arguments


def test_a_failure_renders_code_message_hint_and_details() -> None:
    f = ToolFailure("NOT_FOUND", "no account", hint="search first", details={"id": "1"})
    result = f.to_result()
    assert result.is_error
    assert result.content[0].text.splitlines() == [  # type: ignore[union-attr]
        "NOT_FOUND: no account", "How to fix: search first", 'Details: {"id": "1"}'
    ]


def test_zoho_business_errors_keep_zohos_code_and_details() -> None:
    f = failure_from_exception(
        BusinessError("invalid data", code="INVALID_DATA", details={"api_name": "Phone"}, status=400), tool="t"
    )
    assert f.code == "INVALID_DATA" and f.details == {"api_name": "Phone"} and not f.local
    assert "Zoho" in f.message


def test_local_refusals_say_nothing_was_sent() -> None:
    f = failure_from_exception(InvalidRequestError("bad id", code="INVALID_ID"), tool="t")
    assert f.local and LOCAL_NOTE in f.text() and "18-19 digits" in (f.hint or "")
    criteria_error = CriteriaError("INVALID_QUERY", "invalid query formed", {"reason": "unbalanced"})
    c = failure_from_exception(criteria_error, tool="t")
    assert c.code == "INVALID_QUERY" and "unbalanced" in c.message and c.local


def test_every_tier_down_is_temporary_and_names_each_tier() -> None:
    exc = AllTiersFailed({
        "mcp": CircuitOpenError("mcp", 12.0),
        "sdk": TransientError("boom", code="HTTP_503", status=503, tier="sdk"),
    })
    f = failure_from_exception(exc, tool="t")
    assert f.code == "ZOHO_UNAVAILABLE" and "retry" in (f.hint or "").lower()
    assert set(f.details["tiers"]) == {"mcp", "sdk"}


def test_credentials_refused_everywhere_is_an_operator_problem() -> None:
    exc = AllTiersFailed({name: AuthError("bad", code="INVALID_TOKEN") for name in ("sdk", "rest")})
    assert failure_from_exception(exc, tool="t").code == "ZOHO_AUTH_FAILED"


def test_an_unexpected_crash_shows_no_detail() -> None:
    f = failure_from_exception(RuntimeError("internal path /secret/thing"), tool="get_account")
    assert f.code == "INTERNAL_ERROR" and "/secret/thing" not in f.text()


def test_concurrent_failures_are_unwrapped() -> None:
    group = ExceptionGroup("chunks", [ValueError("x"), BusinessError("nope", code="INVALID_DATA")])
    assert failure_from_exception(group, tool="t").code == "INVALID_DATA"


def test_secrets_are_redacted_from_messages_and_details() -> None:
    register_secret("s3cr3t-value-1234")
    f = failure_from_exception(
        TransientError("failed with s3cr3t-value-1234", code="HTTP_500", details={"url": "x?token=s3cr3t-value-1234"}),
        tool="t",
    )
    assert "s3cr3t-value-1234" not in f.text()


class _Args(BaseModel):
    account_id: str = Field(max_length=5)
    n: int


def test_validation_errors_list_each_problem_with_a_short_preview() -> None:
    try:
        _Args.model_validate({"account_id": "x" * 500, "extra": 1})
    except ValidationError as exc:
        f = invalid_arguments("get_account", exc, 'account_id="1"')
    text = f.text()
    assert text.startswith("INVALID_ARGUMENTS: get_account was called with invalid arguments")
    assert "account_id:" in text and "n: required but missing" in text
    assert "x" * 100 not in text
    assert 'Example: get_account(account_id="1")' in text and LOCAL_NOTE in text


def test_credentials_and_setup_both_wrong_is_reported_the_same_way_every_time() -> None:
    from zoho_mcp.tiers.base import ConfigurationError

    for order in (("mcp", "sdk"), ("sdk", "mcp")):
        causes = {
            order[0]: ConfigurationError("bad key", code="MCP_KEY_INVALID"),
            order[1]: AuthError("bad client", code="INVALID_CLIENT"),
        }
        assert failure_from_exception(AllTiersFailed(causes), tool="t").code == "ZOHO_AUTH_FAILED"


def test_only_the_tiers_tried_are_named() -> None:
    exc = AllTiersFailed({"rest": TransientError("boom", code="HTTP_503", status=503, tier="rest")})
    f = failure_from_exception(exc, tool="t")
    assert f.code == "ZOHO_UNAVAILABLE"
    assert "(REST)" in f.message and "MCP" not in f.message and "SDK" not in f.message
    assert "HTTP_503: boom" in f.message


def test_the_cause_behind_an_open_circuit_is_shown_and_decides_the_code() -> None:
    connect = TransientError(
        "could not reach Zoho's accounts server http://127.0.0.1:9 (ConnectError): check ZOHO_ACCOUNTS_URL",
        code="TOKEN_CONNECT_ERROR",
        details={"sent": False},
    )
    f = failure_from_exception(AllTiersFailed({"rest": CircuitOpenError("rest", 60.0, connect)}), tool="t")
    assert f.code == "ZOHO_UNAVAILABLE"
    assert "rest: circuit open since the last failure: TOKEN_CONNECT_ERROR" in f.message
    assert "ZOHO_ACCOUNTS_URL" in (f.hint or "") and "retry in about 60 s" in (f.hint or "")
    assert f.details["tiers"]["rest"]["code"] == "TOKEN_CONNECT_ERROR"
    register_secret("s3cr3t-behind-circuit-99")
    auth = AuthError("refused s3cr3t-behind-circuit-99", code="INVALID_CLIENT_SECRET")
    exc = AllTiersFailed({"sdk": CircuitOpenError("sdk", 30.0, auth), "rest": CircuitOpenError("rest", 30.0, auth)})
    g = failure_from_exception(exc, tool="t")
    assert g.code == "ZOHO_AUTH_FAILED" and "temporary" not in g.text()
    assert "INVALID_CLIENT_SECRET" in g.message and "s3cr3t-behind-circuit-99" not in g.text()
    # a lone CircuitOpenError reads the same way
    assert failure_from_exception(CircuitOpenError("rest", 5.0, auth), tool="t").code == "ZOHO_AUTH_FAILED"


def test_the_local_token_request_limit_is_not_a_credentials_failure() -> None:
    from zoho_mcp.tiers.auth import TokenRequestLimited

    limit = TokenRequestLimited(
        "not asking Zoho for another access token: 10 token requests were made in the last 10 minutes",
        code="TOKEN_REQUEST_LIMIT",
        details={"retry_in": 589.0, "sent": False},
    )
    exc = AllTiersFailed({"sdk": limit, "rest": limit})
    f = failure_from_exception(exc, tool="t")
    assert f.code == "TOKEN_REQUEST_LIMIT" and f.code != "ZOHO_AUTH_FAILED"
    assert "protects the account" in f.message and "589" in (f.hint or "")
    assert "not a credentials problem" in (f.hint or "")
    assert f.details["retry_in"] == 589.0
