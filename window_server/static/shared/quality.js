// How the pages hold up on narrow, lossy links (issue 21; docs/operations.md, "What the pages do
// on a weak link"). Four things, one module, used by the console and the kiosk alike:
//   tuneSender   encoder parameters per track: the citizen's face is motion (keep the frame rate,
//                lose resolution), a screen share or a document is detail (keep the resolution,
//                lose frames), the voice goes first on the wire.
//   capSendRate  a page's total send budget split over its senders, audio first: congestion
//                control finds the link's limit by overshooting it; a cap below the link keeps room
//                for the device agent's preview and the recording upload on the same uplink.
//   classify + QualityMonitor   good | weak | lost from getStats() deltas, with hysteresis, so
//                both people know when the picture cannot be trusted (ask for a still instead).
//   IceWatch     an ICE restart when the path fails or stays disconnected: a network change
//                (new address, new NAT binding) leaves the old candidate pairs dead for good.

/** Per role: content hint, what to give up under pressure, the default cap, the wire priority. */
export const ROLES = Object.freeze({
  // 15 fps camera at the booth: under pressure a smaller face is fine, a stuttering one is not
  face: { hint: "motion", degradation: "maintain-framerate", maxKbps: 700, priority: "medium" },
  // Opus speech needs ~32 kbit/s; 48 leaves room for FEC on a lossy link
  voice: { hint: "speech", degradation: null, maxKbps: 48, priority: "high" },
  // forms and pages: sharp text at a few frames per second beats smooth blur
  screen: { hint: "detail", degradation: "maintain-resolution", maxKbps: 900, priority: "low" },
  document: { hint: "detail", degradation: "maintain-resolution", maxKbps: 900, priority: "medium" },
});

/** What a page sends in total by default (kbit/s). Why these, docs/operations.md:
 *  the kiosk shares a 1.5-2 Mbit/s booth uplink with the device agent's preview (the picture the
 *  specialist reads, ~500 kbit/s at a legible size) and the recording's upload; 1000 leaves them
 *  room. The console sends the specialist's face and voice (and sometimes a screen) from a centre
 *  whose link is shared by many desks: 800 is a clear face and voice. */
export const KIOSK_SEND_KBPS = 1000;
export const CONSOLE_SEND_KBPS = 800;

const tuned = new WeakMap(); // sender -> {role, maxKbps}: what capSendRate splits the budget by

function roleOf(sender) {
  const known = tuned.get(sender);
  if (known) return known;
  const kind = sender.track && sender.track.kind;
  return kind === "audio" ? { role: "voice", maxKbps: ROLES.voice.maxKbps } : { role: "face", maxKbps: ROLES.face.maxKbps };
}

async function applyEncoding(sender, fill, degradation) {
  const params = sender.getParameters();
  // Chromium has no encodings before the transceiver was negotiated: the caller tunes after
  // setLocalDescription; until then there is nothing to set.
  if (!params.encodings || params.encodings.length === 0) return false;
  for (const enc of params.encodings) fill(enc);
  if (degradation) params.degradationPreference = degradation;
  try {
    await sender.setParameters(params);
    return true;
  } catch (err) {
    if (!degradation) throw err;
    // an older engine refuses degradationPreference: set the rest without it
    delete params.degradationPreference;
    await sender.setParameters(params);
    return true;
  }
}

/**
 * Set one sender's encoder for its role ('face' | 'voice' | 'screen' | 'document').
 * opts.maxKbps overrides the role's cap. Resolves true when the parameters were set.
 */
export async function tuneSender(sender, role, opts = {}) {
  const spec = ROLES[role];
  if (!sender || !spec) return false;
  const maxKbps = opts.maxKbps || spec.maxKbps;
  tuned.set(sender, { role, maxKbps });
  const track = sender.track;
  if (track && "contentHint" in track && track.contentHint !== spec.hint) {
    try {
      track.contentHint = spec.hint; // the same track may go to a second pc (a guest): same hint
    } catch {
      /* an unknown hint for this kind: keep the default */
    }
  }
  try {
    return await applyEncoding(sender, (enc) => {
      enc.maxBitrate = maxKbps * 1000;
      enc.priority = spec.priority;
      enc.networkPriority = spec.priority; // DSCP where the network honours it
    }, track && track.kind === "video" ? spec.degradation : null);
  } catch (err) {
    console.debug("sender left untuned", role, err.name);
    return false;
  }
}

/**
 * Split a budget (kbit/s) over the senders of one or more peer connections: audio first (each
 * voice its role's cap), the rest over the video senders in proportion to their caps, never above
 * a cap. Returns {sender role: kbps} of what was set, for the figures and the tests.
 */
export async function capSendRate(pcs, totalKbps) {
  const senders = [];
  for (const pc of Array.isArray(pcs) ? pcs : [pcs]) {
    if (!pc || pc.connectionState === "closed") continue;
    for (const s of pc.getSenders()) if (s.track && s.track.readyState !== "ended") senders.push(s);
  }
  let left = totalKbps;
  const plan = new Map();
  for (const s of senders.filter((x) => x.track.kind === "audio")) {
    const kbps = Math.max(0, Math.min(roleOf(s).maxKbps, left));
    plan.set(s, kbps);
    left -= kbps;
  }
  const video = senders.filter((x) => x.track.kind === "video");
  const want = video.reduce((sum, s) => sum + roleOf(s).maxKbps, 0);
  for (const s of video) {
    const share = want > 0 ? (left * roleOf(s).maxKbps) / want : 0;
    plan.set(s, Math.max(30, Math.floor(Math.min(roleOf(s).maxKbps, share)))); // 30: a still image's trickle
  }
  const out = {};
  for (const [s, kbps] of plan) {
    try {
      if (await applyEncoding(s, (enc) => { enc.maxBitrate = kbps * 1000; }, null)) out[roleOf(s).role] = (out[roleOf(s).role] || 0) + kbps;
    } catch (err) {
      console.debug("cap not set", err.name);
    }
  }
  return out;
}

// --- the quality indicator ------------------------------------------------------------------

/** Where "weak" starts. A receiver that sees these for two samples running tells its person. */
export const LIMITS = Object.freeze({
  loss: 0.04, // packet loss share: above ~4% video shows smears and audio concealment is audible
  rttMs: 450, // round trip: conversation turns trip over each other
  freezeShare: 0.1, // a tenth of the interval frozen (gaps over 500 ms)
  jitterBufferMs: 400, // a jitter buffer this deep means a late, choppy picture
  silentMs: 2000, // no media bytes this long: lost
});

const LOST_ICE = new Set(["disconnected", "failed", "closed"]);

/**
 * good | weak | lost for one sample (pure). Fields, all optional but `ice`:
 * {ice, silentMs, loss, rttMs, fps, freezeShare, jitterBufferMs}; null/undefined means unknown.
 * fps is carried for the figures only (see below).
 */
export function classify(sample) {
  if (!sample) return "lost";
  if (LOST_ICE.has(sample.ice)) return "lost";
  if (sample.silentMs != null && sample.silentMs >= LIMITS.silentMs) return "lost";
  const over = (v, lim) => v != null && Number.isFinite(v) && v >= lim;
  if (over(sample.loss, LIMITS.loss) || over(sample.rttMs, LIMITS.rttMs)
      || over(sample.freezeShare, LIMITS.freezeShare) || over(sample.jitterBufferMs, LIMITS.jitterBufferMs)) return "weak";
  // A low but steady frame rate is not counted: a camera switched off sends ~1 fps of black and
  // the preview slows down on purpose to stay sharp; a stutter shows as freezes instead.
  return "good";
}

/**
 * Hysteresis over classify(): lost at once (it already waited ~2 s of silence), weak after
 * `toWeak` bad samples running, good after `toGood` good ones running; out of lost after
 * `toGood` good ones (to good) or two non-lost ones with a weak among them (to weak).
 */
export class Hysteresis {
  constructor({ toWeak = 2, toGood = 3 } = {}) {
    Object.assign(this, { toWeak, toGood });
    this.state = null; // nothing said yet
    this.goods = 0;
    this.bads = 0;
    this.alive = 0;
  }

  push(raw) {
    if (raw === "lost") {
      this.goods = this.bads = this.alive = 0;
      this.state = "lost";
      return this.state;
    }
    this.alive += 1;
    if (raw === "good") {
      this.goods += 1;
      this.bads = 0;
    } else {
      this.bads += 1;
      this.goods = 0;
    }
    if (this.state === null) this.state = raw; // the first word is the first sample's
    else if (this.state === "good" && this.bads >= this.toWeak) this.state = "weak";
    else if (this.state === "weak" && this.goods >= this.toGood) this.state = "good";
    else if (this.state === "lost") {
      if (this.goods >= this.toGood) this.state = "good";
      else if (this.alive >= 2 && this.goods < this.alive) this.state = "weak";
    }
    return this.state;
  }
}

function sum(stats, type, pick, kind = null) {
  let total = 0;
  let seen = false;
  stats.forEach((r) => {
    if (r.type !== type || (kind && r.kind !== kind)) return;
    const v = pick(r);
    if (typeof v === "number" && Number.isFinite(v)) {
      total += v;
      seen = true;
    }
  });
  return seen ? total : null;
}

/** The counters one sample is the delta of (from one RTCStatsReport). */
export function counters(stats) {
  let rttMs = null;
  let pairBytesIn = null;
  stats.forEach((r) => {
    if (r.type === "transport" && r.selectedCandidatePairId) {
      const pair = stats.get(r.selectedCandidatePairId);
      if (pair) {
        if (typeof pair.currentRoundTripTime === "number") rttMs = pair.currentRoundTripTime * 1000;
        pairBytesIn = pair.bytesReceived || 0;
      }
    }
  });
  if (rttMs === null) {
    const rtt = sum(stats, "remote-inbound-rtp", (r) => r.roundTripTime);
    if (rtt !== null) rttMs = rtt * 1000;
  }
  return {
    inbound: sum(stats, "inbound-rtp", () => 1) || 0, // how many inbound streams there are
    mediaBytesIn: sum(stats, "inbound-rtp", (r) => r.bytesReceived) || 0,
    pairBytesIn: pairBytesIn || 0,
    packetsIn: sum(stats, "inbound-rtp", (r) => r.packetsReceived) || 0,
    lostIn: sum(stats, "inbound-rtp", (r) => r.packetsLost) || 0,
    // what the far side reports losing of ours (a send-only pc has no inbound)
    lostOut: sum(stats, "remote-inbound-rtp", (r) => r.fractionLost),
    frames: sum(stats, "inbound-rtp", (r) => r.framesDecoded, "video"),
    freezeS: sum(stats, "inbound-rtp", (r) => r.totalFreezesDuration, "video"),
    jbDelayS: sum(stats, "inbound-rtp", (r) => r.jitterBufferDelay, "video"),
    jbCount: sum(stats, "inbound-rtp", (r) => r.jitterBufferEmittedCount, "video"),
    rttMs,
  };
}

/** One sample from two counters() taken dtMs apart, and since when no bytes arrived (pure). */
export function sampleOf(prev, cur, dtMs, { ice, silentMs }) {
  const d = (k) => (prev && cur[k] != null && prev[k] != null ? cur[k] - prev[k] : null);
  const got = d("packetsIn");
  const lost = d("lostIn");
  let loss = got != null && lost != null && got + lost > 0 ? Math.max(0, lost) / (got + Math.max(0, lost)) : null;
  if (cur.inbound === 0 && cur.lostOut != null) loss = cur.lostOut; // sending only: the far side's figure
  const frames = d("frames");
  const freeze = d("freezeS");
  const jbc = d("jbCount");
  const jbd = d("jbDelayS");
  return {
    ice, silentMs, loss, rttMs: cur.rttMs,
    fps: frames != null && dtMs > 0 ? (frames * 1000) / dtMs : null,
    freezeShare: freeze != null && dtMs > 0 ? (freeze * 1000) / dtMs : null,
    jitterBufferMs: jbc != null && jbd != null && jbc > 0 ? (jbd / jbc) * 1000 : null,
  };
}

/**
 * Sample a peer connection's stats every intervalMs and tell onChange(state, sample) when the
 * quality said (good | weak | lost, hysteresis applied) changes. Says nothing until the ICE
 * transport first connected, so "connecting" stays the page's own business.
 */
export class QualityMonitor {
  constructor(pc, onChange, { intervalMs = 1000, toWeak = 2, toGood = 3 } = {}) {
    Object.assign(this, { pc, onChange, intervalMs });
    this.hyst = new Hysteresis({ toWeak, toGood });
    this.state = null;
    this.last = null; // the last sample, for a figure beside the indicator
    this.prev = null;
    this.prevAt = 0;
    this.lastBytesAt = 0;
    this.timer = null;
    this.busy = false;
    this.seenConnected = false;
    this.onIce = () => {
      const st = pc.iceConnectionState;
      if (st === "connected" || st === "completed") this.seenConnected = true;
      if (this.seenConnected && LOST_ICE.has(st)) this.tick(); // say it now, not at the next interval
    };
  }

  start() {
    if (this.timer) return this;
    this.pc.addEventListener("iceconnectionstatechange", this.onIce);
    this.onIce();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    return this;
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.pc.removeEventListener("iceconnectionstatechange", this.onIce);
  }

  async tick() {
    if (this.busy || !this.timer) return;
    this.busy = true;
    try {
      const ice = this.pc.iceConnectionState;
      if (ice === "connected" || ice === "completed") this.seenConnected = true;
      if (!this.seenConnected) return;
      const at = performance.now();
      const cur = this.pc.connectionState === "closed" ? null : counters(await this.pc.getStats());
      if (!this.lastBytesAt) this.lastBytesAt = at;
      if (cur) {
        // inbound media when the pc receives any, else anything on the path (RTCP of a send-only pc)
        const key = cur.inbound > 0 ? "mediaBytesIn" : "pairBytesIn";
        if (!this.prev || cur[key] > this.prev[key]) this.lastBytesAt = at;
      }
      const sample = cur
        ? sampleOf(this.prev, cur, at - this.prevAt, { ice, silentMs: at - this.lastBytesAt })
        : { ice: "closed" };
      this.prev = cur;
      this.prevAt = at;
      this.last = sample;
      const before = this.state;
      this.state = this.hyst.push(classify(sample));
      if (this.state !== before) this.onChange(this.state, sample);
    } catch (err) {
      console.debug("quality sample skipped", err.name);
    } finally {
      this.busy = false;
    }
  }
}

// --- ICE restart after a network change ---------------------------------------------------

/**
 * Restart ICE when the path fails, or stays disconnected past graceMs (a blip of loss makes
 * Chromium say "disconnected" and come back by itself: no need to renegotiate for that), then
 * again every retryMs while it is not connected (an offer sent while the link was down finds
 * nobody; the next one does). restart() makes the offer through the page's signaling.
 */
export class IceWatch {
  constructor(pc, restart, { graceMs = 3000, retryMs = 3000 } = {}) {
    Object.assign(this, { pc, restart, graceMs, retryMs });
    this.timer = null;
    this.restarts = 0;
    this.onIce = () => this.check();
    pc.addEventListener("iceconnectionstatechange", this.onIce);
  }

  check() {
    const st = this.pc.iceConnectionState;
    if (st === "closed") return this.stop();
    if (st === "connected" || st === "completed") {
      clearTimeout(this.timer);
      this.timer = null;
      return;
    }
    if (st === "failed") {
      clearTimeout(this.timer);
      this.timer = null;
      this.fire();
    } else if (st === "disconnected" && !this.timer) {
      this.timer = setTimeout(() => this.fire(), this.graceMs);
    }
  }

  fire() {
    this.timer = null;
    const st = this.pc.iceConnectionState;
    if (st === "connected" || st === "completed" || st === "closed") return;
    this.restarts += 1;
    Promise.resolve()
      .then(() => this.restart())
      .catch((err) => console.debug("ice restart", err && err.name));
    this.timer = setTimeout(() => this.fire(), this.retryMs);
  }

  /** A connection made to replace a lost one: if it has not connected in expectMs, act again
   *  (longer than retryMs: a first connection through a relay on a slow link takes its time). */
  expect(expectMs = Math.max(8000, this.retryMs)) {
    if (!this.timer) this.timer = setTimeout(() => this.fire(), expectMs);
    return this;
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.pc.removeEventListener("iceconnectionstatechange", this.onIce);
  }
}
