"""The evidence package of a sealed session: one zip that verifies offline.

Members: ``manifest.json`` (the session's facts, every item with its path, kind, ref, SHA-256 and
size, the chain, the seal, the seal log's next entry if there is one yet, the session's purge
entries, the key id), then one member per chain entry: ``facts.json``, ``events.jsonl``,
``materials.json``, ``notes.json``, ``recording.json``, ``delivery.json`` (the delivery address in full, when
the result is posted), ``stills/<material>/<variant>.jpg|png``,
``recording/seg<n>/<seq>.webm`` (the chunks as uploaded), ``signatures/<n>.json|.strokes.json|.pdf`` (each
signature, chained when it was given: its record with the document's text, its strokes, the stamped PDF),
``signatures.json`` (those records in one list, at seal time), ``materials.pdf``, ``summary.html``.
Every member but the manifest is a chained item, byte for byte as it was when chained; the
manifest is written canonically (sorted keys, indent 1, UTF-8, one final newline) and holds
nothing ``evidence verify`` does not check, so any byte changed anywhere is caught.

``summary.html`` is rendered at seal time (and chained): a readable page in Chinese and English of
the facts, the parties, the timeline, the materials with their verdicts, the recording's segments
with their gaps, and the items the seal covers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from window_server.domain.errors import Conflict
from window_server.evidence.seal_store import SealStore
from window_server.store.blobs import FileBlobStore

FORMAT = "rw-evidence/1"
MANIFEST = "manifest.json"
MANIFEST_KEYS = frozenset({"format", "sid", "facts", "items", "chain", "seal", "next", "purges", "key"})

#: Items with one fixed member each: kind -> path (the chain's ref is the path too).
FILES: dict[str, str] = {
    "facts": "facts.json",
    "events": "events.jsonl",
    "materials": "materials.json",
    "notes": "notes.json",
    "recording": "recording.json",
    "pdf": "materials.pdf",
    "summary": "summary.html",
    "delivery": "delivery.json",  # issue 18: the delivery address in full (结果寄递), when there is one
    "signatures": "signatures.json",  # issue 18: the records of signatures/<n>.json in one list, at seal time
}
#: A signature's items (chained when it is signed, ref = its number n): kind -> suffix of signatures/<n>.
SIGNATURE_RECORD = "signature_record"
SIGNATURE_FILES: dict[str, str] = {"signature": ".pdf", "signature_strokes": ".strokes.json",
                                   SIGNATURE_RECORD: ".json"}
_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_STORED = (".webm", ".jpg", ".png", ".pdf")  # compressed already: stored as they are


class EvidenceUnsealed(Conflict):
    """The session has no seal yet (it has not ended, or its grace has not passed)."""

    code = "evidence_unsealed"


@dataclass(frozen=True)
class Blobs:
    """Where items' bytes live: seal-time items, stills, recording chunks (content-addressed)."""

    evidence: FileBlobStore
    materials: FileBlobStore
    recordings: FileBlobStore

    @classmethod
    def under(cls, data_dir: Path) -> Blobs:
        data_dir = Path(data_dir)
        return cls(FileBlobStore(data_dir / "evidence"), FileBlobStore(data_dir / "materials"),
                   FileBlobStore(data_dir / "recordings"))

    def of(self, kind: str) -> FileBlobStore:
        """The store holding items of ``kind``."""
        return {"still": self.materials, "chunk": self.recordings}.get(kind, self.evidence)


# --- member paths --------------------------------------------------------------------------------


def item_path(kind: str, ref: str, ext: str = "jpg") -> str:
    """The member an item of the chain is stored as (``ext``: a still's, jpg or png)."""
    if kind in FILES:
        return FILES[kind]
    parts = ref.split("/")
    if not parts or not all(_SAFE.fullmatch(p) and p not in (".", "..") for p in parts):
        parts = [re.sub(r"[^A-Za-z0-9_-]", "_", ref)[:64] or "_"]
    if kind == "still" and len(parts) == 2:
        return f"stills/{parts[0]}/{parts[1]}.{ext}"
    if kind == "chunk" and len(parts) == 2:
        return f"recording/{parts[0]}/{parts[1]}.webm"
    if kind in SIGNATURE_FILES and len(parts) == 1:  # signing (issue 18, helper B)
        return f"signatures/{parts[0]}{SIGNATURE_FILES[kind]}"
    kind_dir = kind if _SAFE.fullmatch(kind) else "other"
    return f"items/{kind_dir}/{'/'.join(parts)}"


def still_ext(kind: str, ref: str, formats: dict[str, str]) -> str:
    """A still's extension: its material's format for the original, JPEG for the derived pages."""
    if kind != "still":
        return "jpg"
    mid, _, variant = ref.partition("/")
    return "png" if variant == "original" and formats.get(mid) == "png" else "jpg"


def paths_for(chain: Sequence[dict[str, Any]], formats: dict[str, str]) -> list[str]:
    """Each chain entry's member path; a path met twice gets ``~<n>`` (never in a sound chain)."""
    out: list[str] = []
    seen: set[str] = set()
    for e in chain:
        path = item_path(str(e.get("kind")), str(e.get("ref")),
                         still_ext(str(e.get("kind")), str(e.get("ref")), formats))
        if path in seen or path == MANIFEST:
            path = f"{path}~{e.get('n')}"
        seen.add(path)
        out.append(path)
    return out


def material_formats(materials_json: bytes | None) -> dict[str, str]:
    """Material id -> its original's format, from ``materials.json`` ({} if it cannot be read)."""
    if materials_json is None:
        return {}
    try:
        doc = json.loads(materials_json)
        return {str(m["id"]): str(m.get("format", "jpeg")) for m in doc.get("materials", [])}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


# --- the manifest --------------------------------------------------------------------------------


def build_manifest(
    *,
    sid: str,
    facts: Any,
    items: list[dict[str, Any]],
    chain: list[dict[str, Any]],
    seal: dict[str, Any],
    next_entry: dict[str, Any] | None,
    purges: list[dict[str, Any]],
    key: str,
) -> dict[str, Any]:
    return {"format": FORMAT, "sid": sid, "facts": facts, "items": items, "chain": chain, "seal": seal,
            "next": next_entry, "purges": purges, "key": key}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The one byte form of a manifest: sorted keys, indent 1, UTF-8, a final newline."""
    return (json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


# --- export --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    sid: str
    path: Path
    items: int
    absent: int  # items whose bytes are gone (purged, or lost)
    seal_seq: int


async def export(seals: SealStore, blobs: Blobs, sid: str, out: Path) -> Exported:
    """Write the evidence package of sealed session ``sid`` to ``out``; raise EvidenceUnsealed."""
    seq = await seals.seal_seq(sid)
    seal = None if seq is None else await seals.entry(seq)
    if seq is None or seal is None:
        raise EvidenceUnsealed(f"session {sid} is not sealed yet: its evidence is sealed "
                               "RW_SEAL_GRACE_SECONDS after it ends")
    next_entry = await seals.entry(seq + 1)
    purges = [e for p in await seals.purge_seqs(sid) if (e := await seals.entry(p)) is not None]
    chain = [json.loads(raw) for raw in await seals.chain_entries(sid, int(seal["count"]))]
    return await asyncio.to_thread(_write, out, blobs, sid, chain, seal, next_entry, purges)


def _write(out: Path, blobs: Blobs, sid: str, chain: list[dict[str, Any]], seal: dict[str, Any],
           next_entry: dict[str, Any] | None, purges: list[dict[str, Any]]) -> Exported:
    files: list[Path | None] = []
    for e in chain:
        p = blobs.of(str(e["kind"])).path(str(e["sha256"]))
        files.append(p if p.is_file() else None)
    facts, formats = None, {}
    for e, f in zip(chain, files, strict=True):
        if f is not None and e["kind"] == "facts":
            facts = json.loads(f.read_bytes())
        if f is not None and e["kind"] == "materials":
            formats = material_formats(f.read_bytes())
    paths = paths_for(chain, formats)
    items = [{"n": e["n"], "path": path, "kind": e["kind"], "ref": e["ref"], "sha256": e["sha256"],
              "size": f.stat().st_size if f is not None else None}
             for e, path, f in zip(chain, paths, files, strict=True)]
    manifest = build_manifest(sid=sid, facts=facts, items=items, chain=chain, seal=seal, next_entry=next_entry,
                              purges=purges, key=str(seal.get("key", "")))
    when = _zip_time(int(seal.get("at", 0)))
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".evidence-", suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            zf.writestr(_info(MANIFEST, when), manifest_bytes(manifest))
            for path, f in zip(paths, files, strict=True):
                if f is None:
                    continue
                with f.open("rb") as src, zf.open(_info(path, when), "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Exported(sid, out, len(chain), sum(f is None for f in files), int(seal.get("seq", -1)))


def _zip_time(ms: int) -> tuple[int, int, int, int, int, int]:
    t = datetime.fromtimestamp(max(ms / 1000, 315_532_800), UTC)  # zip dates start in 1980
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


def _info(name: str, when: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when)
    info.compress_type = zipfile.ZIP_STORED if name.endswith(_STORED) else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


# --- the summary page --------------------------------------------------------------------------

_ACTS: dict[str, str] = {
    "enqueue": "取号 ticket", "offer": "派单 offered", "accept": "接听 accepted", "decline": "拒接 declined",
    "offer_timeout": "超时未接 offer timed out", "offer_lost": "派单失效 offer lost", "transfer": "转接 transfer",
    "transfer_accept": "转接接听 transfer accepted", "transfer_decline": "转接被拒 transfer declined",
    "transfer_timeout": "转接超时 transfer timed out", "media_lost": "连接中断 media lost",
    "media_back": "连接恢复 media back", "requeue": "重新排队 requeued", "interrupt": "中断 interrupted",
    "complete": "办结 completed", "rate": "评价 rated", "leave": "离开 left", "no_show": "未到 no show",
    "note": "备注 note", "identity": "身份核验 identity check", "case_number": "受理编号 case number",
    "material_added": "材料上传 material added", "recognised": "材料识别 recognised", "verdict": "材料核验 verdict",
    "material_viewed": "查看材料 material viewed", "capture_requested": "请求拍摄 capture requested",
    "materials_purged": "材料已清除 materials purged", "rating_closed": "评价期结束 rating closed",
    "transfer_offer": "转接派单 transfer offered", "widen": "扩大范围 widened",
}

_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{{ f.sid }} 证据概要 Evidence summary</title>
<style>
body{font:14px/1.5 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.hash{font-family:monospace;font-size:12px;word-break:break-all}.warn{color:#b00}
img{max-width:120px;max-height:120px}
</style></head><body>
<h1>远程虚拟窗口 证据概要 · Remote Window evidence summary</h1>
<p>会话 Session <b>{{ f.sid }}</b> · 票号 Ticket {{ f.ticket }} · 事项 Matter {{ f.matter }}</p>

<h2>事实 Facts</h2>
<table>
<tr><th>状态 State</th><td>{{ f.state }}</td></tr>
<tr><th>结果 Outcome</th><td>{{ f.outcome or "—" }}{% if f.case_number %} · 受理编号 case number {{ f.case_number }}{% endif %}</td></tr>
<tr><th>评价 Rating</th><td>{{ f.rating if f.rating is not none else "—" }}</td></tr>
<tr><th>身份核验 Identity check</th><td>{{ f.identity_result or "—" }}</td></tr>
<tr><th>语言 Language · 区域 Region</th><td>{{ f.lang }} · {{ f.region }}</td></tr>
<tr><th>取号 Created</th><td>{{ t(f.times.created) }}</td></tr>
<tr><th>接听 Answered</th><td>{{ t(f.times.answered) }}</td></tr>
<tr><th>结束 Ended</th><td>{{ t(f.times.ended) }}</td></tr>
<tr><th>录音录像同意 Recording consent</th><td>{{ "是 yes" if f.consent else "否 no" }}</td></tr>
</table>

<h2>当事方 Parties</h2>
<table>
<tr><th>亭 Booth</th><td>{{ f.parties.booth }} · 受理中心 intake centre {{ f.intake_centre }}</td></tr>
{% for s in f.parties.specialists %}<tr><th>坐席 Specialist {{ loop.index }}</th><td>{{ s.id }} · {{ s.centre or "—" }}</td></tr>
{% endfor %}<tr><th>中心 Centres</th><td>{{ f.centres|join(", ") }}</td></tr>
</table>

<h2>时间线 Timeline</h2>
<table><tr><th>时间 Time</th><th>事件 Event</th><th>状态 State</th><th>由 By</th></tr>
{% for e in events %}<tr><td>{{ t(e.ts) }}</td><td>{{ act(e.act) }}</td><td>{% if e.to and e.to != e.from %}{{ e.from or "—" }} → {{ e.to }}{% endif %}</td><td>{{ e.by }}</td></tr>
{% endfor %}</table>

<h2>材料 Materials ({{ materials|length }})</h2>
{% if materials %}<table><tr><th></th><th>类型 Kind</th><th>拍摄 Captured</th><th>自动检查 Check</th><th>核验 Verdict</th></tr>
{% for m in materials %}<tr><td>{% if m.thumb_sha256 %}<img src="stills/{{ m.id }}/thumb.jpg" alt="{{ m.id }}">{% endif %}</td>
<td>{{ m.kind }}<br><span class="hash">{{ m.id }}</span></td><td>{{ t(m.at) }} · {{ m.camera }} · {{ m.by }}</td>
<td>{{ m.verdict }}{% if m.reasons %} ({{ m.reasons|join(", ") }}){% endif %}</td>
<td>{% if m.review %}{{ "通过 accepted" if m.review.verdict == "accepted" else "退回 rejected" }}{% if m.review.reason %}: {{ m.review.reason }}{% endif %} · {{ m.review.by }} · {{ t(m.review.at) }}{% else %}—{% endif %}</td></tr>
{% endfor %}</table>{% else %}<p>无 None.</p>{% endif %}

<h2>录音录像 Recording: {{ recording.state or "none" }}</h2>
{% if recording.segments %}<table><tr><th>段 Segment</th><th>开始 Start</th><th>结束 End</th><th>在场 Present</th><th>块 Chunks</th><th>时长 Duration</th><th>完整 Complete</th><th>缺口 Gaps</th></tr>
{% for s in recording.segments %}<tr><td>{{ s.n }}</td><td>{{ t(s.started_at) }}</td><td>{{ t(s.ended_at) }}</td>
<td>{% for p in s.present or [] %}{{ p.role }} {{ p.id }}{% if p.centre %} ({{ p.centre }}){% endif %}<br>{% endfor %}</td>
<td>{{ s.chunks }}</td><td>{{ dur(s.duration_ms) }}</td><td>{{ "是 yes" if s.complete else "否 no" }}</td>
<td class="{{ 'warn' if s.gaps else '' }}">{% for g in s.gaps or [] %}{{ t(g["from"]) }} – {{ t(g["to"]) }}<br>{% else %}—{% endfor %}</td></tr>
{% endfor %}</table>{% else %}<p>无录像 No recording.</p>{% endif %}
{% if recording.error %}<p class="warn">录制异常 Recording error: {{ recording.error }}</p>{% endif %}

<h2>封存 Seal</h2>
<p>以下 {{ count }} 项证据（另有本页）按顺序链接成哈希链，封存时由密钥 <span class="hash">{{ key }}</span> 签名，
并记入全链封存日志。封存记录见 manifest.json 的 seal。核验：<code>python -m window_server evidence verify 本文件.zip</code>。</p>
<p>The {{ count }} items below (and this page) are linked in a hash chain, sealed at {{ t(at) }} and signed with key
<span class="hash">{{ key }}</span>; the seal, in manifest.json, is an entry of the chain-wide seal log.
Verify offline: <code>python -m window_server evidence verify THIS.zip</code>.</p>
<table><tr><th>#</th><th>项 Item</th><th>SHA-256</th></tr>
{% for i in items %}<tr><td>{{ i.n }}</td><td>{{ i.label }}</td><td class="hash">{{ i.sha256 }}</td></tr>
{% endfor %}</table>
</body></html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined, keep_trailing_newline=True)


def render_summary(
    *,
    facts: dict[str, Any],
    events: Iterable[dict[str, Any]],
    materials: list[dict[str, Any]],
    recording: dict[str, Any],
    items: Sequence[dict[str, Any]],
    key: str,
    at: int,
    tz: str,
) -> bytes:
    """The summary page of a session's evidence (deterministic for the same inputs)."""
    zone = ZoneInfo(tz)

    def t(ms: Any) -> str:
        try:
            value = int(ms)
        except (TypeError, ValueError, jinja2.UndefinedError):
            return "—"
        if value <= 0:
            return "—"
        return datetime.fromtimestamp(value / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")

    def dur(ms: Any) -> str:
        try:
            s = int(ms) // 1000
        except (TypeError, ValueError, jinja2.UndefinedError):
            return "—"
        return f"{s // 60}:{s % 60:02d}"

    shown = _items_for_summary(items)
    page = _ENV.from_string(_TEMPLATE).render(
        f=facts, events=list(events), materials=materials, recording=recording or {}, items=shown, count=len(items),
        key=key,
        at=at, t=t, dur=dur, act=lambda a: _ACTS.get(str(a), str(a)))
    return page.encode()


def _items_for_summary(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item with a label; a segment's chunks as one row (first and last hash)."""
    out: list[dict[str, Any]] = []
    for e in items:
        kind, ref = str(e["kind"]), str(e["ref"])
        if kind == "chunk":
            seg = ref.partition("/")[0]
            last = out[-1] if out else None
            if last is not None and last.get("seg") == seg:
                last["count"] += 1
                last["label"] = f"录像 recording {seg}: {last['count']} chunks (#{last['n']}…{e['n']}; the first's hash)"
                continue
            out.append({"n": e["n"], "seg": seg, "count": 1, "sha256": e["sha256"],
                        "label": f"录像 recording {seg}: 1 chunk"})
            continue
        out.append({"n": e["n"], "label": item_path(kind, ref), "sha256": e["sha256"]})
    return out
