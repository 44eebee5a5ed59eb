"""Drive the official zcrmsdk 3.1.0, unchanged, against a running sandbox; print one JSON report.

Run as `python sandbox_sdk_driver.py BASE_URL WORK_DIR` (a subprocess: the SDK's state is process-global).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def main(base: str, work: str) -> dict[str, Any]:
    import httpx
    from zcrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken, TokenType
    from zcrmsdk.src.com.zoho.api.authenticator.store import FileStore
    from zcrmsdk.src.com.zoho.api.logger import Logger
    from zcrmsdk.src.com.zoho.crm.api.dc import DataCenter
    from zcrmsdk.src.com.zoho.crm.api.initializer import Initializer
    from zcrmsdk.src.com.zoho.crm.api.record import (
        APIException,
        BodyWrapper,
        Record,
        RecordOperations,
        SearchRecordsParam,
        SuccessResponse,
    )
    from zcrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
    from zcrmsdk.src.com.zoho.crm.api.user_signature import UserSignature
    from zcrmsdk.src.com.zoho.crm.api import ParameterMap

    info = httpx.get(f"{base}/__sandbox__/info").json()
    ids = httpx.get(f"{base}/__sandbox__/records/Accounts").json()["ids"]
    os.makedirs(work, exist_ok=True)
    Initializer.initialize(
        user=UserSignature(email=info["user_email"]),
        environment=DataCenter.Environment(base, info["token_url"], base),
        token=OAuthToken(client_id=info["client_id"], client_secret=info["client_secret"],
                         token=info["refresh_token"], token_type=TokenType.REFRESH),
        store=FileStore(file_path=os.path.join(work, "tokens.csv")),
        sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
        resource_path=work,
        logger=Logger.get_instance(Logger.Levels.WARNING, os.path.join(work, "sdk.log")),
    )
    ops = RecordOperations()
    report: dict[str, Any] = {}

    resp = ops.get_record(int(ids[0]), "Accounts")
    record = resp.get_object().get_data()[0]
    report["get"] = {
        "status": resp.get_status_code(),
        "id": str(record.get_id()),
        "name": record.get_key_value("Account_Name"),
        "revenue_type": type(record.get_key_value("Annual_Revenue")).__name__,
        "created_type": type(record.get_created_time()).__name__,
        "owner_type": type(record.get_key_value("Owner")).__name__,
        "owner_email": getattr(record.get_key_value("Owner"), "get_email", lambda: None)(),
    }

    missing = ops.get_record(1234567890123456789, "Accounts")
    report["get_missing"] = {"status": missing.get_status_code(), "object": repr(missing.get_object())}

    pm = ParameterMap()
    pm.add(SearchRecordsParam.criteria, "(Account_Name:equals:Smith\\, Jones and Co)")
    resp = ops.search_records("Accounts", pm)
    data = resp.get_object().get_data()
    report["search_criteria"] = {"status": resp.get_status_code(), "names": [r.get_key_value("Account_Name") for r in data],
                                 "more_records": resp.get_object().get_info().get_more_records()}

    pm = ParameterMap()
    pm.add(SearchRecordsParam.word, "zzzznotthere")
    resp = ops.search_records("Accounts", pm)
    report["search_none"] = {"status": resp.get_status_code(), "object_is_none": resp.get_object() is None}

    body = BodyWrapper()
    records = []
    # The SDK type-checks values client-side by the field metadata, so the invalid records are the
    # kind only the server can reject: an unknown id, a malformed email, a value over the field length.
    for n, rid in enumerate(ids[:100]):
        r = Record()
        r.set_id(1234567890123456789 if n == 7 else int(rid))
        r.add_key_value("Description", f"sdk bulk {n}")
        r.add_key_value("Annual_Revenue", float(n * 1000))
        if n == 42:
            r.add_key_value("Email", "not-an-email")
        if n == 99:
            r.add_key_value("Ticker_Symbol", "X" * 31)
        records.append(r)
    body.set_data(records)
    body.set_trigger([])
    resp = ops.update_records("Accounts", body)
    results = []
    for item in resp.get_object().get_data():
        if isinstance(item, SuccessResponse):
            results.append({"status": "success", "code": item.get_code().get_value(), "id": str(item.get_details()["id"])})
        elif isinstance(item, APIException):
            results.append({"status": "error", "code": item.get_code().get_value(), "details": item.get_details()})
        else:
            results.append({"status": "unknown", "type": type(item).__name__})
    report["update"] = {"status": resp.get_status_code(), "results": results}
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), default=str))
