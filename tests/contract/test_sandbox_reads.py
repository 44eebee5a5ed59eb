"""Read contract (reference §2, §5, §6, §7): get by id, list, ids, search, metadata, auth errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import SandboxAdmin, mint_token, shared_http
from zoho_mcp.sandbox.app import SandboxConfig, SandboxServer

JSON = "application/json;charset=UTF-8"
INVALID_TOKEN = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}


def first_id(admin_or_base: Any) -> str:
    base = admin_or_base if isinstance(admin_or_base, str) else admin_or_base.base_url
    return str(shared_http().get(f"{base}/__sandbox__/records/Accounts").json()["ids"][0])


# ---------------------------------------------------------------- auth

AUTH_CASES = [
    pytest.param(None, 401, {"code": "AUTHENTICATION_FAILURE", "details": {}, "message": "Authentication failed", "status": "error"}, id="missing-header"),
    pytest.param("Zoho-oauthtoken 1000.garbage.token", 401, INVALID_TOKEN, id="unknown-token"),
    pytest.param("Zoho-oauthtoken 1000.aaaa.bbbb-other-dc", 401, INVALID_TOKEN, id="token-from-another-dc"),
    pytest.param("Bearer {token}", 401, INVALID_TOKEN, id="wrong-scheme"),
    pytest.param("Zoho-oauthtoken", 401, INVALID_TOKEN, id="empty-token"),
    pytest.param("Zoho-oauthtoken {token}", 200, None, id="valid"),
]


@pytest.mark.parametrize(("header", "status", "body"), AUTH_CASES)
def test_auth(clean_sandbox: SandboxServer, sandbox_token: str, header: str | None, status: int, body: Any) -> None:
    headers = {"Authorization": header.format(token=sandbox_token)} if header is not None else {}
    response = shared_http().get(f"{clean_sandbox.base_url}/crm/v2/Accounts/{first_id(clean_sandbox.base_url)}", headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == JSON
    if body is not None:
        assert response.json() == body


# ---------------------------------------------------------------- get by id

def test_get_by_id_returns_the_full_record(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    rid = first_id(admin)
    response = crm_client.get(f"/crm/v2/Accounts/{rid}")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert list(body) == ["data"]
    record = body["data"][0]
    assert record == admin.record("Accounts", rid)
    for key in ("Account_Name", "Owner", "Created_Time", "Annual_Revenue", "Billing_Address", "$layout_id", "Tag"):
        assert key in record
    assert any(v is None for v in record.values()), "nulls are present"
    assert isinstance(record["id"], str) and len(record["id"]) == 19


GET_CASES = [
    pytest.param("/crm/v2/Accounts/1234567890123456789", 204, None, id="missing-well-formed-id"),
    pytest.param("/crm/v2/Accounts/abc", 400, {"code": "INVALID_DATA", "details": {"resource_path_index": 1}, "message": "the id given seems to be invalid", "status": "error"}, id="malformed-id"),
    pytest.param("/crm/v2/Accounts/12345678901234567890123", 400, {"code": "INVALID_DATA", "details": {"resource_path_index": 1}, "message": "the id given seems to be invalid", "status": "error"}, id="too-long-id"),
    pytest.param("/crm/v2/Acounts/1234", 400, {"code": "INVALID_MODULE", "details": {"resource_path_index": 0}, "message": "the module name given seems to be invalid", "status": "error"}, id="unknown-module"),
    pytest.param("/crm/v2/accounts/1234", 400, {"code": "INVALID_MODULE", "details": {"resource_path_index": 0}, "message": "the module name given seems to be invalid", "status": "error"}, id="module-case-sensitive"),
    pytest.param("/crm/v2/Accounts/1/2/3", 404, {"code": "INVALID_URL_PATTERN", "details": {}, "message": "Please check if the URL trying to access is a correct one", "status": "error"}, id="bad-path"),
    pytest.param("/crm/v99/Accounts", 404, {"code": "INVALID_URL_PATTERN", "details": {}, "message": "Please check if the URL trying to access is a correct one", "status": "error"}, id="bad-version"),
]


@pytest.mark.parametrize(("path", "status", "body"), GET_CASES)
def test_get_errors(crm_client: httpx.Client, path: str, status: int, body: Any) -> None:
    response = crm_client.get(path)
    assert response.status_code == status
    if body is None:
        assert response.content == b""
        assert "content-type" not in response.headers
    else:
        assert response.headers["content-type"] == JSON
        assert response.json() == body


@pytest.mark.parametrize(("since", "status"), [
    pytest.param("2099-01-01T00:00:00+00:00", 304, id="not-modified"),
    pytest.param("2000-01-01T00:00:00+00:00", 200, id="modified"),
    pytest.param("yesterday", 400, id="malformed-header"),
])
def test_if_modified_since(crm_client: httpx.Client, admin: SandboxAdmin, since: str, status: int) -> None:
    response = crm_client.get(f"/crm/v2/Accounts/{first_id(admin)}", headers={"If-Modified-Since": since})
    assert response.status_code == status
    if status == 304:
        assert response.content == b"" and "content-type" not in response.headers


def test_missing_record_mode_400_knob(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    admin.configure(missing_record_mode="400")
    response = crm_client.get("/crm/v2/Accounts/1234567890123456789")
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_DATA"


def test_fields_param_projects(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    rid = first_id(admin)
    record = crm_client.get(f"/crm/v2/Accounts/{rid}", params={"fields": "Account_Name,Phone"}).json()["data"][0]
    assert set(record) == {"id", "Account_Name", "Phone"}


def test_contacts_module_is_served(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    cid = admin.record_ids("Contacts")[0]
    record = crm_client.get(f"/crm/v2/Contacts/{cid}").json()["data"][0]
    assert record["Account_Name"]["id"] in admin.record_ids("Accounts")


# ---------------------------------------------------------------- list and ids

def test_list_first_page_info(crm_client: httpx.Client) -> None:
    body = crm_client.get("/crm/v2/Accounts").json()
    assert len(body["data"]) == 200
    assert body["info"] == {"per_page": 200, "count": 200, "page": 1, "sort_by": "id", "sort_order": "desc", "more_records": True}
    ids = [int(r["id"]) for r in body["data"]]
    assert ids == sorted(ids, reverse=True)


def test_list_last_page(crm_client: httpx.Client) -> None:
    body = crm_client.get("/crm/v2/Accounts", params={"page": 3, "per_page": 200}).json()
    assert body["info"]["count"] == 100 and body["info"]["more_records"] is False


def test_list_past_the_end_is_204(crm_client: httpx.Client) -> None:
    response = crm_client.get("/crm/v2/Accounts", params={"page": 4})
    assert response.status_code == 204 and response.content == b""


def test_ids_param(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    ids = admin.record_ids()[:3]
    body = crm_client.get("/crm/v2/Accounts", params={"ids": ",".join([*ids, "1234567890123456789"])}).json()
    assert [r["id"] for r in body["data"]] == ids
    assert body["info"]["count"] == 3


def bad_param(name: str, **extra: Any) -> dict[str, Any]:
    return {"code": "INVALID_DATA", "details": {"param_name": name, **extra}, "message": "invalid data", "status": "error"}


LIST_ERRORS = [
    pytest.param({"per_page": "201"}, 400, bad_param("per_page", maximum_length=200), id="per-page-over-200"),
    pytest.param({"per_page": "0"}, 400, bad_param("per_page"), id="per-page-zero"),
    pytest.param({"per_page": "-5"}, 400, bad_param("per_page"), id="per-page-negative"),
    pytest.param({"page": "0"}, 400, bad_param("page"), id="page-zero"),
    pytest.param({"page": "-1"}, 400, bad_param("page"), id="negative-page"),
    pytest.param({"page": "abc"}, 400, bad_param("page"), id="non-numeric-page"),
    pytest.param({"page": "1.5"}, 400, bad_param("page"), id="fractional-page"),
    pytest.param({"page": "\u00b2"}, 400, bad_param("page"), id="superscript-digit-page"),
    pytest.param({"page": "\u0661"}, 400, bad_param("page"), id="non-ascii-digit-page"),
    pytest.param({"page": str(10**12)}, 400, bad_param("page"), id="page-10-to-the-12"),
    pytest.param({"page": "99999999999999999999999999"}, 400, bad_param("page"), id="absurd-page"),
    pytest.param({"page": "11", "per_page": "200"}, 400, {"code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED", "details": {"limit": 2000}, "message": "discrete pagination limit exceeded", "status": "error"}, id="beyond-2000"),
    pytest.param({"page": str(10**11)}, 400, {"code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED", "details": {"limit": 2000}, "message": "discrete pagination limit exceeded", "status": "error"}, id="page-10-to-the-11"),
    pytest.param({"ids": ",".join(str(10**18 + i) for i in range(101))}, 400, {"code": "LIMIT_EXCEEDED", "details": {"limit": 100, "param_name": "ids"}, "message": "limit exceeded", "status": "error"}, id="over-100-ids"),
    pytest.param({"ids": "12,abc"}, 400, {"code": "INVALID_DATA", "details": {"id": "abc", "param_name": "ids"}, "message": "the id given seems to be invalid", "status": "error"}, id="malformed-ids"),
    pytest.param({"ids": ","}, 400, bad_param("ids"), id="empty-ids"),
    pytest.param({"ids": "1234567890123456789"}, 204, None, id="ids-none-found"),
    pytest.param({"fields": ",".join(f"F{i}" for i in range(51))}, 400, {"code": "LIMIT_EXCEEDED", "details": {"limit": 50, "param_name": "fields"}, "message": "limit exceeded", "status": "error"}, id="over-50-fields"),
    pytest.param({"sort_by": "Account_Name"}, 400, bad_param("sort_by"), id="bad-sort-by"),
    pytest.param({"sort_order": "up"}, 400, bad_param("sort_order"), id="bad-sort-order"),
]


@pytest.mark.parametrize(("params", "status", "body"), LIST_ERRORS)
def test_list_errors(crm_client: httpx.Client, params: dict[str, str], status: int, body: Any) -> None:
    response = crm_client.get("/crm/v2/Accounts", params=params)
    assert response.status_code == status
    if body is None:
        assert response.content == b"" and "content-type" not in response.headers
    else:
        assert response.headers["content-type"] == JSON
        assert response.json() == body


def test_list_sorting_and_page_size(crm_client: httpx.Client) -> None:
    body = crm_client.get("/crm/v2/Accounts", params={"per_page": 7, "page": 2, "sort_by": "Created_Time", "sort_order": "asc"}).json()
    assert body["info"] == {"per_page": 7, "count": 7, "page": 2, "sort_by": "Created_Time", "sort_order": "asc", "more_records": True}
    times = [r["Created_Time"] for r in body["data"]]
    assert times == sorted(times)


# ---------------------------------------------------------------- search

SEARCH_HITS = [
    pytest.param({"criteria": "(Account_Name:equals:Müller & Söhne \\(Berlin\\))"}, ["Müller & Söhne (Berlin)"], id="criteria-escaped-parens-non-ascii"),
    pytest.param({"criteria": "(Account_Name:equals:Smith\\, Jones and Co)"}, ["Smith, Jones and Co"], id="criteria-escaped-comma"),
    pytest.param({"criteria": "(Account_Name:equals:Back\\\\slash Trading)"}, ["Back\\slash Trading"], id="criteria-escaped-backslash"),
    pytest.param({"criteria": "Account_Name:equals:Acme Corp"}, ["Acme Corp"], id="criteria-bare-condition"),
    pytest.param({"criteria": "((Account_Name:starts_with:Smith)or(Account_Name:starts_with:Acme Corp))"}, ["Acme Corp", "Smith, Jones and Co"], id="criteria-or"),
    pytest.param({"criteria": "((Account_Name:starts_with:Smith) and (Account_Name:equals:Jones))"}, ["Smith, Jones and Co"], id="criteria-and-with-spaces"),
    pytest.param({"criteria": "(((Account_Name:starts_with:Smith)and(Account_Name:equals:Co))or(Account_Name:equals:O'Brien))"}, ["O'Brien & Sons", "Smith, Jones and Co"], id="criteria-nested"),
    pytest.param({"word": "Söhne"}, ["Müller & Söhne (Berlin)"], id="word"),
    pytest.param({"criteria": "(Account_Name:equals:Acme Corp)", "word": "Söhne"}, ["Acme Corp"], id="criteria-beats-word"),
    pytest.param({"email": "{email}", "word": "Söhne"}, ["{email_owner}"], id="email-beats-word"),
    pytest.param({"phone": "{phone}", "word": "Söhne"}, ["{phone_owner}"], id="phone-beats-word"),
    pytest.param({"criteria": "(Account_Name:equals:Acme Corp)", "email": "{email}"}, ["Acme Corp"], id="criteria-beats-email"),
    pytest.param({"criteria": "(Account_Name:equals:Acme Corp)", "phone": "{phone}"}, ["Acme Corp"], id="criteria-beats-phone"),
    pytest.param({"email": "{email}", "phone": "{phone}"}, ["{email_owner}"], id="email-beats-phone"),
    pytest.param({"criteria": "(Account_Name:equals:Acme Corp)", "word": "a"}, ["Acme Corp"], id="only-the-winner-is-validated"),
    pytest.param({"email": "{email_upper}"}, ["{email_owner}"], id="email-case-insensitive"),
    pytest.param({"criteria": "(Account_Name:equals:acme corp)"}, ["Acme Corp"], id="criteria-case-insensitive"),
]


def all_accounts(client: httpx.Client) -> list[dict[str, Any]]:
    """Every account through the list API: 3 requests (fetching each record alone was 500)."""
    out: list[dict[str, Any]] = []
    for page in (1, 2, 3):
        out += client.get("/crm/v2/Accounts", params={"page": page}).json()["data"]
    return out


@pytest.mark.parametrize(("params", "names"), SEARCH_HITS)
def test_search_hits(crm_client: httpx.Client, admin: SandboxAdmin, params: dict[str, str], names: list[str]) -> None:
    records = all_accounts(crm_client)
    assert len(records) == 500
    emails = [r["Email"] for r in records if r["Email"]]
    phones = [r["Phone"] for r in records if r["Phone"]]
    with_email = next(r for r in records if r["Email"] and emails.count(r["Email"]) == 1 and r["Account_Name"] != "Müller & Söhne (Berlin)"
                      and not (r["Phone"] and phones.count(r["Phone"]) == 1))
    with_phone = next(r for r in records if r["Phone"] and phones.count(r["Phone"]) == 1 and r is not with_email
                      and r["Account_Name"] != "Müller & Söhne (Berlin)")
    subs = {"email": with_email["Email"], "email_upper": with_email["Email"].upper(), "email_owner": with_email["Account_Name"],
            "phone": with_phone["Phone"], "phone_owner": with_phone["Account_Name"]}
    params = {k: v.format(**subs) if "{" in v and k in ("email", "phone") else v for k, v in params.items()}
    names = [n.format(**subs) if n.startswith("{") else n for n in names]
    response = crm_client.get("/crm/v2/Accounts/search", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(r["Account_Name"] for r in body["data"]) == sorted(names)
    assert body["info"]["count"] == len(names) and body["info"]["more_records"] is False


def test_search_criteria_plus_must_be_encoded(crm_client: httpx.Client) -> None:
    """A raw '+' in the query string arrives as a space (reference §7.2)."""
    encoded = crm_client.get("/crm/v2/Accounts/search", params={"criteria": "(Account_Name:equals:Plus+Minus)"})
    assert [r["Account_Name"] for r in encoded.json()["data"]] == ["Plus+Minus Engineering"]
    raw = crm_client.get("/crm/v2/Accounts/search?criteria=(Account_Name:equals:Plus+Minus)")
    assert raw.status_code == 204


def test_search_no_match_is_204(crm_client: httpx.Client) -> None:
    response = crm_client.get("/crm/v2/Accounts/search", params={"word": "zzzznotthere"})
    assert response.status_code == 204
    assert response.content == b"" and "content-type" not in response.headers


SHORT = {"code": "INVALID_DATA", "details": {}, "message": "The search value contains special characters or does not contain at least two characters", "status": "error"}
# Reference §7.6: one row per error body; INVALID_QUERY rows give the `details` keys besides `reason`.
SEARCH_ERRORS = [
    pytest.param({}, {"code": "EXPECTED_PARAM_MISSING", "details": {"param_names": ["criteria", "email", "phone", "word"]}, "message": "mandatory param missing", "status": "error"}, id="no-search-param"),
    pytest.param({"word": ""}, {"code": "EXPECTED_PARAM_MISSING", "details": {"param_names": ["criteria", "email", "phone", "word"]}, "message": "mandatory param missing", "status": "error"}, id="empty-search-param"),
    pytest.param({"word": "a"}, SHORT, id="word-too-short"),
    pytest.param({"word": "x" * 101}, SHORT, id="word-too-long"),
    pytest.param({"email": "a"}, SHORT, id="email-too-short"),
    pytest.param({"phone": "ab"}, SHORT, id="phone-letters"),
    pytest.param({"phone": "12"}, SHORT, id="phone-too-short"),
    pytest.param({"criteria": "(Account_Name:contains:Acme)"}, ("INVALID_QUERY", {"operator": "contains"}), id="unknown-operator"),
    pytest.param({"criteria": "(Account_Name:greater_than:A)"}, ("INVALID_QUERY", {"operator": "greater_than"}), id="operator-not-for-type"),
    pytest.param({"criteria": "(Nope:equals:Acme)"}, ("INVALID_QUERY", {"api_name": "Nope"}), id="unknown-field"),
    pytest.param({"criteria": "(Employees:greater_than:many)"}, ("INVALID_QUERY", {"api_name": "Employees", "expected_data_type": "integer"}), id="wrong-value-type"),
    pytest.param({"criteria": "(Account_Name:equals:Smith, Jones)"}, ("INVALID_QUERY", {"operator": "equals"}), id="unescaped-comma"),
    pytest.param({"criteria": "(Account_Name:equals:Acme"}, ("INVALID_QUERY", {}), id="unbalanced"),
    pytest.param({"criteria": "(Account_Name:equals:K\\)"}, ("INVALID_QUERY", {}), id="trailing-backslash-not-doubled"),
    pytest.param({"criteria": "(Account_Name:equals:)"}, ("INVALID_QUERY", {"operator": "equals"}), id="empty-value"),
    pytest.param({"criteria": "(Employees:in:" + ",".join(map(str, range(101))) + ")"}, ("INVALID_QUERY", {"operator": "in"}), id="in-over-100-values"),
    pytest.param({"criteria": "(Created_Time:between:2026-01-01T00:00:00+00:00)"}, ("INVALID_QUERY", {"operator": "between"}), id="between-one-value"),
    pytest.param({"criteria": "(Account_Name:equals:" + "x" * 60_000 + ")"}, ("INVALID_QUERY", {"param_name": "criteria"}), id="huge-criteria"),
    pytest.param({"criteria": "(" * 3000 + "Account_Name:equals:A" + ")" * 3000}, ("INVALID_QUERY", {"param_name": "criteria"}), id="deep-nesting"),
    pytest.param({"criteria": "(" + "and".join(f"(Account_Name:equals:A{i})" for i in range(11)) + ")"}, {"code": "CRITERIA_LIMIT_EXCEEDED", "details": {}, "message": "no of criterium that can be given exceed the limit 10", "status": "error"}, id="eleven-conditions"),
    pytest.param({"word": "Inc", "page": "11", "per_page": "200"}, {"code": "LIMIT_REACHED", "details": {"limit": "2000"}, "message": "maximum response iteration limit reached", "status": "error"}, id="beyond-2000-results"),
    pytest.param({"word": "Inc", "per_page": "500"}, bad_param("per_page", maximum_length=200), id="per-page-over-200"),
    pytest.param({"word": "Inc", "per_page": "0"}, bad_param("per_page"), id="per-page-zero"),
    pytest.param({"word": "Inc", "page": "-1"}, bad_param("page"), id="page-negative"),
    pytest.param({"word": "Inc", "page": str(10**12)}, bad_param("page"), id="page-10-to-the-12"),
]


@pytest.mark.parametrize(("params", "expected"), SEARCH_ERRORS)
def test_search_errors(crm_client: httpx.Client, params: dict[str, str], expected: Any) -> None:
    response = crm_client.get("/crm/v2/Accounts/search", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON
    body = response.json()
    if isinstance(expected, dict):
        assert body == expected
    else:
        code, details = expected
        assert set(body) == {"code", "details", "message", "status"}
        assert (body["code"], body["message"], body["status"]) == (code, "invalid query formed", "error")
        assert {k: v for k, v in body["details"].items() if k != "reason"} == details
        assert isinstance(body["details"]["reason"], str) and body["details"]["reason"]


def test_ten_conditions_are_allowed(crm_client: httpx.Client) -> None:
    criteria = "(" + "or".join(f"(Account_Name:equals:Acme Corp{'' if i == 0 else i})" for i in range(10)) + ")"
    response = crm_client.get("/crm/v2/Accounts/search", params={"criteria": criteria})
    assert response.status_code == 200


def test_v8_paths_allow_fifteen_conditions(crm_client: httpx.Client) -> None:
    def criteria(n: int) -> str:
        return "(" + "or".join(f"(Account_Name:equals:Acme Corp{'' if i == 0 else i})" for i in range(n)) + ")"

    assert crm_client.get("/crm/v8/Accounts/search", params={"criteria": criteria(15)}).status_code == 200
    assert crm_client.get("/crm/v2/Accounts/search", params={"criteria": criteria(15)}).json()["code"] == "CRITERIA_LIMIT_EXCEEDED"
    over = crm_client.get("/crm/v8/Accounts/search", params={"criteria": criteria(16)}).json()
    assert over == {"code": "CRITERIA_LIMIT_EXCEEDED", "details": {}, "message": "no of criterium that can be given exceed the limit 15", "status": "error"}


@pytest.fixture(scope="module")
def big_org() -> Any:
    """2,300 accounts: more than the 2,000 results Zoho lets a caller page through."""
    with SandboxServer(SandboxConfig(accounts=2300)) as big:
        token = mint_token(big.base_url).json()["access_token"]
        with httpx.Client(base_url=big.base_url, headers={"Authorization": f"Zoho-oauthtoken {token}"}, timeout=10) as client:
            yield client


EVERY_ACCOUNT = {"criteria": "(Created_Time:less_than:2030-01-01T00:00:00+00:00)"}
REACHABLE = [
    pytest.param("search", EVERY_ACCOUNT, 10, 200, 200, False, id="search-page-10-of-200"),
    pytest.param("search", EVERY_ACCOUNT, 9, 200, 200, True, id="search-page-9-of-200"),
    pytest.param("search", EVERY_ACCOUNT, 20, 100, 100, False, id="search-page-20-of-100"),
    pytest.param("search", EVERY_ACCOUNT, 11, 200, "LIMIT_REACHED", None, id="search-page-11-of-200"),
    pytest.param("search", EVERY_ACCOUNT, 21, 100, "LIMIT_REACHED", None, id="search-page-21-of-100"),
    pytest.param("list", {}, 10, 200, 200, False, id="list-page-10-of-200"),
    pytest.param("list", {}, 11, 200, "DISCRETE_PAGINATION_LIMIT_EXCEEDED", None, id="list-page-11-of-200"),
]


@pytest.mark.parametrize(("kind", "params", "page", "per_page", "outcome", "more"), REACHABLE)
def test_only_2000_results_are_reachable(big_org: httpx.Client, kind: str, params: dict[str, str], page: int,
                                         per_page: int, outcome: Any, more: bool | None) -> None:
    path = "/crm/v2/Accounts/search" if kind == "search" else "/crm/v2/Accounts"
    response = big_org.get(path, params={**params, "page": page, "per_page": per_page})
    body = response.json()
    if isinstance(outcome, str):
        assert response.status_code == 400
        limit: Any = "2000" if outcome == "LIMIT_REACHED" else 2000
        message = "maximum response iteration limit reached" if outcome == "LIMIT_REACHED" else "discrete pagination limit exceeded"
        assert body == {"code": outcome, "details": {"limit": limit}, "message": message, "status": "error"}
    else:
        assert response.status_code == 200
        assert body["info"]["count"] == outcome == len(body["data"])
        assert body["info"]["more_records"] is more
        assert (body["info"]["page"], body["info"]["per_page"]) == (page, per_page)


def test_the_big_org_search_matches_all_2300(big_org: httpx.Client) -> None:
    first = big_org.get("/crm/v2/Accounts/search", params={**EVERY_ACCOUNT, "per_page": 200}).json()
    assert first["info"]["more_records"] is True and first["info"]["count"] == 200


# ---------------------------------------------------------------- metadata

def test_settings_modules(crm_client: httpx.Client) -> None:
    modules = crm_client.get("/crm/v2/settings/modules").json()["modules"]
    names = {m["api_name"] for m in modules}
    assert {"Accounts", "Contacts", "Leads", "Deals"} <= names
    assert all(m["api_supported"] for m in modules)


def test_settings_fields_match_records(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    fields = crm_client.get("/crm/v2/settings/fields", params={"module": "Accounts"}).json()["fields"]
    by_name = {f["api_name"]: f for f in fields}
    assert by_name["Annual_Revenue"]["data_type"] == "currency"
    assert by_name["Employees"]["data_type"] == "integer"
    assert by_name["Account_Name"]["system_mandatory"] is True
    assert by_name["Parent_Account"]["lookup"]["module"] == "Accounts"
    assert by_name["Industry"]["pick_list_values"]
    record = admin.record("Accounts", admin.record_ids()[0])
    assert record is not None
    field_keys = {k for k in record if not k.startswith("$") and k != "id"}
    assert field_keys == set(by_name)
    for rid in admin.record_ids()[:50]:
        rec = admin.record("Accounts", rid)
        assert rec is not None
        if rec["Annual_Revenue"] is not None:
            assert isinstance(rec["Annual_Revenue"], (int, float))
        if rec["Employees"] is not None:
            assert isinstance(rec["Employees"], int)


@pytest.mark.parametrize(("params", "code"), [
    pytest.param({}, "REQUIRED_PARAM_MISSING", id="no-module"),
    pytest.param({"module": "Nope"}, "INVALID_MODULE", id="unknown-module"),
])
def test_settings_fields_errors(crm_client: httpx.Client, params: dict[str, str], code: str) -> None:
    response = crm_client.get("/crm/v2/settings/fields", params=params)
    assert response.status_code == 400 and response.json()["code"] == code


def test_method_not_allowed(crm_client: httpx.Client) -> None:
    response = crm_client.delete("/crm/v2/settings/modules")
    assert response.status_code == 405 and response.json()["code"] == "INVALID_REQUEST_METHOD"


SEEDED_NAMES_WITH = [
    pytest.param(lambda n: "," in n, id="comma"),
    pytest.param(lambda n: "(" in n and ")" in n, id="parentheses"),
    pytest.param(lambda n: any(ord(c) > 127 for c in n), id="non-ascii"),
]


@pytest.mark.parametrize("seed", [1, 42, 2026])
@pytest.mark.parametrize("has", SEEDED_NAMES_WITH)
def test_seeded_names_are_hard_for_every_seed(seed: int, has: Any) -> None:
    from zoho_mcp.sandbox.data import generate

    names = [r["Account_Name"] for r in generate(seed, 50, None, "+01:00").records["Accounts"]]
    assert any(has(n) for n in names)


def test_seed_is_deterministic() -> None:
    from zoho_mcp.sandbox.app import build_app

    a = build_app(SandboxConfig(seed=7, accounts=30)).state.store
    b = build_app(SandboxConfig(seed=7, accounts=30)).state.store
    c = build_app(SandboxConfig(seed=8, accounts=30)).state.store
    for module in ("Accounts", "Contacts", "Leads", "Deals"):
        assert a.ordered(module) == b.ordered(module), "same seed, same records (every field)"
    assert a.ids("Accounts") != c.ids("Accounts")
    for field in ("Phone", "Website", "Annual_Revenue", "Industry", "Created_Time"):
        assert [r[field] for r in a.ordered("Accounts")] != [r[field] for r in c.ordered("Accounts")], field


def test_seeded_records_are_realistic(crm_client: httpx.Client) -> None:
    records = all_accounts(crm_client)
    assert all(len(r["id"]) == 19 and r["id"].isdigit() and isinstance(r["id"], str) for r in records)
    filled = {f: sum(1 for r in records if r[f] not in (None, "")) for f in ("Industry", "Phone", "Website", "Annual_Revenue", "Owner")}
    assert all(n > 250 for n in filled.values()), filled
    assert len({r["Owner"]["id"] for r in records}) > 1
    assert len({r["Industry"] for r in records}) > 5


# ---------------------------------------------------------------- scopes and permissions (reference §3.4, §3.5, §7.6)

SCOPE_MISMATCH = {"code": "OAUTH_SCOPE_MISMATCH", "details": {}, "message": "invalid oauth scope to access this URL", "status": "error"}
SCOPES = [
    pytest.param("ZohoCRM.modules.accounts.READ", "GET", "/crm/v2/Accounts", 200, id="module-read-allows-list"),
    pytest.param("ZohoCRM.modules.accounts.READ", "GET", "/crm/v2/Accounts/search?word=Acme", 401, id="search-needs-securesearch"),
    pytest.param("ZohoCRM.modules.accounts.READ ZohoSearch.securesearch.READ", "GET", "/crm/v2/Accounts/search?word=Acme", 200, id="search-with-securesearch"),
    pytest.param("ZohoCRM.modules.accounts.READ", "PUT", "/crm/v2/Accounts", 401, id="read-scope-cannot-update"),
    pytest.param("ZohoCRM.modules.accounts.WRITE", "PUT", "/crm/v2/Accounts", 200, id="write-scope-updates"),
    pytest.param("ZohoCRM.modules.accounts.READ", "GET", "/crm/v2/Contacts", 401, id="other-module"),
    pytest.param("ZohoCRM.modules.ALL", "GET", "/crm/v2/settings/fields?module=Accounts", 401, id="settings-need-settings-scope"),
    pytest.param("ZohoCRM.settings.fields.READ", "GET", "/crm/v2/settings/fields?module=Accounts", 200, id="fields-read-scope"),
    pytest.param("ZohoCRM.modules.ALL ZohoSearch.securesearch.READ", "GET", "/crm/v2/Leads/search?word=Acme", 200, id="all-modules"),
]


@pytest.mark.parametrize(("scope", "method", "path", "status"), SCOPES)
def test_oauth_scopes(admin: SandboxAdmin, scope: str, method: str, path: str, status: int) -> None:
    admin.configure(token_scope=scope)
    token = mint_token(admin.base_url).json()
    assert token["scope"] == scope
    body = {"data": [{"id": admin.record_ids()[0], "Phone": "1"}]} if method == "PUT" else None
    response = shared_http().request(method, f"{admin.base_url}{path}", json=body,
                                     headers={"Authorization": f"Zoho-oauthtoken {token['access_token']}"})
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json() == SCOPE_MISMATCH
        assert admin.limits()["credits_used"] == 0


@pytest.mark.parametrize(("knob", "path", "status", "body"), [
    pytest.param({"unsearchable_modules": "Deals"}, "/crm/v2/Deals/search?word=Acme", 400,
                 {"code": "NOT_SUPPORTED", "details": {"module": "Deals"}, "message": "module not supported for search", "status": "error"}, id="not-supported"),
    pytest.param({"denied_modules": "Leads"}, "/crm/v2/Leads/search?word=Acme", 403,
                 {"code": "NO_PERMISSION", "details": {"permissions": ["Crm_Implied_View_Leads"]}, "message": "Permission denied to read", "status": "error"}, id="no-permission-search"),
    pytest.param({"denied_modules": "Leads"}, "/crm/v2/Leads", 403,
                 {"code": "NO_PERMISSION", "details": {"permissions": ["Crm_Implied_View_Leads"]}, "message": "permission denied", "status": "error"}, id="no-permission-list"),
])
def test_module_level_refusals(crm_client: httpx.Client, admin: SandboxAdmin, knob: dict[str, str], path: str, status: int, body: Any) -> None:
    admin.configure(**knob)
    response = crm_client.get(path)
    assert response.status_code == status
    assert response.json() == body
    assert crm_client.get("/crm/v2/Accounts/search", params={"word": "Acme"}).status_code == 200, "other modules unaffected"
