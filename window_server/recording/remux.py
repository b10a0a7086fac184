"""A segment as one seekable WebM: its chunks joined and remuxed without re-encoding (PyAV).

MediaRecorder's WebM is written as it goes: no duration and no cues, so a player cannot seek in
it. Copying its packets into a new WebM container (stream copy, no decoding) writes both. The
result is cached beside the chunks, named by the chunks it was made from, so a new chunk or a
purge makes a new one and two nodes sharing the directory build the same file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import av


def cache_name(sid: str, n: int, shas: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join(shas).encode()).hexdigest()[:24]
    return f"{sid}-{n}-{digest}.webm"


def remux(chunk_files: Sequence[Path], out: Path) -> Path:
    """Join ``chunk_files`` and stream-copy them into ``out`` (atomically); return ``out``."""
    if out.is_file():
        return out
    data = b"".join(p.read_bytes() for p in chunk_files)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".webm")
    os.close(fd)
    try:
        with av.open(io.BytesIO(data), mode="r", format="webm") as src, \
                av.open(tmp, mode="w", format="webm") as dst:
            mapping = {}
            for stream in src.streams:
                if stream.type in ("video", "audio"):
                    mapping[stream.index] = dst.add_stream_from_template(stream)
            for packet in src.demux(*[src.streams[i] for i in mapping]):
                if packet.dts is None or packet.size == 0:
                    continue  # the demuxer's flush packets
                packet.stream = mapping[packet.stream.index]
                dst.mux(packet)
        os.replace(tmp, out)
        prefix = out.name.rsplit("-", 1)[0] + "-"
        for old in out.parent.glob(prefix + "*.webm"):  # remuxes of the segment made before its last chunk
            if old != out:
                with contextlib.suppress(OSError):
                    old.unlink()
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return out
