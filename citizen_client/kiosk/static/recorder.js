// The session's recording (全程录音录像, docs/recording.md), made here on the booth: the booth is
// present for the whole session and every transfer, and the server never transcodes.
//
// One segment per call leg (one "call" peer connection with one specialist): a new connection
// (transfer, reconnect) ends the segment and starts the next. For each leg:
//   POST /api/sessions/{sid}/recording/segments {mime, width, height} -> {segment: {n, …}}
//   then MediaRecorder over the composite (composite.js: both pictures, any screen share, a clock;
//   both voices mixed, and a guest's while the citizen hears them), WebM VP8 1 Mbit/s + Opus 32 kbit/s; every 4 s chunk is PUT at once
//     PUT …/segments/{n}/chunks/{seq}?t=<its end>&from=<its start> (ms since the recorder started)
//   and when the leg ends the last chunk is PUT and the segment closed: POST …/segments/{n}/end.
// Requests go one at a time, in order, so a segment's end and the next segment never overtake a
// chunk. A failed request is retried with backoff; unsent chunks stay in memory, at most ~60 s
// of them (the oldest go first, never a segment's first chunk: it carries the WebM header).
// 409 recording_closed (the segment ended, the session is sealed) stops the recorder.
// The 高拍仪 preview is not recorded: its stills are the documents' evidence.

import { Composite, H, W } from "./composite.js";

const TIMESLICE_MS = 4000;
const VIDEO_BPS = 1_000_000;
const AUDIO_BPS = 32_000;
// VP9 first: on the same call it costs the kiosk about a third less CPU than VP8
// (bench/recording_bench.py, docs/benchmarks.md); VP8 where VP9 cannot be recorded.
const MIMES = ["video/webm;codecs=vp9,opus", "video/webm;codecs=vp8,opus", "video/webm"];
const MAX_QUEUED_CHUNKS = Math.ceil(60_000 / TIMESLICE_MS); // ~60 s of unsent chunks
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const REQUEST_TIMEOUT_MS = 15_000;
const STOP_WAIT_MS = 3000; // a MediaRecorder that never says it stopped does not hold up the next leg
const ABANDON_AFTER_MS = 120_000; // keep trying this long after the session left this page
// What the server's answers mean for the request that got them.
const CLOSED = new Set(["recording_closed", "unknown_segment"]); // this segment takes no more
const REFUSED = new Set([401, 403, 404]); // not (or no longer) ours: stop, do not retry

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Hex SHA-256 of a chunk, or "" where the page cannot hash (not a secure context). */
async function sha256(blob) {
  if (!globalThis.crypto?.subtle) return "";
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function pickMime() {
  if (typeof MediaRecorder === "undefined") return null;
  return MIMES.find((m) => MediaRecorder.isTypeSupported(m)) || null;
}

/** One call leg: its composite and MediaRecorder, its segment number once the server gave one. */
class Leg {
  constructor(rec, { sid, key, remote }) {
    Object.assign(this, { rec, sid, key });
    this.n = null;
    this.seq = 0; // chunks made so far (the next chunk's seq)
    this.t0 = 0;
    this.cut = 0; // where the last chunk ended (ms since the recorder started): the next one's "from"
    this.state = "starting"; // starting -> recording -> stopping -> stopped | refused
    this.closedByServer = false;
    this.endedAt = 0;
    this.composite = new Composite({ remote, sources: rec.sources, labels: rec.labels,
      caption: () => `${sid}  #${this.n ?? "-"}` });
  }

  /** Start the MediaRecorder once the server opened segment ``n``. */
  begin(n, mime) {
    if (this.state !== "starting") return;
    this.n = n;
    this.media = new MediaRecorder(this.composite.stream(), { mimeType: mime, videoBitsPerSecond: VIDEO_BPS,
      audioBitsPerSecond: AUDIO_BPS });
    this.media.ondataavailable = (ev) => {
      if (!ev.data || ev.data.size === 0 || this.closedByServer) return;
      const t = this.elapsed();
      this.rec.enqueue({ kind: "chunk", leg: this, seq: this.seq++, from: this.cut, t, blob: ev.data });
      this.cut = t;
    };
    this.stopped = new Promise((resolve) => {
      this.media.onstop = resolve;
    });
    this.media.onerror = (ev) => {
      console.warn("recorder: MediaRecorder error", ev.error?.name);
      this.rec.legEnded(this);
    };
    this.media.start(TIMESLICE_MS);
    this.t0 = performance.now();
    this.state = "recording";
    console.info(`recorder: session ${this.sid} segment ${n} recording`);
  }

  elapsed() {
    return Math.max(0, Math.round(performance.now() - this.t0));
  }

  /** End this leg: the last chunk, then the segment's end (unless the server closed it). */
  async stop({ closeSegment = true } = {}) {
    if (this.state === "stopping" || this.state === "stopped" || this.state === "refused") return;
    const wasRecording = this.state === "recording";
    this.state = "stopping";
    this.endedAt = Date.now();
    if (wasRecording && this.media.state !== "inactive") {
      this.media.stop(); // a last dataavailable comes before stop
      await Promise.race([this.stopped, sleep(STOP_WAIT_MS)]);
      if (closeSegment) this.rec.enqueue({ kind: "end", leg: this, chunks: this.seq, t: this.elapsed() });
    }
    this.state = "stopped";
    this.release();
    console.info(`recorder: session ${this.sid} segment ${this.n ?? "-"} stopped after ${this.seq} chunks`);
  }

  release() {
    this.composite.release();
  }
}

/**
 * The kiosk's recorder. ``sources()`` says what the page has now:
 *   {sid, held, call: {key, stream, connected} | null, local, share, sharer, agent, guests}
 * ``auth()`` gives the booth's headers; ``onChange(snapshot)`` is called when the state changes.
 */
export class Recorder {
  constructor({ base = "", auth, sources, labels, onChange = () => {} }) {
    this.base = base;
    this.auth = auth;
    this.sources = sources;
    this.labels = labels;
    this.onChange = onChange;
    this.mime = pickMime();
    if (!this.mime) console.warn("recorder: this browser cannot record WebM: no recording");
    this.leg = null;
    this.stopping = null; // the promise of the leg being stopped
    this.queue = []; // requests in order: {kind: "segment"|"chunk"|"end", leg, …}
    this.pumping = false;
    this.closed = new Set(); // sessions whose recording the server closed (sealed)
    this.refusedKey = null; // the call leg the server would not record: not asked again
    this.counts = { sent: 0, acked: 0, failed: 0, dropped: 0 };
    this.events = 0; // numbers the answers below, so "the last one" needs no clock
    this.lastAck = 0; // the number of the last acknowledgement
    this.lastFail = 0; // the number of the last failed request (or the server's "failed")
    this.lastError = "";
    this.tick = setInterval(() => this.sync(), 1000);
  }

  /** A read-only picture of the recorder (window.__rwRecorder, the indicator). */
  snapshot() {
    const leg = this.leg;
    return Object.freeze({
      state: leg ? leg.state : "idle",
      sid: leg?.sid ?? null,
      segment: leg?.n ?? null,
      sent: this.counts.sent,
      acked: this.counts.acked,
      failed: this.counts.failed,
      dropped: this.counts.dropped,
      pending: this.queue.filter((op) => op.kind === "chunk").length, // chunks not yet acknowledged
      queued: this.queue.length, // requests not yet answered (chunks, segment starts and ends)
      healthy: this.healthy(),
      drawing: Object.freeze(leg ? leg.composite.drawing() : {}), // role -> true while that picture has frames
      voices: leg ? leg.composite.inputs.size : 0, // audio tracks in the mix (the booth's, the specialist's, guests heard)
      error: this.lastError,
      mime: this.mime,
    });
  }

  /** Recording, and the last word from the server about it was an acknowledgement. */
  healthy() {
    const leg = this.leg;
    return Boolean(leg && leg.state === "recording" && this.lastAck > this.lastFail);
  }

  /**
   * The server's word on this session's recording (socket.io recording_status): "failed" (chunks
   * cannot be stored) counts as a failed upload, until a chunk is acknowledged again.
   */
  onStatus(d) {
    if (!d || d.state !== "failed" || d.sid !== this.leg?.sid) return;
    this.lastFail = ++this.events;
    this.lastError = typeof d.error === "string" ? d.error : d.error?.code || "failed";
    console.warn(`recorder: session ${d.sid}: the server says the recording failed`);
    this.changed();
  }

  changed() {
    try {
      this.onChange(this.snapshot());
    } catch (err) {
      console.warn("recorder: indicator", err);
    }
  }

  /** Who is heard changed (a guest barges in or stops): the mix follows now, not at the next second. */
  remix() {
    if (this.leg && ["starting", "recording"].includes(this.leg.state)) this.leg.composite.mix();
    this.changed();
  }

  /** Compare what the page has with what is being recorded; start or end a leg. */
  sync() {
    const now = this.sources();
    const call = now.held && now.sid ? now.call : null;
    const leg = this.leg;
    if (leg && (!call || call.key !== leg.key || now.sid !== leg.sid || leg.state === "stopped" || leg.state === "refused")) {
      this.leg = null;
      this.stopping = leg.stop()
        .catch((err) => console.warn("recorder: stop", err.name))
        .finally(() => {
          this.stopping = null;
          this.sync();
        });
    }
    // The next segment only after the last one's final chunk and end are queued: a new segment
    // closes the open one on the server, and a chunk after that would be refused.
    if (!this.leg && !this.stopping && call && call.connected && this.mime && !this.closed.has(now.sid)
        && call.key !== this.refusedKey) {
      const hasVideo = call.stream?.getVideoTracks().some((t) => t.readyState === "live");
      if (hasVideo) {
        this.leg = new Leg(this, { sid: now.sid, key: call.key, remote: call.stream });
        this.enqueue({ kind: "segment", leg: this.leg });
      }
    }
    this.changed();
  }

  /** A leg that cannot go on (MediaRecorder error): end it; sync() starts none for the same call. */
  legEnded(leg) {
    if (this.leg === leg) {
      this.refusedKey = leg.key;
      this.leg = null;
    }
    leg.stop().catch(() => {});
    this.changed();
  }

  enqueue(op) {
    if (op.kind === "chunk") {
      this.counts.sent++;
      const chunks = this.queue.filter((x) => x.kind === "chunk");
      if (chunks.length >= MAX_QUEUED_CHUNKS) {
        // Memory is bounded: drop the oldest unsent chunk that is not being sent now and is not
        // a segment's first (its WebM header makes the rest playable).
        const victim = this.queue.find((x, i) => i > 0 && x.kind === "chunk" && x.seq > 0);
        if (victim) {
          this.queue.splice(this.queue.indexOf(victim), 1);
          this.counts.dropped++;
          console.warn(`recorder: session ${victim.leg.sid} segment ${victim.leg.n} chunk ${victim.seq} dropped (unsent too long)`);
        }
      }
    }
    this.queue.push(op);
    this.pump();
  }

  /** Send the queue in order, one request at a time; retry the head with backoff. */
  async pump() {
    if (this.pumping) return;
    this.pumping = true;
    let attempt = 0;
    try {
      while (this.queue.length) {
        const op = this.queue[0];
        if (this.stale(op)) {
          this.drop(op, "abandoned");
          continue;
        }
        let outcome;
        try {
          outcome = await this.send(op);
        } catch (err) {
          outcome = { retry: true, error: err.name || "network" };
        }
        if (outcome.retry) {
          this.counts.failed++;
          this.lastFail = ++this.events;
          this.lastError = outcome.error;
          this.changed();
          await sleep(BACKOFF_MS[Math.min(attempt++, BACKOFF_MS.length - 1)]);
          continue;
        }
        attempt = 0;
        if (this.queue[0] === op) this.queue.shift();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** An op nobody needs any more: its leg never got a segment, or its session left long ago. */
  stale(op) {
    const leg = op.leg;
    if (op.kind === "segment" && leg.state !== "starting") return true;
    if (op.kind !== "segment" && leg.n === null) return true;
    const gone = leg.endedAt && this.sources().sid !== leg.sid;
    return Boolean(gone && Date.now() - leg.endedAt > ABANDON_AFTER_MS);
  }

  drop(op, why) {
    this.queue.splice(this.queue.indexOf(op), 1);
    if (op.kind === "chunk") {
      this.counts.dropped++;
      console.warn(`recorder: session ${op.leg.sid} chunk ${op.seq} dropped (${why})`);
    }
  }

  /** Drop every queued request of a leg (the server closed its segment or refused it). */
  dropLeg(leg, why) {
    for (const op of this.queue.slice(1)) if (op.leg === leg) this.drop(op, why);
  }

  async request(method, path, body, headers = {}) {
    const resp = await fetch(this.base + path, {
      method,
      headers: { ...this.auth(), ...headers },
      body,
      cache: "no-store",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    let data = null;
    try {
      data = await resp.json();
    } catch {
      // not JSON (a proxy's error page): the status says enough
    }
    return { status: resp.status, data, code: data?.error?.code || "" };
  }

  async send(op) {
    const leg = op.leg;
    const sid = encodeURIComponent(leg.sid);
    if (op.kind === "segment") {
      const r = await this.request("POST", `/api/sessions/${sid}/recording/segments`,
        JSON.stringify({ mime: this.mime, width: W, height: H }), { "Content-Type": "application/json" });
      if (r.status === 201 || r.status === 200) {
        this.lastAck = ++this.events;
        this.lastError = "";
        const { n } = r.data.segment;
        if (leg.state !== "starting") {
          // The leg ended while the server opened its segment: close it, empty.
          this.enqueue({ kind: "end", leg: Object.assign(leg, { n }), chunks: 0, t: 0 });
        } else {
          try {
            leg.begin(n, this.mime);
          } catch (err) {
            console.warn("recorder: MediaRecorder would not start", err.name);
            this.enqueue({ kind: "end", leg: Object.assign(leg, { n }), chunks: 0, t: 0 });
            this.refuse(leg, "recorder_error");
          }
        }
        this.changed();
        return {};
      }
      if (r.code === "recording_closed" || REFUSED.has(r.status)) {
        console.warn(`recorder: session ${leg.sid}: no recording (${r.status} ${r.code})`);
        if (r.code === "recording_closed") this.closed.add(leg.sid);
        this.refuse(leg, r.code || String(r.status));
        return {};
      }
      // illegal_transition (the session is not held yet on the server), 5xx, 507: try again
      return this.leg === leg ? { retry: true, error: r.code || String(r.status) } : {};
    }
    const n = leg.n;
    if (op.kind === "chunk") {
      if (op.sha256 === undefined) op.sha256 = await sha256(op.blob); // the server checks what arrived
      const headers = { "Content-Type": "video/webm", ...(op.sha256 ? { "X-Content-SHA256": op.sha256 } : {}) };
      const r = await this.request("PUT", `/api/sessions/${sid}/recording/segments/${n}/chunks/${op.seq}?t=${op.t}&from=${op.from}`,
        op.blob, headers);
      if (r.status === 201 || r.status === 200) {
        this.counts.acked++;
        this.lastAck = ++this.events;
        this.lastError = "";
        this.changed();
        return {};
      }
      if (CLOSED.has(r.code) || REFUSED.has(r.status)) {
        console.warn(`recorder: session ${leg.sid} segment ${n} closed by the server (${r.status} ${r.code})`);
        this.dropLeg(leg, r.code);
        this.counts.dropped++;
        if (this.leg === leg) this.refuse(leg, r.code || String(r.status));
        return {};
      }
      if (r.code === "digest_mismatch") return { retry: true, error: r.code }; // damaged on the way: again
      if (r.status === 409 || r.status === 413 || r.status === 400) {
        // chunk_conflict, too_large, bad input: sending it again cannot help
        console.warn(`recorder: session ${leg.sid} segment ${n} chunk ${op.seq} refused (${r.status} ${r.code})`);
        this.counts.dropped++;
        this.lastFail = ++this.events;
        this.lastError = r.code || String(r.status);
        return {};
      }
      return { retry: true, error: r.code || String(r.status) }; // 5xx, 507 recording_unavailable, 429
    }
    // end
    const r = await this.request("POST", `/api/sessions/${sid}/recording/segments/${n}/end`,
      JSON.stringify({ chunks: op.chunks, t: op.t }), { "Content-Type": "application/json" });
    if (r.status >= 500 || r.status === 429 || r.status === 0) return { retry: true, error: r.code || String(r.status) };
    return {};
  }

  /** The server will not take this leg: stop recording it and do not ask again for the same call. */
  refuse(leg, why) {
    this.lastError = why;
    if (this.leg === leg) {
      this.leg = null;
      this.refusedKey = leg.key;
    }
    if (leg.state === "starting") {
      leg.state = "refused";
      leg.release();
    } else {
      leg.closedByServer = true;
      leg.stop({ closeSegment: false }).catch(() => {});
    }
    this.changed();
  }
}
