"""Recording fixtures: the materials' server with a held session, and a real WebM cut in chunks."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from tests.materials.conftest import Env, env, make_env, stills  # noqa: F401  (fixtures)
from tests.signaling.conftest import catalogue, clients, demo  # noqa: F401  (fixtures)


def webm(seconds: float = 3.0, fps: int = 10) -> bytes:
    """A small VP8 + Opus WebM, as MediaRecorder would write it (one stream each)."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm") as out:
        v = out.add_stream("libvpx", rate=fps)
        v.width, v.height, v.pix_fmt = 320, 180, "yuv420p"
        a = out.add_stream("libopus", rate=48000)
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((180, 320, 3), (i * 7) % 255, np.uint8), format="rgb24")
            frame.pts = i
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        for i in range(int(seconds * 50)):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
            af.sample_rate, af.pts = 48000, i * 960
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode():
            out.mux(p)
    return buf.getvalue()


@pytest.fixture(scope="session")
def chunks() -> list[bytes]:
    """A WebM cut in three pieces, in order (the first holds the header)."""
    data = webm()
    third = len(data) // 3
    return [data[:third], data[third:2 * third], data[2 * third:]]
