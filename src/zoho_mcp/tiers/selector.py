"""Which tier to try first for an operation, and in which order to fall back.

A pure function of the operation, the caller's hints and the configuration, so the routing rules
of the product spec can be read (and tested) as a table, apart from breakers and timing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from zoho_mcp.tiers.base import TIER_ORDER, Operation, TierName, UpdateRecords

#: More records than this in one operation make it a bulk operation (rule 2).
BULK_THRESHOLD = 10


@dataclass(frozen=True, slots=True)
class RoutingHints:
    """What the call context tells the router: an agent with tool permissions, freshness, volume."""

    agent: bool = False
    realtime: bool = False
    bulk: bool = False


def primary_for(op: Operation, hints: RoutingHints) -> TierName:
    """The routing rules of the product spec, first match wins."""
    if hints.agent:
        return "mcp"
    if hints.bulk or op.record_count > BULK_THRESHOLD:
        return "sdk"
    if isinstance(op, UpdateRecords) and len(op.records) > BULK_THRESHOLD:
        return "sdk"
    if hints.realtime:
        return "mcp"
    return "sdk"


def plan(
    op: Operation,
    hints: RoutingHints,
    enabled: Collection[str],
    failover: bool,
) -> list[TierName]:
    """The primary, then the others in MCP → SDK → REST order, minus disabled tiers.

    Without failover only one tier is tried: the primary, or when it is disabled the first enabled
    tier of the same order, so disabling a tier never leaves an operation with nowhere to go.
    """
    primary = primary_for(op, hints)
    order = [t for t in (primary, *TIER_ORDER) if t in enabled]
    seen: list[TierName] = []
    for tier in order:
        if tier not in seen:
            seen.append(tier)
    return seen if failover else seen[:1]
