"""The pure rules of issue 18's outcomes: masks, the missing list, the status page's words."""

from __future__ import annotations

import pytest

from window_server.domain.catalogue import Catalogue
from window_server.domain.errors import InvalidInput
from window_server.domain.outcomes import (
    allowed_hows,
    delivery,
    masked_delivery,
    missing_items,
    public_status,
)
from window_server.domain.privacy import mask_address, mask_name, mask_phone


@pytest.mark.parametrize(("address", "masked"), [
    ("上海市黄浦区南京东路100号3室", "上海市黄浦区****"),
    ("江苏省南通市崇川区人民中路188号", "江苏省南通市崇川区****"),
    ("浙江省杭州市西湖区文三路90号", "浙江省杭州市西湖区****"),
    ("某某小区3号楼", "****"),  # no province or city first: nothing kept
    ("12 Nanjing Road, Huangpu District, Shanghai, China", "****, Shanghai, China"),
    ("", ""),
])
def test_an_address_keeps_its_district_at_most(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_names_and_phones_keep_a_little() -> None:
    assert (mask_name("张三"), mask_name("欧阳娜娜"), mask_name("李"), mask_name("")) == ("张*", "欧***", "李*", "")
    assert (mask_phone("13812345678"), mask_phone("021-6321 5678"), mask_phone("12345")) == (
        "138****5678", "021****5678", "*****")


def test_the_missing_list_is_checked_against_the_matter(catalogue: Catalogue) -> None:
    online = next(m for m in catalogue.matters if any(not x.original for x in m.materials)
                  and "online_full" in [s.value for s in m.service_modes])
    copy = next(x for x in online.materials if not x.original)
    original = next((x for x in online.materials if x.original), None)
    assert [h.value for h in allowed_hows(online, copy)] == ["upload", "post", "visit"]
    assert missing_items(online, [copy.kind]) == [{"kind": copy.kind, "how": "upload"}]
    assert missing_items(online, [{"kind": copy.kind, "how": "visit"}]) == [{"kind": copy.kind, "how": "visit"}]
    if original is not None:
        assert missing_items(online, [original.kind]) == [{"kind": original.kind, "how": "visit"}]
        with pytest.raises(InvalidInput):
            missing_items(online, [{"kind": original.kind, "how": "upload"}])
    for bad in (["passport"], [{"kind": copy.kind, "how": "fax"}], [copy.kind, copy.kind], "x", [3]):
        with pytest.raises(InvalidInput) as exc:
            missing_items(online, bad)
        assert exc.value.field == "missing"
    assert missing_items(online, None) == [] and missing_items(online, []) == []


def test_a_delivery_address_is_checked_and_masked() -> None:
    full = delivery(" 张三 ", "138 1234 5678", "上海市黄浦区南京东路100号")
    assert full == {"recipient": "张三", "phone": "138 1234 5678", "address": "上海市黄浦区南京东路100号"}
    assert masked_delivery(full) == {"recipient": "张*", "phone": "138****5678", "address": "上海市黄浦区****"}
    for args, field in ((("", "13812345678", "上海市黄浦区南京东路100号"), "recipient"),
                        (("张三", "call me", "上海市黄浦区南京东路100号"), "phone"),
                        (("张三", "12", "上海市黄浦区南京东路100号"), "phone"),
                        (("张三", "13812345678", "上海"), "address")):
        with pytest.raises(InvalidInput) as exc:
            delivery(*args)
        assert exc.value.field == field


def test_the_status_page_reads_no_personal_field(catalogue: Catalogue) -> None:
    matter = catalogue.matters[0]
    session = {"state": "rated", "matter": matter.code, "outcome": "intake", "missing": "", "created": "1",
               "ended": "2", "ticket": "A001", "agent": "spec-x", "delivery": '{"address": "上海市黄浦区****"}',
               "case_number": "C-1", "booth": "b-1"}
    out = public_status(session, matter)
    text = repr(out)
    for secret in ("A001", "spec-x", "上海市黄浦区", "C-1", "b-1"):
        assert secret not in text
    assert out["stage"] == "done" and str(matter.promised_days) in out["next_steps"][0]["zh"]
    assert public_status({"state": "completed", "outcome": ""}, None)["state_words"]["zh"] == "通话已结束"
    assert public_status({"state": "waiting"}, matter)["stage"] == "waiting"
    assert public_status({"state": "interrupted"}, matter)["stage"] == "unfinished"
