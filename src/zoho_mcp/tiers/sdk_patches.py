"""The few process-wide adjustments zcrmsdk 3.1.0 needs to be a faithful Tier 2 (applied once).

zcrmsdk is frozen (last release 2021, repository archived) and pinned to ==3.1.0, so these patches
target code that will not move. Each one fixes a way the SDK changes or refuses what Zoho itself
accepts or sends:

1. transport (`sdk_http.install`): real `(connect, read)` timeouts on every request, and no way for
   the SDK to mint its own OAuth tokens;
2. DateTime values: the SDK converts `"2026-05-14T12:51:36+03:00"` to the *machine's* local zone,
   losing the offset Zoho sent (the user's); here it keeps it, so the ISO string round-trips exactly;
3. Double/Float values: the SDK turns `100000` into `100000.0`; here a JSON number stays as sent;
4. `null` in a write: the SDK's type check refuses `None` for every typed field, so a field could
   never be cleared through it; Zoho accepts `null` to clear a field, so `None` passes the check
   (the SDK then serialises it as JSON `null`).
"""

from __future__ import annotations

import threading
from typing import Any

import dateutil.parser

from zoho_mcp.tiers import sdk_http

_applied = False
_lock = threading.Lock()


def _keep_offset(obj: Any) -> Any:
    return dateutil.parser.isoparse(obj)


def _keep_number(obj: Any) -> Any:
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return obj
    return float(obj)


def apply() -> None:
    """Apply every patch once per process (idempotent, thread-safe)."""
    global _applied
    with _lock:
        if _applied:
            return
        sdk_http.install()

        from zcrmsdk.src.com.zoho.crm.api.util.converter import Converter
        from zcrmsdk.src.com.zoho.crm.api.util.datatype_converter import DataTypeConverter

        DataTypeConverter.init()
        DataTypeConverter.pre_converter_map["DateTime"] = _keep_offset
        DataTypeConverter.pre_converter_map["Double"] = _keep_number
        DataTypeConverter.pre_converter_map["Float"] = _keep_number

        original = Converter.value_checker

        def value_checker(self: Any, class_name: Any, member_name: Any, key_details: Any, value: Any,
                          unique_values_map: Any, instance_number: Any) -> bool:
            if value is None:
                return True
            return bool(original(self, class_name, member_name, key_details, value, unique_values_map, instance_number))

        Converter.value_checker = value_checker  # type: ignore[method-assign]
        _applied = True
