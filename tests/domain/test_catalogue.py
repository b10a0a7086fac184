"""The centre chain and matter catalogue: the demo files, the lookups, and every kind of bad input.

Pure-core tests: no Redis, no event loop. Bad inputs are small dicts built here; only the TOML
syntax and file tests touch ``tmp_path``.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from window_server.domain.catalogue import (
    WEEKDAYS,
    Audience,
    Catalogue,
    CatalogueError,
    Centre,
    Level,
    ServiceMode,
    parse_catalogue,
    parse_hours,
)
from window_server.domain.errors import InvalidInput, NotFound
from window_server.runtime.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
C, M = "centres.toml", "matters.toml"


@pytest.fixture(scope="module")
def demo() -> Catalogue:
    return load_catalogue()


# --- the demo chain and catalogue ----------------------------------------------------------------


def test_demo_chain_has_exactly_22_centres_in_the_four_provinces(demo: Catalogue) -> None:
    assert len(demo.centres) == 22
    assert {c.province for c in demo.centres} == {"310000", "320000", "330000", "340000"}
    assert {c.level for c in demo.centres} == set(Level)
    assert len({c.id for c in demo.centres}) == 22
    assert demo.centre("sh-huangpu").name_zh == "黄浦区政务服务中心"


def test_demo_catalogue_has_at_least_40_matters_over_many_regions(demo: Catalogue) -> None:
    assert len(demo.matters) >= 40
    assert len({m.home_region for m in demo.matters}) >= 15
    assert {m.audience for m in demo.matters} == set(Audience)
    assert {mode for m in demo.matters for mode in m.service_modes} == set(ServiceMode)


def test_demo_every_referenced_region_exists(demo: Catalogue) -> None:
    codes = {r.code for r in demo.regions}
    for r in demo.regions:
        assert r.parent is None or r.parent in codes
    for c in demo.centres:
        assert {c.province, c.region, *c.serves_regions} <= codes, c.id
    for m in demo.matters:
        assert m.home_region in codes, m.code


def test_demo_every_home_region_is_served_by_at_least_two_centres(demo: Catalogue) -> None:
    for m in demo.matters:
        serving = demo.centres_for_matter(m.code)
        assert len(serving) >= 2, (m.code, [c.id for c in serving])


def test_demo_has_a_cross_province_authorisation(demo: Catalogue) -> None:
    crossed = {
        (c.id, r)
        for c in demo.centres
        for r in c.serves_regions
        if demo.region(r).province_code != c.province
    }
    # The demonstration zone: Qingpu (Shanghai) is authorised for Wujiang (Jiangsu) matters.
    assert ("sh-qingpu", "320509") in crossed
    assert any(m.home_region == r for _, r in crossed for m in demo.matters)


def test_demo_matter_codes_name_their_home_region(demo: Catalogue) -> None:
    prefix = {"310000": "sh", "320000": "js", "330000": "zj", "340000": "ah"}
    for m in demo.matters:
        province = demo.region(m.home_region).province_code
        assert m.code.startswith(f"{prefix[province]}-{m.home_region}-"), m.code


def test_demo_person_matters_ask_for_both_sides_of_the_id_card(demo: Catalogue) -> None:
    for m in demo.matters:
        kinds = {x.kind for x in m.materials}
        assert {"id_card_front", "id_card_back"} <= kinds, m.code
        assert m.required_materials


def test_demo_docs_list_every_centre(demo: Catalogue) -> None:
    text = (ROOT / "docs" / "catalogue.md").read_text(encoding="utf-8")
    for c in demo.centres:
        assert f"`{c.id}`" in text, c.id
        assert c.name_zh in text, c.id


def test_explicit_files_load_like_the_packaged_demo(tmp_path: Path, demo: Catalogue) -> None:
    data = resources.files("window_server.data")
    (tmp_path / "c.toml").write_bytes(data.joinpath("centres.toml").read_bytes())
    (tmp_path / "m.toml").write_bytes(data.joinpath("matters.toml").read_bytes())
    assert load_catalogue(tmp_path / "c.toml", tmp_path / "m.toml") == demo


# --- lookups -------------------------------------------------------------------------------------


def test_lookups(demo: Catalogue) -> None:
    m = demo.matter("js-320500-food-business-licence")
    assert m.home_region == "320500" and m.audience is Audience.COMPANY
    assert m.supports(ServiceMode.PROXY_INTAKE) and not m.supports(ServiceMode.ONLINE_FULL)
    assert m.material("id_card_front").original
    with pytest.raises(NotFound):
        m.material("no_such_kind")
    assert [c.id for c in demo.centres_serving("320500")] == [
        "js-province",
        "js-suzhou",
        "js-wujiang",
    ]
    assert m in demo.matters_for_region("320500", Audience.COMPANY)
    assert m not in demo.matters_for_region("320500", Audience.PERSON)
    assert "企业准入" in demo.themes("320500")
    assert {c.id for c in demo.centres_in_province("340000")} == {
        "ah-province",
        "ah-hefei",
        "ah-wuhu",
        "ah-xuancheng",
    }
    assert demo.has_centre("sh-huangpu") and not demo.has_centre("nope")
    assert demo.has_matter(m.code) and demo.has_region("310101")
    for lookup in (demo.centre, demo.matter, demo.region):
        with pytest.raises(NotFound):
            lookup("nope")


def test_regions_for_kiosk_groups_home_regions_by_province(demo: Catalogue) -> None:
    groups = demo.regions_for_kiosk()
    assert [g.province.name_zh for g in groups] == ["上海市", "江苏省", "浙江省", "安徽省"]
    for g in groups:
        codes = [r.code for r in g.regions]
        assert codes == sorted(codes)
        assert all(r.province_code == g.province.code for r in g.regions)
        assert all(demo.matters_for_region(r.code) for r in g.regions)
    assert sum(len(g.regions) for g in groups) == len({m.home_region for m in demo.matters})


@pytest.mark.parametrize(
    ("weekday", "minute", "expected"),
    [
        (0, 9 * 60 - 1, False),  # Monday 08:59
        (0, 9 * 60, True),  # opening minute is inside
        (0, 17 * 60 - 1, True),
        (0, 17 * 60, False),  # closing minute is outside
        (5, 10 * 60, True),  # Saturday morning
        (5, 12 * 60, False),
        (6, 10 * 60, False),  # Sunday absent = closed
    ],
)
def test_centre_is_open(demo: Catalogue, weekday: int, minute: int, expected: bool) -> None:
    assert demo.centre("sh-huangpu").is_open(weekday, minute) is expected


@pytest.mark.parametrize(("weekday", "minute"), [(-1, 0), (7, 0), (0, -1), (0, 24 * 60)])
def test_centre_is_open_rejects_out_of_range(demo: Catalogue, weekday: int, minute: int) -> None:
    with pytest.raises(ValueError):
        demo.centre("sh-huangpu").is_open(weekday, minute)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("09:00-17:00", (540, 1020)), ("00:00-24:00", (0, 1440)), (" 08:30-12:00 ", (510, 720))],
)
def test_parse_hours(text: str, expected: tuple[int, int]) -> None:
    assert parse_hours(text) == expected


@pytest.mark.parametrize(
    "text", ["9:00-17:00", "09:00", "09:00-09:00", "17:00-09:00", "24:00-24:30", "09:60-10:00", ""]
)
def test_parse_hours_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hours(text)


@given(st.integers(0, 1439), st.integers(1, 1440), st.integers(0, 1439))
def test_is_open_matches_the_hours(a: int, b: int, probe: int) -> None:
    start, end = min(a, b - 1), max(a + 1, b)
    text = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    assert parse_hours(text) == (start, end)
    centre = Centre(
        id="x",
        name_zh="x",
        name_en="x",
        level=Level.CITY,
        province="320000",
        region="320500",
        languages=("zh",),
        opening_hours=((start, end), None, None, None, None, None, None),
        serves_regions=("320500",),
    )
    assert centre.is_open(0, probe) is (start <= probe < end)
    assert not centre.is_open(1, probe)


# --- bad input: every problem names file, entry and field ---------------------------------------


def _centres() -> dict[str, Any]:
    hours = {"mon": "09:00-17:00", "sat": "09:00-12:00"}
    return {
        "regions": [
            {"code": "310000", "name_zh": "上海市", "name_en": "Shanghai", "level": "province"},
            {
                "code": "310101",
                "name_zh": "黄浦区",
                "name_en": "Huangpu District",
                "level": "district",
                "parent": "310000",
            },
            {"code": "320000", "name_zh": "江苏省", "name_en": "Jiangsu", "level": "province"},
            {
                "code": "320500",
                "name_zh": "苏州市",
                "name_en": "Suzhou",
                "level": "city",
                "parent": "320000",
            },
        ],
        "centres": [
            {
                "id": "sh-huangpu",
                "name_zh": "黄浦区政务服务中心",
                "name_en": "Huangpu District Government Service Centre",
                "level": "district",
                "province": "310000",
                "region": "310101",
                "languages": ["zh", "en"],
                "opening_hours": dict(hours),
                "serves_regions": ["310101"],
            },
            {
                "id": "js-suzhou",
                "name_zh": "苏州市政务服务中心",
                "name_en": "Suzhou Government Service Centre",
                "level": "city",
                "province": "320000",
                "region": "320500",
                "languages": ["zh"],
                "opening_hours": dict(hours),
                "serves_regions": ["320500", "310101"],
            },
        ],
    }


def _material(kind: str) -> dict[str, Any]:
    return {"kind": kind, "name_zh": kind, "name_en": kind, "original": True, "required": True}


def _matters() -> dict[str, Any]:
    return {
        "matters": [
            {
                "code": "js-320500-company-setup",
                "name_zh": "企业设立登记",
                "name_en": "Company set-up registration",
                "service_modes": ["online_full", "proxy_intake"],
                "department": "苏州市市场监督管理局",
                "home_region": "320500",
                "audience": "company",
                "theme": "企业准入",
                "materials": [
                    _material("application_form"),
                    _material("id_card_front"),
                    _material("id_card_back"),
                ],
                "promised_days": 3,
            }
        ]
    }


def test_the_minimal_documents_are_valid() -> None:
    cat = parse_catalogue(_centres(), _matters(), C, M)
    assert [c.id for c in cat.centres_serving("310101")] == ["sh-huangpu", "js-suzhou"]
    assert cat.matter("js-320500-company-setup").promised_days == 3


def test_a_centre_always_serves_its_own_region() -> None:
    c = _centres()
    del c["centres"][1]["serves_regions"]
    cat = parse_catalogue(c, _matters(), C, M)
    assert cat.centre("js-suzhou").serves_regions == ("320500",)
    c["centres"][1]["serves_regions"] = ["310101"]
    cat = parse_catalogue(c, _matters(), C, M)
    assert cat.centre("js-suzhou").serves_regions == ("320500", "310101")


Docs = tuple[dict[str, Any], dict[str, Any]]


def _set(path: str, value: Any) -> Callable[[Docs], None]:
    """Return a mutation setting ``path`` ("c.centres.0.id", "m.matters.0") in the docs."""

    def apply(docs: Docs) -> None:
        head, *keys = path.split(".")
        node: Any = docs[0] if head == "c" else docs[1]
        *parents, last = keys
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return apply


_DELETE = object()
R1, CH, JS = 'region "310101"', 'centre "sh-huangpu"', 'centre "js-suzhou"'
MA = 'matter "js-320500-company-setup"'

BAD: list[tuple[str, Callable[[Docs], None], str, str | None, str | None, str]] = [
    # (case, mutation, file, entry, field, problem contains)
    ("top-level typo", _set("m.matter", []), M, None, "matter", "unknown top-level key"),
    ("no centres", _set("c.centres", _DELETE), C, None, "centres", "missing"),
    ("no matters", _set("m.matters", []), M, None, "matters", "non-empty array"),
    ("centre not a table", _set("c.centres.0", "x"), C, "centre #1", None, "must be a table"),
    # regions
    ("region name missing", _set("c.regions.1.name_zh", _DELETE), C, R1, "name_zh", "missing"),
    ("region code bad", _set("c.regions.1.code", "31010"), C, 'region "31010"', "code", "6-digit"),
    ("region duplicate", _set("c.regions.1.code", "310000"), C, 'region "310000"', "code", "duplicate"),
    ("region level unknown", _set("c.regions.1.level", "county"), C, R1, "level", "unknown value"),
    ("region level vs code", _set("c.regions.1.level", "city"), C, R1, "level", "does not fit code"),
    ("region parent unknown", _set("c.regions.1.parent", "330000"), C, R1, "parent", 'unknown region "330000"'),
    ("region parent missing", _set("c.regions.1.parent", _DELETE), C, R1, "parent", "missing"),
    ("province with parent", _set("c.regions.0.parent", "320000"), C, 'region "310000"', "parent", "no parent"),
    ("region outside parent", _set("c.regions.1.parent", "320500"), C, R1, "parent", "does not lie in"),
    ("city under city", _set("c.regions.3.parent", "310101"), C, 'region "320500"', "parent", "cannot lie in"),
    ("region unknown field", _set("c.regions.1.name", "x"), C, R1, "name", "unknown field"),
    # centres
    ("centre name missing", _set("c.centres.0.name_en", _DELETE), C, CH, "name_en", "missing"),
    ("centre name empty", _set("c.centres.0.name_zh", "  "), C, CH, "name_zh", "must not be empty"),
    ("centre name type", _set("c.centres.0.name_zh", 3), C, CH, "name_zh", "must be a string"),
    ("centre id bad", _set("c.centres.0.id", "SH Huangpu"), C, 'centre "SH Huangpu"', "id", "slug"),
    ("centre id missing", _set("c.centres.0.id", _DELETE), C, "centre #1", "id", "missing"),
    ("centre duplicate", _set("c.centres.1.id", "sh-huangpu"), C, CH, "id", "duplicate"),
    ("centre level vs region", _set("c.centres.0.level", "city"), C, CH, "level", "does not match region"),
    ("centre province unknown", _set("c.centres.0.province", "999999"), C, CH, "province", "unknown region"),
    ("centre province a city", _set("c.centres.0.province", "320500"), C, CH, "province", "not a province"),
    ("centre in other province", _set("c.centres.0.province", "320000"), C, CH, "province", "is not in province"),
    ("centre region unknown", _set("c.centres.0.region", "310102"), C, CH, "region", "unknown region"),
    ("languages empty", _set("c.centres.0.languages", []), C, CH, "languages", "must not be empty"),
    ("languages a string", _set("c.centres.0.languages", "zh"), C, CH, "languages", "must be an array"),
    ("language tag", _set("c.centres.0.languages.1", "English"), C, CH, "languages[1]", "language tag"),
    ("language duplicate", _set("c.centres.0.languages.1", "zh"), C, CH, "languages[1]", "duplicate"),
    ("hours malformed", _set("c.centres.0.opening_hours.mon", "9-17"), C, CH, "opening_hours.mon", "HH:MM-HH:MM"),
    ("hours reversed", _set("c.centres.0.opening_hours.mon", "17:00-09:00"), C, CH, "opening_hours.mon", "before closing"),
    ("hours impossible", _set("c.centres.0.opening_hours.sat", "25:00-26:00"), C, CH, "opening_hours.sat", "not a valid time"),
    ("hours not a string", _set("c.centres.0.opening_hours.mon", 9), C, CH, "opening_hours.mon", "must be a string"),
    ("hours bad weekday", _set("c.centres.0.opening_hours.monday", "09:00-17:00"), C, CH, "opening_hours.monday", "unknown weekday"),
    ("hours none", _set("c.centres.0.opening_hours", {}), C, CH, "opening_hours", "at least one weekday"),
    ("hours not a table", _set("c.centres.0.opening_hours", "09:00-17:00"), C, CH, "opening_hours", "table of weekdays"),
    ("serves unknown", _set("c.centres.1.serves_regions.1", "329999"), C, JS, "serves_regions[1]", 'unknown region "329999"'),
    ("serves duplicate", _set("c.centres.1.serves_regions.1", "320500"), C, JS, "serves_regions[1]", "duplicate"),
    ("centre unknown field", _set("c.centres.0.serves", []), C, CH, "serves", "unknown field"),
    # matters
    ("matter code missing", _set("m.matters.0.code", _DELETE), M, "matter #1", "code", "missing"),
    ("matter code bad", _set("m.matters.0.code", "a b"), M, 'matter "a b"', "code", "is not a code"),
    ("matter name empty", _set("m.matters.0.name_zh", ""), M, MA, "name_zh", "must not be empty"),
    ("department missing", _set("m.matters.0.department", _DELETE), M, MA, "department", "missing"),
    ("modes empty", _set("m.matters.0.service_modes", []), M, MA, "service_modes", "must not be empty"),
    ("mode unknown", _set("m.matters.0.service_modes.1", "by_post"), M, MA, "service_modes[1]", 'unknown value "by_post"'),
    ("mode duplicate", _set("m.matters.0.service_modes.1", "online_full"), M, MA, "service_modes[1]", "duplicate"),
    ("home region unknown", _set("m.matters.0.home_region", "329999"), M, MA, "home_region", 'unknown region "329999"'),
    ("home region unserved", _set("m.matters.0.home_region", "320000"), M, MA, "home_region", 'no centre serves region "320000"'),
    ("audience unknown", _set("m.matters.0.audience", "citizen"), M, MA, "audience", "unknown value"),
    ("theme type", _set("m.matters.0.theme", 3), M, MA, "theme", "must be a string"),
    ("days negative", _set("m.matters.0.promised_days", -1), M, MA, "promised_days", "between 0 and 365"),
    ("days huge", _set("m.matters.0.promised_days", 1000), M, MA, "promised_days", "between 0 and 365"),
    ("days a string", _set("m.matters.0.promised_days", "3"), M, MA, "promised_days", "must be an integer"),
    ("days a boolean", _set("m.matters.0.promised_days", True), M, MA, "promised_days", "must be an integer"),
    ("materials empty", _set("m.matters.0.materials", []), M, MA, "materials", "at least one material"),
    ("materials a table", _set("m.matters.0.materials", {}), M, MA, "materials", "must be an array"),
    ("material not a table", _set("m.matters.0.materials.0", "form"), M, MA, "materials[0]", "must be a table"),
    ("material kind duplicate", _set("m.matters.0.materials.0", _material("id_card_back")), M, MA, "materials[2].kind", 'duplicate material kind "id_card_back"'),
    ("material kind bad", _set("m.matters.0.materials.0.kind", "ID card"), M, MA, "materials[0].kind", "slug"),
    ("material kind empty", _set("m.matters.0.materials.0.kind", ""), M, MA, "materials[0].kind", "must not be empty"),
    ("material original type", _set("m.matters.0.materials.0.original", "yes"), M, MA, "materials[0].original", "true or false"),
    ("material required missing", _set("m.matters.0.materials.0.required", _DELETE), M, MA, "materials[0].required", "missing"),
    ("material unknown field", _set("m.matters.0.materials.0.copy", True), M, MA, "materials[0].copy", "unknown field"),
    ("id card front alone", _set("m.matters.0.materials.2", _material("photo")), M, MA, "materials", "lists id_card_front but not id_card_back"),
    ("matter unknown field", _set("m.matters.0.promise_days", 3), M, MA, "promise_days", "unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "source", "entry", "field", "problem"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD],
)
def test_bad_input_names_file_entry_and_field(
    mutate: Callable[[Docs], None],
    source: str,
    entry: str | None,
    field: str | None,
    problem: str,
) -> None:
    docs = (_centres(), _matters())
    mutate(docs)
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(copy.deepcopy(docs[0]), copy.deepcopy(docs[1]), C, M)
    err = caught.value
    prefix = ": ".join(
        p for p in (source, entry, f"field {field}" if field else None) if p is not None
    )
    assert err.message.startswith(prefix + ": "), err.message
    assert problem in err.message, err.message
    assert err.field == field
    assert err.code == "invalid_catalogue"


def test_error_message_and_payload_shape() -> None:
    m = _matters()
    m["matters"][0]["home_region"] = "329999"
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(_centres(), m, C, M)
    err = caught.value
    assert str(err) == (
        'matters.toml: matter "js-320500-company-setup": field home_region: unknown region "329999"'
    )
    assert isinstance(err, InvalidInput)
    assert err.to_payload() == {
        "error": {"code": "invalid_catalogue", "message": str(err), "field": "home_region"}
    }


# --- the file shell --------------------------------------------------------------------------------


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "centres.toml"
    bad.write_text('[[regions]]\ncode = "310000"\nname_zh = "上海市\n', encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(bad, None)
    message = str(caught.value)
    assert message.startswith(f"{bad}: line 3, column "), message
    assert "TOML syntax error" in message


def test_toml_error_at_end_of_file_names_a_line(tmp_path: Path) -> None:
    bad = tmp_path / "matters.toml"
    bad.write_text("[[matters]]\ncode = [\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(None, bad)
    assert str(caught.value).startswith(f"{bad}: line 3 (end of file): TOML syntax error")


def test_file_that_is_not_utf8_or_missing(tmp_path: Path) -> None:
    latin = tmp_path / "matters.toml"
    latin.write_bytes(b'[[matters]]\nname_zh = "\xc9"\n')
    with pytest.raises(CatalogueError, match=r"matters\.toml: line 2: not valid UTF-8"):
        load_catalogue(None, latin)
    with pytest.raises(CatalogueError, match=r"nope\.toml: cannot read file"):
        load_catalogue(tmp_path / "nope.toml", None)


def test_validation_errors_name_the_operator_file(tmp_path: Path) -> None:
    data = resources.files("window_server.data").joinpath("matters.toml").read_text("utf-8")
    own = tmp_path / "our-matters.toml"
    own.write_text(data.replace('home_region = "320600"', 'home_region = "320699"', 1), "utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(None, own)
    assert str(caught.value).startswith(f'{own}: matter "js-320600-')
    assert 'field home_region: unknown region "320699"' in str(caught.value)


def test_domain_module_imports_no_io() -> None:
    source = (ROOT / "window_server" / "domain" / "catalogue.py").read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    allowed = {"__future__", "dataclasses", "enum", "re", "typing", "window_server.domain.errors"}
    assert imported <= allowed, imported - allowed


def test_weekdays_are_monday_first() -> None:
    assert WEEKDAYS[0] == "mon" and WEEKDAYS[6] == "sun"
