"""Everything one sandbox instance knows: config, clock, records, tokens, limits, faults, journal."""

from __future__ import annotations

import pickle
from collections import deque
from typing import Any

from zoho_mcp.sandbox.clock import SandboxClock
from zoho_mcp.sandbox.config import SandboxConfig
from zoho_mcp.sandbox.data import generate
from zoho_mcp.sandbox.faults import FaultRegistry
from zoho_mcp.sandbox.limits import OrgLimits
from zoho_mcp.sandbox.oauth import TokenRegistry
from zoho_mcp.sandbox.store import RecordStore


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        self.start_config = config
        self.config = config
        self.clock = SandboxClock()
        self.base_url = "http://127.0.0.1"
        self.faults = FaultRegistry(config.seed)
        self.tokens = TokenRegistry(self.clock, config.seed)
        self.limits = OrgLimits(self.clock)
        self.journal: deque[dict[str, Any]] = deque(maxlen=config.journal_max)
        self.store = self._seed()

    def _seed(self) -> RecordStore:
        # Generating is ~10x slower than unpickling a copy, and tests reset before nearly every case.
        pristine = getattr(self, "_pristine", None)
        if pristine is None:
            c = self.start_config
            pristine = self._pristine = pickle.dumps(generate(c.seed, c.accounts, c.contacts, c.user_offset))
        return RecordStore(pickle.loads(pristine))

    def reset(self) -> None:
        """Back to the state the sandbox started in: data reseeded, faults/journal/tokens/clock/knobs cleared."""
        self.config = self.start_config
        self.clock.reset()
        self.faults.reset()
        self.tokens.reset()
        self.limits.reset()
        self.journal.clear()
        self.store = self._seed()

    @property
    def admin_user(self) -> dict[str, Any]:
        return self.store.seed.users.admin

    def log(self, surface: str, client: str, method: str, path: str, status: int | None, **extra: Any) -> None:
        entry: dict[str, Any] = {"surface": surface, "client": client, "method": method, "path": path, "status": status}
        if extra:
            entry.update(extra)
        self.journal.append(entry)

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp/{self.config.mcp_key}/message"

    def info(self) -> dict[str, Any]:
        c = self.config
        return {
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "refresh_token": c.refresh_token,
            "accounts_url": self.base_url,
            "api_domain": self.base_url,
            "mcp_url": self.mcp_url,
            "base_url": self.base_url,
            "token_url": f"{self.base_url}/oauth/v2/token",
            "mcp_key": c.mcp_key,
            "mcp_token": c.mcp_token,
            "grant_code": c.grant_code,
            "user_email": self.admin_user["email"],
            "seed": c.seed,
            "accounts": len(self.store.modules["Accounts"]),
            "edition": c.edition,
            "token_ttl": c.token_ttl,
            "concurrency": c.effective_concurrency,
            "daily_credits": c.effective_credits,
            "modules": sorted(self.store.modules),
        }
