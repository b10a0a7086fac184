"""Header sniffing: format and declared size from crafted headers, before any decode."""

from __future__ import annotations

import resource
import struct
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from window_server.documents import codec, pipeline
from window_server.documents.sniff import (
    CorruptImage,
    ImageTooLarge,
    UnsupportedDepth,
    UnsupportedImage,
    sniff,
)
from window_server.domain.errors import InvalidInput, RemoteWindowError, TooLarge, UnsupportedMedia


def jpeg_header(width: int, height: int, sof: int = 0xC0, fill: bool = False) -> bytes:
    """SOI, an APP0 (JFIF) segment, a DQT stub, then the frame header."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + bytes(65)
    sof_seg = b"\xff" + bytes([sof]) + struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes(9)
    return b"\xff\xd8" + app0 + dqt + (b"\xff\xff" if fill else b"") + sof_seg


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(width: int, height: int, idat: bytes = b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "fmt", "size"),
    [
        (jpeg_header(4000, 3000), "jpeg", (4000, 3000)),
        (jpeg_header(2592, 1944, sof=0xC2), "jpeg", (2592, 1944)),  # progressive
        (jpeg_header(640, 480, sof=0xC1, fill=True), "jpeg", (640, 480)),  # fill bytes before marker
        (png_file(3264, 2448), "png", (3264, 2448)),
    ],
    ids=["baseline", "progressive", "fill-bytes", "png"],
)
def test_sniff_reads_declared_size(data: bytes, fmt: str, size: tuple[int, int]) -> None:
    header = sniff(data)
    assert (header.format, header.width, header.height) == (fmt, *size)


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (b"GIF89a" + bytes(20), UnsupportedImage, "unsupported_media_type"),
        (b"%PDF-1.7\n", UnsupportedImage, "unsupported_media_type"),
        (b"", UnsupportedImage, "unsupported_media_type"),
        (jpeg_header(100, 100)[:30], CorruptImage, "corrupt_image"),  # cut inside the segments
        (b"\xff\xd8\xff\xda\x00\x02", CorruptImage, "corrupt_image"),  # scan before any frame
        (jpeg_header(100, 0), CorruptImage, "corrupt_image"),  # height via DNL: refused
        (png_file(100, 100)[:20], CorruptImage, "corrupt_image"),
        (png_file(100, 100)[:19] + b"\x65" + png_file(100, 100)[20:], CorruptImage, "corrupt_image"),  # bad CRC
        (png_file(0, 100), CorruptImage, "corrupt_image"),
        (jpeg_header(8000, 6000), ImageTooLarge, "image_too_large"),  # 48 MP
        (png_file(30000, 30000), ImageTooLarge, "image_too_large"),
    ],
    ids=["gif", "pdf", "empty", "jpeg-cut", "jpeg-no-frame", "jpeg-dnl", "png-cut", "png-crc",
         "png-zero", "jpeg-48mp", "png-900mp"],
)
def test_sniff_refuses_with_stable_code(data: bytes, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as info:
        sniff(data)
    assert isinstance(info.value, RemoteWindowError)
    assert info.value.code == code


def test_errors_fit_the_project_tree() -> None:
    assert issubclass(UnsupportedImage, UnsupportedMedia) and UnsupportedImage.http_status == 415
    assert issubclass(ImageTooLarge, TooLarge) and ImageTooLarge.http_status == 413
    assert issubclass(CorruptImage, InvalidInput) and CorruptImage.http_status == 400


def test_limit_is_configurable() -> None:
    assert sniff(jpeg_header(8000, 6000), max_megapixels=50).megapixels == 48.0
    with pytest.raises(ImageTooLarge):
        sniff(jpeg_header(4000, 3000), max_megapixels=10)


def test_png_bomb_is_refused_before_any_allocation() -> None:
    # 50,000 x 50,000 RGB would be 7.5 GB decoded; the file is a few hundred bytes.
    bomb = png_file(50_000, 50_000, zlib.compress(bytes(1_000_000), 9))
    assert len(bomb) < 5_000
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge):
            pipeline.check_image(bomb)
        with pytest.raises(ImageTooLarge):
            codec.decode(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100_000  # KiB


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_sniff_on_any_bytes_raises_only_coded_errors(data: bytes) -> None:
    assert outcome(data) in {"jpeg", "png", "unsupported_media_type", "corrupt_image", "image_too_large"}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([jpeg_header(1200, 900), png_file(1200, 900)]), st.data())
def test_sniff_on_mangled_headers_raises_only_coded_errors(header: bytes, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(header) - 1))
    byte = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(header)))
    mangled = (header[:i] + bytes([byte]) + header[i + 1 :])[:cut]
    assert outcome(mangled) in {"jpeg", "png", "unsupported_media_type", "unsupported_bit_depth", "corrupt_image",
                                "image_too_large"}


def outcome(data: bytes) -> str:
    """Return the format sniffed (checking the header is sane) or the error code."""
    try:
        header = sniff(data)
    except (UnsupportedImage, UnsupportedDepth, CorruptImage, ImageTooLarge) as exc:
        return exc.code
    assert header.width > 0 and header.height > 0 and header.megapixels <= 40
    return header.format
