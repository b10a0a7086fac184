"""Fictional people and well-formed numbers for the synthetic documents (``synthetic_documents``).

``make_identity`` draws a resident whose ID number carries a GB 11643 check character (wrong on
purpose with ``valid=False``) and whose card's validity fits the law's periods for the age at
issue; ``credit_code`` a 统一社会信用代码 with its GB 32100 check character; ``luhn_digit`` a bank
card number's check digit. Every name, address and number is made up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from window_server.domain.idcard import LONG_TERM, issue_years
from window_server.domain.privacy import id_check_char

TODAY = date(2026, 12, 3)
"""The default 'today' of generated identities (the accuracy set's fixed clock)."""

@dataclass(frozen=True)
class Identity:
    """A fictional resident as printed on both sides of an ID card."""

    name: str
    sex: str  # "男" / "女", agrees with the number's 17th digit
    nation: str  # 民族, e.g. "汉"
    birth: date
    address: str
    number: str  # 18 characters
    issuer: str  # 签发机关
    valid_from: date
    valid_until: date | str  # a date or "长期"


# Region code, place as written in an address, issuing police branch, streets.
REGIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("110101", "北京市东城区", "北京市公安局东城分局", ("东四北大街", "和平里西街", "交道口南大街")),
    ("110105", "北京市朝阳区", "北京市公安局朝阳分局", ("建国路", "朝阳北路", "望京街")),
    ("310101", "上海市黄浦区", "上海市公安局黄浦分局", ("南京东路", "淮海中路", "复兴东路")),
    ("310104", "上海市徐汇区", "上海市公安局徐汇分局", ("漕溪北路", "天钥桥路", "宛平南路")),
    ("310115", "上海市浦东新区", "上海市公安局浦东分局", ("张杨路", "世纪大道", "锦绣路")),
    ("320102", "江苏省南京市玄武区", "南京市公安局玄武分局", ("中山路", "珠江路", "北京东路")),
    ("320506", "江苏省苏州市吴中区", "苏州市公安局吴中分局", ("东吴北路", "宝带西路", "越溪路")),
    ("330102", "浙江省杭州市上城区", "杭州市公安局上城分局", ("解放路", "望江路", "清泰街")),
    ("330106", "浙江省杭州市西湖区", "杭州市公安局西湖分局", ("文三路", "天目山路", "古墩路")),
    ("340104", "安徽省合肥市蜀山区", "合肥市公安局蜀山分局", ("长江西路", "黄山路", "潜山路")),
    ("420106", "湖北省武汉市武昌区", "武汉市公安局武昌分局", ("中北路", "武珞路", "和平大道")),
    ("440106", "广东省广州市天河区", "广州市公安局天河分局", ("天河路", "黄埔大道", "体育西路")),
    ("440305", "广东省深圳市南山区", "深圳市公安局南山分局", ("科技园路", "南海大道", "桃园路")),
    ("510107", "四川省成都市武侯区", "成都市公安局武侯分局", ("武侯祠大街", "人民南路", "科华北路")),
)

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
            "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严")
_GIVEN_M = "伟强磊军洋勇杰涛明超华平刚辉鹏健波斌宇浩凯俊峰建国志文博晨晓东亮海林毅旭鑫睿哲"
_GIVEN_F = "芳娜敏静丽艳娟霞秀英玲燕萍红琳雪婷慧颖倩洁蕾欣怡悦琪晶佳璐瑶梅兰月岚雯诗"
_NATIONS = ("汉",) * 16 + ("回", "满", "壮", "蒙古", "苗", "土家", "朝鲜", "维吾尔")


def make_identity(rng: np.random.Generator, *, valid: bool = True, expired: bool = False,
                  long_term: bool = False, today: date = TODAY) -> Identity:
    """Return a random plausible fictional resident whose card's validity fits the law's periods.

    ``valid=False``: the number's check character is wrong; ``expired``: the card ran out before
    ``today``; ``long_term``: issued at 46 or older, valid 长期. Otherwise valid on ``today``.
    """
    if long_term and expired:
        raise ValueError("a 长期 card never expires")
    code, place, issuer, streets = REGIONS[int(rng.integers(len(REGIONS)))]
    sex = "男" if rng.random() < 0.5 else "女"
    name = person_name(rng, sex)
    nation = str(_NATIONS[int(rng.integers(len(_NATIONS)))])
    if long_term:
        valid_from = today - timedelta(days=int(rng.integers(30, 15 * 365)))
        age = int(rng.integers(46, 72))
        years: int | None = None
    else:
        years = int(rng.choice([5, 10, 20], p=[0.1, 0.4, 0.5]))
        age = int(rng.integers(*{5: (6, 16), 10: (16, 26), 20: (26, 46)}[years]))
        if expired:
            until = today - timedelta(days=int(rng.integers(1, 5 * 365)))
            valid_from = _add_years(until, -years)
        else:
            valid_from = today - timedelta(days=int(rng.integers(0, years * 365 - 1)))
    while True:  # a birth date that makes the holder exactly `age` on the issue day
        birth = _add_years(valid_from, -age) - timedelta(days=int(rng.integers(0, 365)))
        if issue_years(birth, valid_from) == years and _age(birth, valid_from) == age:
            break
    valid_until: date | str = LONG_TERM if years is None else _add_years(valid_from, years)
    seq = int(rng.integers(0, 500)) * 2 + (1 if sex == "男" else 0)  # odd: 男
    first17 = f"{code}{birth:%Y%m%d}{seq:03d}"
    check = id_check_char(first17)
    if not valid:
        check = str(rng.choice([c for c in "0123456789X" if c != check]))
    street = streets[int(rng.integers(len(streets)))]
    if place.startswith("上海"):
        address = f"{place}{street}{int(rng.integers(1, 900))}弄{int(rng.integers(1, 40))}号{int(rng.integers(1, 7))}0{int(rng.integers(1, 5))}室"
    else:
        address = (f"{place}{street}{int(rng.integers(1, 400))}号{int(rng.integers(1, 20))}栋"
                   f"{int(rng.integers(1, 3))}单元{int(rng.integers(1, 30))}0{int(rng.integers(1, 5))}室")
    return Identity(name, sex, nation, birth, address, first17 + check, issuer, valid_from, valid_until)


def person_name(rng: np.random.Generator, sex: str) -> str:
    given = _GIVEN_M if sex == "男" else _GIVEN_F
    n = 1 if rng.random() < 0.35 else 2
    return str(SURNAMES[int(rng.integers(len(SURNAMES)))]) + "".join(
        given[int(i)] for i in rng.integers(0, len(given), n))


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February: the card runs to 1 March (as domain.idcard.sides_belong)
        return date(d.year + years, 3, 1)


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def mobile_number(rng: np.random.Generator) -> str:
    return "1" + str(rng.choice(["38", "39", "58", "86", "37", "52"])) + "".join(
        str(d) for d in rng.integers(0, 10, 8))


_USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_W = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code(rng: np.random.Generator, region: str) -> str:
    """A well-formed 统一社会信用代码 (GB 32100): 91 + region + org code (GB 11714) + check."""
    body = "MA" + "".join(_USCC[int(i)] for i in rng.integers(0, len(_USCC), 6))
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, _ORG_W, strict=True))
    c9 = 11 - total % 11
    org = body + ("X" if c9 == 10 else "0" if c9 == 11 else str(c9))
    first17 = "91" + region + org
    check = (31 - sum(_USCC.index(c) * w for c, w in zip(first17, _USCC_W, strict=True)) % 31) % 31
    return first17 + _USCC[check]


def luhn_digit(partial: str) -> str:
    """The Luhn check digit to append to ``partial`` (ISO/IEC 7812)."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)
