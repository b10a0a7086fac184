"""The centre chain and the matter catalogue (事项清单): pure types, lookups and validation.

No I/O here: ``parse_catalogue`` takes the already-parsed TOML documents (plain dicts) and the
names of the files they came from, checks every field and returns a frozen ``Catalogue``.
Any problem raises ``CatalogueError`` naming the file, the entry and the field, so an operator
can fix their own files at start instead of finding out mid-session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from window_server.domain.errors import InvalidInput, NotFound

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Keys of ``opening_hours``, indexed like ``datetime.date.weekday()`` (0 = Monday)."""

MINUTES_PER_DAY = 24 * 60
MAX_PROMISED_DAYS = 365
MAX_TEXT = 200
MAX_ALIASES = 20
MAX_ALIAS = 40

_REGION_CODE = re.compile(r"[1-9][0-9]{5}")
_CENTRE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MATTER_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MATERIAL_KIND = re.compile(r"[a-z][a-z0-9_]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_HOURS = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_MAX_ID = 64


class CatalogueError(InvalidInput):
    """The centre chain or matter catalogue is invalid; the message names file, entry and field."""

    code = "invalid_catalogue"

    def __init__(
        self, source: str, entry: str | None, field_name: str | None, problem: str
    ) -> None:
        parts = [source]
        if entry:
            parts.append(entry)
        if field_name:
            parts.append(f"field {field_name}")
        parts.append(problem)
        super().__init__(": ".join(parts), field=field_name)
        self.source = source
        self.entry = entry
        self.problem = problem


class Level(StrEnum):
    """Administrative level of a region or centre; ``district`` covers 区, 县 and 县级市."""

    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"


class ServiceMode(StrEnum):
    """The three cross-province service modes (跨省通办)."""

    ONLINE_FULL = "online_full"  # 全程网办
    PROXY_INTAKE = "proxy_intake"  # 异地代收代办
    MULTI_SITE_JOINT = "multi_site_joint"  # 多地联办


class Audience(StrEnum):
    """Who applies: a person (个人办事) or a company (法人办事)."""

    PERSON = "person"
    COMPANY = "company"


@dataclass(frozen=True)
class Region:
    """An administrative region (GB/T 2260 code)."""

    code: str
    name_zh: str
    name_en: str
    level: Level
    parent: str | None

    @property
    def province_code(self) -> str:
        """Return the code of the province this region lies in (itself for a province)."""
        return self.code[:2] + "0000"


@dataclass(frozen=True)
class Centre:
    """A member service centre of the chain."""

    id: str
    name_zh: str
    name_en: str
    level: Level
    province: str
    region: str
    languages: tuple[str, ...]
    opening_hours: tuple[tuple[int, int] | None, ...]
    """Seven entries, Monday first: (open, close) in minutes after midnight, or None if closed."""
    serves_regions: tuple[str, ...]
    """Home regions whose matters its specialists may serve; its own region comes first."""

    def serves(self, region: str) -> bool:
        """Return whether this centre's specialists may serve matters of ``region``."""
        return region in self.serves_regions

    def hours(self, weekday: int) -> tuple[int, int] | None:
        """Return (open, close) minutes for ``weekday`` (0 = Monday), or None if closed."""
        if not 0 <= weekday < 7:
            raise ValueError(f"weekday must be 0-6, got {weekday}")
        return self.opening_hours[weekday]

    def is_open(self, weekday: int, minute_of_day: int) -> bool:
        """Return whether the centre is open at ``minute_of_day`` on ``weekday`` (0 = Monday)."""
        if not 0 <= minute_of_day < MINUTES_PER_DAY:
            raise ValueError(f"minute_of_day must be 0-{MINUTES_PER_DAY - 1}, got {minute_of_day}")
        span = self.hours(weekday)
        return span is not None and span[0] <= minute_of_day < span[1]


@dataclass(frozen=True)
class Material:
    """One material (申请材料) a matter asks for."""

    kind: str
    name_zh: str
    name_en: str
    original: bool
    required: bool


@dataclass(frozen=True)
class Matter:
    """A service item (政务服务事项) owned by a home region."""

    code: str
    name_zh: str
    name_en: str
    service_modes: tuple[ServiceMode, ...]
    department: str
    home_region: str
    audience: Audience
    theme: str
    materials: tuple[Material, ...]
    promised_days: int
    aliases: tuple[str, ...] = ()
    """Common names a citizen may search for (医保, 营业执照, 公积金 …); optional."""

    def supports(self, mode: ServiceMode) -> bool:
        """Return whether the matter can be handled in ``mode``."""
        return mode in self.service_modes

    def material(self, kind: str) -> Material:
        """Return the material of ``kind``; raise NotFound if the matter does not ask for it."""
        for m in self.materials:
            if m.kind == kind:
                return m
        raise NotFound(f'matter "{self.code}" has no material "{kind}"')

    @property
    def required_materials(self) -> tuple[Material, ...]:
        return tuple(m for m in self.materials if m.required)


@dataclass(frozen=True)
class ProvinceGroup:
    """A province and those of its regions that own at least one matter, for the kiosk."""

    province: Region
    regions: tuple[Region, ...]


@dataclass(frozen=True)
class Catalogue:
    """The validated chain and catalogue, with lookups. Build it with ``parse_catalogue``."""

    regions: tuple[Region, ...]
    centres: tuple[Centre, ...]
    matters: tuple[Matter, ...]
    _regions: dict[str, Region] = field(init=False, repr=False, compare=False)
    _centres: dict[str, Centre] = field(init=False, repr=False, compare=False)
    _matters: dict[str, Matter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regions", {r.code: r for r in self.regions})
        object.__setattr__(self, "_centres", {c.id: c for c in self.centres})
        object.__setattr__(self, "_matters", {m.code: m for m in self.matters})

    def region(self, code: str) -> Region:
        """Return the region with ``code``; raise NotFound."""
        try:
            return self._regions[code]
        except KeyError:
            raise NotFound(f'unknown region "{code}"') from None

    def centre(self, centre_id: str) -> Centre:
        """Return the centre with ``centre_id``; raise NotFound."""
        try:
            return self._centres[centre_id]
        except KeyError:
            raise NotFound(f'unknown centre "{centre_id}"') from None

    def matter(self, code: str) -> Matter:
        """Return the matter with ``code``; raise NotFound."""
        try:
            return self._matters[code]
        except KeyError:
            raise NotFound(f'unknown matter "{code}"') from None

    def has_region(self, code: str) -> bool:
        return code in self._regions

    def has_centre(self, centre_id: str) -> bool:
        return centre_id in self._centres

    def has_matter(self, code: str) -> bool:
        return code in self._matters

    def centres_serving(self, region: str) -> tuple[Centre, ...]:
        """Return the centres whose specialists may serve matters of ``region``, in file order."""
        return tuple(c for c in self.centres if c.serves(region))

    def centres_for_matter(self, code: str) -> tuple[Centre, ...]:
        """Return the centres that may serve the matter ``code``; raise NotFound."""
        return self.centres_serving(self.matter(code).home_region)

    def centres_in_province(self, province: str) -> tuple[Centre, ...]:
        """Return the centres located in ``province`` (a province code)."""
        return tuple(c for c in self.centres if c.province == province)

    def matters_for_region(
        self, region: str, audience: Audience | None = None
    ) -> tuple[Matter, ...]:
        """Return the matters owned by ``region`` (optionally for one audience), in file order."""
        return tuple(
            m
            for m in self.matters
            if m.home_region == region and (audience is None or m.audience == audience)
        )

    def themes(self, region: str | None = None) -> tuple[str, ...]:
        """Return the distinct themes, in first-seen order, optionally of one region's matters."""
        seen: dict[str, None] = {}
        for m in self.matters:
            if region is None or m.home_region == region:
                seen.setdefault(m.theme, None)
        return tuple(seen)

    def regions_for_kiosk(self) -> tuple[ProvinceGroup, ...]:
        """Return home regions that own matters, grouped by province, both ordered by code."""
        with_matters = {m.home_region for m in self.matters}
        groups: list[ProvinceGroup] = []
        for province in sorted(
            (r for r in self.regions if r.level is Level.PROVINCE), key=lambda r: r.code
        ):
            members = tuple(
                sorted(
                    (
                        r
                        for r in self.regions
                        if r.province_code == province.code and r.code in with_matters
                    ),
                    key=lambda r: r.code,
                )
            )
            if members:
                groups.append(ProvinceGroup(province=province, regions=members))
        return tuple(groups)


# --- validation -------------------------------------------------------------------------------


class _Entry:
    """Reads the fields of one TOML table, raising CatalogueError that names where."""

    def __init__(self, source: str, entry: str, table: dict[str, Any], prefix: str = "") -> None:
        self.source = source
        self.entry = entry
        self.table = table
        self.prefix = prefix

    def fail(self, name: str, problem: str) -> CatalogueError:
        return CatalogueError(self.source, self.entry, self.prefix + name, problem)

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.fail(key, f"unknown field (allowed: {', '.join(allowed)})")

    def raw(self, name: str) -> Any:
        if name not in self.table:
            raise self.fail(name, "missing")
        return self.table[name]

    def text(self, name: str) -> str:
        value = self.raw(name)
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, got {_type_name(value)}")
        value = value.strip()
        if not value:
            raise self.fail(name, "must not be empty")
        if len(value) > MAX_TEXT:
            raise self.fail(name, f"must be at most {MAX_TEXT} characters")
        return value

    def pattern(self, name: str, regex: re.Pattern[str], what: str) -> str:
        value = self.text(name)
        if len(value) > _MAX_ID or not regex.fullmatch(value):
            raise self.fail(name, f"{_q(value)} is not {what}")
        return value

    def flag(self, name: str) -> bool:
        value = self.raw(name)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, got {_type_name(value)}")
        return value

    def integer(self, name: str, low: int, high: int) -> int:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"must be an integer, got {_type_name(value)}")
        if not low <= value <= high:
            raise self.fail(name, f"must be between {low} and {high}, got {value}")
        return value

    def array(self, name: str, *, optional: bool = False) -> list[Any]:
        if optional and name not in self.table:
            return []
        value = self.raw(name)
        if not isinstance(value, list):
            raise self.fail(name, f"must be an array, got {_type_name(value)}")
        return value

    def strings(self, name: str, *, optional: bool = False, non_empty: bool = True) -> list[str]:
        values = self.array(name, optional=optional)
        if non_empty and not values:
            raise self.fail(name, "must not be empty")
        seen: set[str] = set()
        out: list[str] = []
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise self.fail(f"{name}[{i}]", f"must be a non-empty string, got {value!r}")
            value = value.strip()
            if value in seen:
                raise self.fail(f"{name}[{i}]", f"duplicate {_q(value)}")
            seen.add(value)
            out.append(value)
        return out

    def choices(self, name: str, enum: type[StrEnum]) -> list[str]:
        values = self.strings(name)
        allowed = [e.value for e in enum]
        for i, value in enumerate(values):
            if value not in allowed:
                raise self.fail(
                    f"{name}[{i}]", f"unknown value {_q(value)} (allowed: {', '.join(allowed)})"
                )
        return values

    def choice(self, name: str, enum: type[StrEnum]) -> str:
        value = self.text(name)
        allowed = [e.value for e in enum]
        if value not in allowed:
            raise self.fail(name, f"unknown value {_q(value)} (allowed: {', '.join(allowed)})")
        return value


def _q(value: str) -> str:
    return f'"{value}"'


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _tables(source: str, doc: Any, key: str, what: str) -> list[tuple[int, dict[str, Any]]]:
    """Return the array of tables ``key`` of ``doc`` with 1-based positions."""
    if not isinstance(doc, dict):
        raise CatalogueError(source, None, None, "the document must be a table")
    if key not in doc:
        raise CatalogueError(source, None, key, f"missing: add at least one [[{key}]] table")
    items = doc[key]
    if not isinstance(items, list) or not items:
        raise CatalogueError(source, None, key, f"must be a non-empty array of [[{key}]] tables")
    out: list[tuple[int, dict[str, Any]]] = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise CatalogueError(source, f"{what} #{i}", None, f"must be a table, got {item!r}")
        out.append((i, item))
    return out


def _top_keys(source: str, doc: Any, allowed: tuple[str, ...]) -> None:
    if isinstance(doc, dict):
        for key in doc:
            if key not in allowed:
                raise CatalogueError(
                    source, None, key, f"unknown top-level key (allowed: {', '.join(allowed)})"
                )


def _entry_name(what: str, position: int, table: dict[str, Any], key: str) -> str:
    value = table.get(key)
    if isinstance(value, str) and value.strip():
        return f"{what} {_q(value.strip())}"
    return f"{what} #{position}"


def parse_hours(text: str) -> tuple[int, int]:
    """Parse ``"HH:MM-HH:MM"`` into (open, close) minutes after midnight; raise ValueError."""
    m = _HOURS.fullmatch(text.strip())
    if m is None:
        raise ValueError(f'"{text}" is not HH:MM-HH:MM')
    oh, om, ch, cm = (int(g) for g in m.groups())
    if oh > 23 or om > 59 or cm > 59 or ch > 24 or (ch == 24 and cm != 0):
        raise ValueError(f'"{text}" is not a valid time range')
    start, end = oh * 60 + om, ch * 60 + cm
    if start >= end:
        raise ValueError(f'"{text}": opening must be before closing')
    return start, end


def _keys(cls: type) -> tuple[str, ...]:
    """Return the TOML keys of an entry: exactly the dataclass's field names."""
    return tuple(f.name for f in fields(cls) if f.init)


def _parse_regions(source: str, doc: Any) -> dict[str, Region]:
    regions: dict[str, Region] = {}
    parents: dict[str, tuple[_Entry, str | None]] = {}
    for i, table in _tables(source, doc, "regions", "region"):
        e = _Entry(source, _entry_name("region", i, table, "code"), table)
        e.check_keys(_keys(Region))
        code = e.pattern("code", _REGION_CODE, "a 6-digit region code (GB/T 2260)")
        if code in regions:
            raise e.fail("code", f"duplicate region code {_q(code)}")
        level = Level(e.choice("level", Level))
        shape_ok = {
            Level.PROVINCE: code.endswith("0000"),
            Level.CITY: code.endswith("00") and not code.endswith("0000"),
            Level.DISTRICT: not code.endswith("00"),
        }[level]
        if not shape_ok:
            raise e.fail("level", f"{level.value} does not fit code {_q(code)} (GB/T 2260)")
        parent = e.text("parent") if "parent" in table else None
        if level is Level.PROVINCE and parent is not None:
            raise e.fail("parent", "a province has no parent")
        if level is not Level.PROVINCE and parent is None:
            raise e.fail("parent", f"missing: a {level.value} needs its parent region")
        regions[code] = Region(code, e.text("name_zh"), e.text("name_en"), level, parent)
        parents[code] = (e, parent)
    for code, (e, parent) in parents.items():
        if parent is None:
            continue
        if parent not in regions:
            raise e.fail("parent", f"unknown region {_q(parent)}")
        child, above = regions[code], regions[parent]
        allowed = {Level.CITY: (Level.PROVINCE,), Level.DISTRICT: (Level.CITY, Level.PROVINCE)}
        if above.level not in allowed[child.level]:
            raise e.fail("parent", f"a {child.level.value} cannot lie in a {above.level.value}")
        prefix = 4 if above.level is Level.CITY else 2
        if code[:prefix] != parent[:prefix]:
            raise e.fail("parent", f"{_q(code)} does not lie in {_q(parent)} (GB/T 2260 prefix)")
    return regions


def _parse_opening_hours(e: _Entry) -> tuple[tuple[int, int] | None, ...]:
    value = e.raw("opening_hours")
    if not isinstance(value, dict):
        raise e.fail("opening_hours", f"must be a table of weekdays, got {_type_name(value)}")
    days: list[tuple[int, int] | None] = [None] * 7
    for key, text in value.items():
        name = f"opening_hours.{key}"
        if key not in WEEKDAYS:
            raise e.fail(name, f"unknown weekday (use {', '.join(WEEKDAYS)})")
        if not isinstance(text, str):
            raise e.fail(name, f'must be a string "HH:MM-HH:MM", got {_type_name(text)}')
        try:
            days[WEEKDAYS.index(key)] = parse_hours(text)
        except ValueError as exc:
            raise e.fail(name, str(exc)) from None
    if all(d is None for d in days):
        raise e.fail("opening_hours", "the centre must open on at least one weekday")
    return tuple(days)


def _known_region(e: _Entry, name: str, code: str, regions: dict[str, Region]) -> Region:
    if code not in regions:
        raise e.fail(name, f"unknown region {_q(code)}")
    return regions[code]


def _parse_centres(source: str, doc: Any, regions: dict[str, Region]) -> dict[str, Centre]:
    centres: dict[str, Centre] = {}
    for i, table in _tables(source, doc, "centres", "centre"):
        e = _Entry(source, _entry_name("centre", i, table, "id"), table)
        e.check_keys(_keys(Centre))
        cid = e.pattern("id", _CENTRE_ID, "a slug (lower-case letters, digits and dashes)")
        if cid in centres:
            raise e.fail("id", f"duplicate centre id {_q(cid)}")
        name_zh, name_en = e.text("name_zh"), e.text("name_en")
        level = Level(e.choice("level", Level))
        province = _known_region(e, "province", e.text("province"), regions)
        if province.level is not Level.PROVINCE:
            raise e.fail(
                "province", f"{_q(province.code)} is a {province.level.value}, not a province"
            )
        region = _known_region(e, "region", e.text("region"), regions)
        if region.level is not level:
            raise e.fail(
                "level",
                f"{level.value} does not match region {_q(region.code)} ({region.level.value})",
            )
        if region.province_code != province.code:
            raise e.fail(
                "province", f"region {_q(region.code)} is not in province {_q(province.code)}"
            )
        languages = e.strings("languages")
        for j, lang in enumerate(languages):
            if not _LANGUAGE.fullmatch(lang):
                raise e.fail(f"languages[{j}]", f"{_q(lang)} is not a language tag like zh or en")
        hours = _parse_opening_hours(e)
        served = e.strings("serves_regions", optional=True, non_empty=False)
        for j, code in enumerate(served):
            _known_region(e, f"serves_regions[{j}]", code, regions)
        serves = (region.code, *(c for c in served if c != region.code))
        centres[cid] = Centre(
            id=cid,
            name_zh=name_zh,
            name_en=name_en,
            level=level,
            province=province.code,
            region=region.code,
            languages=tuple(languages),
            opening_hours=hours,
            serves_regions=serves,
        )
    return centres


def _parse_materials(e: _Entry) -> tuple[Material, ...]:
    items = e.array("materials")
    if not items:
        raise e.fail("materials", "must list at least one material")
    materials: list[Material] = []
    kinds: set[str] = set()
    for j, item in enumerate(items):
        if not isinstance(item, dict):
            raise e.fail(f"materials[{j}]", f"must be a table, got {_type_name(item)}")
        m = _Entry(e.source, e.entry, item, prefix=f"materials[{j}].")
        m.check_keys(_keys(Material))
        kind = m.pattern("kind", _MATERIAL_KIND, "a slug like id_card_front")
        if kind in kinds:
            raise m.fail("kind", f"duplicate material kind {_q(kind)} in this matter")
        kinds.add(kind)
        materials.append(
            Material(
                kind, m.text("name_zh"), m.text("name_en"), m.flag("original"), m.flag("required")
            )
        )
    # Both sides of the ID card travel together: the booth merges them onto one page.
    for have, need in (("id_card_front", "id_card_back"), ("id_card_back", "id_card_front")):
        if have in kinds and need not in kinds:
            raise e.fail("materials", f"lists {have} but not {need}")
    return tuple(materials)


def _parse_matters(
    source: str, doc: Any, regions: dict[str, Region], centres: dict[str, Centre]
) -> dict[str, Matter]:
    matters: dict[str, Matter] = {}
    for i, table in _tables(source, doc, "matters", "matter"):
        e = _Entry(source, _entry_name("matter", i, table, "code"), table)
        e.check_keys(_keys(Matter))
        code = e.pattern("code", _MATTER_CODE, "a code of letters, digits, '.', '_' or '-'")
        if code in matters:
            raise e.fail("code", f"duplicate matter code {_q(code)}")
        name_zh, name_en = e.text("name_zh"), e.text("name_en")
        modes = tuple(ServiceMode(m) for m in e.choices("service_modes", ServiceMode))
        department = e.text("department")
        home = _known_region(e, "home_region", e.text("home_region"), regions)
        if not any(c.serves(home.code) for c in centres.values()):
            raise e.fail("home_region", f"no centre serves region {_q(home.code)}")
        audience = Audience(e.choice("audience", Audience))
        theme = e.text("theme")
        materials = _parse_materials(e)
        days = e.integer("promised_days", 0, MAX_PROMISED_DAYS)
        aliases = e.strings("aliases", optional=True, non_empty=False)
        if len(aliases) > MAX_ALIASES:
            raise e.fail("aliases", f"must list at most {MAX_ALIASES} names, got {len(aliases)}")
        for j, alias in enumerate(aliases):
            if len(alias) > MAX_ALIAS:
                raise e.fail(f"aliases[{j}]", f"must be at most {MAX_ALIAS} characters")
        matters[code] = Matter(
            code=code,
            name_zh=name_zh,
            name_en=name_en,
            service_modes=modes,
            department=department,
            home_region=home.code,
            audience=audience,
            theme=theme,
            materials=materials,
            promised_days=days,
            aliases=tuple(aliases),
        )
    return matters


def parse_catalogue(
    centres_doc: dict[str, Any],
    matters_doc: dict[str, Any],
    centres_source: str,
    matters_source: str,
) -> Catalogue:
    """Validate the parsed centre and matter documents; return a Catalogue or raise CatalogueError."""
    _top_keys(centres_source, centres_doc, ("regions", "centres"))
    _top_keys(matters_source, matters_doc, ("matters",))
    regions = _parse_regions(centres_source, centres_doc)
    centres = _parse_centres(centres_source, centres_doc, regions)
    matters = _parse_matters(matters_source, matters_doc, regions, centres)
    return Catalogue(
        regions=tuple(regions.values()),
        centres=tuple(centres.values()),
        matters=tuple(matters.values()),
    )
