"""One booth cannot starve the others (issue 14 item 9): a decode budget read from the header,
and per-session and per-booth limits on uploads in flight (429 too_many_uploads)."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import cv2
import numpy as np
import pytest

from window_server.appkeys import MATERIALS
from window_server.documents.sniff import ImageTooLarge, UnsupportedDepth, sniff

from .conftest import Env, Stills
from .test_uploads import _assert_error


def png_header(width: int, height: int, depth: int, colour: int) -> bytes:
    """The signature and IHDR of a PNG (all sniff reads), with one empty IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"")


def jpeg_frame(width: int, height: int, precision: int, components: int = 3) -> bytes:
    sof = b"\xff\xc1" + struct.pack(">HBHHB", 8 + 3 * components, precision, height, width, components)
    return b"\xff\xd8" + sof + bytes(3 * components)


@pytest.mark.parametrize(("data", "error"), [
    (png_header(7300, 5440, 16, 0), UnsupportedDepth),  # the reported 39.7 MP 16-bit PNG of zeros
    (png_header(1000, 1000, 16, 2), UnsupportedDepth),
    (jpeg_frame(4000, 3000, 12), UnsupportedDepth),  # a 12-bit JPEG
    (png_header(6000, 6000, 8, 6), ImageTooLarge),  # 36 MP RGBA: 144 MB decoded, over 40 MP x 3 bytes
], ids=["png16-39.7mp", "png16-small", "jpeg12", "rgba-36mp"])
def test_the_header_is_refused_before_any_decode(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as exc:
        sniff(data, max_megapixels=40.0)
    assert exc.value.code in {"unsupported_bit_depth", "image_too_large"}  # type: ignore[attr-defined]


def test_8_bit_stills_up_to_the_pixel_cap_still_pass() -> None:
    assert sniff(png_header(7300, 5440, 8, 2)).megapixels == pytest.approx(39.7, abs=0.02)
    assert sniff(png_header(7300, 5440, 8, 0)).channels == 1
    assert sniff(jpeg_frame(4000, 3000, 8)).bits == 8


async def test_a_16_bit_png_upload_is_415_and_keeps_nothing(env: Env) -> None:
    ok, png16 = cv2.imencode(".png", np.zeros((480, 640), dtype=np.uint16))
    assert ok
    status, body = await env.upload(png16.tobytes(), content_type="image/png")
    _assert_error(status, body, 415, "unsupported_bit_depth")
    await env.nothing_stored()


async def test_uploads_in_flight_are_limited_per_session_and_per_booth(make_env, stills: Stills) -> None:
    env: Env = await make_env(uploads_per_session=1, uploads_per_booth=1)
    service = env.app[MATERIALS]
    parties = await service.parties(env.sid)
    with service.upload_slot(parties):  # an upload of this session is being checked
        status, body = await env.upload(stills.good)
        _assert_error(status, body, 429, "too_many_uploads")
    # an upload into another session of the same booth (e.g. a specialist's file) counts for the booth
    earlier = dataclasses.replace(parties, sid="RW20990101000009")
    with service.upload_slot(earlier):
        status, body = await env.upload(stills.good)
        _assert_error(status, body, 429, "too_many_uploads")
    await env.nothing_stored()
    status, body = await env.upload(stills.good)  # the slots are free again
    assert status == 201, body
    assert service._in_flight == {}  # nothing is left counted once the upload is done
