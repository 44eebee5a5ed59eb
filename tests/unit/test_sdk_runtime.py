"""The pieces around zcrmsdk that need no Zoho: token hand-over, the transport seam, error mapping."""

from __future__ import annotations

import time

import pytest
import requests
import urllib3.exceptions
from zcrmsdk.src.com.zoho.crm.api.exception import SDKException

from zoho_mcp.resilience.errors import ErrorCategory
from zoho_mcp.tiers import sdk_http
from zoho_mcp.tiers.base import AuthError, BusinessError, ConfigurationError, RateLimitedError, TransientError
from zoho_mcp.tiers.sdk import FALLBACK_EMAIL, _sdk_email, _sdk_exception_error, _sdk_int_id, _TokenRejected
from zoho_mcp.tiers.sdk_token_store import ManagedTokenStore, handed_token, placeholder_token, token_used


class _User:
    email = "ops@example.com"


def test_store_hands_the_managers_token_with_an_expiry_the_sdk_accepts() -> None:
    calls: list[str] = []

    def fetch() -> str:
        calls.append("fetch")
        return "from-manager"

    store = ManagedTokenStore(fetch)
    template = placeholder_token("1000.CLIENT")
    with handed_token("handed-token"):
        tok = store.get_token(_User(), template)
        assert token_used() == "handed-token"
    assert tok.access_token == "handed-token"
    # zcrmsdk refreshes by itself when expires_in (epoch ms) is less than 5 s away: it must not be.
    assert int(tok.expires_in) - int(time.time() * 1000) > 60_000
    assert tok.client_secret is None and tok.refresh_token == "managed-by-zoho-mcp"
    assert calls == []
    # Without a handed token (a call outside the tier) it asks the manager from the thread.
    assert store.get_token(_User(), template).access_token == "from-manager"
    assert calls == ["fetch"]
    assert "token" not in repr(store).lower().replace("tokenstore", "")


def test_the_sdk_cannot_mint_tokens() -> None:
    with pytest.raises(sdk_http.SdkTokenMintingError):
        sdk_http.NoTokenMinting().post("http://127.0.0.1:9/oauth/v2/token", data={})


def test_sdk_modules_see_the_transport_seam() -> None:
    sdk_http.install()
    from zcrmsdk.src.com.zoho.api.authenticator import oauth_token
    from zcrmsdk.src.com.zoho.crm.api.util import api_http_connector

    assert isinstance(api_http_connector.requests, sdk_http.TimedRequests)
    assert isinstance(oauth_token.requests, sdk_http.NoTokenMinting)
    # Non-HTTP attributes still resolve to the real module.
    assert api_http_connector.requests.Response is requests.Response


def test_call_scope_sets_connect_and_read_timeouts_per_thread() -> None:
    with sdk_http.call_scope(2.5) as scope:
        assert scope.timeout == (2.5, 2.5)
    with sdk_http.call_scope(30.0) as scope:
        assert scope.timeout == (sdk_http.CONNECT_TIMEOUT, 30.0)
    assert sdk_http.last_status() is None


def _err(exc: SDKException) -> object:
    return _sdk_exception_error(exc, what="GET Accounts", read_timeout=3.0)


def _refused() -> requests.ConnectionError:
    """What requests raises for a refused connect: MaxRetryError(reason=NewConnectionError)."""
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/crm/v2/Accounts", reason))


def _dns() -> requests.ConnectionError:
    reason = urllib3.exceptions.NameResolutionError("zohoapis.invalid", None, OSError("no such host"))
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/crm/v2/Accounts", reason))


def _reset() -> requests.ConnectionError:
    """What requests raises when the connection breaks after sending: ProtocolError, no MaxRetryError."""
    return requests.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    )


@pytest.mark.parametrize(
    ("cause", "code", "sent"),
    [
        (requests.ReadTimeout("read timed out"), "TIMEOUT", True),
        (requests.ConnectTimeout("connect timed out"), "CONNECT_TIMEOUT", False),
        (_refused(), "CONNECT_ERROR", False),
        (_dns(), "CONNECT_ERROR", False),
        (_reset(), "CONNECTION_RESET", True),
        (requests.ConnectionError("no detail: cannot prove it never left"), "CONNECTION_RESET", True),
        (requests.exceptions.ChunkedEncodingError("broken"), "TRANSPORT_ERROR", True),
    ],
)
def test_transport_failures_are_transient_and_say_whether_the_request_left(
    cause: Exception, code: str, sent: bool
) -> None:
    err = _err(SDKException(cause=cause))
    assert isinstance(err, TransientError)
    assert err.code == code and err.tier == "sdk"
    assert err.details["sent"] is sent
    assert err.category is ErrorCategory.TRANSIENT


def test_nested_causes_are_unwrapped() -> None:
    err = _err(SDKException(cause=SDKException(cause=requests.ReadTimeout("x"))))
    assert isinstance(err, TransientError) and err.code == "TIMEOUT"


def test_token_manager_errors_keep_their_class_and_name_this_tier() -> None:
    inner = AuthError("refused", code="INVALID_CLIENT", tier=None)
    err = _err(SDKException(cause=inner))
    assert isinstance(err, AuthError) and err.code == "INVALID_CLIENT" and err.tier == "sdk"
    assert err.details["sent"] is False  # the token store failed before the request was built
    assert inner.tier is None and "sent" not in inner.details


def test_metadata_fetch_errors_are_classified_by_zoho_code() -> None:
    body = {"code": "INVALID_MODULE", "status": "error", "message": "the module name given seems to be invalid"}
    err = _err(SDKException("API_EXCEPTION", None, body))
    assert isinstance(err, BusinessError) and err.code == "INVALID_MODULE" and err.tier == "sdk"
    with pytest.raises(_TokenRejected):
        with sdk_http.call_scope(1.0) as scope:
            scope.last_status = 401
            _err(SDKException("API_EXCEPTION", None, {"code": "INVALID_TOKEN", "message": "invalid oauth token"}))
    with sdk_http.call_scope(1.0) as scope:
        scope.last_status = 429
        err = _err(SDKException("API_EXCEPTION", None, {"code": "TOO_MANY_REQUESTS", "message": "slow down"}))
    assert isinstance(err, RateLimitedError)


def test_local_refusals_fail_over_and_token_minting_is_a_configuration_error() -> None:
    err = _err(SDKException(code="TYPE_ERROR", details={"field": "Phone"}))
    assert isinstance(err, ConfigurationError) and err.fails_over and err.code == "SDK_TYPE_ERROR"
    assert err.details["sent"] is False
    err = _err(SDKException(cause=sdk_http.SdkTokenMintingError("no")))
    assert isinstance(err, ConfigurationError) and err.code == "SDK_TOKEN_MINTING"
    assert err.details["sent"] is False


def test_unknown_sdk_failures_with_a_5xx_status_are_transient() -> None:
    with sdk_http.call_scope(1.0) as scope:
        scope.last_status = 503
        err = _err(SDKException(cause=AttributeError("'NoneType' object has no attribute 'get_status_code'")))
    assert isinstance(err, TransientError) and err.status == 503


def test_ids_become_int_only_at_the_boundary_and_are_checked_there() -> None:
    assert _sdk_int_id("4876876000000624001") == 4876876000000624001
    with pytest.raises(BusinessError):
        _sdk_int_id("48768760000006240011")


def test_user_email_falls_back_when_the_sdk_would_refuse_it() -> None:
    assert _sdk_email("Ops@Example.com") == "ops@example.com"
    assert _sdk_email("not an email") == FALLBACK_EMAIL
