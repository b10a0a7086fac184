"""Typed keys for the long-lived resources an application owns (no module globals)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.asyncio import Redis

from signaling.hub import Hub
from signaling.server import Server
from window_server.accounts.store import AccountStore, DemoLogins
from window_server.documents.pool import DocumentPool
from window_server.domain.catalogue import Catalogue
from window_server.materials.handlers import MaterialsLive
from window_server.materials.service import MaterialService
from window_server.queue.live import QueueLive
from window_server.queue.service import QueueService
from window_server.queue.store import QueueStore
from window_server.recording.service import RecordingService
from window_server.settings import Settings
from window_server.store.access_log import AccessLog
from window_server.store.security_log import SecurityLog

SETTINGS = web.AppKey("settings", Settings)
CATALOGUE = web.AppKey("catalogue", Catalogue)
REDIS = web.AppKey("redis", Redis)
STORE = web.AppKey("store", QueueStore)
QUEUE = web.AppKey("queue", QueueService)
TASKS = web.AppKey("tasks", list[asyncio.Task[None]])
# accounts and authentication
ACCOUNTS = web.AppKey("accounts", AccountStore)
SECURITY = web.AppKey("security", SecurityLog)  # refused requests: rw:security and a rate-limited log
DEMO_LOGINS = web.AppKey("demo_logins", DemoLogins)  # set only in demo mode, for the banner
# signaling
SIO = web.AppKey("sio", Server)
HUB = web.AppKey("hub", Hub)
QUEUE_LIVE = web.AppKey("queue_live", QueueLive)  # the queue's handlers and pushes on the hub
MATERIALS_LIVE = web.AppKey("materials_live", MaterialsLive)  # tells the parties of new materials
# --- materials ---
DOCUMENTS = web.AppKey("documents", DocumentPool)  # the process pool that decodes and checks stills
MATERIALS = web.AppKey("materials", MaterialService)
# --- recording and evidence ---
RECORDING = web.AppKey("recording", RecordingService)
ACCESS = web.AppKey("access", AccessLog)  # every view or download of a recording, still or package
# --- dashboards ---
# the dashboard's key (its consumer, pusher, reads, /metrics) is window_server.dashboard.service.DASHBOARD:
# the feature imports these keys, so this module imports no feature that does
