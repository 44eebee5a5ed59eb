"""Shared fixtures. The fixtures that start the sandbox live here and only here."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
