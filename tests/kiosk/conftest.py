"""Kiosk fixtures: the booth's fixtures (a real server and Redis, a booth account), Chromium, and
the stills a booth uploads (synthetic document-camera scenes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from playwright.async_api import Browser

from citizen_client import synthetic_scene as ss
from tests.booth.conftest import booth_account, loopback_ice, specialists  # noqa: F401  (fixtures)
from tests.screens import chromium
from tests.signaling.conftest import catalogue, clients, demo, server  # noqa: F401  (fixtures)
from window_server.documents.codec import encode_jpeg


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def still() -> bytes:
    """A 1600×1200 still of an A4 form under the document camera."""
    rng = np.random.default_rng(6)
    spec = ss.random_spec(rng, aspect=4 / 3, document="a4_form", fingertip=False, clutter=0)
    scene, _ = ss.render_shot("good", 1600, 1200, rng, spec=spec)
    return encode_jpeg(scene.image, quality=90)
