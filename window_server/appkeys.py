"""Typed keys for the long-lived resources an application owns (no module globals)."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from window_server.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
