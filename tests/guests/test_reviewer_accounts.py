"""Reviewer accounts (issue 19): a region and a department, no centre; the demo reviewers and their banner line."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from window_server.accounts.store import AccountStore, DemoLogins
from window_server.cli import demo_banner
from window_server.domain.auth import Role, demo_reviewers
from window_server.domain.errors import InvalidInput
from window_server.runtime.catalogue import load_catalogue

CATALOGUE = load_catalogue(None, None)


@pytest.mark.parametrize(("role", "centre", "region", "department", "field"), [
    (Role.REVIEWER, "sh-huangpu", "310101", "黄浦区市场监督管理局", "centre"),  # tied to no centre
    (Role.REVIEWER, "", "", "黄浦区市场监督管理局", "region"),
    (Role.REVIEWER, "", "999999", "黄浦区市场监督管理局", "region"),
    (Role.REVIEWER, "", "310101", "", "department"),
    (Role.SPECIALIST, "sh-huangpu", "310101", "", "region"),  # only reviewers have one
])
async def test_a_reviewer_needs_a_region_and_a_department(redis: Redis, role: Role, centre: str, region: str,
                                                          department: str, field: str) -> None:
    store = AccountStore(redis, CATALOGUE)  # validation does no I/O
    with pytest.raises(InvalidInput) as err:
        store.validate_user("rev-x", role, centre, region=region, department=department)
    assert err.value.field == field


async def test_a_reviewer_is_stored_with_region_and_department(redis: Redis) -> None:
    store = AccountStore(redis, CATALOGUE)
    user = store.validate_user("rev-y", "reviewer", "", name="李审批", region="320500", department="苏州市行政审批局")
    await store._insert_user(user, "$argon2id$not-a-real-hash")
    got = await store.get_user("rev-y")
    assert (got.role, got.centre, got.region, got.department) == (Role.REVIEWER, "", "320500", "苏州市行政审批局")
    assert got.public() == {"username": "rev-y", "role": "reviewer", "centre": "", "langs": ["zh"], "name": "李审批",
                            "staff_no": "", "region": "320500", "department": "苏州市行政审批局"}


def test_demo_reviewers_one_per_region_with_matters_and_the_banner() -> None:
    plan = demo_reviewers(CATALOGUE)
    regions = {m.home_region for m in CATALOGUE.matters}
    assert {r for _u, r, _d, _n in plan} == regions and all(u == f"review-{r}" for u, r, _d, _n in plan)
    assert ("review-310101", "310101", "黄浦区市场监督管理局") in [(u, r, d) for u, r, d, _n in plan]
    demo = DemoLogins("pw", tuple((u, Role.REVIEWER, "") for u, _r, _d, _n in plan), ())
    lines = demo_banner(demo)
    assert any(line.strip().startswith("reviewers:") and "review-310000" in line for line in lines)
