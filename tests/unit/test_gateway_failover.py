"""Failover, retry and the never-twice rule for writes, over scripted tiers of our own protocol."""

from __future__ import annotations

import anyio
import pytest

from test_gateway_fakes import fresh_logging, ID, FakeTier, Gate, make_gateway, metric, three, who
from zoho_mcp.gateway import OutcomeUnknownError
from zoho_mcp.resilience.errors import AllTiersFailed, CircuitOpenError
from zoho_mcp.tiers.base import (
    AuthError,
    BusinessError,
    ConfigurationError,
    GetRecords,
    InvalidRequestError,
    TransientError,
    UpdateRecords,
    UpdateResult,
    error_from_zoho_body,
)
from zoho_mcp.tiers.selector import RoutingHints

pytestmark = pytest.mark.anyio
__all__ = ["fresh_logging"]  # autouse fixture, imported to apply here

READ = GetRecords("Accounts", (ID,))
AGENT = RoutingHints(agent=True)  # plan mcp → sdk → rest
WRITE = UpdateRecords("Accounts", ({"id": ID, "Phone": "555"},))
ONCE = UpdateRecords("Accounts", ({"id": ID, "Phone": "555"},), idempotent=False)


def reset() -> TransientError:
    return TransientError("the connection to Zoho broke", code="CONNECTION_RESET", tier="mcp")


FAILOVER_KINDS = {
    "transient": (lambda: reset(), 3),
    "5xx": (lambda: error_from_zoho_body(503, {"code": "INTERNAL_ERROR", "message": "down"}, tier="mcp"), 3),
    "429-after-retries": (
        lambda: error_from_zoho_body(429, {"code": "TOO_MANY_REQUESTS", "message": "slow down"}, tier="mcp"),
        3,
    ),
    "auth": (lambda: AuthError("invalid oauth token", code="INVALID_TOKEN", status=401, tier="mcp"), 1),
    "configuration": (lambda: ConfigurationError("no MCP URL configured", code="NO_URL", tier="mcp"), 1),
    "tier-timeout": (lambda: TimeoutError(), 3),
}


@pytest.mark.parametrize("kind", list(FAILOVER_KINDS))
async def test_read_fails_over_to_next_tier(kind: str) -> None:
    make_error, expected_tries = FAILOVER_KINDS[kind]
    tiers = three(mcp=(make_error(),))
    gw, _, _ = make_gateway(tiers, hedge_enabled=False)

    result = await gw.execute(READ, AGENT)

    assert who(result) == "sdk"
    assert tiers["mcp"].calls == expected_tries  # transient kinds retried, auth/config not
    assert tiers["rest"].calls == 0
    counted = 0 if kind.startswith("429") else expected_tries  # an org-wide 429 is no tier's failure
    assert gw.breakers["mcp"].failure_count == counted
    assert gw.stats["mcp"].failures == counted
    assert gw.stats["mcp"].errors_by_category == {make_error_category(kind): expected_tries}
    assert metric(gw, "failovers", from_tier="mcp", to_tier="sdk", reason=make_error_category(kind)) == 1
    assert metric(gw, "retries", tier="mcp") == expected_tries - 1


def make_error_category(kind: str) -> str:
    return {"auth": "auth", "configuration": "configuration"}.get(kind, "transient")


async def test_gateway_timeout_counts_as_failure_and_fails_over() -> None:
    hang = Gate()  # never released: only the tier timeout ends it
    tiers = three(mcp=(hang,))
    gw, _, _ = make_gateway(tiers, hedge_enabled=False, mcp_timeout=0.01, retry_max_attempts=1)

    result = await gw.execute(READ, AGENT)

    assert who(result) == "sdk"
    assert tiers["mcp"].cancelled == 1
    assert gw.breakers["mcp"].failure_count == 1
    assert gw.stats["mcp"].errors_by_category == {"transient": 1}


async def test_open_circuit_is_skipped_without_a_call() -> None:
    tiers = three()
    gw, _, _ = make_gateway(tiers, hedge_enabled=False)
    gw.breakers["mcp"].force_open()

    result = await gw.execute(READ, AGENT)

    assert who(result) == "sdk"
    assert tiers["mcp"].calls == 0
    assert metric(gw, "failovers", from_tier="mcp", to_tier="sdk", reason="circuit_open") == 1
    assert metric(gw, "breaker_rejections", tier="mcp") == 1


async def test_breaker_opens_after_threshold_then_tier_is_skipped() -> None:
    tiers = three(mcp=(reset(),))
    gw, clock, _ = make_gateway(tiers, hedge_enabled=False, retry_max_attempts=1, breaker_failure_threshold=2)
    transitions: list[tuple[str, str, str]] = []
    gw.add_circuit_listener(lambda tier, old, new: transitions.append((tier, old, new)))

    for _ in range(4):
        assert who(await gw.execute(READ, AGENT)) == "sdk"

    assert tiers["mcp"].calls == 2  # the last two calls never reached the tier
    assert gw.breakers["mcp"].state == "open"
    assert transitions == [("mcp", "closed", "open")]
    assert gw.health()["tiers"]["mcp"]["circuit"] == "open"

    # recovery: past the timeout the breaker is half-open; two trial successes close it
    tiers["mcp"].script(None)
    clock.advance(61)
    assert who(await gw.execute(READ, AGENT)) == "mcp"
    assert gw.breakers["mcp"].state == "half_open"
    assert who(await gw.execute(READ, AGENT)) == "mcp"
    assert gw.breakers["mcp"].state == "closed"
    assert transitions[-2:] == [("mcp", "open", "half_open"), ("mcp", "half_open", "closed")]


@pytest.mark.parametrize(
    "error",
    [
        BusinessError("the id given seems to be invalid", code="INVALID_DATA", status=400, tier="mcp"),
        BusinessError("bad criteria", code="INVALID_QUERY", status=400, tier="mcp"),
        InvalidRequestError("record id is not a Zoho id", code="INVALID_ID"),
    ],
    ids=["INVALID_DATA", "INVALID_QUERY", "local-validation"],
)
async def test_business_error_is_an_answer_no_retry_no_failover(error: BusinessError) -> None:
    tiers = three(mcp=(error,))
    gw, _, _ = make_gateway(tiers)

    with pytest.raises(BusinessError) as caught:
        await gw.execute(READ, AGENT)

    assert caught.value is error
    assert (tiers["mcp"].calls, tiers["sdk"].calls, tiers["rest"].calls) == (1, 0, 0)
    assert gw.breakers["mcp"].failure_count == 0
    assert gw.stats["mcp"].successes == 1 and gw.stats["mcp"].errors_by_category == {"business": 1}


async def test_all_tiers_fail_names_each_tier_in_plan_order() -> None:
    tiers = three(
        mcp=(AuthError("invalid oauth token", code="INVALID_TOKEN", status=401, tier="mcp"),),
        sdk=(reset(),),
        rest=(error_from_zoho_body(503, {"code": "INTERNAL_ERROR", "message": "down"}, tier="rest"),),
    )
    gw, _, _ = make_gateway(tiers)
    gw.breakers["sdk"].force_open()

    with pytest.raises(AllTiersFailed) as caught:
        await gw.execute(READ, AGENT)

    causes = caught.value.causes
    assert list(causes) == ["mcp", "sdk", "rest"]
    assert isinstance(causes["mcp"], AuthError)
    assert isinstance(causes["sdk"], CircuitOpenError)
    assert isinstance(causes["rest"], TransientError) and causes["rest"].status == 503
    text = str(caught.value)
    for name in ("mcp:", "sdk:", "rest:"):
        assert name in text
    assert tiers["sdk"].calls == 0


async def test_failover_disabled_uses_primary_only() -> None:
    tiers = three(mcp=(reset(),))
    gw, _, _ = make_gateway(tiers, enable_failover=False)

    with pytest.raises(AllTiersFailed) as caught:
        await gw.execute(READ, AGENT)

    assert list(caught.value.causes) == ["mcp"]
    assert tiers["mcp"].calls == 3
    assert tiers["sdk"].calls == tiers["rest"].calls == 0


async def test_failover_disabled_primary_disabled_uses_first_enabled() -> None:
    tiers = {"sdk": FakeTier("sdk"), "rest": FakeTier("rest")}
    gw, _, _ = make_gateway(tiers, enable_failover=False, enable_mcp=False)

    assert who(await gw.execute(READ, AGENT)) == "sdk"
    assert gw.enabled == ["sdk", "rest"]


async def test_no_tier_enabled_is_one_clear_error() -> None:
    # Settings refuse every tier off; a gateway given no tier objects has none enabled either.
    gw, _, _ = make_gateway({})
    with pytest.raises(AllTiersFailed, match="no tier is enabled"):
        await gw.execute(READ)


# --- writes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        TransientError("the connection to Zoho broke", code="CONNECTION_RESET", tier="sdk"),
        TransientError("Zoho closed the connection", code="CONNECTION_CLOSED", tier="sdk"),
        TransientError("Zoho did not answer in time", code="TIMEOUT", tier="sdk"),
        error_from_zoho_body(500, {"code": "INTERNAL_ERROR", "message": "oops"}, tier="sdk"),
        TimeoutError(),
    ],
    ids=["reset_after", "closed", "tier-timeout", "500", "gateway-timeout"],
)
async def test_non_idempotent_write_is_never_sent_twice(error: BaseException) -> None:
    tiers = three(sdk=(error,))
    gw, _, _ = make_gateway(tiers)

    with pytest.raises(OutcomeUnknownError) as caught:
        await gw.execute(ONCE)

    assert tiers["sdk"].calls == 1  # no retry
    assert tiers["mcp"].calls == tiers["rest"].calls == 0  # no failover
    err = caught.value
    assert err.code == "OUTCOME_UNKNOWN" and err.tier == "sdk"
    assert "re-read" in str(err) and not err.retryable and not err.fails_over
    assert isinstance(err.__cause__, (TransientError, TimeoutError))


NOT_SENT = {"sent": False}  # what tiers/delivery.py's not_sent() sets


@pytest.mark.parametrize(
    "error",
    [
        TransientError("could not connect to Zoho", code="CONNECT_ERROR", details=NOT_SENT, tier="mcp"),
        TransientError("connecting to Zoho timed out", code="CONNECT_TIMEOUT", details=NOT_SENT, tier="mcp"),
        TransientError("token endpoint unreachable", code="TOKEN_CONNECT_ERROR", details=NOT_SENT, tier="mcp"),
        TransientError("a code the gateway has never heard of", code="ANYTHING", details=NOT_SENT, tier="mcp"),
        AuthError("invalid oauth token", code="INVALID_TOKEN", status=401, tier="mcp"),
        ConfigurationError("no MCP URL", code="MCP_URL_MISSING", tier="mcp"),
        error_from_zoho_body(429, {"code": "TOO_MANY_REQUESTS", "message": "slow down"}, tier="mcp"),
    ],
    ids=["connect-error", "connect-timeout", "token-connect", "any-code-not-sent", "401", "config", "429"],
)
async def test_non_idempotent_write_fails_over_when_never_sent(error: BaseException) -> None:
    tiers = three(mcp=(error,))
    gw, _, _ = make_gateway(tiers)

    result = await gw.execute(ONCE, AGENT)

    assert isinstance(result, UpdateResult) and result.results[0].message == "sdk"
    assert tiers["mcp"].calls == 1 and tiers["sdk"].calls == 1 and tiers["rest"].calls == 0


@pytest.mark.parametrize(
    "error",
    [
        # the gateway no longer guesses from transport codes: without the tier's word, it may have left
        TransientError("could not connect or the connection broke", code="CONNECT_ERROR", tier="sdk"),
        TransientError("could not connect", code="CONNECT_TIMEOUT", tier="sdk"),
        # sent=True wins over a class that would otherwise prove nothing was applied (a later chunk)
        error_from_zoho_body(429, {"code": "TOO_MANY_REQUESTS", "message": "slow"}, tier="sdk"),
        AuthError("invalid oauth token", code="INVALID_TOKEN", status=401, tier="sdk"),
        ConfigurationError("the SDK refused chunk 3 locally", code="SDK_X", tier="sdk"),
    ],
    ids=["untagged-connect-error", "untagged-connect-timeout", "429-after-chunks", "401-after-chunks", "config-after-chunks"],
)
async def test_non_idempotent_write_without_proof_of_not_sent_is_never_sent_again(error: BaseException) -> None:
    if not isinstance(error, TransientError) or error.status == 429:
        error.details.update({"sent": True, "records_sent": 200})
    tiers = three(sdk=(error,))
    gw, _, _ = make_gateway(tiers)

    with pytest.raises(OutcomeUnknownError) as caught:
        await gw.execute(ONCE)

    assert tiers["sdk"].calls == 1 and tiers["mcp"].calls == tiers["rest"].calls == 0
    if error.details.get("sent"):
        assert caught.value.details["records_sent"] == 200


async def test_non_idempotent_write_skips_open_circuit() -> None:
    tiers = three()
    gw, _, _ = make_gateway(tiers)
    gw.breakers["sdk"].force_open()

    result = await gw.execute(ONCE)

    assert isinstance(result, UpdateResult) and result.results[0].message == "mcp"
    assert tiers["sdk"].calls == 0 and tiers["mcp"].calls == 1


async def test_idempotent_write_retries_then_fails_over() -> None:
    tiers = three(sdk=(reset(),))
    gw, _, _ = make_gateway(tiers)

    result = await gw.execute(WRITE)

    assert isinstance(result, UpdateResult) and result.results[0].message == "mcp"
    assert tiers["sdk"].calls == 3 and tiers["mcp"].calls == 1


async def test_retry_then_success_on_same_tier() -> None:
    tiers = three(sdk=(reset(), reset(), None))
    gw, _, sleep = make_gateway(tiers, hedge_enabled=False)

    assert who(await gw.execute(READ)) == "sdk"
    assert tiers["sdk"].calls == 3 and tiers["mcp"].calls == 0
    assert sleep.delays == [0.0, 0.0]
    assert metric(gw, "retries", tier="sdk") == 2


async def test_caller_cancellation_is_not_a_breaker_failure() -> None:
    gate = Gate()
    tiers = three(sdk=(gate,))
    gw, _, _ = make_gateway(tiers, hedge_enabled=False)

    async with anyio.create_task_group() as tg:
        tg.start_soon(gw.execute, READ)
        await gate.entered.wait()
        tg.cancel_scope.cancel()

    assert tiers["sdk"].cancelled == 1
    assert gw.breakers["sdk"].failure_count == 0
    assert gw.stats["sdk"].requests == 0
    assert gw.limiter.in_flight == 0


async def test_limiter_is_charged_and_synced_with_zoho_credits() -> None:
    tiers = three()
    tiers["sdk"].last_credits_remaining = 1234
    gw, _, _ = make_gateway(tiers, hedge_enabled=False)

    await gw.execute(READ)
    many = UpdateRecords("Accounts", tuple({"id": f"48768760000006{i:05d}", "Phone": "1"} for i in range(250)))
    tiers["sdk"].last_credits_remaining = None
    await gw.execute(many)

    limits = gw.health()["limits"]
    assert limits["credits_remaining"] == 1234 - 25  # synced after the read; 250 records = 25 credits
    assert limits["in_flight"] == 0
