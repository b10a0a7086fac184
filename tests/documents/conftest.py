"""Fixtures for the document tests: synthetic stills (the one stand-in: no camera here)."""

from __future__ import annotations

import numpy as np
import pytest

from citizen_client import synthetic_scene as ss
from window_server.documents.codec import encode_jpeg as to_jpeg


@pytest.fixture(scope="session")
def good_scene() -> ss.Scene:
    """One good 5 MP still of an A4 form, turned a little, on a dark plate."""
    rng = np.random.default_rng(7)
    spec = ss.random_spec(rng, document="a4_form", plate="dark", rotation=8.0, clutter=1)
    return ss.render_scene(spec, 2592, 1944, rng)


@pytest.fixture(scope="session")
def good_jpeg(good_scene: ss.Scene) -> bytes:
    return to_jpeg(good_scene.image)


@pytest.fixture(scope="session")
def card_jpeg() -> bytes:
    """A good 2 MP still of an ID card."""
    rng = np.random.default_rng(11)
    spec = ss.random_spec(rng, document="id_card", rotation=95.0, fingertip=False)
    return to_jpeg(ss.render_scene(spec, 1600, 1200, rng).image)


@pytest.fixture(scope="session")
def empty_jpeg() -> bytes:
    """An empty plate: no document."""
    rng = np.random.default_rng(3)
    scene, _ = ss.render_shot("empty", 1600, 1200, rng)
    return to_jpeg(scene.image)
