"""Whether a failed operation may have reached Zoho: `details["sent"]` on the errors tiers raise.

The gateway must never send a non-idempotent write twice, so every tier says the same thing the same
way about a failure, instead of the gateway guessing from transport-specific codes:

- `sent is False`: Zoho provably did not apply any part of the operation. No request left this
  process (connection refused or failed, DNS, connect or pool timeout, no token, refused locally),
  or the only one that did was refused by Zoho's OAuth check (401 INVALID_TOKEN) before processing.
- `sent is True`: a request left and its outcome is unknown (reset, read timeout, connection closed
  before the answer), or an earlier chunk of a multi-chunk update already reached Zoho
  (`details["records_sent"]` says how many of the input records were in those chunks). This
  overrides the error's class: a 429 on the third chunk still follows two applied chunks.
- absent: Zoho answered with an HTTP error; its class says what it means (401/403 and 429 are
  refused before processing, 5xx may have been applied).
"""

from __future__ import annotations

from typing import Any

from zoho_mcp.tiers.base import (
    DescribeFields,
    GetRecords,
    InvalidRequestError,
    Operation,
    Probe,
    Result,
    SearchRecords,
    UpdateRecords,
    ZohoError,
    check_module,
    check_record_id,
)

SENT = "sent"
RECORDS_SENT = "records_sent"


def not_sent(err: ZohoError) -> ZohoError:
    """Mark `err` as raised before anything of its operation reached Zoho."""
    err.details[SENT] = False
    return err


def maybe_sent(err: ZohoError) -> ZohoError:
    """Mark `err` as raised after a request left: Zoho may have applied it."""
    err.details[SENT] = True
    return err


def after_chunks(err: ZohoError, records_sent: int) -> ZohoError:
    """`err` failed a later chunk of an update whose first `records_sent` records already went out."""
    if records_sent > 0:
        err.details[SENT] = True
        err.details[RECORDS_SENT] = records_sent
    return err


def check_before_sending(op: Operation, *, tier: str) -> None:
    """Refuse a bad id or module at the tier boundary too: they end up in URL paths and tool arguments.

    Operations validate themselves, so this only catches one built around that validation; it costs
    microseconds and keeps "never reaches the network" true for every way an operation can be made.
    """
    try:
        check_module(getattr(op, "module", None))  # type: ignore[arg-type]
        if isinstance(op, GetRecords):
            for rid in op.ids:
                check_record_id(rid)
        elif isinstance(op, UpdateRecords):
            for rec in op.records:
                check_record_id(rec.get("id"))
    except InvalidRequestError as exc:
        exc.tier = tier
        raise not_sent(exc) from None


#: The method every tier implements for each operation type.
_HANDLERS: dict[type, str] = {
    GetRecords: "_get",
    SearchRecords: "_search",
    UpdateRecords: "_update",
    Probe: "_probe",
    DescribeFields: "_describe",
}


async def dispatch(tier: Any, op: Operation) -> Result:
    """A tier's `execute`: refuse what must never be sent, then call its `_get/_search/_update/_probe/_describe`."""
    check_before_sending(op, tier=tier.name)
    handler = _HANDLERS.get(type(op))
    if handler is None:
        handler = next((_HANDLERS[cls] for cls in type(op).__mro__ if cls in _HANDLERS), None)
        if handler is None:
            raise TypeError(f"unknown operation {type(op).__name__}")
    return await getattr(tier, handler)(op)  # type: ignore[no-any-return]
