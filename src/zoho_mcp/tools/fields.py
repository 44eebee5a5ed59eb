"""The field catalogue: which API names a module really has, so tools refuse bad names before sending.

Zoho ignores an unknown key in an update and still answers SUCCESS, so a misspelt field silently
changes nothing; reads and searches on unknown names fail late and vaguely. The catalogue is fetched
once per module through the gateway (`DescribeFields`), kept for `ttl`, and shared by every tool.

Decisions a caller relies on:
* Concurrent first calls share one fetch (single flight); a caller cancelled mid-fetch does not
  strand the others, who then fetch themselves.
* When the catalogue cannot be fetched, tools still work: a stale catalogue is used if there is one,
  otherwise only the API-name syntax is checked (logged). Failures are not retried for
  `retry_after` seconds, so an unavailable Zoho is not asked again on every call.
* A name missing from a catalogue older than `miss_refresh` triggers one refresh before refusing,
  so a custom field created in Zoho since the last fetch is not refused for the rest of the hour.
* Zoho's system fields (id, Created_Time, Modified_Time, Created_By, Modified_By) are refused in
  writes even without a catalogue.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from zoho_mcp.criteria import Condition, CriteriaError, check_condition
from zoho_mcp.logs import get_logger, redact
from zoho_mcp.tiers.base import DescribeFields, FieldInfo, FieldsResult, Operation, Result
from zoho_mcp.tiers.selector import RoutingHints
from zoho_mcp.tools.errors import READ_ONLY_FIELD, UNKNOWN_FIELD, ToolFailure

log = get_logger(__name__)


class Executes(Protocol):
    """All the catalogue needs of the gateway."""

    async def execute(self, op: Operation, hints: RoutingHints = ...) -> Result: ...

#: Set by Zoho itself whatever the catalogue says (some orgs do not flag them read-only).
SYSTEM_READ_ONLY = frozenset({"id", "Created_Time", "Modified_Time", "Created_By", "Modified_By"})
#: Names every record answers to without being listed in `settings/fields`.
IMPLICIT_FIELDS = frozenset({"id"})

DEFAULT_TTL = 3600.0
DEFAULT_RETRY_AFTER = 30.0
DEFAULT_FETCH_TIMEOUT = 10.0
DEFAULT_MISS_REFRESH = 300.0

_MAX_NAMES_SHOWN = 10
_MAX_PLACES_SHOWN = 5
_SUGGESTIONS = 3


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One module's fields at one moment (`fetched_at` on the catalogue's clock)."""

    module: str
    fields: Mapping[str, FieldInfo]
    fetched_at: float

    def names(self) -> frozenset[str]:
        return frozenset(self.fields)

    def knows(self, name: str, *, implicit: bool = True) -> bool:
        """`implicit`: whether `id` counts (it can be read, but Zoho's criteria do not accept it)."""
        return name in self.fields or (implicit and name in IMPLICIT_FIELDS)

    def is_read_only(self, name: str) -> bool:
        info = self.fields.get(name)
        return name in SYSTEM_READ_ONLY or (info is not None and info.read_only)

    def suggest(self, name: str) -> list[str]:
        """Likely intended names: a case-only difference, a display label, then close spellings."""
        lowered = name.lower()
        by_lower = {n.lower(): n for n in self.fields}
        out: list[str] = []
        if lowered in by_lower:
            out.append(by_lower[lowered])
        for info in self.fields.values():
            label = "_".join(info.label.split()).lower()
            if label and label == lowered and info.api_name not in out:
                out.append(info.api_name)
        for close in difflib.get_close_matches(lowered, list(by_lower), n=_SUGGESTIONS, cutoff=0.6):
            if by_lower[close] not in out:
                out.append(by_lower[close])
        return out[:_SUGGESTIONS]


@dataclass(eq=False)
class _Flight:
    done: anyio.Event = field(default_factory=anyio.Event)
    finished: bool = False
    result: Catalogue | None = None


@dataclass(eq=False)
class _Entry:
    catalogue: Catalogue | None = None
    failed_at: float | None = None
    flight: _Flight | None = None


class FieldCatalog:
    """Per-module field metadata fetched through the gateway, cached for `ttl` seconds."""

    def __init__(
        self,
        gateway: Executes,
        *,
        ttl: float = DEFAULT_TTL,
        retry_after: float = DEFAULT_RETRY_AFTER,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        miss_refresh: float = DEFAULT_MISS_REFRESH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gateway = gateway
        self.ttl = ttl
        self.retry_after = retry_after
        self.fetch_timeout = fetch_timeout
        self.miss_refresh = miss_refresh
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    async def names(self, module: str) -> frozenset[str] | None:
        """The module's field API names, or None when they cannot be known (syntax checks only)."""
        catalogue = await self.describe(module)
        return catalogue.names() if catalogue is not None else None

    def cached(self, module: str) -> Catalogue | None:
        """What is held now, fresh or not, without fetching."""
        entry = self._entries.get(module)
        return entry.catalogue if entry is not None else None

    def age(self, catalogue: Catalogue) -> float:
        return self._clock() - catalogue.fetched_at

    def invalidate(self, module: str | None = None) -> None:
        """Forget what is held (all modules when None); the next call fetches again."""
        for name in [module] if module is not None else list(self._entries):
            entry = self._entries.get(name)
            if entry is not None:
                entry.catalogue = None
                entry.failed_at = None

    async def describe(self, module: str, *, max_age: float | None = None) -> Catalogue | None:
        """The module's catalogue, fetched if older than `max_age` (default `ttl`).

        Returns a stale catalogue, or None, when a fetch fails or failed less than `retry_after` ago.
        """
        limit = self.ttl if max_age is None else min(self.ttl, max_age)
        while True:
            entry = self._entries.setdefault(module, _Entry())
            held = entry.catalogue
            now = self._clock()
            if held is not None and now - held.fetched_at < limit:
                return held
            flight = entry.flight
            if flight is not None:
                await flight.done.wait()
                if flight.finished:
                    return flight.result
                continue  # the fetching caller was cancelled: fetch again
            if entry.failed_at is not None and now - entry.failed_at < self.retry_after:
                return held
            return await self._fetch(module, entry)

    async def _fetch(self, module: str, entry: _Entry) -> Catalogue | None:
        flight = entry.flight = _Flight()
        try:
            try:
                catalogue = await self._load(module)
            except Exception as exc:  # any failure means "not known now", never a failed tool call
                entry.failed_at = self._clock()
                log.warning(
                    "field_catalog_unavailable",
                    module=module,
                    error=redact(f"{type(exc).__name__}: {exc}")[:300],
                    fallback="stale catalogue" if entry.catalogue is not None else "API-name syntax checks only",
                    retry_in_s=self.retry_after,
                )
                flight.result = entry.catalogue
            else:
                entry.catalogue, entry.failed_at = catalogue, None
                flight.result = catalogue
                log.info("field_catalog_loaded", module=module, fields=len(catalogue.fields))
            flight.finished = True
            return flight.result
        finally:
            entry.flight = None
            flight.done.set()

    async def _load(self, module: str) -> Catalogue:
        with anyio.fail_after(self.fetch_timeout):
            result = await self.gateway.execute(DescribeFields(module), RoutingHints(agent=True))
        if not isinstance(result, FieldsResult):
            raise TypeError(f"DescribeFields answered with {type(result).__name__}")
        if not result.fields:
            # An empty catalogue would refuse every name: treat it as "unknown", not as "no fields".
            raise ValueError(f"Zoho described no fields for {module}")
        return Catalogue(module, {f.api_name: f for f in result.fields}, self._clock())


# --------------------------------------------------------------------------- checks used by the tools


async def check_fields(
    catalog: FieldCatalog | None,
    module: str,
    used: Iterable[tuple[str, str]],
    *,
    tool: str,
    write: bool = False,
    conditions: Iterable[tuple[str, str]] = (),
) -> None:
    """Refuse unknown names (and, for writes, read-only ones) before anything is sent.

    `used` pairs each name with where it came from (e.g. "fields[1]", "updates[3].fields"), so the
    error can point at it; `conditions` likewise for names in search conditions, where `id` is not a
    field. Without a catalogue only the system fields are refused, and a log line says so.
    """
    places = _places(used)
    in_conditions = _places(conditions)
    for name, where in in_conditions.items():
        places.setdefault(name, []).extend(w for w in where if w not in places.get(name, []))
    if not places:
        return

    def missing(cat: Catalogue) -> list[str]:
        return [n for n in places if not cat.knows(n, implicit=n not in in_conditions)]

    catalogue = await catalog.describe(module) if catalog is not None else None
    if catalogue is not None and catalog is not None and catalog.age(catalogue) >= catalog.miss_refresh:
        if missing(catalogue):
            catalogue = await catalog.describe(module, max_age=catalog.miss_refresh) or catalogue
    if catalogue is None:
        log.info("field_check_syntax_only", tool=tool, module=module,
                 reason="field catalogue unavailable; unknown field names cannot be detected")
        unknown: list[str] = []
    else:
        unknown = missing(catalogue)
    read_only = [n for n in places if write and n not in unknown and
                 (n in SYSTEM_READ_ONLY or (catalogue is not None and catalogue.is_read_only(n)))]
    if unknown:
        assert catalogue is not None
        raise _unknown_failure(catalogue, unknown, read_only, places, write=write)
    if read_only:
        raise _read_only_failure(module, read_only, places)


def check_condition_types(
    catalog: FieldCatalog | None, module: str, conditions: Iterable[tuple[Condition, str]]
) -> None:
    """Refuse a search condition whose operator or value does not fit the field's type, before sending.

    Zoho answers those with a bare INVALID_QUERY; here the reason names the field, its type and the
    operators it allows. Uses the catalogue `check_fields` has just loaded; without one, or for a field
    it does not describe (`id`, `Parent_Account.id`, `$…`), Zoho decides.
    """
    catalogue = catalog.cached(module) if catalog is not None else None
    if catalogue is None:
        return
    for cond, where in conditions:
        info = catalogue.fields.get(cond.field)
        if info is None:
            continue
        try:
            check_condition(cond, info.data_type)
        except CriteriaError as exc:
            exc.details["where"] = where
            raise


def criteria_field(name: str) -> str | None:
    """The field a criteria condition names: `Parent_Account.id` checks `Parent_Account`; `$…` is Zoho's own."""
    if name.startswith("$"):
        return None
    return name.split(".", 1)[0]


def _places(used: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Where each name was used: the first few places, then "N more" when there are more."""
    out: dict[str, list[str]] = {}
    extra: dict[str, set[str]] = {}
    for name, where in used:
        shown = out.setdefault(name, [])
        if where in shown:
            continue
        if len(shown) < _MAX_PLACES_SHOWN:
            shown.append(where)
        else:
            extra.setdefault(name, set()).add(where)
    for name, more in extra.items():
        out[name].append(f"{len(more)} more")
    return out


def _quoted(names: Iterable[str]) -> str:
    items = [repr(n) for n in names]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _where(places: list[str]) -> str:
    if len(places) > _MAX_PLACES_SHOWN:
        return ", ".join(places[:-1]) + " and " + places[-1]
    return ", ".join(places)


def _unknown_failure(
    catalogue: Catalogue, unknown: list[str], read_only: list[str], places: dict[str, list[str]], *, write: bool
) -> ToolFailure:
    parts: list[str] = []
    details: dict[str, dict[str, list[str]]] = {}
    for name in unknown[:_MAX_NAMES_SHOWN]:
        suggestions = catalogue.suggest(name)
        guess = f"did you mean {_quoted(suggestions)}?" if suggestions else "no similar field"
        parts.append(f"{name!r} in {_where(places[name])} ({guess})")
        details[name] = {"did_you_mean": suggestions, "where": places[name]}
    if len(unknown) > _MAX_NAMES_SHOWN:
        parts.append(f"and {len(unknown) - _MAX_NAMES_SHOWN} more")
    noun = "field" if len(unknown) == 1 else "fields"
    message = f"{catalogue.module} has no {noun} named " + "; ".join(parts)
    if read_only:
        message += f". Also read-only (set by Zoho itself, cannot be changed): {_quoted(read_only)}"
    hint = (
        "Use the API names Zoho knows, spelt exactly (they are case-sensitive): take a suggestion, or leave "
        "the field out; get_account without 'fields' shows every field API name of an account."
    )
    if read_only:
        hint += " Remove the read-only fields too."
    if write:
        hint += " Zoho would ignore an unknown field and still report SUCCESS, so the call was refused instead."
    return ToolFailure(
        UNKNOWN_FIELD,
        message,
        hint=hint,
        details={"module": catalogue.module, "unknown_fields": details,
                 **({"read_only_fields": read_only} if read_only else {})},
        local=True,
    )


def _read_only_failure(module: str, read_only: list[str], places: dict[str, list[str]]) -> ToolFailure:
    shown = "; ".join(f"{n!r} in {_where(places[n])}" for n in read_only[:_MAX_NAMES_SHOWN])
    noun = "field is" if len(read_only) == 1 else "fields are"
    return ToolFailure(
        READ_ONLY_FIELD,
        f"read-only {module} {noun} set by Zoho itself and cannot be changed: {shown}",
        hint="Remove these fields from 'fields' and call again; Zoho sets Created_Time, Modified_Time, "
        "Created_By, Modified_By and other read-only fields itself.",
        details={"module": module, "read_only_fields": read_only},
        local=True,
    )
