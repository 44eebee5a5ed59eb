"""Write contract (reference §8): PUT of up to 100 records, per-record results in request order,
200/207/400/412 aggregation, field type validation, single-record PUT, malformed bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import SandboxAdmin, mint_token

JSON = "application/json;charset=UTF-8"


def put(client: httpx.Client, data: Any, path: str = "/crm/v2/Accounts", **kw: Any) -> httpx.Response:
    return client.put(path, json={"data": data, "trigger": []}, **kw)


def test_update_all_success_200(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    ids = admin.record_ids()[:3]
    response = put(crm_client, [{"id": i, "Phone": f"555-000{n}"} for n, i in enumerate(ids)])
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    results = response.json()["data"]
    assert [r["details"]["id"] for r in results] == ids
    for r in results:
        assert r["code"] == "SUCCESS" and r["status"] == "success" and r["message"] == "record updated"
        assert set(r["details"]) == {"Modified_Time", "Modified_By", "Created_Time", "id", "Created_By"}
    for n, i in enumerate(ids):
        stored = admin.record("Accounts", i)
        assert stored is not None and stored["Phone"] == f"555-000{n}"
        assert stored["Modified_Time"] == results[n]["details"]["Modified_Time"]


PER_RECORD_ERRORS = [
    pytest.param({"Annual_Revenue": "lots"}, {"code": "INVALID_DATA", "details": {"api_name": "Annual_Revenue", "expected_data_type": "double", "json_path": "$.data[1].Annual_Revenue"}, "message": "invalid data", "status": "error"}, id="double-field-text"),
    pytest.param({"Employees": 12.5}, {"code": "INVALID_DATA", "details": {"api_name": "Employees", "expected_data_type": "integer", "json_path": "$.data[1].Employees"}, "message": "invalid data", "status": "error"}, id="integer-field-fraction"),
    pytest.param({"Employees": True}, {"code": "INVALID_DATA", "details": {"api_name": "Employees", "expected_data_type": "integer", "json_path": "$.data[1].Employees"}, "message": "invalid data", "status": "error"}, id="integer-field-bool"),
    pytest.param({"Account_Name": 42}, {"code": "INVALID_DATA", "details": {"api_name": "Account_Name", "expected_data_type": "text", "json_path": "$.data[1].Account_Name"}, "message": "invalid data", "status": "error"}, id="text-field-number"),
    pytest.param({"Account_Name": "x" * 201}, {"code": "INVALID_DATA", "details": {"api_name": "Account_Name", "expected_data_type": "text", "json_path": "$.data[1].Account_Name"}, "message": "invalid data", "status": "error"}, id="text-too-long"),
    pytest.param({"Email": "not-an-email"}, {"code": "INVALID_DATA", "details": {"api_name": "Email", "expected_data_type": "email", "json_path": "$.data[1].Email"}, "message": "invalid data", "status": "error"}, id="bad-email"),
    pytest.param({"Owner": {"id": "1"}}, {"code": "INVALID_DATA", "details": {"api_name": "Owner", "expected_data_type": "jsonobject", "json_path": "$.data[1].Owner"}, "message": "invalid data", "status": "error"}, id="unknown-owner"),
    pytest.param({"Account_Name": ""}, {"code": "MANDATORY_NOT_FOUND", "details": {"api_name": "Account_Name", "json_path": "$.data[1].Account_Name"}, "message": "required field not found", "status": "error"}, id="mandatory-emptied"),
    pytest.param({"id": None}, {"code": "MANDATORY_NOT_FOUND", "details": {"api_name": "id", "json_path": "$.data[1].id"}, "message": "required field not found", "status": "error"}, id="missing-id"),
    pytest.param({"id": "1234567890123456789"}, {"code": "INVALID_DATA", "details": {"id": "1234567890123456789"}, "message": "the id given seems to be invalid", "status": "error"}, id="unknown-id"),
    pytest.param({"id": "abc"}, {"code": "INVALID_DATA", "details": {"id": "abc"}, "message": "the id given seems to be invalid", "status": "error"}, id="malformed-id"),
]


@pytest.mark.parametrize(("change", "expected"), PER_RECORD_ERRORS)
def test_partial_failure_is_207_with_results_in_order(crm_client: httpx.Client, admin: SandboxAdmin, change: dict[str, Any], expected: dict[str, Any]) -> None:
    ids = admin.record_ids()[:3]
    before = admin.record("Accounts", ids[1])
    bad = {"id": ids[1], "Phone": "999"} | change
    if bad.get("id") is None:
        bad.pop("id")
    response = put(crm_client, [{"id": ids[0], "Phone": "111"}, bad, {"id": ids[2], "Phone": "333"}])
    assert response.status_code == 207
    results = response.json()["data"]
    assert len(results) == 3
    assert results[0]["status"] == "success" and results[2]["status"] == "success"
    assert results[1] == expected
    assert admin.record("Accounts", ids[1]) == before, "a failed record is not touched"


def test_all_failed_is_400_with_data(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    ids = admin.record_ids()[:2]
    response = put(crm_client, [{"id": i, "Annual_Revenue": "x"} for i in ids])
    assert response.status_code == 400
    assert [r["code"] for r in response.json()["data"]] == ["INVALID_DATA", "INVALID_DATA"]


def test_partial_status_knob(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    admin.configure(partial_status=200)
    ids = admin.record_ids()[:2]
    response = put(crm_client, [{"id": ids[0], "Phone": "1"}, {"id": ids[1], "Employees": "many"}])
    assert response.status_code == 200


def test_hundred_records_with_a_few_invalid(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    ids = admin.record_ids()[:100]
    data: list[dict[str, Any]] = [{"id": i, "Description": f"bulk {n}"} for n, i in enumerate(ids)]
    for n in (7, 42, 99):
        data[n]["Annual_Revenue"] = "not a number"
    response = put(crm_client, data)
    assert response.status_code == 207
    results = response.json()["data"]
    assert len(results) == 100
    for n, r in enumerate(results):
        if n in (7, 42, 99):
            assert r["code"] == "INVALID_DATA" and r["details"]["api_name"] == "Annual_Revenue"
        else:
            assert r["code"] == "SUCCESS" and r["details"]["id"] == ids[n]


WHOLE_REQUEST_ERRORS = [
    pytest.param(b"{not json", 400, "INVALID_DATA", id="malformed-json"),
    pytest.param(b"[1,2]", 400, "INVALID_DATA", id="json-array-body"),
    pytest.param(b"", 400, "MANDATORY_NOT_FOUND", id="empty-body"),
    pytest.param(b'{"trigger":[]}', 400, "MANDATORY_NOT_FOUND", id="missing-data"),
    pytest.param(b'{"data":[]}', 400, "MANDATORY_NOT_FOUND", id="empty-data"),
    pytest.param(b'{"data":{"id":"1"}}', 400, "INVALID_DATA", id="data-not-a-list"),
    pytest.param(json.dumps({"data": [{"id": str(10**18 + i)} for i in range(101)]}).encode(), 400, "LIMIT_EXCEEDED", id="over-100-records"),
    pytest.param(b'{"data":[{"id":"1"}],"trigger":"workflow"}', 400, "INVALID_DATA", id="trigger-not-a-list"),
    pytest.param(b"\xff\xfe garbage", 400, "INVALID_DATA", id="not-utf8"),
    pytest.param(b'{"data":[{"id":"1","Description":"\xff"}]}', 400, "INVALID_DATA", id="not-utf8-inside-json"),
    pytest.param(b'{"data":' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400, "INVALID_DATA", id="nesting-deeper-than-the-parser"),
    pytest.param(b'{"data":"everything"}', 400, "INVALID_DATA", id="data-a-string"),
    pytest.param(b'{"data":null}', 400, "MANDATORY_NOT_FOUND", id="data-null"),
    pytest.param(b"null", 400, "MANDATORY_NOT_FOUND", id="json-null"),
    pytest.param(b'"text"', 400, "INVALID_DATA", id="json-string"),
    pytest.param(b'{"data":[{"id":"1"}],"trigger":[1]}', 400, "INVALID_DATA", id="trigger-not-strings"),
]


@pytest.mark.parametrize(("body", "status", "code"), WHOLE_REQUEST_ERRORS)
def test_whole_request_errors(crm_client: httpx.Client, body: bytes, status: int, code: str) -> None:
    response = crm_client.put("/crm/v2/Accounts", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == JSON
    payload = response.json()
    assert payload["code"] == code and payload["status"] == "error"


def test_over_100_records_limit_body(crm_client: httpx.Client) -> None:
    response = put(crm_client, [{"id": str(10**18 + i)} for i in range(101)])
    assert response.json() == {"code": "LIMIT_EXCEEDED", "details": {"limit": 100}, "message": "Record count exceeded", "status": "error"}


def test_ten_megabyte_body_is_a_zoho_error(crm_client: httpx.Client) -> None:
    response = crm_client.put("/crm/v2/Accounts", content=b'{"data":[{"Description":"' + b"x" * 10_000_000 + b'"}]}')
    assert response.status_code == 413
    assert response.headers["content-type"] == JSON
    assert response.json() == {"code": "REQUEST_ENTITY_TOO_LARGE", "details": {"max_size": 5 * 1024 * 1024},
                               "message": "request entity too large", "status": "error"}


@pytest.mark.parametrize("kind", ["records", "record"])
def test_per_record_wrong_types(crm_client: httpx.Client, admin: SandboxAdmin, kind: str) -> None:
    """Elements that are not objects get their own INVALID_DATA, the others still apply."""
    rid = admin.record_ids()[0]
    response = put(crm_client, [{"id": rid, "Phone": "1"}, 42 if kind == "records" else ["x"]])
    assert response.status_code == 207
    assert response.json()["data"][1] == {"code": "INVALID_DATA", "details": {"expected_data_type": "jsonobject", "json_path": "$.data[1]"},
                                          "message": "invalid data", "status": "error"}


def test_lone_surrogate_is_stored_and_read_back(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    """JSON allows "\\ud800"; UTF-8 cannot carry it, so the sandbox must still answer (escaped), not 500."""
    rid = admin.record_ids()[0]
    response = crm_client.put("/crm/v2/Accounts", content=b'{"data":[{"id":"%s","Description":"a\\ud800b"}]}' % rid.encode())
    assert response.status_code == 200
    read = crm_client.get(f"/crm/v2/Accounts/{rid}")
    assert read.status_code == 200 and read.headers["content-type"] == JSON
    assert read.json()["data"][0]["Description"] == "a\ud800b"


def test_unknown_module_on_put(crm_client: httpx.Client) -> None:
    response = put(crm_client, [{"id": "1"}], path="/crm/v2/Widgets")
    assert response.status_code == 400 and response.json()["code"] == "INVALID_MODULE"


def test_single_record_put(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    rid = admin.record_ids()[5]
    response = crm_client.put(f"/crm/v2/Accounts/{rid}", json={"data": [{"Account_Name": "Renamed GmbH", "Annual_Revenue": 1234.5}]})
    assert response.status_code == 200
    assert response.json()["data"][0]["details"]["id"] == rid
    stored = admin.record("Accounts", rid)
    assert stored is not None and stored["Account_Name"] == "Renamed GmbH" and stored["Annual_Revenue"] == 1234.5


@pytest.mark.parametrize(("path_id", "status", "code"), [
    pytest.param("abc", 400, "INVALID_DATA", id="malformed-path-id"),
    pytest.param("1234567890123456789", 400, "INVALID_DATA", id="missing-record"),
])
def test_single_record_put_errors(crm_client: httpx.Client, path_id: str, status: int, code: str) -> None:
    response = crm_client.put(f"/crm/v2/Accounts/{path_id}", json={"data": [{"Phone": "1"}]})
    assert response.status_code == status
    body = response.json()
    assert (body.get("code") or body["data"][0]["code"]) == code


IF_UNMODIFIED = [
    pytest.param("2000-01-01T00:00:00+00:00", 412, "ALREADY_MODIFIED", id="modified-after-header"),
    pytest.param("2099-01-01T00:00:00+00:00", 200, "SUCCESS", id="not-modified-since"),
]


@pytest.mark.parametrize(("since", "status", "code"), IF_UNMODIFIED)
def test_if_unmodified_since(crm_client: httpx.Client, admin: SandboxAdmin, since: str, status: int, code: str) -> None:
    rid = admin.record_ids()[0]
    response = put(crm_client, [{"id": rid, "Phone": "42"}], headers={"If-Unmodified-Since": since})
    assert response.status_code == status
    result = response.json()["data"][0]
    assert result["code"] == code
    stored = admin.record("Accounts", rid)
    assert stored is not None
    if code == "ALREADY_MODIFIED":
        assert result == {"code": "ALREADY_MODIFIED", "details": {
            "id": rid, "Modified_Time": stored["Modified_Time"],
            "Modified_By": {"name": stored["Modified_By"]["name"], "id": stored["Modified_By"]["id"]}},
            "message": "record updated time has already passed if-unmodified-since time", "status": "error"}
        assert stored["Phone"] != "42", "a record that fails the precondition is not written"
    else:
        assert stored["Phone"] == "42"


def test_if_unmodified_since_mixed_is_207(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    ids = admin.record_ids()[:2]
    first = admin.record("Accounts", ids[0])
    assert first is not None
    put(crm_client, [{"id": ids[0], "Phone": "touched"}])  # now modified after the header's time
    untouched = admin.record("Accounts", ids[1])
    assert untouched is not None
    since = max(first["Modified_Time"], untouched["Modified_Time"])
    response = put(crm_client, [{"id": ids[0], "Phone": "a"}, {"id": ids[1], "Phone": "b"}], headers={"If-Unmodified-Since": since})
    assert response.status_code == 207
    assert [r["code"] for r in response.json()["data"]] == ["ALREADY_MODIFIED", "SUCCESS"]


def test_malformed_if_unmodified_since(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    response = put(crm_client, [{"id": admin.record_ids()[0], "Phone": "1"}], headers={"If-Unmodified-Since": "last tuesday"})
    assert response.status_code == 400
    assert response.json() == {"code": "INVALID_DATA", "details": {"header_name": "If-Unmodified-Since"}, "message": "invalid data", "status": "error"}


def test_lookup_update_and_readback(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    ids = admin.record_ids()
    response = put(crm_client, [{"id": ids[1], "Parent_Account": {"id": ids[0]}}])
    assert response.status_code == 200
    stored = admin.record("Accounts", ids[1])
    parent = admin.record("Accounts", ids[0])
    assert stored is not None and parent is not None
    assert stored["Parent_Account"] == {"name": parent["Account_Name"], "id": ids[0]}


def test_modified_time_uses_the_sandbox_clock(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    rid = admin.record_ids()[0]
    admin.configure(token_ttl=10**7)
    crm_client.headers["Authorization"] = "Zoho-oauthtoken " + mint_token(admin.base_url).json()["access_token"]
    first = put(crm_client, [{"id": rid, "Phone": "1"}]).json()["data"][0]["details"]["Modified_Time"]
    admin.advance_clock(86_400 * 3)
    admin.configure(token_ttl=10**7)
    second = put(crm_client, [{"id": rid, "Phone": "2"}]).json()["data"][0]["details"]["Modified_Time"]
    assert first[:10] < second[:10]


def test_reset_restores_seeded_data(crm_client: httpx.Client, admin: SandboxAdmin) -> None:
    rid = admin.record_ids()[0]
    before = admin.record("Accounts", rid)
    put(crm_client, [{"id": rid, "Phone": "changed"}])
    admin.reset()
    assert admin.record("Accounts", rid) == before


@pytest.mark.parametrize(("record", "status", "code"), [
    pytest.param({"Account_Name": "Brand New Ltd", "Employees": 3}, 201, "SUCCESS", id="insert-ok"),
    pytest.param({"Employees": 3}, 400, "MANDATORY_NOT_FOUND", id="insert-missing-mandatory"),
    pytest.param({"Account_Name": "X", "Employees": "three"}, 400, "INVALID_DATA", id="insert-bad-type"),
])
def test_insert(crm_client: httpx.Client, admin: SandboxAdmin, record: dict[str, Any], status: int, code: str) -> None:
    response = crm_client.post("/crm/v2/Accounts", json={"data": [record]})
    assert response.status_code == status
    result = response.json()["data"][0]
    assert result["code"] == code
    if code == "SUCCESS":
        new_id = result["details"]["id"]
        assert len(new_id) == 19 and new_id in admin.record_ids()
        stored = crm_client.get(f"/crm/v2/Accounts/{new_id}").json()["data"][0]
        assert stored["Account_Name"] == "Brand New Ltd" and stored["Annual_Revenue"] is None
