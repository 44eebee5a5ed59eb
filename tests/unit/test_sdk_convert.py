"""zcrmsdk objects <-> the contract's plain shapes: what the SDK turns Zoho's JSON into comes back
as the JSON Zoho sent, and plain values to write become the types the SDK insists on."""

from __future__ import annotations

import datetime as dt

import pytest
from zcrmsdk.src.com.zoho.crm.api.record import Record
from zcrmsdk.src.com.zoho.crm.api.tags import Tag
from zcrmsdk.src.com.zoho.crm.api.users import User
from zcrmsdk.src.com.zoho.crm.api.util import Choice

from zoho_mcp.tiers import sdk_patches
from zoho_mcp.tiers.sdk_convert import (
    Unconvertible,
    build_record,
    plain,
    record_dict,
    reindex_json_path,
    sdk_value,
)

RID = "4876876000000624001"
CHOICE = "zcrmsdk.src.com.zoho.crm.api.util.Choice"
RECORD = "zcrmsdk.src.com.zoho.crm.api.record.Record"
USER = "zcrmsdk.src.com.zoho.crm.api.users.User"


@pytest.fixture(autouse=True)
def _patched() -> None:
    sdk_patches.apply()


def _user(uid: int, name: str) -> User:
    u = User()
    u.set_id(uid)
    u.add_key_value("name", name)
    return u


def test_record_comes_back_as_zoho_json() -> None:
    rec = Record()
    rec.set_id(int(RID))
    rec.add_key_value("Account_Name", "Müller & Söhne")
    rec.add_key_value("Industry", Choice("Technology"))
    rec.add_key_value("Owner", _user(4876876000000011001, "Sandbox Admin"))
    offset = dt.timezone(dt.timedelta(hours=5, minutes=30))
    rec.add_key_value("Created_Time", dt.datetime(2026, 5, 14, 12, 51, 36, tzinfo=offset))
    rec.add_key_value("Tags_List", [Choice("a"), Choice("b")])
    rec.add_key_value("Description", None)
    rec.add_key_value("$approval", {"delegate": False})
    out = record_dict(rec)
    assert out == {
        "id": RID,
        "Account_Name": "Müller & Söhne",
        "Industry": "Technology",
        "Owner": {"id": "4876876000000011001", "name": "Sandbox Admin"},
        "Created_Time": "2026-05-14T12:51:36+05:30",
        "Tags_List": ["a", "b"],
        "Description": None,
        "$approval": {"delegate": False},
    }


def test_sdk_data_objects_are_read_through_the_sdk_member_table() -> None:
    tag = Tag()
    tag.set_name("vip")
    tag.set_id(4876876000000099001)
    assert plain([tag]) == [{"name": "vip", "id": 4876876000000099001}]


def test_patched_converters_keep_what_zoho_sent() -> None:
    from zcrmsdk.src.com.zoho.crm.api.util.datatype_converter import DataTypeConverter

    stamp = "2026-05-14T12:51:36+03:00"
    assert DataTypeConverter.pre_convert(stamp, "DateTime").isoformat() == stamp
    assert DataTypeConverter.pre_convert("2026-05-14T12:51:36+00:00", "DateTime").isoformat() == "2026-05-14T12:51:36+00:00"
    assert DataTypeConverter.pre_convert(100000, "Double") == 100000
    assert isinstance(DataTypeConverter.pre_convert(100000, "Double"), int)
    assert DataTypeConverter.pre_convert(12.5, "Double") == 12.5


@pytest.mark.parametrize(
    ("detail", "value", "expected"),
    [
        ({"type": "String"}, "x", "x"),
        ({"type": "Integer"}, "42", 42),
        ({"type": "Integer"}, 42.0, 42),
        ({"type": "Double"}, 100000, 100000.0),
        ({"type": "Double"}, "12.5", 12.5),
        ({"type": "Boolean"}, True, True),
        ({"type": "Date"}, "2026-01-31", dt.date(2026, 1, 31)),
        ({"type": "String"}, None, None),
    ],
)
def test_scalars_become_sdk_types(detail: dict, value: object, expected: object) -> None:
    got = sdk_value("F", value, detail)
    assert got == expected
    assert type(got) is type(expected)


def test_datetime_picklist_and_lookups_become_sdk_objects() -> None:
    when = sdk_value("Closing", "2026-05-14T12:51:36+03:00", {"type": "DateTime"})
    assert when.isoformat() == "2026-05-14T12:51:36+03:00"
    pick = sdk_value("Industry", "Retail", {"type": CHOICE})
    assert isinstance(pick, Choice) and pick.get_value() == "Retail"
    multi = sdk_value("Colours", ["a"], {"type": "List", "structure_name": CHOICE})
    assert [c.get_value() for c in multi] == ["a"]
    parent = sdk_value("Parent_Account", {"id": RID, "name": "x"}, {"type": RECORD, "structure_name": RECORD})
    assert isinstance(parent, Record) and parent.get_id() == int(RID)
    owner = sdk_value("Owner", RID, {"type": USER, "structure_name": USER})
    assert isinstance(owner, User) and owner.get_id() == int(RID)


@pytest.mark.parametrize(
    ("detail", "value", "expected_type"),
    [
        ({"type": "Double"}, "lots", "double"),
        ({"type": "Double"}, True, "double"),
        ({"type": "Integer"}, "4.5", "integer"),
        ({"type": "Boolean"}, "yes", "boolean"),
        ({"type": "String"}, 5, "text"),
        ({"type": "DateTime"}, "2026-05-14T12:51:36", "datetime"),
        ({"type": "Date"}, "31/01/2026", "date"),
        ({"type": CHOICE}, {"a": 1}, "picklist"),
        ({"type": RECORD, "structure_name": RECORD}, {"id": "abc"}, "jsonobject"),
        ({"type": "List", "structure_name": CHOICE}, "a", "jsonarray"),
    ],
)
def test_values_the_sdk_would_refuse_are_reported_like_zoho(detail: dict, value: object, expected_type: str) -> None:
    with pytest.raises(Unconvertible) as info:
        sdk_value("Annual_Revenue", value, detail)
    assert info.value.details(3) == {
        "api_name": "Annual_Revenue",
        "expected_data_type": expected_type,
        "json_path": "$.data[3].Annual_Revenue",
    }


def test_unknown_fields_pass_through() -> None:
    assert sdk_value("Custom__c", {"a": [1]}, None) == {"a": [1]}


def test_build_record_sets_int_id_and_leaves_system_fields_out() -> None:
    rec = build_record(
        {"id": RID, "Phone": "555", "Modified_Time": "2026-01-01T00:00:00+00:00", "Tag": [{"name": "x"}]},
        {"Phone": {"type": "String", "name": "Phone"}},
    )
    assert rec.get_id() == int(RID)
    assert rec.get_key_values() == {"id": int(RID), "Phone": "555"}


def test_json_path_points_at_the_input_record() -> None:
    details = {"api_name": "Phone", "json_path": "$.data[2].Phone"}
    assert reindex_json_path(details, 2, 5)["json_path"] == "$.data[5].Phone"
    assert reindex_json_path(details, 2, 2) is details
    assert reindex_json_path({"id": "1"}, 0, 4) == {"id": "1"}
