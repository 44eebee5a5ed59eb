"""Seeded, deterministic CRM data and the field metadata that describes it.

The metadata is what `settings/fields` serves and what the store validates writes against, so the
two can never disagree (zcrmsdk converts response values by this metadata: a mismatch breaks only
the SDK tier). Record shapes mirror the recorded real Zoho Account (nulls present, `$` keys).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from zoho_mcp.sandbox.clock import format_zoho_time

# data_type -> (json_type, expected_data_type reported by INVALID_DATA)
DATA_TYPES: dict[str, tuple[str, str]] = {
    "text": ("string", "text"),
    "textarea": ("string", "textarea"),
    "email": ("string", "email"),
    "phone": ("string", "phone"),
    "website": ("string", "website"),
    "picklist": ("string", "picklist"),
    "multiselectpicklist": ("jsonarray", "jsonarray"),
    "autonumber": ("string", "autonumber"),
    "profileimage": ("string", "profileimage"),
    "integer": ("integer", "integer"),
    "bigint": ("string", "bigint"),
    "currency": ("double", "double"),
    "double": ("double", "double"),
    "decimal": ("double", "double"),
    "percent": ("double", "double"),
    "boolean": ("boolean", "boolean"),
    "date": ("string", "date"),
    "datetime": ("string", "datetime"),
    "lookup": ("jsonobject", "jsonobject"),
    "ownerlookup": ("jsonobject", "jsonobject"),
    "userlookup": ("jsonobject", "jsonobject"),
}


@dataclass(frozen=True)
class FieldDef:
    api_name: str
    data_type: str
    label: str = ""
    length: int | None = None
    mandatory: bool = False
    read_only: bool = False
    custom: bool = False
    picklist: tuple[str, ...] = ()
    lookup_module: str | None = None
    searchable: bool = True

    @property
    def json_type(self) -> str:
        return DATA_TYPES[self.data_type][0]

    @property
    def expected_data_type(self) -> str:
        return DATA_TYPES[self.data_type][1]


def _f(api_name: str, data_type: str = "text", **kw: Any) -> FieldDef:
    label = kw.pop("label", api_name.replace("_", " ").strip())
    if data_type == "text" and "length" not in kw:
        kw["length"] = 255
    if data_type == "textarea" and "length" not in kw:
        kw["length"] = 32000
    return FieldDef(api_name, data_type, label=label, **kw)


INDUSTRIES = (
    "ASP (Application Service Provider)", "Data/Telecom OEM", "ERP (Enterprise Resource Planning)",
    "Government/Military", "Large Enterprise", "ManagementISV", "MSP (Management Service Provider)",
    "Network Equipment Enterprise", "Non-management ISV", "Optical Networking", "Service Provider",
    "Small/Medium Enterprise", "Storage Equipment", "Storage Service Provider", "Systems Integrator",
    "Wireless Industry", "Technology", "Manufacturing", "Retail", "Healthcare", "Finance",
)
ACCOUNT_TYPES = (
    "Analyst", "Competitor", "Customer", "Distributor", "Integrator", "Investor", "Other", "Partner",
    "Press", "Prospect", "Reseller", "Supplier", "Vendor",
)
OWNERSHIPS = ("Other", "Private", "Public", "Subsidiary", "Partnership", "Government", "Privately Held",
              "Public Company")
RATINGS = ("Acquired", "Active", "Market Failed", "Project Cancelled", "Shut Down")
LEAD_STATUSES = ("Attempted to Contact", "Contact in Future", "Contacted", "Junk Lead", "Lost Lead",
                 "Not Contacted", "Pre-Qualified", "Not Qualified")
LEAD_SOURCES = ("Advertisement", "Cold Call", "Employee Referral", "External Referral", "Online Store",
                "Partner", "Public Relations", "Sales Email Alias", "Seminar Partner", "Trade Show",
                "Web Download", "Web Research", "Chat")
STAGES = ("Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
          "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost")

_SYSTEM = (
    _f("Owner", "ownerlookup", label="Account Owner", read_only=False),
    _f("Created_By", "ownerlookup", read_only=True),
    _f("Modified_By", "ownerlookup", read_only=True),
    _f("Created_Time", "datetime", read_only=True),
    _f("Modified_Time", "datetime", read_only=True),
    _f("Last_Activity_Time", "datetime", read_only=True),
    _f("Tag", "text", read_only=True, searchable=False),
    _f("Locked__s", "boolean", label="Locked", read_only=True),
)


def _address(prefix: str) -> tuple[FieldDef, ...]:
    return (
        _f(f"{prefix}_Street", length=250),
        _f(f"{prefix}_City", length=100),
        _f(f"{prefix}_State", length=100),
        _f(f"{prefix}_Code", length=30),
        _f(f"{prefix}_Country", length=100),
        _f(f"{prefix}_Address", "textarea", read_only=True, searchable=False),
        _f(f"{prefix}_Latitude", "double", read_only=True),
        _f(f"{prefix}_Longitude", "double", read_only=True),
        _f(f"{prefix}_Coordinates", read_only=True, searchable=False),
        _f(f"{prefix}_Flat_House_No_Building_Apartment_Name", length=250),
    )


ACCOUNT_FIELDS: tuple[FieldDef, ...] = (
    _f("Account_Name", length=200, mandatory=True),
    _f("Account_Number", length=40),
    _f("Account_Site", length=80),
    _f("Account_Type", "picklist", picklist=ACCOUNT_TYPES),
    _f("Industry", "picklist", picklist=INDUSTRIES),
    _f("Annual_Revenue", "currency"),
    _f("Employees", "integer"),
    _f("Ownership", "picklist", picklist=OWNERSHIPS),
    _f("Rating", "picklist", picklist=RATINGS),
    _f("Phone", "phone", length=30),
    _f("Fax", "phone", length=30),
    _f("Website", "website", length=255),
    _f("Email", "email", length=100, custom=True),
    _f("Ticker_Symbol", length=30),
    _f("SIC_Code", "integer", label="SIC Code"),
    _f("Description", "textarea"),
    _f("Parent_Account", "lookup", lookup_module="Accounts"),
    *_SYSTEM,
    *_address("Billing"),
    *_address("Shipping"),
    _f("Record_Image", "profileimage", read_only=True, searchable=False),
    _f("nearby_distance__s", "double", read_only=True),
)

CONTACT_FIELDS: tuple[FieldDef, ...] = (
    _f("First_Name", length=40),
    _f("Last_Name", length=80, mandatory=True),
    _f("Full_Name", read_only=True),
    _f("Salutation", "picklist", picklist=("-None-", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")),
    _f("Account_Name", "lookup", lookup_module="Accounts"),
    _f("Email", "email", length=100),
    _f("Secondary_Email", "email", length=100),
    _f("Phone", "phone", length=30),
    _f("Mobile", "phone", length=30),
    _f("Title", length=100),
    _f("Department", length=100),
    _f("Lead_Source", "picklist", picklist=LEAD_SOURCES),
    _f("Date_of_Birth", "date"),
    _f("Email_Opt_Out", "boolean"),
    _f("Description", "textarea"),
    *_SYSTEM,
    _f("Mailing_Street", length=250),
    _f("Mailing_City", length=100),
    _f("Mailing_State", length=100),
    _f("Mailing_Zip", length=30),
    _f("Mailing_Country", length=100),
)

LEAD_FIELDS: tuple[FieldDef, ...] = (
    _f("First_Name", length=40),
    _f("Last_Name", length=80, mandatory=True),
    _f("Full_Name", read_only=True),
    _f("Company", length=200),
    _f("Email", "email", length=100),
    _f("Phone", "phone", length=30),
    _f("Lead_Status", "picklist", picklist=LEAD_STATUSES),
    _f("Lead_Source", "picklist", picklist=LEAD_SOURCES),
    _f("Industry", "picklist", picklist=INDUSTRIES),
    _f("Annual_Revenue", "currency"),
    _f("No_of_Employees", "integer"),
    _f("Description", "textarea"),
    *_SYSTEM,
)

DEAL_FIELDS: tuple[FieldDef, ...] = (
    _f("Deal_Name", length=120, mandatory=True),
    _f("Account_Name", "lookup", lookup_module="Accounts"),
    _f("Amount", "currency"),
    _f("Stage", "picklist", picklist=STAGES, mandatory=True),
    _f("Probability", "integer"),
    _f("Closing_Date", "date"),
    _f("Description", "textarea"),
    *_SYSTEM,
)

MODULE_FIELDS: dict[str, tuple[FieldDef, ...]] = {
    "Accounts": ACCOUNT_FIELDS,
    "Contacts": CONTACT_FIELDS,
    "Leads": LEAD_FIELDS,
    "Deals": DEAL_FIELDS,
}
MODULE_LABELS: dict[str, tuple[str, str]] = {
    "Accounts": ("Account", "Accounts"),
    "Contacts": ("Contact", "Contacts"),
    "Leads": ("Lead", "Leads"),
    "Deals": ("Deal", "Deals"),
}

_NAME_PARTS_A = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Hooli", "Vandelay", "Cyberdyne",
    "Soylent", "Tyrell", "Massive", "Blue Sun", "Gringotts", "Oceanic", "Nakatomi", "Monarch", "Aperture",
    "Black Mesa", "Pied Piper", "Dunder", "Sterling", "Prestige", "Northwind", "Contoso", "Fabrikam",
    "Tailspin", "Litware", "Proseware", "Adventure", "Lucerne", "Margie", "Wingtip", "Alpine", "Coho",
)
_NAME_PARTS_B = (
    "Systems", "Industries", "Logistics", "Holdings", "Labs", "Dynamics", "Partners", "Networks", "Foods",
    "Energy", "Robotics", "Analytics", "Media", "Capital", "Pharma", "Textiles", "Motors", "Software",
)
_NAME_SUFFIX = ("Inc", "LLC", "Ltd", "GmbH", "S.A.", "Corp", "PLC", "AG", "BV", "Pty Ltd", "K.K.")
SPECIAL_ACCOUNT_NAMES = (
    "Müller & Söhne (Berlin)",
    "Smith, Jones and Co",
    "Acme Corp",
    "Café Zürich (Zürich) AG",
    "O'Brien & Sons",
    "Ñandú Exportaciones S.A.",
    "Łódź Logistics Sp. z o.o.",
    "Société Générale d'Électricité",
    "Back\\slash Trading",
    "Colon: The Company",
    "Åkesson, Nilsson & Öberg AB",
    "東京商事 (Tokyo Trading)",
    "50% Off (Discounts) Ltd",
    "Plus+Minus Engineering",
)
_CITIES = (
    ("Berlin", "BE", "Germany", "10115"), ("New Orleans", "LA", "United States", "70116"),
    ("London", "", "United Kingdom", "EC1A 1BB"), ("Zürich", "ZH", "Switzerland", "8001"),
    ("São Paulo", "SP", "Brazil", "01000-000"), ("Chennai", "TN", "India", "600001"),
    ("Austin", "TX", "United States", "73301"), ("Toronto", "ON", "Canada", "M5H 2N2"),
    ("Sydney", "NSW", "Australia", "2000"), ("Kraków", "MA", "Poland", "30-001"),
    ("Madrid", "MD", "Spain", "28001"), ("Tokyo", "13", "Japan", "100-0001"),
)
_STREETS = ("Main St", "Blue Gum St", "Hauptstraße", "Rue de la Paix", "Church Rd", "Market St", "Elm Ave",
            "Bahnhofstrasse", "High St", "Avenida Paulista")
_FIRST = ("Anna", "Ben", "Chloé", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kai",
          "Lena", "Mateo", "Nora", "Olu", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor",
          "Wen", "Xavier", "Yara", "Zoë")
_LAST = ("Müller", "Smith", "García", "Nguyen", "O'Connor", "Kowalski", "Rossi", "Schmidt", "Tanaka",
         "Johansson", "Dubois", "Novak", "Silva", "Patel", "Khan", "Brown", "Lee", "Öztürk", "Jones")
_TITLES = ("CEO", "CTO", "VP Sales", "Head of Procurement", "Office Manager", "Engineer", "Buyer", "CFO")


@dataclass
class Users:
    """The org's users: owners of records, authors of changes."""

    users: list[dict[str, Any]] = field(default_factory=list)

    @property
    def admin(self) -> dict[str, Any]:
        return self.users[0]


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    keep = "".join(c.lower() if c.isalnum() else " " for c in plain)
    return "-".join(keep.split()[:2]) or "company"


class IdMinter:
    """19-digit Zoho-style ids: an org prefix, zero padding, a per-org increasing counter."""

    def __init__(self, rng: random.Random) -> None:
        self.prefix = str(rng.randint(1_000_000, 9_999_999))
        self._next = rng.randint(100_000, 200_000)
        self._rng = rng

    def mint(self) -> str:
        self._next += self._rng.randint(1, 9)
        return f"{self.prefix}000{self._next:09d}"


@dataclass
class SeedData:
    users: Users
    layout_id: str
    records: dict[str, list[dict[str, Any]]]
    field_ids: dict[str, dict[str, str]]
    module_ids: dict[str, str]
    org_id: str
    minter: IdMinter


def empty_record(module: str) -> dict[str, Any]:
    return {"id": None} | {f.api_name: None for f in MODULE_FIELDS[module]}


def _user_ref(user: dict[str, Any], with_email: bool = True) -> dict[str, Any]:
    ref = {"name": user["full_name"], "id": user["id"]}
    if with_email:
        ref["email"] = user["email"]
    return ref


def compose_address(record: dict[str, Any], prefix: str) -> str:
    street = record.get(f"{prefix}_Street")
    city = record.get(f"{prefix}_City")
    state = record.get(f"{prefix}_State")
    code = record.get(f"{prefix}_Code")
    country = record.get(f"{prefix}_Country")
    line2 = " ".join(p for p in (f"{city}," if city and (state or code) else city, state, code) if p)
    return "\n".join(str(p) for p in (street, line2, country) if p)


def finish_record(module: str, record: dict[str, Any]) -> None:
    """Server-computed fields: composed addresses, full names."""
    if module == "Accounts":
        record["Billing_Address"] = compose_address(record, "Billing")
        record["Shipping_Address"] = compose_address(record, "Shipping")
    if module in ("Contacts", "Leads"):
        record["Full_Name"] = " ".join(p for p in (record.get("First_Name"), record.get("Last_Name")) if p)


def _meta_keys(layout_id: str, currency: str = "EUR") -> dict[str, Any]:
    return {
        "$currency_symbol": "€" if currency == "EUR" else currency,
        "$field_states": None,
        "$state": "save",
        "$process_flow": False,
        "$locked_for_me": False,
        "$approved": True,
        "$approval": {"delegate": False, "takeover": False, "approve": False, "reject": False, "resubmit": False},
        "$editable": True,
        "$zia_owner_assignment": "owner_recommendation_unavailable",
        "$is_duplicate": False,
        "$review_process": {"approve": False, "reject": False, "resubmit": False},
        "$review": None,
        "$layout_id": {"display_label": "Standard", "name": "Standard", "id": layout_id},
        "$orchestration": False,
        "$in_merge": False,
        "$approval_state": "approved",
    }


def _maybe(rng: random.Random, value: Any, p: float = 0.85) -> Any:
    return value if rng.random() < p else None


def _phone(rng: random.Random) -> str:
    return f"+1 {rng.randint(200, 989)}-{rng.randint(200, 989)}-{rng.randint(1000, 9999)}"


SEED_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: seeded timestamps do not depend on when we start


def generate(seed: int, accounts: int, contacts: int | None, offset: str, now: float = SEED_EPOCH) -> SeedData:
    """Build the whole org from `seed`: same seed, same records, same ids, same timestamps."""
    rng = random.Random(seed)
    minter = IdMinter(rng)
    org_id = str(rng.randint(600_000_000, 999_999_999))
    users = Users()
    for first, last in (("Sandbox", "Admin"), ("Priya", "Raman"), ("Jonas", "Weber"), ("Maria", "López")):
        full = f"{first} {last}"
        email = "admin@sandbox.example.com" if first == "Sandbox" else f"{first.lower()}@sandbox.example.com"
        users.users.append({"id": minter.mint(), "full_name": full, "first_name": first, "last_name": last,
                            "email": email, "role": {"name": "CEO" if first == "Sandbox" else "Sales"},
                            "status": "active"})
    layout_id = minter.mint()
    module_ids = {m: minter.mint() for m in MODULE_FIELDS}
    field_ids = {m: {f.api_name: minter.mint() for f in fs} for m, fs in MODULE_FIELDS.items()}

    day = 86_400
    records: dict[str, list[dict[str, Any]]] = {m: [] for m in MODULE_FIELDS}
    used_names: set[str] = set()
    for i in range(accounts):
        if i < len(SPECIAL_ACCOUNT_NAMES):
            name = SPECIAL_ACCOUNT_NAMES[i]
        else:
            name = ""
            while not name or name in used_names:
                name = f"{rng.choice(_NAME_PARTS_A)} {rng.choice(_NAME_PARTS_B)} {rng.choice(_NAME_SUFFIX)}"
                if name in used_names:
                    name = f"{name} {rng.randint(2, 999)}"
        used_names.add(name)
        owner = rng.choice(users.users)
        created = now - rng.randint(30, 900) * day - rng.randint(0, day)
        modified = created + rng.randint(0, 25) * day
        city, state, country, code = rng.choice(_CITIES)
        slug = _slug(name)
        rec = empty_record("Accounts")
        rec.update({
            "id": minter.mint(),
            "Account_Name": name,
            "Account_Number": str(rng.randint(0, 99999)),
            "Account_Site": _maybe(rng, city, 0.4),
            "Account_Type": _maybe(rng, rng.choice(ACCOUNT_TYPES), 0.8),
            "Industry": _maybe(rng, rng.choice(INDUSTRIES), 0.85),
            "Annual_Revenue": _maybe(rng, rng.choice((1, 5, 10, 25, 50, 100, 250, 1000)) * 100_000, 0.8),
            "Employees": _maybe(rng, rng.choice((5, 12, 50, 120, 500, 1500, 12000)), 0.8),
            "Ownership": _maybe(rng, rng.choice(OWNERSHIPS), 0.6),
            "Rating": _maybe(rng, rng.choice(RATINGS), 0.5),
            "Phone": _maybe(rng, _phone(rng), 0.9),
            "Fax": _maybe(rng, _phone(rng), 0.2),
            "Website": _maybe(rng, f"https://www.{slug}.example.com", 0.85),
            "Email": _maybe(rng, f"info@{slug}.example.com", 0.75),
            "Ticker_Symbol": _maybe(rng, "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)), 0.2),
            "SIC_Code": _maybe(rng, rng.randint(100, 9999), 0.3),
            "Description": _maybe(rng, f"{name} — customer since {2010 + rng.randint(0, 15)}.", 0.5),
            "Owner": _user_ref(owner),
            "Created_By": _user_ref(owner),
            "Modified_By": _user_ref(rng.choice(users.users)),
            "Created_Time": format_zoho_time(created, offset),
            "Modified_Time": format_zoho_time(modified, offset),
            "Last_Activity_Time": _maybe(rng, format_zoho_time(modified, offset), 0.7),
            "Billing_Street": _maybe(rng, f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}", 0.8),
            "Billing_City": city,
            "Billing_State": state or None,
            "Billing_Code": code,
            "Billing_Country": country,
            "Billing_Coordinates": "",
            "Shipping_Coordinates": "",
            "Tag": [],
            "Locked__s": False,
        })
        if records["Accounts"] and rng.random() < 0.1:
            parent = rng.choice(records["Accounts"])
            rec["Parent_Account"] = {"name": parent["Account_Name"], "id": parent["id"]}
        rec.update(_meta_keys(layout_id))
        finish_record("Accounts", rec)
        records["Accounts"].append(rec)

    n_contacts = accounts // 2 if contacts is None else contacts
    seen_emails: set[str] = set()
    for _ in range(n_contacts):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        account = rng.choice(records["Accounts"]) if records["Accounts"] else None
        owner = rng.choice(users.users)
        created = now - rng.randint(10, 600) * day
        domain = _slug(account["Account_Name"]) if account else "example"
        local = f"{first}.{last}".lower().replace("'", "")
        email = f"{local}@{domain}.example.com"
        while email in seen_emails:
            email = f"{local}{rng.randint(2, 99)}@{domain}.example.com"
        seen_emails.add(email)
        rec = empty_record("Contacts")
        rec.update({
            "id": minter.mint(),
            "First_Name": first,
            "Last_Name": last,
            "Salutation": _maybe(rng, rng.choice(("Mr.", "Mrs.", "Ms.", "Dr.")), 0.5),
            "Account_Name": {"name": account["Account_Name"], "id": account["id"]} if account else None,
            "Email": email,
            "Phone": _maybe(rng, _phone(rng), 0.8),
            "Mobile": _maybe(rng, _phone(rng), 0.5),
            "Title": _maybe(rng, rng.choice(_TITLES), 0.7),
            "Lead_Source": _maybe(rng, rng.choice(LEAD_SOURCES), 0.6),
            "Email_Opt_Out": rng.random() < 0.1,
            "Owner": _user_ref(owner),
            "Created_By": _user_ref(owner),
            "Modified_By": _user_ref(owner),
            "Created_Time": format_zoho_time(created, offset),
            "Modified_Time": format_zoho_time(created + rng.randint(0, 9) * day, offset),
            "Tag": [],
            "Locked__s": False,
        })
        rec.update(_meta_keys(layout_id))
        finish_record("Contacts", rec)
        records["Contacts"].append(rec)

    for _ in range(min(50, max(5, accounts // 10))):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        owner = rng.choice(users.users)
        created = now - rng.randint(1, 120) * day
        company = f"{rng.choice(_NAME_PARTS_A)} {rng.choice(_NAME_PARTS_B)}"
        rec = empty_record("Leads")
        rec.update({
            "id": minter.mint(), "First_Name": first, "Last_Name": last, "Company": company,
            "Email": f"{first.lower()}.{rng.randint(1, 999)}@{_slug(company)}.example.org",
            "Phone": _maybe(rng, _phone(rng)), "Lead_Status": rng.choice(LEAD_STATUSES),
            "Lead_Source": rng.choice(LEAD_SOURCES), "Industry": _maybe(rng, rng.choice(INDUSTRIES)),
            "Annual_Revenue": _maybe(rng, rng.randint(1, 500) * 10_000), "No_of_Employees": _maybe(rng, rng.randint(1, 900)),
            "Owner": _user_ref(owner), "Created_By": _user_ref(owner), "Modified_By": _user_ref(owner),
            "Created_Time": format_zoho_time(created, offset), "Modified_Time": format_zoho_time(created, offset),
            "Tag": [], "Locked__s": False,
        })
        rec.update(_meta_keys(layout_id))
        finish_record("Leads", rec)
        records["Leads"].append(rec)

    for _ in range(min(50, max(5, accounts // 10))):
        account = rng.choice(records["Accounts"]) if records["Accounts"] else None
        owner = rng.choice(users.users)
        created = now - rng.randint(1, 200) * day
        rec = empty_record("Deals")
        rec.update({
            "id": minter.mint(),
            "Deal_Name": f"{account['Account_Name'] if account else 'New'} — {rng.choice(('Renewal', 'Expansion', 'Pilot', 'New Business'))}",
            "Account_Name": {"name": account["Account_Name"], "id": account["id"]} if account else None,
            "Amount": rng.randint(1, 400) * 1_000, "Stage": rng.choice(STAGES), "Probability": rng.choice((10, 20, 40, 60, 75, 90, 100)),
            "Closing_Date": format_zoho_time(created + rng.randint(10, 120) * day, offset)[:10],
            "Owner": _user_ref(owner), "Created_By": _user_ref(owner), "Modified_By": _user_ref(owner),
            "Created_Time": format_zoho_time(created, offset), "Modified_Time": format_zoho_time(created, offset),
            "Tag": [], "Locked__s": False,
        })
        rec.update(_meta_keys(layout_id))
        records["Deals"].append(rec)

    return SeedData(users=users, layout_id=layout_id, records=records, field_ids=field_ids,
                    module_ids=module_ids, org_id=org_id, minter=minter)


def field_metadata(module: str, field_ids: dict[str, str]) -> list[dict[str, Any]]:
    """The `settings/fields` entries, in the v2 shape zcrmsdk 3.1 reads (lookup.module is a string)."""
    out: list[dict[str, Any]] = []
    for f in MODULE_FIELDS[module]:
        entry: dict[str, Any] = {
            "api_name": f.api_name,
            "data_type": f.data_type,
            "json_type": f.json_type,
            "field_label": f.label,
            "display_label": f.label,
            "id": field_ids[f.api_name],
            "custom_field": f.custom,
            "system_mandatory": f.mandatory,
            "read_only": f.read_only,
            "field_read_only": f.read_only,
            "visible": True,
            "length": f.length,
            "decimal_place": 2 if f.data_type in ("currency", "double", "decimal", "percent") else None,
            "pick_list_values": [{"display_value": v, "actual_value": v, "sequence_number": i + 1}
                                 for i, v in enumerate(f.picklist)],
            "lookup": {},
            "formula": {},
            "subform": None,
            "api_supported": True,
        }
        if f.lookup_module:
            entry["lookup"] = {"display_label": f.label, "api_name": f.api_name, "module": f.lookup_module,
                               "id": field_ids[f.api_name]}
        out.append(entry)
    return out
