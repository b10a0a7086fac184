"""Camera adapters: the synthetic 高拍仪 (preview cheap, stills 8 MP and true to the preview), UVC sizes."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import date

import cv2
import numpy as np
import pytest

from citizen_client import synthetic_scene as ss
from citizen_client.agent import Backoff
from citizen_client.camera import (
    CameraError,
    SyntheticCamera,
    camera_spec_problem,
    choose_sizes,
    desk_identity,
)
from window_server.documents.pipeline import check_image
from window_server.domain.idcard import is_expired, read_id_number


@pytest.fixture
async def camera() -> AsyncIterator[SyntheticCamera]:
    clock = [100.0]
    cam = SyntheticCamera(seed=2, clock=lambda: clock[0])
    cam.clock_value = clock  # type: ignore[attr-defined]  # the test moves time by hand
    await cam.open()
    yield cam
    await cam.close()


async def test_preview_frames_are_720p_and_move(camera: SyntheticCamera) -> None:
    # (what a frame costs is measured by bench/booth_bench.py, not asserted here)
    frames = []
    for i in range(30):
        camera.clock_value[0] = 100.0 + i / 15  # type: ignore[attr-defined]
        frames.append(await camera.preview_frame())
    assert frames[0].shape == (720, 1280, 3) and frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[10])  # the desk moves


@pytest.mark.parametrize("document", SyntheticCamera.DOCUMENTS)
async def test_stills_are_8_mp_jpegs_of_a_usable_page(camera: SyntheticCamera, document: str) -> None:
    camera.show(document)
    jpeg = await camera.capture_still()
    assert jpeg[:3] == b"\xff\xd8\xff"
    result = check_image(jpeg)
    assert (result.width, result.height) == (3264, 2448)
    assert result.verdict == "accepted", result.reasons


async def test_the_still_shows_the_page_where_the_preview_shows_it(camera: SyntheticCamera) -> None:
    """What the specialist sees in the preview is what the still captures (same pose)."""
    camera.show("a4_form")
    camera.clock_value[0] = 100.0 + 1.7  # type: ignore[attr-defined]  # mid-drift: moved and turned
    pose = camera.pose(1.7)
    assert abs(pose.dx) > 5 and abs(pose.angle) > 0.3
    preview = await camera.preview_frame()
    still = check_image(await camera.capture_still())
    assert still.corners is not None
    # The still's page corners, mapped to the preview (scale to 1280x960, drop the 120-px top band).
    scale = SyntheticCamera.BASE[0] / SyntheticCamera.STILL[0]
    expected = np.array(still.corners) * scale - [0, 120]
    truth = ss.page_quad(camera.still_spec(pose), 1280, 960) - [0, 120]
    assert np.abs(np.sort(expected, axis=0) - np.sort(truth, axis=0)).max() < 6
    # and the preview shows that very page there: find it in the preview frame too
    ok, buf = cv2.imencode(".jpg", preview, [cv2.IMWRITE_JPEG_QUALITY, 95])
    seen = check_image(buf.tobytes())
    assert ok and seen.corners is not None
    assert np.abs(np.sort(np.array(seen.corners), axis=0) - np.sort(truth, axis=0)).max() < 6


async def test_the_desk_cycles_through_the_three_documents(camera: SyntheticCamera) -> None:
    seen = [camera.pose(t).document for t in (0, 25, 45, 65)]
    assert seen == ["id_card_front", "a4_form", "licence", "id_card_front"]
    camera.show("licence")
    assert camera.pose(0).document == "licence"
    with pytest.raises(ValueError):
        camera.show("passport")


def test_the_desk_card_is_one_fictional_resident_with_a_valid_number() -> None:
    cam = SyntheticCamera(seed=2)
    who = cam.identity
    assert who == desk_identity(2) == SyntheticCamera(seed=2).identity != desk_identity(3)
    assert cam.specs["id_card_front"].identity == who and cam.specs["a4_form"].identity is None
    read = read_id_number(who.number)
    assert read is not None and read.valid and read.birth == who.birth and read.sex == who.sex
    assert not is_expired(who.valid_until, date(2035, 12, 31))  # read and accepted for years


def test_uvc_uses_the_largest_size_for_stills_and_the_largest_720p_one_for_preview() -> None:
    still, preview = choose_sizes([(640, 480), (1280, 720), (3264, 2448), (1920, 1080), (2592, 1944)])
    assert still == (3264, 2448) and preview == (1280, 720)
    assert choose_sizes([(640, 480), (1600, 1200)]) == ((1600, 1200), (640, 480))
    assert choose_sizes([(2592, 1944)]) == ((2592, 1944), (2592, 1944))  # nothing small: preview scales down
    with pytest.raises(CameraError):
        choose_sizes([])


def test_camera_specs() -> None:
    assert camera_spec_problem("synthetic") is None and camera_spec_problem("uvc:0") is None
    assert camera_spec_problem("uvc:") and camera_spec_problem("uvc:x") and camera_spec_problem("usb")


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    b = Backoff(0.5, 10.0, rand=lambda: 1.0)
    assert [b.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    b.reset()
    low = Backoff(0.5, 10.0, rand=lambda: 0.0)
    assert b.next() == 0.5 and low.next() == 0.25 and not math.isnan(low.next())
