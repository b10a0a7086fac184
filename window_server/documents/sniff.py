"""Read an image's format and declared size from its header bytes, before any decode.

A 30000 x 30000 PNG of zeros is a few hundred kilobytes yet asks the decoder for ~2.7 GB, so
the size a file declares is checked here and nothing is decoded before that. The same goes for
depth: a 16-bit 40 MP PNG of zeros is 300 KB and decodes to ~240 MB, so only 8-bit samples are
accepted, and the decoded size (pixels x channels) must fit the budget of an 8-bit colour image
at the pixel limit (3 bytes a pixel).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from window_server.domain.errors import InvalidInput, TooLarge, UnsupportedMedia

DEFAULT_MAX_MEGAPIXELS = 40.0

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8\xff"
# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field: TEM and RST0..RST7.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# PNG colour type -> samples per pixel: grey, RGB, palette, grey+alpha, RGBA.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


class UnsupportedImage(UnsupportedMedia):
    """The bytes are not a JPEG or PNG image."""

    code = "unsupported_media_type"


class ImageTooLarge(TooLarge):
    """The image declares more pixels than the configured limit."""

    code = "image_too_large"


class UnsupportedDepth(UnsupportedMedia):
    """The image has more than 8 bits per sample (16-bit PNG, 12-bit JPEG)."""

    code = "unsupported_bit_depth"


class CorruptImage(InvalidInput):
    """The image header or data is unreadable or truncated."""

    code = "corrupt_image"


@dataclass(frozen=True)
class ImageHeader:
    """What the header declares: format ('jpeg' or 'png') and pixel size."""

    format: str
    width: int
    height: int
    bits: int = 8
    """Bits per sample (PNG bit depth, JPEG sample precision)."""
    channels: int = 3
    """Samples per pixel as stored (1 grey or palette, 2 grey+alpha, 3 colour, 4 with alpha/CMYK)."""

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def decoded_bytes(self) -> int:
        """What decoding costs at least: OpenCV gives 3 channels (4 with alpha), of bits/8 bytes."""
        return self.width * self.height * max(3, self.channels) * max(1, (self.bits + 7) // 8)


def check_magic(prefix: bytes) -> None:
    """Raise UnsupportedImage unless ``prefix`` (the first bytes, ≥ 8 or all there is) can start a
    JPEG or PNG: lets an upload be refused on its first chunk."""
    n = min(len(prefix), len(_PNG_SIGNATURE))
    if not (prefix[:3] == _JPEG_SOI[: min(n, 3)] or prefix[:n] == _PNG_SIGNATURE[:n]) or not prefix:
        raise UnsupportedImage("only JPEG and PNG images are accepted")


def sniff(data: bytes, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> ImageHeader:
    """Return the header of a JPEG or PNG image, or raise a stable-coded error."""
    if data.startswith(_JPEG_SOI):
        header = _sniff_jpeg(data)
    elif data.startswith(_PNG_SIGNATURE):
        header = _sniff_png(data)
    else:
        raise UnsupportedImage("only JPEG and PNG images are accepted")
    if header.width <= 0 or header.height <= 0:
        raise CorruptImage("the image declares a zero width or height")
    if header.bits > 8:
        raise UnsupportedDepth(f"the image has {header.bits}-bit samples; only 8-bit images are accepted")
    if header.megapixels > max_megapixels:
        raise ImageTooLarge(
            f"the image declares {header.width}x{header.height} "
            f"({header.megapixels:.1f} MP); the limit is {max_megapixels:g} MP"
        )
    budget = decode_budget(max_megapixels)
    if header.decoded_bytes > budget:
        raise ImageTooLarge(
            f"the image would decode to {header.decoded_bytes / 1e6:.0f} MB "
            f"({header.channels} channels); the limit is {budget / 1e6:.0f} MB"
        )
    return header


def decode_budget(max_megapixels: float) -> int:
    """Bytes one decode may take: an 8-bit colour image (3 bytes a pixel) at the pixel limit."""
    return int(max_megapixels * 1e6) * 3


def _sniff_jpeg(data: bytes) -> ImageHeader:
    """Walk the marker segments after SOI up to the first SOFn and read its frame size."""
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:
            raise CorruptImage("the JPEG header is malformed (expected a marker)")
        # Any number of 0xFF fill bytes may precede a marker code.
        while pos < end and data[pos] == 0xFF:
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA):  # SOI again, EOI or scan data before any frame header
            raise CorruptImage("the JPEG has no frame header before its image data")
        if pos + 2 > end:
            break
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise CorruptImage("the JPEG header has a segment of impossible length")
        if marker in _JPEG_SOF:
            if pos + 8 > end or length < 8:
                break
            precision, height, width, components = struct.unpack_from(">BHHB", data, pos + 2)
            if height == 0:
                # Height 0 means "given later by a DNL marker": legal, rare, and undecidable here.
                raise CorruptImage("the JPEG does not declare its height in the frame header")
            return ImageHeader("jpeg", width, height, precision, components)
        pos += length
    raise CorruptImage("the JPEG header is truncated")


def _sniff_png(data: bytes) -> ImageHeader:
    """Read IHDR, which the PNG spec requires to be the first chunk, and check its CRC."""
    ihdr = data[8 : 8 + 25]
    if len(ihdr) < 25:
        raise CorruptImage("the PNG header is truncated")
    length, kind = struct.unpack_from(">I4s", ihdr, 0)
    if kind != b"IHDR" or length != 13:
        raise CorruptImage("the PNG does not start with an IHDR chunk")
    (crc,) = struct.unpack_from(">I", ihdr, 21)
    if zlib.crc32(ihdr[4:21]) != crc:
        raise CorruptImage("the PNG header fails its checksum")
    width, height, depth, colour = struct.unpack_from(">IIBB", ihdr, 8)
    if width > 0x7FFFFFFF or height > 0x7FFFFFFF:
        raise CorruptImage("the PNG declares an impossible size")
    if colour not in _PNG_CHANNELS:
        raise CorruptImage("the PNG declares an unknown colour type")
    return ImageHeader("png", width, height, depth, _PNG_CHANNELS[colour])
