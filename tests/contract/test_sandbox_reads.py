"""Read contract (reference §2, §5, §6, §7): get by id, list, ids, search, metadata, auth errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import SandboxAdmin
from zoho_mcp.sandbox.app import SandboxServer

JSON = "application/json;charset=UTF-8"
INVALID_TOKEN = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}


def first_id(admin_or_base: Any) -> str:
    base = admin_or_base if isinstance(admin_or_base, str) else admin_or_base.base_url
    return str(httpx.get(f"{base}/__sandbox__/records/Accounts").json()["ids"][0])


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
    response = httpx.get(f"{clean_sandbox.base_url}/crm/v2/Accounts/{first_id(clean_sandbox.base_url)}", headers=headers)
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


LIST_ERRORS = [
    pytest.param({"per_page": "201"}, 400, "INVALID_DATA", id="per-page-over-200"),
    pytest.param({"per_page": "0"}, 400, "INVALID_DATA", id="per-page-zero"),
    pytest.param({"page": "-1"}, 400, "INVALID_DATA", id="negative-page"),
    pytest.param({"page": "abc"}, 400, "INVALID_DATA", id="non-numeric-page"),
    pytest.param({"page": "99999999999999999999999999"}, 400, "INVALID_DATA", id="absurd-page"),
    pytest.param({"page": "11", "per_page": "200"}, 400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED", id="beyond-2000"),
    pytest.param({"ids": ",".join(str(10**18 + i) for i in range(101))}, 400, "LIMIT_EXCEEDED", id="over-100-ids"),
    pytest.param({"ids": "12,abc"}, 400, "INVALID_DATA", id="malformed-ids"),
    pytest.param({"ids": "1234567890123456789"}, 204, None, id="ids-none-found"),
    pytest.param({"fields": ",".join(f"F{i}" for i in range(51))}, 400, "LIMIT_EXCEEDED", id="over-50-fields"),
    pytest.param({"sort_by": "Account_Name"}, 400, "INVALID_DATA", id="bad-sort-by"),
]


@pytest.mark.parametrize(("params", "status", "code"), LIST_ERRORS)
def test_list_errors(crm_client: httpx.Client, params: dict[str, str], status: int, code: str | None) -> None:
    response = crm_client.get("/crm/v2/Accounts", params=params)
    assert response.status_code == status
    if code is None:
        assert response.content == b""
    else:
        body = response.json()
        assert body["code"] == code and body["status"] == "error"


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
]


@pytest.mark.parametrize(("params", "names"), SEARCH_HITS)
def test_search_hits(crm_client: httpx.Client, admin: SandboxAdmin, params: dict[str, str], names: list[str]) -> None:
    records = [admin.record("Accounts", i) for i in admin.record_ids()]
    with_email = next(r for r in records if r and r["Email"] and r["Account_Name"] != "Müller & Söhne (Berlin)")
    with_phone = next(r for r in records if r and r["Phone"] and r["Account_Name"] != "Müller & Söhne (Berlin)")
    subs = {"email": with_email["Email"], "email_owner": with_email["Account_Name"],
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


SEARCH_ERRORS = [
    pytest.param({}, {"code": "EXPECTED_PARAM_MISSING", "details": {"param_names": ["criteria", "email", "phone", "word"]}, "message": "mandatory param missing", "status": "error"}, id="no-search-param"),
    pytest.param({"word": "a"}, {"code": "INVALID_DATA", "details": {}, "message": "The search value contains special characters or does not contain at least two characters", "status": "error"}, id="word-too-short"),
    pytest.param({"phone": "ab"}, {"code": "INVALID_DATA", "details": {}, "message": "The search value contains special characters or does not contain at least two characters", "status": "error"}, id="phone-invalid"),
    pytest.param({"criteria": "(Account_Name:contains:Acme)"}, "INVALID_QUERY", id="unknown-operator"),
    pytest.param({"criteria": "(Nope:equals:Acme)"}, "INVALID_QUERY", id="unknown-field"),
    pytest.param({"criteria": "(Account_Name:equals:Smith, Jones)"}, "INVALID_QUERY", id="unescaped-comma"),
    pytest.param({"criteria": "(Account_Name:equals:Acme"}, "INVALID_QUERY", id="unbalanced"),
    pytest.param({"criteria": "(Employees:greater_than:many)"}, "INVALID_QUERY", id="wrong-value-type"),
    pytest.param({"criteria": "(" + "and".join(f"(Account_Name:equals:A{i})" for i in range(11)) + ")"}, "CRITERIA_LIMIT_EXCEEDED", id="eleven-conditions"),
    pytest.param({"word": "Inc", "page": "11", "per_page": "200"}, {"code": "LIMIT_REACHED", "details": {"limit": "2000"}, "message": "maximum response iteration limit reached", "status": "error"}, id="beyond-2000-results"),
    pytest.param({"word": "Inc", "per_page": "500"}, "INVALID_DATA", id="per-page-over-200"),
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
        assert body["code"] == expected and body["status"] == "error"


def test_ten_conditions_are_allowed(crm_client: httpx.Client) -> None:
    criteria = "(" + "or".join(f"(Account_Name:equals:Acme Corp{'' if i == 0 else i})" for i in range(10)) + ")"
    response = crm_client.get("/crm/v2/Accounts/search", params={"criteria": criteria})
    assert response.status_code == 200


def test_search_reachable_limit_on_a_big_org() -> None:
    from zoho_mcp.sandbox.app import SandboxConfig

    with SandboxServer(SandboxConfig(accounts=2300)) as big:
        from tests.conftest import mint_token

        token = mint_token(big.base_url).json()["access_token"]
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        last = httpx.get(f"{big.base_url}/crm/v2/Accounts/search", params={"criteria": "(Account_Name:starts_with:A)", "page": 10}, headers=headers)
        beyond = httpx.get(f"{big.base_url}/crm/v2/Accounts", params={"page": 11}, headers=headers)
        listed = httpx.get(f"{big.base_url}/crm/v2/Accounts", params={"page": 10}, headers=headers)
    assert last.status_code in (200, 204)
    assert beyond.json()["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert listed.json()["info"] == {"per_page": 200, "count": 200, "page": 10, "sort_by": "id", "sort_order": "desc", "more_records": False}


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


def test_seed_is_deterministic() -> None:
    from zoho_mcp.sandbox.app import build_app
    from zoho_mcp.sandbox.config import SandboxConfig

    a = build_app(SandboxConfig(seed=7, accounts=30)).state.store
    b = build_app(SandboxConfig(seed=7, accounts=30)).state.store
    c = build_app(SandboxConfig(seed=8, accounts=30)).state.store
    assert a.ordered("Accounts") == b.ordered("Accounts")
    assert a.ids("Accounts") != c.ids("Accounts")
