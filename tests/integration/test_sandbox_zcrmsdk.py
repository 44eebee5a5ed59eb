"""The official zcrmsdk 3.1.0 — a client nobody here wrote — works against the sandbox unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SandboxAdmin

DRIVER = Path(__file__).with_name("sandbox_sdk_driver.py")


@pytest.fixture
def sdk_report(admin: SandboxAdmin, tmp_path: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(DRIVER), admin.base_url, str(tmp_path / "sdk")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["journal"] = admin.journal()
    report["ids"] = admin.record_ids()
    report["stored"] = {i: admin.record("Accounts", i) for i in report["ids"][:100]}
    return report


def test_sdk_against_the_sandbox(sdk_report: dict[str, Any]) -> None:
    ids = sdk_report["ids"]
    get = sdk_report["get"]
    assert get["status"] == 200 and get["id"] == ids[0] and get["name"] == "Müller & Söhne (Berlin)"
    assert get["created_type"] == "datetime", "datetimes converted by the field metadata"
    assert get["owner_email"]

    assert sdk_report["get_missing"]["status"] == 204

    search = sdk_report["search_criteria"]
    assert search == {"status": 200, "names": ["Smith, Jones and Co"], "more_records": False}
    assert sdk_report["search_none"] == {"status": 204, "object_is_none": True}

    update = sdk_report["update"]
    assert update["status"] == 207
    results = update["results"]
    assert len(results) == 100
    for n, result in enumerate(results):
        if n == 7:
            assert result["status"] == "error" and result["code"] == "INVALID_DATA"
            assert {k: str(v) for k, v in result["details"].items()} == {"id": "1234567890123456789"}
        elif n in (42, 99):
            assert result["status"] == "error" and result["code"] == "INVALID_DATA"
            assert result["details"]["api_name"] == ("Email" if n == 42 else "Ticker_Symbol")
            assert result["details"]["expected_data_type"] == ("email" if n == 42 else "text")
        else:
            assert result == {"status": "success", "code": "SUCCESS", "id": ids[n]}
            stored = sdk_report["stored"][ids[n]]
            assert stored["Description"] == f"sdk bulk {n}" and stored["Annual_Revenue"] == n * 1000


def test_sdk_requests_are_journaled_as_zcrmsdk(sdk_report: dict[str, Any]) -> None:
    journal = sdk_report["journal"]
    crm = [e for e in journal if e["surface"] == "crm"]
    assert crm and all(e["client"] == "zcrmsdk" for e in crm)
    assert any(e["path"] == "/crm/v2/settings/fields" for e in crm), "the SDK reads field metadata first"
    assert [e for e in journal if e["surface"] == "oauth"][0]["status"] == 200
