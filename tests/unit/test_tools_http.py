"""HTTP transport pieces: loopback detection, the bearer-token gate, Host/Origin allow-lists."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from pydantic import SecretStr

from zoho_mcp.config import Settings
from zoho_mcp.http_app import BearerTokenMiddleware, server_token, transport_security
from zoho_mcp.server import is_loopback


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.com", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _app(token: str) -> TestClient:
    async def ok(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return TestClient(BearerTokenMiddleware(Starlette(routes=[Route("/x", ok)]), token))


def test_bearer_gate() -> None:
    client = _app("tok-123")
    assert client.get("/x").status_code == 401
    assert client.get("/x").headers["www-authenticate"].startswith("Bearer")
    assert client.get("/x", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/x", headers={"Authorization": "Basic tok-123"}).status_code == 401
    assert client.get("/x", headers={"Authorization": "Bearer tok-123"}).text == "ok"
    assert client.get("/x", headers={"Authorization": "bearer tok-123"}).status_code == 200
    assert "tok-123" not in client.get("/x").text


def test_wildcard_binds_allow_loopback_and_this_machine_but_keep_the_checks_on() -> None:
    settings = transport_security("0.0.0.0")
    assert settings.enable_dns_rebinding_protection
    assert "127.0.0.1:*" in settings.allowed_hosts and "localhost:*" in settings.allowed_hosts
    assert "evil.example:*" not in settings.allowed_hosts
    specific = transport_security("10.1.2.3")
    assert "10.1.2.3:*" in specific.allowed_hosts and "http://10.1.2.3:*" in specific.allowed_origins


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("   ", None), (" tok ", "tok")])
def test_a_blank_token_counts_as_no_token(value: str | None, expected: str | None) -> None:
    settings = Settings(server_token=SecretStr(value) if value is not None else None)
    assert server_token(settings) == expected
