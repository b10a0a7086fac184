"""Who may use a hall's pages (``can_use_hall``), and the demo hall staff accounts."""

from __future__ import annotations

import pytest

from window_server.domain.auth import Principal, Role, can_use_hall, demo_accounts, may_open
from window_server.runtime.catalogue import load_catalogue


@pytest.mark.parametrize(("role", "centre", "hall", "expected"), [
    (Role.HALL_STAFF, "sh-huangpu", "sh-huangpu", True),
    (Role.HALL_STAFF, "sh-huangpu", "sh-yangpu", False),
    (Role.TEAM_LEAD, "sh-huangpu", "sh-huangpu", True),
    (Role.MANAGER, "sh-huangpu", "sh-huangpu", True),
    (Role.MANAGER, "sh-huangpu", "js-nanjing", False),
    (Role.CHAIN_MANAGER, "", "js-nanjing", True),
    (Role.SPECIALIST, "sh-huangpu", "sh-huangpu", False),
    (Role.BOOTH, "sh-huangpu", "sh-huangpu", False),
    (Role.HALL_STAFF, "", "", False),
])
def test_who_may_use_a_hall(role: Role, centre: str, hall: str, expected: bool) -> None:
    assert can_use_hall(Principal(role, "x", centre), hall) is expected


def test_hall_staff_open_no_socket_namespace() -> None:
    assert not any(may_open(Role.HALL_STAFF, ns) for ns in ("/booth", "/device", "/agent", "/dashboard"))


def test_every_centre_with_a_demo_booth_has_a_demo_hall_staff_account() -> None:
    catalogue = load_catalogue(None, None)
    halls = {(u, c) for u, r, c, _n in demo_accounts(catalogue) if r is Role.HALL_STAFF}
    assert halls == {(f"hall-{c.id}", c.id) for c in catalogue.centres}  # seed_demo makes <centre>-01 for each
