"""What zcrmsdk 3.1.0 gets when it says `requests`: real timeouts, and no way to mint tokens.

The SDK calls `requests.get/put/post/...` with no timeout, so a hung Zoho blocks a worker thread
forever, and no anyio timeout can interrupt a blocked thread. The only seam it offers is the
module-level `requests` name in its HTTP connector, so that name is swapped for `TimedRequests`,
which adds `(connect, read)` timeouts taken from the calling thread's `CallScope` (each tier instance
may have its own `sdk_timeout`). It also remembers the last HTTP status the thread saw, because the
SDK sometimes reports a failed call only as `None` or as an `SDKException` without the status.

The SDK's own OAuth module gets `NoTokenMinting`: tokens come only from the shared TokenManager,
so the SDK must never POST to the token URL; if it ever tried, the call fails loudly instead.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

#: TCP connect is quick or dead; the read timeout is the tier's `sdk_timeout`.
CONNECT_TIMEOUT = 5.0
_DEFAULT_READ_TIMEOUT = 60.0
_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request"})


@dataclass(slots=True)
class _Scope:
    timeout: tuple[float, float]
    last_status: int | None = None


_local = threading.local()


def _current() -> _Scope | None:
    return getattr(_local, "scope", None)


@contextmanager
def call_scope(read_timeout: float, connect_timeout: float = CONNECT_TIMEOUT) -> Iterator[_Scope]:
    """Bind the timeouts for every SDK request made by this thread until the block ends."""
    previous = _current()
    scope = _Scope(timeout=(min(connect_timeout, read_timeout), read_timeout))
    _local.scope = scope
    try:
        yield scope
    finally:
        _local.scope = previous


def last_status() -> int | None:
    """The HTTP status of the last response this thread received inside its call scope."""
    scope = _current()
    return scope.last_status if scope is not None else None


class TimedRequests:
    """A stand-in for the `requests` module: the same functions, always with a timeout."""

    def __getattr__(self, name: str) -> Any:
        attr = getattr(requests, name)
        if name in _METHODS:
            return functools.partial(self._send, attr)
        return attr

    @staticmethod
    def _send(fn: Callable[..., requests.Response], *args: Any, **kwargs: Any) -> requests.Response:
        scope = _current()
        kwargs["timeout"] = scope.timeout if scope is not None else (CONNECT_TIMEOUT, _DEFAULT_READ_TIMEOUT)
        response = fn(*args, **kwargs)
        if scope is not None:
            scope.last_status = response.status_code
        return response


class SdkTokenMintingError(RuntimeError):
    """zcrmsdk tried to obtain a token by itself, which this project never allows."""


class NoTokenMinting:
    """A stand-in for `requests` in the SDK's OAuth module: any HTTP call is refused."""

    def __getattr__(self, name: str) -> Any:
        if name in _METHODS:
            return self._refuse
        return getattr(requests, name)

    @staticmethod
    def _refuse(*_: Any, **__: Any) -> None:
        raise SdkTokenMintingError(
            "zcrmsdk tried to request an OAuth token itself; tokens come only from the shared token manager"
        )


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Swap the `requests` names inside zcrmsdk (idempotent, process-wide)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from zcrmsdk.src.com.zoho.api.authenticator import oauth_token as sdk_oauth
        from zcrmsdk.src.com.zoho.crm.api.util import api_http_connector as sdk_http

        sdk_http.requests = TimedRequests()  # type: ignore[attr-defined]
        sdk_oauth.requests = NoTokenMinting()  # type: ignore[attr-defined]
        _installed = True
