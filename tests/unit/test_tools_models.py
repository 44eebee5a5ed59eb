"""The input models: what they accept, and that every refusal says what is allowed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from zoho_mcp.tools.bulk_update import _check_count
from zoho_mcp.tools.models import AccountId, FieldList, RecordUpdate

ID = "4876876000000624001"
account_id: TypeAdapter[str] = TypeAdapter(AccountId)
field_list: TypeAdapter[Any] = TypeAdapter(FieldList)


class TestAccountId:
    def test_a_numeric_id_sent_as_a_json_number_is_accepted_as_text(self) -> None:
        assert account_id.validate_python(int(ID)) == ID

    def test_surrounding_spaces_are_ignored(self) -> None:
        assert account_id.validate_python(f"  {ID} ") == ID

    @pytest.mark.parametrize("bad", ["abc", "123", "1" * 20, "48768760000006240O1", "", True, 1.5, None, [ID]])
    def test_anything_else_is_refused(self, bad: object) -> None:
        with pytest.raises(ValidationError):
            account_id.validate_python(bad)

    def test_a_float_is_refused_with_send_it_as_a_string(self) -> None:
        with pytest.raises(ValidationError) as info:
            account_id.validate_python(float(ID))
        assert "send the id as a JSON string" in str(info.value)

    def test_a_number_beyond_64_bits_stays_exact(self) -> None:
        assert account_id.validate_json("9999999999999999999") == "9999999999999999999"

    def test_the_refusal_gives_the_shape_and_an_example(self) -> None:
        with pytest.raises(ValidationError) as info:
            account_id.validate_python("abc")
        assert "18-19 digits" in str(info.value) and ID in str(info.value)

    def test_schema_publishes_the_pattern(self) -> None:
        schema = account_id.json_schema()
        assert schema["type"] == "string" and schema["pattern"] == "^[0-9]{18,19}$"


class TestFields:
    def test_api_names_pass(self) -> None:
        assert field_list.validate_python(["Account_Name", "Phone"]) == ["Account_Name", "Phone"]

    @pytest.mark.parametrize("bad", [["Account Name"], ["1abc"], ["a;b"], ["x" * 101], "Account_Name"])
    def test_other_names_are_refused(self, bad: object) -> None:
        with pytest.raises(ValidationError) as info:
            field_list.validate_python(bad)
        assert "API name" in str(info.value) or "list" in str(info.value)

    def test_at_most_50(self) -> None:
        with pytest.raises(ValidationError):
            field_list.validate_python([f"F{i}" for i in range(51)])


class TestRecordUpdate:
    def test_a_plain_update(self) -> None:
        u = RecordUpdate.model_validate({"id": ID, "fields": {"Phone": "1", "Parent_Account": {"id": ID}}})
        assert u.id == ID and u.fields["Phone"] == "1"

    @pytest.mark.parametrize(
        ("fields", "says"),
        [
            ({}, "at least one field"),
            ({"id": ID}, "'id'"),
            ({"Bad Name": 1}, "API name"),
            ({"Description": "d" * 32_001}, "32000"),
            ({"Tags": list(range(101))}, "100"),
            ({"A": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "nested"),
        ],
    )
    def test_refusals_say_what_is_wrong(self, fields: dict[str, Any], says: str) -> None:
        with pytest.raises(ValidationError) as info:
            RecordUpdate.model_validate({"id": ID, "fields": fields})
        assert says in str(info.value)

    def test_unknown_keys_are_refused(self) -> None:
        with pytest.raises(ValidationError):
            RecordUpdate.model_validate({"id": ID, "fields": {"Phone": "1"}, "Phone": "1"})


class TestUpdateCount:
    def test_empty_is_refused_with_an_example(self) -> None:
        with pytest.raises(ValueError, match="at least one update"):
            _check_count([])

    def test_100000_is_refused_with_how_to_split(self) -> None:
        with pytest.raises(ValueError, match=r"100,000 updates .* at most 10,000 .* Split them into 10 calls"):
            _check_count([{}] * 100_000)

    def test_10000_passes(self) -> None:
        assert len(_check_count([{}] * 10_000)) == 10_000
