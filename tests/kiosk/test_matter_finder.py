"""Finding the matter from the matter (pinyin initials, common names, English), the place asked
after only when the matter exists in several regions, and the live checklist rebuilt after a
reload — in real Chromium against the real server."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.screens import walk_to_consent
from window_server.appkeys import CATALOGUE
from window_server.domain.catalogue import CatalogueError, parse_catalogue
from window_server.runtime.catalogue import pinyin_keys

from .brief import PORTRAIT, Walk

# --- the catalogue: aliases (validated), pinyin and initials (served) ------------------------------


def test_pinyin_keys_of_chinese_text() -> None:
    assert pinyin_keys("企业设立登记") == ("qiyeshelidengji", "qysldj")
    assert pinyin_keys("住房公积金提取（购房）") == ("zhufanggongjijintiqugoufang", "zfgjjtqgf")
    assert pinyin_keys("新生儿出生“一件事”") == ("xinshengerchushengyijianshi", "xsecsyjs")
    assert pinyin_keys("business licence") is None


@pytest.mark.parametrize(("aliases", "problem"), [
    ("医保", "must be an array"),
    (["医保", "医保"], 'duplicate "医保"'),
    ([""], "must be a non-empty string"),
    (["长" * 41], "at most 40 characters"),
    ([f"名{i}" for i in range(21)], "at most 20 names"),
])
def test_bad_aliases_are_refused_with_the_matter_named(aliases: Any, problem: str) -> None:
    data = resources.files("window_server.data")
    centres = tomllib.loads(data.joinpath("centres.toml").read_text("utf-8"))
    matters = tomllib.loads(data.joinpath("matters.toml").read_text("utf-8"))
    matters["matters"][0]["aliases"] = aliases
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(centres, matters, "centres.toml", "matters.toml")
    assert 'matter "sh-310101-company-setup"' in str(err.value) and problem in str(err.value)


async def test_the_catalogue_serves_aliases_pinyin_and_initials(booth_account: Any) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{booth_account.url}/api/catalogue") as resp:
        body = await resp.json()
    setup = next(m for m in body["matters"] if m["name_zh"] == "企业设立登记")
    assert "营业执照" in setup["aliases"]
    assert setup["pinyin"][0] == "qiyeshelidengji" and setup["initials"][0] == "qysldj"
    assert "yyzz" in setup["initials"]  # 营业执照, an alias
    medical = next(m for m in body["matters"] if m["name_zh"] == "跨省异地就医备案")
    assert {"ksydjyba", "ybyd", "yb"} <= set(medical["initials"])
    assert len(medical["pinyin"]) == len(medical["initials"])


# --- finding the matter in Chromium ----------------------------------------------------------------


async def names(page: Page) -> list[str]:
    return [n.strip() for n in await page.locator("#matter-list .matter .matter-title").all_inner_texts()]


async def search(page: Page, query: str) -> list[str]:
    await page.fill("#matter-search", query)
    await page.wait_for_selector("#matter-heading")
    return await names(page)


async def backgrounds(page: Page, selector: str) -> set[str]:
    return set(await page.eval_on_selector_all(selector, "els => els.map(e => getComputedStyle(e).backgroundColor)"))


async def test_by_pinyin_initials_then_the_place_then_priority_zh(browser: Browser, booth_account: Any,
                                                                   tmp_path: Path) -> None:
    page = await browser.new_page(viewport=PORTRAIT)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await page.goto(f"{booth_account.url}/booth/{booth_account.id}?token={booth_account.token}")
        await page.wait_for_selector("body[data-screen='welcome']")
        await page.click("#btn-start")
        await page.wait_for_selector("body[data-screen='matter']")
        assert (await page.text_content("#step") or "").strip() == "第 1 步"
        # Nothing is chosen for the citizen: no category pressed.
        assert await page.locator("#matter-categories .category[aria-pressed='true']").count() == 0
        assert {"社保", "医保·看病", "户口·身份证", "企业开办"} <= set(
            await page.locator("#matter-categories .category").all_inner_texts())

        # What citizens type: initials, full pinyin, common names, English.
        assert (await search(page, "qysl"))[0] == "企业设立登记"
        assert (await search(page, "ybyd"))[0] == "跨省异地就医备案"
        assert (await search(page, "ksydjyba"))[0] == "跨省异地就医备案"
        assert "跨省异地就医备案" in await search(page, "医保")
        assert "跨省异地就医备案" in await search(page, "yibao")
        assert {"企业设立登记", "个体工商户设立登记"} <= set(await search(page, "营业执照"))
        assert (await search(page, "社保转移"))[0] == "城镇职工基本养老保险关系转移接续"
        assert {"住房公积金异地转移接续", "住房公积金提取（购房）"} <= set(await search(page, "gjj"))
        assert "城镇职工基本养老保险关系转移接续" in await search(page, "pension")
        assert await search(page, "xyz不存在") == []
        await page.wait_for_selector("#matter-list .empty")

        # A matter of 12 regions shows once; the place is asked after it, grouped by province.
        await search(page, "qysl")
        assert (await names(page)).count("企业设立登记") == 1
        await page.screenshot(path=str(tmp_path / "search.png"))
        await page.click("#matter-list [data-name='企业设立登记']")
        await page.wait_for_selector("body[data-screen='place']")
        assert (await page.text_content("#step") or "").strip() == "第 2 步，共 4 步"
        assert await page.locator("#place-list .place").count() == 12
        assert await page.locator("#place-list h2").all_inner_texts() == ["上海市", "江苏省", "浙江省", "安徽省"]
        nanjing = page.locator("#place-list [data-region='320100']")
        assert (await nanjing.locator(".tile-title").inner_text()).strip() == "江苏南京的"
        assert "南京市市场监督管理局" in await nanjing.inner_text()
        assert (await page.locator("#place-list [data-region='310101'] .tile-title").inner_text()).strip() == "上海黄浦区的"
        assert (await page.locator("#place-list [data-region='320509'] .tile-title").inner_text()).strip() \
            == "江苏苏州吴江区的"
        await page.screenshot(path=str(tmp_path / "place.png"))
        await nanjing.click()

        # Priority: the matter's mode and department; no answer pre-highlighted.
        await page.wait_for_selector("body[data-screen='priority']")
        assert (await page.text_content("#step") or "").strip() == "第 3 步，共 4 步"
        card = await page.inner_text("#priority-chosen")
        assert "企业设立登记" in card and "全程网办 · 异地代收代办" in card and "南京市市场监督管理局" in card
        assert len(await backgrounds(page, "#priority-list .choice")) == 1
        await page.click("#priority-back")  # back to the place, then forward again
        await page.wait_for_selector("body[data-screen='place']")
        await page.click("#place-list [data-region='320100']")
        await page.click("[data-priority='elderly']")

        await page.wait_for_selector("body[data-screen='consent']")
        assert (await page.text_content("#step") or "").strip() == "第 4 步，共 4 步"
        summary = await page.inner_text("#consent-summary")
        assert "企业设立登记" in summary and "江苏南京的" in summary and "老年人" in summary
        assert (await page.inner_text("#consent-modes")).strip() == "全程网办 · 异地代收代办"
        assert (await page.inner_text("#consent-department")).strip() == "南京市市场监督管理局"
        assert len(await backgrounds(page, "#consent-yes, #consent-no")) == 1

        # A matter of one region: no place to ask; three steps.
        await page.click("#btn-home")
        await page.click("#btn-start")
        await search(page, "sfz")  # 身份证, an alias of 居民身份证换领
        await page.click("#matter-list [data-name='居民身份证换领']")
        await page.wait_for_selector("body[data-screen='priority']")
        assert (await page.text_content("#step") or "").strip() == "第 2 步，共 3 步"
        await page.click("#priority-back")
        await page.wait_for_selector("body[data-screen='matter']")
        assert (await page.text_content("#step") or "").strip() == "第 1 步，共 3 步"
        # A category tile shows its matters; touched again, all of them.
        await page.fill("#matter-search", "")
        await page.click("#matter-categories [data-theme='医疗']")
        assert set(await names(page)) == {"跨省异地就医备案", "异地就医医疗费用手工报销"}
        await page.click("#matter-categories [data-theme='医疗']")
        assert len(await names(page)) == len({m.name_zh for m in booth_account.srv.app[CATALOGUE].matters})
        assert not errors, errors
    finally:
        await page.close()


async def test_by_pinyin_initials_in_english(browser: Browser, booth_account: Any) -> None:
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        await page.goto(f"{booth_account.url}/booth/{booth_account.id}?token={booth_account.token}")
        await page.wait_for_selector("body[data-screen='welcome']")
        await page.click("#btn-lang")
        await page.click("#btn-start")
        assert (await page.text_content("#step") or "").strip() == "Step 1"
        assert (await search(page, "qysl"))[0] == "Company set-up registration"
        assert (await search(page, "medical insurance"))[0] == "Filing for medical treatment in another province"
        await search(page, "qysl")
        await page.click("#matter-list [data-name='企业设立登记']")
        await page.wait_for_selector("body[data-screen='place']")
        assert (await page.inner_text("#place-title")).strip() == "Which place's office handles it for you?"
        assert (await page.locator("#place-list [data-region='320100'] .tile-title").inner_text()).strip() \
            == "Nanjing, Jiangsu"
        assert (await page.text_content("#step") or "").strip() == "Step 2 of 4"
        await page.click("#place-list [data-region='320100']")
        await page.wait_for_selector("body[data-screen='priority']")
        assert "Fully online · Handed in here, handled there" in await page.inner_text("#priority-chosen")
        await page.click("[data-priority='']")
        await page.wait_for_selector("body[data-screen='consent']")
        assert (await page.text_content("#step") or "").strip() == "Step 4 of 4"
        assert "Company set-up registration · Nanjing, Jiangsu" in await page.inner_text("#consent-summary")
    finally:
        await page.close()


# --- the checklist ------------------------------------------------------------------------------------


async def test_the_checklist_follows_the_stills_and_comes_back_after_a_reload(
        browser: Browser, booth_account: Any, demo: dict[str, str], clients: Any, still: bytes,
        tmp_path: Path) -> None:
    catalogue = booth_account.srv.app[CATALOGUE]
    matter = catalogue.matter(demo["matter"])
    kinds = [m.kind for m in matter.materials]
    page = await browser.new_page(viewport=PORTRAIT)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    w = Walk(page, booth_account.url, booth_account, demo, catalogue, clients, still=still)
    try:
        await walk_to_consent(page, w.url, demo["region"], demo["matter"])
        await page.click("#consent-yes")
        await w.screen("waiting")
        await w.serve()
        # Every material of the matter, required first, each needed until a still comes.
        rows = page.locator("#materials li")
        await page.wait_for_selector("#materials li.needed")
        assert await rows.count() == len(kinds)
        assert await page.locator("#materials li.needed").count() == len(kinds)
        first = kinds[0]

        # A still, rejected by the specialist: to redo, with the plain reason.
        bad = await w.upload(first)
        await page.wait_for_selector(f"#materials li[data-material='{bad}']")
        verdict = await w.verdict(bad, "rejected", "glare")
        await page.wait_for_selector(f"#materials li[data-material='{bad}'].bad .advice:text-is('{verdict['advice_zh']}')")
        # The booth's list says the same words (what a reloaded page shows).
        async with aiohttp.ClientSession() as http, http.get(
                f"{w.base}/api/sessions/{w.sid}/materials",
                headers={"Authorization": f"Bearer {booth_account.token}", "X-Booth": booth_account.id}) as resp:
            listed = (await resp.json())["materials"]
        assert [(m["id"], m["advice_zh"], m["advice_en"]) for m in listed] == [
            (bad, verdict["advice_zh"], verdict["advice_en"])]
        # Taken again and accepted: the row turns green, no red row stays behind.
        good = await w.upload(first)
        await page.wait_for_selector(f"#materials li[data-material='{good}']")
        await w.verdict(good, "accepted")
        await page.wait_for_selector(f"#materials li[data-material='{good}'].good")
        assert await page.locator("#materials li.bad").count() == 0
        assert await rows.count() == len(kinds)
        # A still of another kind is listed below the matter's materials.
        other = await w.upload("other")
        await page.wait_for_selector(f"#materials-other li[data-material='{other}']")
        await page.screenshot(path=str(tmp_path / "checklist.png"))

        # After a reload the same list comes back from the server.
        await page.reload()
        await w.screen("service")
        await page.wait_for_selector(f"#materials li[data-material='{good}'].good")
        assert await rows.count() == len(kinds)
        assert await page.locator("#materials li.bad").count() == 0
        assert await page.locator("#materials li.needed").count() == len(kinds) - 1
        await page.wait_for_selector(f"#materials-other li[data-material='{other}']")
        assert not await page.locator("#materials-other-title").is_hidden()
        await page.screenshot(path=str(tmp_path / "checklist-reloaded.png"))
        assert not errors, errors
    finally:
        await page.close()
