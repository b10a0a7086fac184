"""What the simulator models: its configuration, the shares and distributions, the citizens'
records and the manager's figures computed from them. Pure: no I/O, times are passed in.

Durations of the model (patience, handling, thinking, wrap-up, the arrival process) are in
*simulated* seconds; the clients divide them by ``speed`` to get wall-clock seconds. Waits are
observed in wall-clock seconds and reported multiplied by ``speed``, so a run at speed 10 reads
like the same run at speed 1 (the server's own timers, such as the 20 s offer timeout, are not
compressed: docs/simulate.md).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEMO_PASSWORD = "demo1234"  # the demo chain's published password (window_server.accounts.store)


@dataclass(frozen=True)
class Shares:
    """The behaviour mix. Shares are fractions (0..1); durations simulated seconds."""

    # citizens
    person_share: float = 0.65
    """of arrivals asking a personal matter (个人办事); the rest a company matter (法人办事)."""
    priority: tuple[tuple[str, float], ...] = (("elderly", 0.08), ("disabled", 0.02), ("pregnant", 0.01))
    """the priority lane's share per reason (docs/protocol.md request_service)."""
    patience_mean_s: float = 300.0
    """patience is exponential with this mean (Erlang-A's usual assumption): then the citizen leaves."""
    hang_up: float = 0.10
    """of answered citizens end the call themselves (结束通话) before the specialist completes."""
    rate: float = 0.65
    """of completed sessions are rated (好差评)."""
    levels: tuple[float, float, float, float, float] = (0.03, 0.03, 0.06, 0.16, 0.72)
    """the rating's level 1..5 (非常不满意 … 非常满意)."""
    rate_delay_s: tuple[float, float] = (3.0, 15.0)
    # specialists
    accept: float = 0.90
    decline: float = 0.05
    """the rest of offers (1 - accept - decline) are missed: left to run out (RW_OFFER_TIMEOUT_SECONDS)."""
    think_s: tuple[float, float] = (2.0, 8.0)
    """from the offer ringing to the accept or decline, uniform."""
    handle_median_s: float = 360.0
    handle_sigma: float = 0.6
    """handling time is lognormal: median 6 min, sigma 0.6 (mean ≈ 7.2 min)."""
    transfer: float = 0.06
    """of accepted sessions are transferred to another centre (warm or cold) part-way through."""
    warm: float = 0.7
    outcomes: tuple[tuple[str, float], ...] = (("consultation", 0.6), ("needs_supplement", 0.3),
                                               ("not_eligible", 0.1))
    """the completion's outcome (intake needs an identity check and postal delivery an address: not
    simulated, as they need the 高拍仪's stills)."""
    wrap_median_s: float = 20.0
    """wrap-up (lognormal, sigma 0.5) before the specialist is ready again (立即就绪)."""
    away_break_s: float = 60.0
    """a specialist set to away (two missed offers in a row) comes back after this."""


DEFAULT_SHARES = Shares()
GENTLE_PER_HOUR = 60.0
"""``--simulate``'s rate: a few sessions a minute against the demo, so the dashboards move."""


@dataclass(frozen=True)
class SimConfig:
    """One simulation run (contract C3). ``minutes`` is simulated time (``math.inf``: until stopped)."""

    base: str = "http://127.0.0.1:8080"
    booths: int = 4
    specialists: int = 4
    per_hour: float = 60.0
    minutes: float = 5.0
    seed: int = 1
    ca_file: Path | None = None
    speed: float = 1.0
    verify: bool = False
    """after the run, read the server's session export and count acknowledged writes not found (``lost``)."""
    drain_s: float = 60.0
    """wall seconds after the arrivals stop for open sessions to end; then the rest is cleared."""
    booth_accounts: tuple[tuple[str, str], ...] | None = None
    """(booth id, booth token); None: the demo chain's booths (``<centre>-01``, token ``demo-<booth>``)."""
    specialist_accounts: tuple[tuple[str, str], ...] | None = None
    """(username, password); None: the demo chain's specialists (``spec-<centre>``, the demo password)."""
    manager: tuple[str, str] | None = ("chain-manager", DEMO_PASSWORD)
    """a login that reads the dashboard (thresholds, the server's figures, the export); None: none."""
    sl_seconds: float | None = None
    """T of the service level; None: the server's (dashboard meta), else 60 s."""
    shares: Shares = DEFAULT_SHARES
    connect_concurrency: int = 50
    ack_timeout_s: float = 15.0

    def problems(self) -> list[str]:
        """What is wrong with this configuration, in words (empty: nothing)."""
        out = []
        if not self.base.startswith(("http://", "https://")):
            out.append(f"--base must start with http:// or https://, got {self.base!r}")
        if self.booths < 1:
            out.append("--booths must be at least 1")
        if self.specialists < 0:
            out.append("--specialists must not be negative")
        if not (self.per_hour > 0 and math.isfinite(self.per_hour)):
            out.append("--per-hour must be a positive number")
        if not self.minutes > 0:
            out.append("--minutes must be positive")
        if not (self.speed > 0 and math.isfinite(self.speed)):
            out.append("--speed must be a positive number")
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            out.append(f"--ca-file {self.ca_file}: no such file")
        return out


# --- draws -----------------------------------------------------------------------------------


def weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...], rest: str = "") -> str:
    """One name of ``pairs`` by its weight; ``rest`` for the remainder below 1."""
    x = rng.random()
    for name, w in pairs:
        if x < w:
            return name
        x -= w
    return rest


def interarrival_s(rng: random.Random, per_hour: float) -> float:
    """Simulated seconds to the next arrival of a Poisson process of ``per_hour``."""
    return rng.expovariate(per_hour / 3600.0)


def patience_s(rng: random.Random, shares: Shares) -> float:
    return rng.expovariate(1.0 / shares.patience_mean_s)


def handling_s(rng: random.Random, shares: Shares) -> float:
    return rng.lognormvariate(math.log(shares.handle_median_s), shares.handle_sigma)


def wrap_s(rng: random.Random, shares: Shares) -> float:
    return rng.lognormvariate(math.log(shares.wrap_median_s), 0.5)


def offer_choice(rng: random.Random, shares: Shares) -> str:
    """``accept``, ``decline`` or ``miss``."""
    return weighted(rng, (("accept", shares.accept), ("decline", shares.decline)), "miss")


def rating_level(rng: random.Random, shares: Shares) -> int:
    return int(weighted(rng, tuple((str(i + 1), w) for i, w in enumerate(shares.levels)), "5"))


# --- what was seen ------------------------------------------------------------------------------


@dataclass
class Citizen:
    """One arrival at a booth, as the simulator saw it (wall-clock ``time.monotonic`` seconds)."""

    booth: str
    matter: str
    priority: str
    arrived: float
    requested: float | None = None
    """request_service sent (the ticket's wait starts here)."""
    sid: str = ""
    answered: float | None = None
    """the booth saw the first accept."""
    left: float | None = None
    """the citizen left the queue (an abandon) — acknowledged."""
    ended: float | None = None
    end: str = ""
    """complete, hang_up, or what else ended it (no_show, interrupted, cleared)."""
    outcome: str = ""
    transferred: bool = False
    rated: int = 0
    """the level, once the rating was acknowledged."""
    acked: set[str] = field(default_factory=set)
    """acknowledged writes: request, leave, complete, hang_up, rate (for ``verify``)."""


@dataclass
class Summary:
    """The run's figures (contract C3). Times in simulated seconds, acks in wall-clock ms."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    completed: int = 0
    transferred: int = 0
    rated: int = 0
    sl: float | None = None
    asa_s: float | None = None
    aht_s: float | None = None
    abandonment: float | None = None
    acks: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    # beyond the contract
    arrivals: int = 0
    """citizens who came to a booth (``offered`` counts those who got a ticket)."""
    waiting: int = 0
    """tickets still waiting (not answered, not left) when the figures were taken."""
    at_booth: int = 0
    """citizens still in line at a busy booth, without a ticket yet (one open session per booth)."""
    refused: int = 0
    """citizens whose ``request_service`` was refused (the code is in ``errors``)."""
    short_abandons: int = 0
    declined: int = 0
    missed: int = 0
    hung_up: int = 0
    rating_levels: dict[int, int] = field(default_factory=dict)
    sl_seconds: float = 60.0
    speed: float = 1.0
    wall_s: float = 0.0
    server: dict[str, Any] = field(default_factory=dict)
    """the server's own figures for comparison (dashboard KPIs), when a manager login was given."""
    verified: int = 0
    """acknowledged writes checked against the server's export (``verify``)."""

    def line(self) -> str:
        """One line for the live display."""
        return (f"offered {self.offered} answered {self.answered} abandoned {self.abandoned} waiting {self.waiting} "
                f"completed {self.completed} transferred {self.transferred} rated {self.rated} | "
                f"SL {fmt_pct(self.sl)} ASA {fmt_s(self.asa_s)} AHT {fmt_s(self.aht_s)} "
                f"abandonment {fmt_pct(self.abandonment)} | acks {len(self.acks)} p99 {fmt_ms(pct99(self.acks))} "
                f"errors {sum(self.errors.values())}")


def fmt_pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f}%"


def fmt_s(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f} s"


def fmt_ms(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.0f} ms"


def pct99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def figures(citizens: list[Citizen], *, speed: float, sl_seconds: float,
            short_s: float, counts: Counter[str] | None = None) -> Summary:
    """The manager's figures from what the simulator saw (docs/metrics.md's definitions).

    SL = answered within T / (answered + abandoned − short abandons); ASA = mean wait of the
    answered; abandonment = abandoned / tickets; AHT = mean of first accept → completion or hang-up
    as the booth saw them (talk time: the server's AHT runs on to the end of the wrap-up).
    """
    s = Summary(speed=speed, sl_seconds=sl_seconds, arrivals=len(citizens))
    waits: list[float] = []
    handled: list[float] = []
    within = 0
    for c in citizens:
        if c.requested is None or not c.sid:
            s.at_booth += c.requested is None and c.ended is None
            s.refused += c.end.startswith("refused:")
            continue
        s.offered += 1
        if c.answered is not None:
            s.answered += 1
            wait = (c.answered - c.requested) * speed
            waits.append(wait)
            within += wait <= sl_seconds
        elif c.left is not None:
            s.abandoned += 1
            s.short_abandons += (c.left - c.requested) * speed <= short_s
        elif c.ended is None:
            s.waiting += 1
        if c.end in ("complete", "hang_up"):
            s.completed += 1
            if c.answered is not None and c.ended is not None:
                handled.append((c.ended - c.answered) * speed)
            s.hung_up += c.end == "hang_up"
        s.transferred += c.transferred
        if c.rated:
            s.rated += 1
            s.rating_levels[c.rated] = s.rating_levels.get(c.rated, 0) + 1
    base = s.answered + s.abandoned - s.short_abandons
    s.sl = within / base if base > 0 else None
    s.asa_s = sum(waits) / len(waits) if waits else None
    s.abandonment = s.abandoned / s.offered if s.offered else None
    s.aht_s = sum(handled) / len(handled) if handled else None
    if counts is not None:
        s.declined, s.missed = counts["decline"], counts["miss"]
    return s
