"""Routing: the tables and pure helpers around the policy of who is offered which waiting session.

The policy's one home is the Redis functions (``window_server/queue/lua/routing.lua``): pairing has to
be atomic with the writes it causes. This module holds what Python hands them (lanes, tiers,
the score layout) and the pure helpers production code needs beside them (pools at sign-in, the
wait estimate). The plain model of the policy is a test oracle, ``tests/oracle/routing.py``,
which a differential test drives beside the real queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Tier(StrEnum):
    """How a specialist's centre relates to a home region."""

    OWN = "own"  # the centre is located inside the region
    PARTNER = "partner"  # the centre is authorised for the region, elsewhere in the chain


class Lane(IntEnum):
    """Queue lanes, served in this order."""

    RETURNED = 0  # back in the queue because its specialist was lost
    PRIORITY = 1  # elderly, disabled, pregnant
    NORMAL = 2


#: One lane's span of scores: larger than any epoch millisecond before the year 2286.
LANE_SPAN = 10**13


@dataclass(frozen=True)
class PoolEntry:
    region: str
    tier: Tier


def region_prefix(region: str) -> str:
    """Return the significant prefix of a GB/T 2260 code: 320500 -> 3205, 310000 -> 31."""
    code = region
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def region_contains(region: str, code: str) -> bool:
    """Whether the administrative area ``code`` lies inside (or is) ``region``."""
    return code.startswith(region_prefix(region))


def agent_pool(centre_region: str, serves_regions: tuple[str, ...] | list[str]) -> tuple[PoolEntry, ...]:
    """The (home region, tier) pairs a specialist of a centre may serve."""
    return tuple(
        PoolEntry(r, Tier.OWN if region_contains(r, centre_region) else Tier.PARTNER)
        for r in sorted(set(serves_regions))
    )


def estimate_wait_s(aht_s: float, ahead: int, eligible: int) -> float | None:
    """Recent average handling time x sessions ahead / eligible specialists; None if none."""
    if eligible <= 0:
        return None
    return aht_s * ahead / eligible
