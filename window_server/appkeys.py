"""Typed keys for the long-lived resources an application owns (no module globals)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.asyncio import Redis

from window_server.domain.catalogue import Catalogue
from window_server.queue_service import QueueService
from window_server.settings import Settings
from window_server.store.queue import QueueStore

SETTINGS = web.AppKey("settings", Settings)
CATALOGUE = web.AppKey("catalogue", Catalogue)
REDIS = web.AppKey("redis", Redis)
STORE = web.AppKey("store", QueueStore)
QUEUE = web.AppKey("queue", QueueService)
TASKS = web.AppKey("tasks", list[asyncio.Task[None]])
