"""The live access token and the token-request history, kept in a small SQLite file.

Zoho allows ten live access tokens and ten token requests per ten minutes for one refresh token, so a
restart must reuse the token it already holds and remember how many it asked for, instead of minting
another. The refresh token itself is never stored: rows are keyed by a hash of it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "tokens.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_tokens (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    api_domain TEXT,
    expires_at REAL NOT NULL,
    minted_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS token_requests (
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS token_requests_key ON token_requests (key, at);
CREATE TABLE IF NOT EXISTS token_blocks (
    key TEXT PRIMARY KEY,
    until REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredToken:
    value: str
    api_domain: str | None
    expires_at: float
    minted_at: float

    def __repr__(self) -> str:
        return f"StoredToken(value='***', api_domain={self.api_domain!r}, expires_at={self.expires_at!r})"


def store_key(accounts_url: str, client_id: str, refresh_token: str) -> str:
    """One row per (accounts server, client, refresh token); the secret only enters as a hash."""
    digest = hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()
    return f"{accounts_url.rstrip('/')}|{client_id}|{digest}"


class TokenStore:
    """Owner-only SQLite file; every call opens a short connection so threads never share one."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / FILE_NAME
        self._lock = threading.Lock()
        self._ensure_file()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _ensure_file(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    def load(self, key: str, *, now: float) -> StoredToken | None:
        """The stored token if it is still valid at `now`; expired rows are dropped."""
        with self._lock, self._connect() as db:
            row = db.execute(
                "SELECT token, api_domain, expires_at, minted_at FROM access_tokens WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            if row[2] <= now:
                db.execute("DELETE FROM access_tokens WHERE key = ?", (key,))
                return None
            return StoredToken(value=row[0], api_domain=row[1], expires_at=row[2], minted_at=row[3])

    def save(self, key: str, token: StoredToken) -> None:
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO access_tokens (key, token, api_domain, expires_at, minted_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, token.value, token.api_domain, token.expires_at, token.minted_at),
            )

    def delete(self, key: str, *, token: str | None = None) -> None:
        """Forget the token (only if it is still `token`, when given)."""
        with self._lock, self._connect() as db:
            if token is None:
                db.execute("DELETE FROM access_tokens WHERE key = ?", (key,))
            else:
                db.execute("DELETE FROM access_tokens WHERE key = ? AND token = ?", (key, token))

    def record_request(self, key: str, at: float) -> None:
        with self._lock, self._connect() as db:
            db.execute("INSERT INTO token_requests (key, at) VALUES (?, ?)", (key, at))

    def recent_requests(self, key: str, *, since: float) -> list[float]:
        with self._lock, self._connect() as db:
            db.execute("DELETE FROM token_requests WHERE key = ? AND at < ?", (key, since))
            rows = db.execute(
                "SELECT at FROM token_requests WHERE key = ? AND at >= ? ORDER BY at", (key, since)
            ).fetchall()
            return [r[0] for r in rows]

    def set_blocked_until(self, key: str, until: float) -> None:
        with self._lock, self._connect() as db:
            db.execute("INSERT OR REPLACE INTO token_blocks (key, until) VALUES (?, ?)", (key, until))

    def blocked_until(self, key: str) -> float | None:
        with self._lock, self._connect() as db:
            row = db.execute("SELECT until FROM token_blocks WHERE key = ?", (key,)).fetchone()
            return None if row is None else float(row[0])
