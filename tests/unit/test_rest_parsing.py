"""REST tier response shaping without a network: every body Zoho can send maps to one outcome."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from zoho_mcp.config import Settings
from zoho_mcp.tiers.auth import TokenManager
from zoho_mcp.tiers.base import AuthError, BusinessError, RateLimitedError, TransientError
from zoho_mcp.tiers.rest import RestTier, _is_invalid_token, _Response, _transport_error

ID_A = "4876876000000624001"
ID_B = "4876876000000624002"


@pytest.fixture
def tier(tmp_path: Path) -> RestTier:
    settings = Settings(
        client_id="1000.C", client_secret="s-secret-rest-0001", refresh_token="1000.r.rest",
        accounts_url_override="http://127.0.0.1:9", api_domain_override="http://127.0.0.1:9", state_dir=tmp_path,
    )
    return RestTier(settings, TokenManager(settings, persist=False))


def test_mixed_207_results_keep_input_order(tier: RestTier) -> None:
    body = {
        "data": [
            {"code": "SUCCESS", "details": {"id": int(ID_A)}, "message": "record updated", "status": "success"},
            {"code": "INVALID_DATA", "details": {"api_name": "Annual_Revenue"}, "message": "invalid data", "status": "error"},
        ]
    }
    out = tier._write_results(_Response(207, body, ""), [{"id": ID_A}, {"id": ID_B}])
    assert [(r.id, r.status, r.code) for r in out] == [(ID_A, "success", "SUCCESS"), (ID_B, "error", "INVALID_DATA")]
    assert out[0].details["id"] == ID_A  # ids normalised to strings
    assert out[1].details == {"api_name": "Annual_Revenue"}


def test_all_failed_400_with_data_is_per_record(tier: RestTier) -> None:
    body = {"data": [{"code": "INVALID_DATA", "details": {}, "message": "the id given seems to be invalid", "status": "error"}]}
    out = tier._write_results(_Response(400, body, ""), [{"id": ID_A}])
    assert out[0].status == "error" and out[0].code == "INVALID_DATA"


def test_short_data_list_gives_no_result_errors(tier: RestTier) -> None:
    body = {"data": [{"code": "SUCCESS", "details": {}, "message": "ok", "status": "success"}]}
    out = tier._write_results(_Response(200, body, ""), [{"id": ID_A}, {"id": ID_B}])
    assert out[1].code == "NO_RESULT"


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (400, {"code": "LIMIT_EXCEEDED", "details": {"limit": 100}, "message": "Record count exceeded", "status": "error"}, BusinessError, "LIMIT_EXCEEDED"),
        (429, {"code": "TOO_MANY_REQUESTS", "details": {}, "message": "slow down", "status": "error"}, RateLimitedError, "TOO_MANY_REQUESTS"),
        (500, {"code": "INTERNAL_ERROR", "details": {}, "message": "Internal Server Error", "status": "error"}, TransientError, "INTERNAL_ERROR"),
        (502, None, TransientError, "HTTP_502"),
        (401, {"code": "OAUTH_SCOPE_MISMATCH", "details": {}, "message": "invalid oauth scope", "status": "error"}, AuthError, "OAUTH_SCOPE_MISMATCH"),
    ],
)
def test_request_level_errors(tier: RestTier, status: int, body: dict | None, cls: type, code: str) -> None:
    err = tier._error(_Response(status, body, "<html>Bad gateway</html>" if body is None else ""))
    assert type(err) is cls
    assert err.code == code and err.tier == "rest" and err.status == status
    if body:
        assert err.message == body["message"] and err.details == body["details"]
    else:
        assert "Bad gateway" in err.message


def test_update_with_request_level_error_raises(tier: RestTier) -> None:
    with pytest.raises(BusinessError):
        tier._write_results(_Response(400, {"code": "INVALID_MODULE", "details": {}, "message": "m", "status": "error"}, ""), [{"id": ID_A}])


def test_invalid_token_detection() -> None:
    assert _is_invalid_token(_Response(401, {"code": "INVALID_TOKEN"}, ""))
    assert not _is_invalid_token(_Response(401, {"code": "OAUTH_SCOPE_MISMATCH"}, ""))
    assert not _is_invalid_token(_Response(400, {"code": "INVALID_TOKEN"}, ""))


@pytest.mark.parametrize(
    ("exc", "code", "sent"),
    [
        (httpx.ConnectError("x"), "CONNECT_ERROR", False),
        (httpx.ConnectTimeout("x"), "CONNECT_TIMEOUT", False),
        (httpx.PoolTimeout("x"), "POOL_TIMEOUT", False),
        (httpx.UnsupportedProtocol("x"), "CONNECT_ERROR", False),
        (httpx.ReadTimeout("x"), "TIMEOUT", True),
        (httpx.WriteTimeout("x"), "TIMEOUT", True),
        (httpx.ReadError("x"), "CONNECTION_RESET", True),
        (httpx.WriteError("x"), "CONNECTION_RESET", True),
        (httpx.RemoteProtocolError("x"), "CONNECTION_CLOSED", True),
    ],
)
def test_transport_errors_are_transient(exc: httpx.HTTPError, code: str, sent: bool) -> None:
    err = _transport_error(exc, tier="rest", what="GET /crm/v2/Accounts")
    assert isinstance(err, TransientError) and err.code == code and err.retryable and err.tier == "rest"
    assert err.details["sent"] is sent
