"""bulk_update's bookkeeping: one answer per record whatever shape a tier's answer has, and filter values
that smuggle criteria syntax."""

from __future__ import annotations

import pytest

from zoho_mcp.tiers.base import WriteResult
from zoho_mcp.tools.accounts import _CRITERIA_SHAPED
from zoho_mcp.tools.bulk_update import _aligned, _one_result

CHUNK = [{"id": "1" * 19, "Phone": "1"}, {"id": "2" * 19, "Phone": "2"}, {"id": "3" * 19, "Phone": "3"}]


def ok(rid: str) -> WriteResult:
    return WriteResult(id=rid, status="success", code="SUCCESS", message="record updated")


def test_answers_in_order_are_taken_as_they_are() -> None:
    answers = [ok(r["id"]) for r in CHUNK]
    assert _aligned(CHUNK, answers) == answers


def test_answers_without_ids_are_taken_by_position() -> None:
    answers = [ok("") for _ in CHUNK]
    assert _aligned(CHUNK, answers) == answers


def test_answers_out_of_order_are_matched_by_id() -> None:
    answers = [ok(CHUNK[2]["id"]), ok(CHUNK[0]["id"]), ok(CHUNK[1]["id"])]
    assert [a.id for a in _aligned(CHUNK, answers) if a] == [r["id"] for r in CHUNK]


def test_a_record_zoho_said_nothing_about_gets_no_result_not_anothers_answer() -> None:
    aligned = _aligned(CHUNK, [ok(CHUNK[0]["id"]), ok(CHUNK[2]["id"])])
    results = [_one_result(r["id"], a) for r, a in zip(CHUNK, aligned, strict=True)]
    assert [(r.id, r.code) for r in results] == [
        (CHUNK[0]["id"], "SUCCESS"), (CHUNK[1]["id"], "NO_RESULT"), (CHUNK[2]["id"], "SUCCESS")
    ]


@pytest.mark.parametrize(("value", "smuggled"), [
    (")or(Account_Name:starts_with:", True),
    ("Acme) AND (Industry:equals:x", True),
    ("(Phone:equals:1", True),
    ("Acme (UK) Ltd", False),
    ("Rock and Roll (live), Inc\\", False),
    ("Sales: equals: more", False),
])
def test_criteria_syntax_in_a_value_is_recognised(value: str, smuggled: bool) -> None:
    assert bool(_CRITERIA_SHAPED.search(value)) is smuggled


def test_a_chunk_counts_as_unsent_only_when_every_tier_says_nothing_left() -> None:
    from zoho_mcp.resilience.errors import AllTiersFailed
    from zoho_mcp.tiers.base import AuthError, InvalidRequestError, TransientError
    from zoho_mcp.tools.bulk_update import _nothing_sent

    refused = TransientError("connection refused", details={"sent": False})
    unknown = TransientError("read timeout", details={"sent": True})
    answered_503 = TransientError("service unavailable", status=503)
    assert _nothing_sent(refused)
    assert not _nothing_sent(unknown) and not _nothing_sent(answered_503)
    assert _nothing_sent(AllTiersFailed({"mcp": refused, "sdk": AuthError("bad token", details={"sent": False})}))
    assert not _nothing_sent(AllTiersFailed({"mcp": refused, "sdk": unknown}))
    assert _nothing_sent(InvalidRequestError("bad id"))


def test_a_total_failure_says_nothing_was_sent_and_carries_the_cause() -> None:
    from zoho_mcp.tiers.base import AuthError
    from zoho_mcp.tools.bulk_update import _total_failure

    failure = _total_failure(AuthError("invalid oauth token", details={"sent": False}), 250)
    result = failure.to_result()
    assert result.is_error
    body = result.content[0].text  # type: ignore[union-attr]
    assert body.startswith("ZOHO_AUTH_FAILED: none of the 250 updates was applied")
    assert "invalid oauth token" in body and "Nothing was sent to Zoho." in body
