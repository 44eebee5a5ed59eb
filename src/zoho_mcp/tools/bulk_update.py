"""`bulk_update`: change any number of accounts, 100 per Zoho call, one result per input record.

Decisions an agent relies on:
* Input order is kept, and every input record gets exactly one result, whatever happens to its
  chunk: a chunk that fails as a whole gives each of its records an error carrying the cause, and
  saying whether the records were "not updated: nothing was sent" or have an "outcome unknown"
  (the tier's `details["sent"]`, read through `gateway.never_sent`).
* When no chunk reached Zoho at all (every chunk failed before sending: bad credentials on every
  tier, every tier down before connecting, …), the call is an `isError` result carrying the cause
  and saying nothing was sent: per-record errors would hide a total failure.
* The same id twice in one call is refused (DUPLICATE_ID) before anything is sent: two updates to
  one record in one call have no defined order in Zoho, so the agent must merge them.
* Malformed input (bad id, bad field name, too many records) refuses the whole call, naming the
  offending entries, and nothing reaches Zoho. So do field names the module does not have (Zoho
  would ignore them and answer SUCCESS, changing nothing) and read-only fields, dry run or not.
* Writes are bulk work (the SDK tier first); setting fields to values is idempotent, so the gateway
  may retry and fail over.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import BeforeValidator, Field

from zoho_mcp.gateway import never_sent
from zoho_mcp.resilience.errors import AllTiersFailed
from zoho_mcp.tiers.base import (
    MAX_RECORDS_PER_CALL,
    BusinessError,
    InvalidRequestError,
    UpdateRecords,
    UpdateResult,
    WriteResult,
)
from zoho_mcp.tiers.selector import RoutingHints
from zoho_mcp.tools.errors import DUPLICATE_ID, ToolFailure, failure_from_exception
from zoho_mcp.tools.fields import check_fields
from zoho_mcp.tools.models import (
    EXAMPLE_ID,
    MAX_BULK_UPDATE,
    BulkUpdateOutput,
    RecordResult,
    RecordUpdate,
    SentChunk,
    Trigger,
    UpdateSummary,
)
from zoho_mcp.tools.state import ServerState

MODULE = "Accounts"
TITLE = "Update many accounts"
WRITE = ToolAnnotations(
    title=TITLE, read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)


def _check_count(value: Any) -> Any:
    if isinstance(value, list):
        if not value:
            raise ValueError("give at least one update, e.g. [{'id': '...', 'fields': {'Phone': '555-0100'}}]")
        if len(value) > MAX_BULK_UPDATE:
            calls = -(-len(value) // MAX_BULK_UPDATE)
            raise ValueError(
                f"{len(value):,} updates in one call; at most {MAX_BULK_UPDATE:,} are allowed. "
                f"Split them into {calls} calls of at most {MAX_BULK_UPDATE:,}"
            )
    return value


DESCRIPTION = f"""Update fields on many Zoho CRM accounts in one call (1 to {MAX_BULK_UPDATE:,} records).

Each update is {{"id": "<account id>", "fields": {{<field API name>: <new value>}}}}. Records are sent
to Zoho 100 at a time; progress is reported per chunk. Returns {{"results": [...], "summary":
{{"total", "succeeded", "failed"}}}} with exactly one result per update, in the same order:
{{"id", "status": "success"|"error", "code", "message", "details"}}. One record failing (e.g.
INVALID_DATA for a bad value) does not stop the others; read each result. Field names are checked
first: a name Accounts does not have, or a read-only one, refuses the whole call (UNKNOWN_FIELD with
suggestions, READ_ONLY_FIELD) and nothing is sent.
The same id may appear only once per call (merge its fields). `trigger` chooses which Zoho
automations run ("workflow", "approval", "blueprint"; [] for none; omit for Zoho's default).
Set dry_run=true to validate and see exactly what would be sent, without changing anything.
Setting the same values again is harmless, so a failed call can be retried as is.

Example: bulk_update(updates=[{{"id": "{EXAMPLE_ID}", "fields": {{"Phone": "555-0100", "Rating": "Active"}}}}])"""


def register(server: MCPServer, state: ServerState) -> None:
    async def bulk_update(
        updates: Annotated[
            list[RecordUpdate],
            BeforeValidator(_check_count),
            Field(
                min_length=1,
                max_length=MAX_BULK_UPDATE,
                description=f"Records to change, 1 to {MAX_BULK_UPDATE:,}: each {{'id': '<account id>', "
                "'fields': {'<API name>': <value>}}",
            ),
        ],
        ctx: Context,
        trigger: Annotated[
            list[Trigger] | None,
            Field(
                max_length=3,
                description="Zoho automations to run: any of 'workflow', 'approval', 'blueprint'; [] for none; "
                "omit for Zoho's default",
            ),
        ] = None,
        dry_run: Annotated[
            bool, Field(description="Validate and return what would be sent, without sending anything")
        ] = False,
    ) -> BulkUpdateOutput:
        _refuse_duplicates(updates)
        named = ((name, f"updates[{i}].fields") for i, u in enumerate(updates) for name in u.fields)
        await check_fields(state.field_catalog(), MODULE, named, tool="bulk_update", write=True)
        records = [{"id": u.id, **u.fields} for u in updates]
        chunks = [records[i : i + MAX_RECORDS_PER_CALL] for i in range(0, len(records), MAX_RECORDS_PER_CALL)]
        triggers = tuple(dict.fromkeys(trigger)) if trigger is not None else None
        ops = [UpdateRecords(MODULE, tuple(chunk), triggers) for chunk in chunks]

        if dry_run:
            return _dry_run(records, chunks, triggers)

        gateway = state.require_gateway()
        results: list[RecordResult | None] = [None] * len(records)
        total, n = len(records), len(chunks)
        done = 0
        limiter = anyio.CapacityLimiter(max(1, state.settings.org_concurrency))
        progress_lock = anyio.Lock()
        unsent: dict[int, BaseException] = {}

        async def send(k: int, op: UpdateRecords) -> None:
            nonlocal done
            start = k * MAX_RECORDS_PER_CALL
            chunk = chunks[k]
            async with limiter:
                try:
                    outcome = await gateway.execute(op, RoutingHints(bulk=True))
                except Exception as exc:  # every record of the chunk answers with the cause
                    failure = failure_from_exception(exc, tool="bulk_update")
                    if _nothing_sent(exc):
                        unsent[k] = exc
                        what, sent = f"not updated: nothing was sent (chunk {k + 1} of {n} failed before " \
                            "reaching Zoho)", False
                    elif isinstance(exc, BusinessError) and exc.details.get("sent") is not True:
                        what, sent = f"not updated: Zoho refused chunk {k + 1} of {n} as a whole", True
                    else:
                        what, sent = f"outcome unknown: re-read before retrying (chunk {k + 1} of {n} failed " \
                            "as a whole after it may have reached Zoho)", True
                    for j, rec in enumerate(chunk):
                        results[start + j] = RecordResult(
                            id=rec["id"],
                            status="error",
                            code=failure.code,
                            message=f"{what}: {failure.message}",
                            details={**failure.details, "chunk": k + 1, "sent": sent},
                        )
                else:
                    assert isinstance(outcome, UpdateResult)
                    answers = _aligned(chunk, outcome.results)
                    for j, rec in enumerate(chunk):
                        results[start + j] = _one_result(rec["id"], answers[j])
            async with progress_lock:
                done += len(chunk)
                ok = sum(1 for r in results if r is not None and r.status == "success")
                await ctx.report_progress(done, total, f"chunk {k + 1}/{n} done; {done}/{total} records, {ok} updated")

        async with anyio.create_task_group() as tg:
            for k, op in enumerate(ops):
                tg.start_soon(send, k, op)

        if len(unsent) == n:
            raise _total_failure(unsent[0], total)
        final = [r for r in results if r is not None]
        assert len(final) == total
        succeeded = sum(1 for r in final if r.status == "success")
        return BulkUpdateOutput(
            results=final, summary=UpdateSummary(total=total, succeeded=succeeded, failed=total - succeeded)
        )

    server.add_tool(bulk_update, name="bulk_update", title=TITLE, description=DESCRIPTION, annotations=WRITE)


def _nothing_sent(exc: BaseException) -> bool:
    """Whether Zoho provably received nothing of the chunk that raised `exc`."""
    if isinstance(exc, (ToolFailure, InvalidRequestError)):
        return True  # refused here, before any request
    if isinstance(exc, AllTiersFailed):
        return all(never_sent(cause) for cause in exc.causes.values())
    return never_sent(exc)


def _total_failure(exc: BaseException, total: int) -> ToolFailure:
    """No chunk reached Zoho: one isError result with the cause, not `total` per-record errors."""
    cause = failure_from_exception(exc, tool="bulk_update")
    noun = "update" if total == 1 else "updates"
    return ToolFailure(
        cause.code,
        f"none of the {total:,} {noun} was applied; every chunk failed before reaching Zoho: {cause.message}",
        hint=(cause.hint + " " if cause.hint else "") + "Nothing changed, so the same call can be sent again "
        "once the cause is fixed.",
        details={**cause.details, "records_sent": 0},
        local=True,
    )


def _aligned(chunk: list[dict[str, Any]], answers: list[WriteResult]) -> list[WriteResult | None]:
    """Zoho answers a chunk in the order sent; if a tier's answer is short or out of order, match by id.

    Ids are unique within a call (duplicates are refused), so matching by id is unambiguous, and a
    record Zoho said nothing about gets None (reported as NO_RESULT) rather than another's answer.
    """
    ids = [rec["id"] for rec in chunk]
    if len(answers) == len(ids) and all(a.id in ("", rid) for a, rid in zip(answers, ids, strict=True)):
        return list(answers)
    by_id = {a.id: a for a in answers if a.id}
    return [by_id.get(rid) for rid in ids]


def _one_result(record_id: str, answer: WriteResult | None) -> RecordResult:
    if answer is None:
        return RecordResult(
            id=record_id,
            status="error",
            code="NO_RESULT",
            message="Zoho returned no result for this record; read it back with get_account to check",
        )
    return RecordResult(
        id=record_id, status=answer.status, code=answer.code, message=answer.message, details=answer.details
    )


def _refuse_duplicates(updates: list[RecordUpdate]) -> None:
    seen: dict[str, list[int]] = {}
    for i, u in enumerate(updates):
        seen.setdefault(u.id, []).append(i)
    dupes = {k: v for k, v in seen.items() if len(v) > 1}
    if dupes:
        shown = dict(list(dupes.items())[:20])
        raise ToolFailure(
            DUPLICATE_ID,
            f"{len(dupes)} id(s) appear more than once in updates; each record may appear only once per call",
            hint="Merge the fields of each repeated id into one entry, then call again.",
            details={"duplicates": {k: [f"updates[{i}]" for i in v] for k, v in shown.items()}},
            local=True,
        )


def _dry_run(
    records: list[dict[str, Any]], chunks: list[list[dict[str, Any]]], trigger: tuple[str, ...] | None
) -> BulkUpdateOutput:
    n = len(chunks)
    results = [
        RecordResult(
            id=rec["id"],
            status="success",
            code="VALID",
            message=f"valid; would be sent in chunk {i // MAX_RECORDS_PER_CALL + 1} of {n} (dry run: nothing sent)",
        )
        for i, rec in enumerate(records)
    ]
    return BulkUpdateOutput(
        results=results,
        summary=UpdateSummary(total=len(records), succeeded=len(records), failed=0),
        dry_run=True,
        would_send=[
            SentChunk(chunk=k + 1, data=chunk, trigger=list(trigger) if trigger is not None else None)
            for k, chunk in enumerate(chunks)
        ],
    )
