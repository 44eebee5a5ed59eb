"""Logs are JSON on stderr, and no secret survives into any line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from zoho_mcp.logs import configure_logging, get_logger, redact, register_secret


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Zoho-oauthtoken 1000.abcdef0123456789abcdef.0123456789abcdef0123", "1000.abcdef"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGci"),
        ("https://zoho-crm-x.zohomcp.com/mcp/fe46ddbc48fec3713c8754cea8ec9ac5/message", "fe46ddbc"),
        ("https://x.zohomcp.com/mcp/message?key=fe46ddbc48fec", "fe46ddbc"),
        ("grant_type=refresh_token&refresh_token=1000.r.e&client_secret=shh", "shh"),
        ('{"access_token": "1000.tok.en", "expires_in": 3600}', "1000.tok.en"),
    ],
)
def test_redact_patterns(text: str, leak: str) -> None:
    assert leak not in redact(text)


def test_registered_secret_is_masked_anywhere() -> None:
    register_secret("plain-looking-secret-value")
    assert "plain-looking-secret-value" not in redact("oops plain-looking-secret-value in text")


def test_structlog_and_stdlib_lines_are_json_and_redacted() -> None:
    buf = io.StringIO()
    configure_logging("debug", stream=buf)
    get_logger("t").info("calling", headers={"Authorization": "Zoho-oauthtoken 1000.aa.bb"}, url="/mcp/k3y123/message")
    logging.getLogger("zcrmsdk").warning("token=%s", "1000.cc.dd")
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert len(lines) == 2
    text = buf.getvalue()
    for leak in ("1000.aa.bb", "k3y123", "1000.cc.dd"):
        assert leak not in text
    configure_logging("info")


def test_prose_about_tokens_is_left_readable() -> None:
    text = "set ZOHO_MCP_TOKEN to a valid bearer token, or use Authorization: Bearer <token>"
    assert redact(text) == text
    assert "abc123def456" not in redact("Authorization: Bearer abc123def456ghi")
