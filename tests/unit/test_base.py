"""The tier contract validates its operations before anything can reach the network."""

from __future__ import annotations

import pytest

from zoho_mcp.resilience.errors import ErrorCategory
from zoho_mcp.tiers.base import (
    AuthError,
    BusinessError,
    GetRecords,
    InvalidRequestError,
    RateLimitedError,
    SearchRecords,
    TransientError,
    UpdateRecords,
    error_from_zoho_body,
    normalise_record,
)

GOOD = "4876876000000624001"


@pytest.mark.parametrize(
    "bad", ["", "abc", "123", "48768760000006240011234", "4876876000000624001 OR 1", 1.5, None, True, "-4876876000000624001"]
)
def test_bad_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        GetRecords("Accounts", (bad,))  # type: ignore[arg-type]
    assert info.value.category is ErrorCategory.BUSINESS
    assert "18-19 digits" in info.value.message or "18-19 digits" in str(info.value)


def test_numeric_id_becomes_string() -> None:
    assert GetRecords("Accounts", (4876876000000624001,)).ids == (GOOD,)  # type: ignore[arg-type]


@pytest.mark.parametrize("module", ["", "Accounts;DROP", "../x", "1Accounts"])
def test_bad_module(module: str) -> None:
    with pytest.raises(InvalidRequestError):
        GetRecords(module, (GOOD,))


def test_search_needs_a_term_and_sane_paging() -> None:
    with pytest.raises(InvalidRequestError, match="criteria, email, phone or word"):
        SearchRecords("Accounts")
    with pytest.raises(InvalidRequestError):
        SearchRecords("Accounts", word="acme", per_page=201)
    with pytest.raises(InvalidRequestError):
        SearchRecords("Accounts", word="acme", page=10_000)
    assert SearchRecords("Accounts", criteria="(a:equals:b)", word="w").query_params() == {
        "criteria": "(a:equals:b)",
        "page": "1",
        "per_page": "200",
    }


def test_update_chunks_and_requires_ids() -> None:
    op = UpdateRecords("Accounts", tuple({"id": str(4876876000000624000 + i), "Phone": "1"} for i in range(250)))
    assert [len(c) for c in op.chunks()] == [100, 100, 50]
    with pytest.raises(InvalidRequestError):
        UpdateRecords("Accounts", ({"Phone": "1"},))
    with pytest.raises(InvalidRequestError):
        UpdateRecords("Accounts", ())


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (429, "TOO_MANY_REQUESTS", RateLimitedError),
        (500, "INTERNAL_ERROR", TransientError),
        (503, None, TransientError),
        (401, "INVALID_TOKEN", AuthError),
        (401, "OAUTH_SCOPE_MISMATCH", AuthError),
        (400, "INVALID_DATA", BusinessError),
        (400, "INVALID_QUERY", BusinessError),
    ],
)
def test_error_classification(status: int, code: str | None, cls: type) -> None:
    err = error_from_zoho_body(status, {"code": code, "message": "m", "details": {"x": 1}} if code else None, tier="rest")
    assert type(err) is cls
    assert err.tier == "rest" and err.status == status


def test_errors_never_carry_tokens() -> None:
    err = TransientError("failed with Authorization: Zoho-oauthtoken 1000.aaaa.bbbb", code="X")
    assert "1000.aaaa.bbbb" not in str(err) and "1000.aaaa.bbbb" not in repr(err)


def test_normalise_record_stringifies_ids() -> None:
    rec = normalise_record({"id": 4876876000000624001, "Owner": {"id": 1, "name": "A"}, "Tag": [{"id": 2}]})
    assert rec == {"id": GOOD, "Owner": {"id": "1", "name": "A"}, "Tag": [{"id": "2"}]}


def test_all_tiers_failed_category_is_deterministic() -> None:
    from zoho_mcp.resilience.errors import AllTiersFailed
    from zoho_mcp.tiers.base import ConfigurationError

    for order in (("mcp", "sdk"), ("sdk", "mcp")):
        causes = {order[0]: AuthError("bad client", code="INVALID_CLIENT"), order[1]: ConfigurationError("no url")}
        assert AllTiersFailed(causes).category is ErrorCategory.AUTH
    mixed = {"mcp": AuthError("x"), "sdk": TransientError("reset"), "rest": ConfigurationError("y")}
    assert AllTiersFailed(mixed).category is ErrorCategory.TRANSIENT


@pytest.mark.parametrize(
    ("page", "per_page", "ok"),
    [(10, 200, True), (11, 200, False), (20, 100, True), (21, 100, False), (2000, 1, True), (2001, 1, False)],
)
def test_search_paging_stops_at_zohos_2000_reachable_results(page: int, per_page: int, ok: bool) -> None:
    if ok:
        SearchRecords("Accounts", word="acme", page=page, per_page=per_page)
    else:
        with pytest.raises(InvalidRequestError, match="2,000") as info:
            SearchRecords("Accounts", word="acme", page=page, per_page=per_page)
        assert info.value.code == "LIMIT_REACHED"
