"""Tier 3: Zoho CRM's REST API v2, straight over pooled httpx connections.

The simplest tier and the last resort, so it must be the most predictable: every answer Zoho gives
(200, 204 with no body, 207, 400 with per-record data, 401, 429, 5xx, HTML from a proxy, a dropped
connection) ends up as a normalised result or one `ZohoError` carrying Zoho's code, message and details.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from zoho_mcp.config import Settings
from zoho_mcp.logs import get_logger, redact
from zoho_mcp.tiers.auth import TokenManager
from zoho_mcp.tiers.base import (
    MAX_RECORDS_PER_CALL,
    DescribeFields,
    FieldsResult,
    GetRecords,
    GetResult,
    Operation,
    Probe,
    ProbeResult,
    Result,
    SearchRecords,
    SearchResult,
    TierName,
    TransientError,
    UpdateRecords,
    UpdateResult,
    WriteResult,
    ZohoError,
    error_from_zoho_body,
)
from zoho_mcp.tiers.delivery import after_chunks, dispatch, maybe_sent, not_sent
from zoho_mcp.tiers.field_meta import FIELDS_PATH, fields_from_body
from zoho_mcp.tiers.zoho_json import Source, get_result, is_missing_id, records_by_id, search_result, write_results

log = get_logger(__name__)

API_VERSION = "v2"
CREDITS_HEADER = "X-API-CREDITS-REMAINING"


class _Response:
    """What the tier keeps of an HTTP answer: status, parsed JSON (None for 204 / empty / not JSON)."""

    __slots__ = ("status", "body", "text")

    def __init__(self, status: int, body: Any, text: str) -> None:
        self.status = status
        self.body = body
        self.text = text


#: httpx failures raised before a byte of the request left this process.
_NEVER_LEFT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _transport_error(exc: httpx.HTTPError, *, tier: str, what: str) -> TransientError:
    """Transport failure → TransientError whose `details["sent"]` says whether the request left."""
    if isinstance(exc, httpx.ConnectTimeout):
        code, msg = "CONNECT_TIMEOUT", "connecting to Zoho timed out"
    elif isinstance(exc, httpx.PoolTimeout):
        code, msg = "POOL_TIMEOUT", "no free connection to Zoho in time (too many calls in flight)"
    elif isinstance(exc, httpx.TimeoutException):
        code, msg = "TIMEOUT", "Zoho did not answer in time"
    elif isinstance(exc, httpx.ConnectError):
        code, msg = "CONNECT_ERROR", "could not connect to Zoho"
    elif isinstance(exc, httpx.RemoteProtocolError):
        code, msg = "CONNECTION_CLOSED", "Zoho closed the connection without a complete answer"
    elif isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        code, msg = "CONNECTION_RESET", "the connection to Zoho broke"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        code, msg = "CONNECT_ERROR", "the Zoho API URL has an unsupported scheme"
    else:
        code, msg = "TRANSPORT_ERROR", "the request to Zoho failed"
    err = TransientError(f"{msg} ({what}: {type(exc).__name__})", code=code, tier=tier)
    if isinstance(exc, _NEVER_LEFT):
        not_sent(err)
    else:
        maybe_sent(err)
    return err


class RestTier:
    """`Tier` over Zoho's REST API; shares the process's `TokenManager` with the SDK tier."""

    name: TierName = "rest"

    def __init__(self, settings: Settings, auth: TokenManager, *, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.auth = auth
        size = max(settings.org_concurrency, 1)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.rest_timeout, connect=min(settings.rest_timeout, 10.0)),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            headers={"Accept": "application/json"},
        )
        #: Zoho's X-API-CREDITS-REMAINING from the last response that carried it (the gateway syncs on it).
        self.last_credits_remaining: int | None = None

    def __repr__(self) -> str:
        return f"RestTier(api_domain={self.auth.api_domain!r})"

    async def execute(self, op: Operation) -> Result:
        return await dispatch(self, op)

    async def aclose(self) -> None:
        """Closes this tier's connections; the shared TokenManager is closed by its owner."""
        if self._owns_http:
            await self._http.aclose()

    # --- operations ------------------------------------------------------------------------------

    async def _get(self, op: GetRecords) -> GetResult:
        wanted = list(dict.fromkeys(op.ids))
        params: dict[str, str] = {}
        if op.fields:
            params["fields"] = ",".join(op.fields)
        found: dict[str, dict[str, Any]] = {}
        if len(wanted) == 1:
            rid = wanted[0]
            resp = await self._request("GET", f"/crm/{API_VERSION}/{op.module}/{rid}", params=params)
            if resp.status == 200:
                found.update(records_by_id(_json(resp), _source(resp), default_id=rid))
            elif not (resp.status == 204 or _is_missing_id_answer(resp)):
                raise self._error(resp)
        else:
            for start in range(0, len(wanted), MAX_RECORDS_PER_CALL):
                chunk = wanted[start : start + MAX_RECORDS_PER_CALL]
                resp = await self._request(
                    "GET", f"/crm/{API_VERSION}/{op.module}", params={**params, "ids": ",".join(chunk)}
                )
                if resp.status == 200:
                    found.update(records_by_id(_json(resp), _source(resp)))
                elif resp.status != 204:
                    raise self._error(resp)
        return get_result(wanted, found)

    async def _search(self, op: SearchRecords) -> SearchResult:
        resp = await self._request("GET", f"/crm/{API_VERSION}/{op.module}/search", params=op.query_params())
        if resp.status not in (200, 204):
            raise self._error(resp)
        return search_result(op, _json(resp), _source(resp))

    async def _update(self, op: UpdateRecords) -> UpdateResult:
        """Chunks of 100, sent one after another (Zoho's sub-concurrency for bulk writes is 10).

        A request-level failure of any chunk raises; updates are idempotent, so the caller may retry
        the whole operation.
        """
        results: list[WriteResult] = []
        for chunk in op.chunks(MAX_RECORDS_PER_CALL):
            payload: dict[str, Any] = {"data": [dict(r) for r in chunk]}
            if op.trigger is not None:
                payload["trigger"] = list(op.trigger)
            try:
                resp = await self._request("PUT", f"/crm/{API_VERSION}/{op.module}", json=payload)
                results.extend(self._write_results(resp, chunk))
            except ZohoError as exc:
                raise after_chunks(exc, len(results)) from None
        return UpdateResult(results=results)

    async def _describe(self, op: DescribeFields) -> FieldsResult:
        resp = await self._request("GET", FIELDS_PATH, params={"module": op.module})
        if resp.status not in (200, 204):
            raise self._error(resp)
        return fields_from_body(resp.body, tier=self.name, status=resp.status)

    async def _probe(self, op: Probe) -> ProbeResult:
        resp = await self._request("GET", f"/crm/{API_VERSION}/{op.module}", params={"per_page": "1", "page": "1"})
        if resp.status in (200, 204):
            return ProbeResult(ok=True, detail=f"HTTP {resp.status} from {self.auth.api_domain}")
        raise self._error(resp)

    # --- response shaping -------------------------------------------------------------------------

    def _write_results(self, resp: _Response, chunk: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        body = resp.body
        data = body.get("data") if isinstance(body, Mapping) else None
        if resp.status not in (200, 201, 202, 207, 400, 412) or not isinstance(data, list):
            raise self._error(resp)
        return write_results(chunk, data)

    def _error(self, resp: _Response) -> ZohoError:
        body = resp.body if isinstance(resp.body, Mapping) else None
        if body is not None and "code" not in body and isinstance(body.get("data"), list) and body["data"]:
            first = body["data"][0]
            body = first if isinstance(first, Mapping) else body
        if body is None or "code" not in body:
            snippet = " ".join(resp.text.split())[:200]
            body = {
                "code": f"HTTP_{resp.status}",
                "message": f"Zoho answered HTTP {resp.status}" + (f": {snippet}" if snippet else " with no body"),
            }
        err = error_from_zoho_body(resp.status, body, tier=self.name)
        if self.last_credits_remaining is not None and isinstance(err, TransientError) and resp.status == 429:
            err.details.setdefault("credits_remaining", self.last_credits_remaining)
        return err

    # --- transport --------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> _Response:
        """One call with the shared token; on 401 INVALID_TOKEN, one refresh and one retry, never more."""
        token = await self._token()
        resp = await self._send(method, path, token, params=params, json=json)
        if not _is_invalid_token(resp):
            return resp
        log.info("zoho refused the access token; refreshing once", tier=self.name, path=path)
        try:
            new_token = await self.auth.refresh_after_401(token)
        except ZohoError as exc:
            # The one request that left was refused by Zoho's OAuth check: nothing was applied.
            raise not_sent(self._auth_failure(exc)) from None
        resp = await self._send(method, path, new_token, params=params, json=json)
        if _is_invalid_token(resp):
            body = resp.body if isinstance(resp.body, Mapping) else None
            raise self.auth.dc_mismatch_error(body, tier=self.name, status=resp.status)
        return resp

    async def _token(self) -> str:
        try:
            return await self.auth.get_token()
        except ZohoError as exc:
            raise not_sent(self._auth_failure(exc)) from None

    def _auth_failure(self, exc: ZohoError) -> ZohoError:
        return type(exc)(exc.message, code=exc.code, details=exc.details, status=exc.status, tier=self.name)

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
    ) -> _Response:
        url = self.auth.api_domain.rstrip("/") + path
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        try:
            resp = await self._http.request(method, url, params=params, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, tier=self.name, what=f"{method} {path}") from None
        credits = resp.headers.get(CREDITS_HEADER)
        if credits is not None:
            try:
                self.last_credits_remaining = int(float(credits))
            except ValueError:
                pass
        if resp.status_code == 204 or not resp.content:
            return _Response(resp.status_code, None, "")
        text = resp.text
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        return _Response(resp.status_code, body, redact(text) if body is None else "")


def _json(resp: _Response) -> Mapping[str, Any] | None:
    """The body as `zoho_json` reads it: None only for a 204; a body that is not a JSON object is `{}`."""
    if resp.status == 204:
        return None
    return resp.body if isinstance(resp.body, Mapping) else {}


def _source(resp: _Response) -> Source:
    return Source("rest", "Zoho", resp.status)


def _is_invalid_token(resp: _Response) -> bool:
    if resp.status != 401:
        return False
    code = resp.body.get("code") if isinstance(resp.body, Mapping) else None
    return code in ("INVALID_TOKEN", "INVALID_OAUTHTOKEN", None)


def _is_missing_id_answer(resp: _Response) -> bool:
    """Zoho (and some proxies) answer a well-formed but unknown id with 400 INVALID_DATA instead of 204."""
    if resp.status != 400 or not isinstance(resp.body, Mapping):
        return False
    return is_missing_id(resp.body.get("code"), resp.body.get("message", ""))


__all__ = ["RestTier"]
