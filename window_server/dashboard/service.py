"""The dashboard's long-lived parts, held under one app key (``appkeys.DASHBOARD``)."""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from window_server.dashboard.aggregator import Aggregator
from window_server.dashboard.prom import Prom
from window_server.dashboard.queries import Queries
from window_server.dashboard.rules import FoldConfig, ReviewPolicy, parse_review_policy
from window_server.domain.errors import InvalidInput
from window_server.settings import Settings, SettingsError

if TYPE_CHECKING:
    from window_server.dashboard.live import DashboardPusher, Viewers

DEFAULT_DEADLINES = "deadlines.toml"


def load_review_policy(path: Path | None) -> ReviewPolicy:
    """Read the bad-review deadlines (the built-in table, or RW_REVIEW_DEADLINES_FILE); fail at start."""
    source = str(path) if path else DEFAULT_DEADLINES
    try:
        if path is None:
            text = resources.files("window_server.dashboard").joinpath(DEFAULT_DEADLINES).read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        return parse_review_policy(tomllib.loads(text), source)
    except OSError as exc:
        raise SettingsError(f"setting RW_REVIEW_DEADLINES_FILE: cannot read {source}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"setting RW_REVIEW_DEADLINES_FILE: {source} is not TOML: {exc}") from None
    except InvalidInput as exc:
        raise SettingsError(f"setting RW_REVIEW_DEADLINES_FILE: {exc.message}") from None


def fold_config(settings: Settings) -> FoldConfig:
    return FoldConfig(
        t_answer_s=settings.service_level_seconds,
        s_short_s=settings.short_abandon_seconds,
        wait_alarm_s=settings.wait_alarm_seconds,
        handle_alarm_s=settings.handle_alarm_seconds,
    )


@dataclass
class Dashboard:
    """Reads for HTTP, reads for pushes and /metrics, the consumer, the metrics, its tasks."""

    queries: Queries  # the HTTP API's reads (a test may give it a command-counting client)
    live: Queries  # pushes and /metrics
    aggregator: Aggregator
    prom: Prom
    policy: ReviewPolicy
    pusher: DashboardPusher | None = None  # live pushes (None when the app has no signaling)
    viewers: Viewers | None = None  # which rooms have a page open, chain-wide
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


#: The dashboard's long-lived parts in the app (its own key: window_server/appkeys.py imports no feature
#: that imports it back).
DASHBOARD = web.AppKey("dashboard", Dashboard)
