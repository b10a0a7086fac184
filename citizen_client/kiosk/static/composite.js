// What the recording shows and sounds like (recorder.js records it): a 1280×360 canvas (1280×720
// while a screen is shared) drawn 12 times a second on a timer, not requestAnimationFrame, which
// stops when the page is not painted:
//
//   ┌───────────────────┬───────────────────┐
//   │ specialist        │ citizen (booth)   │   640×360 each, letterboxed, unmirrored
//   ├───────────────────┴───────────────────┤
//   │ a screen share, either direction      │   1280×360 more, while it lasts
//   │                  ● REC sid #n  clock  │   burned in
//   └───────────────────────────────────────┘
//
// and a WebAudio mix of both voices: the booth's microphone and the specialist's audio, and the
// voice of a guest while the citizen hears them (a supervisor barging in, a reviewer in consult;
// never one who monitors or whispers: the recording has what the citizen heard). The 高拍仪
// preview is not in it. Each frame is pushed to the recorder (requestFrame) right after it is
// drawn, so the timer is the one clock of the video.

import { h } from "../shared/dom.js";

export const W = 1280;
export const H = 720;
export const FPS = 12; // the issue asks ≥ 10 fps per party; 12 leaves room for a busy booth PC (bench: CPU)

const pad = (x) => String(x).padStart(2, "0");

function stamp(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export class Composite {
  /**
   * @param {object} o
   * @param {MediaStream} o.remote  the specialist's stream of this call leg (video and audio)
   * @param {() => {local, share, sharer, guests}} o.sources  the booth's camera, any share and the
   *   streams of the guests heard, now
   * @param {() => {specialist, citizen, sharedBy}} o.labels  the words burned in
   * @param {() => string} o.caption  the burned-in line before the clock (session, segment)
   */
  constructor({ remote, sources, labels, caption }) {
    Object.assign(this, { remote, sources, labels, caption });
    this.videos = new Map(); // role -> <video>, not in the page: drawing sources only
    this.inputs = new Map(); // audio track id -> MediaStreamAudioSourceNode
    this.canvas = h("canvas", { width: W, height: H });
    this.g = this.canvas.getContext("2d");
    this.frameTrack = null;
    this.frames = 0;
    this.audio = null;
    this.dest = null;
    try {
      this.audio = new AudioContext();
      this.dest = this.audio.createMediaStreamDestination();
      this.audio.resume().catch(() => {});
    } catch (err) {
      console.warn("recorder: no audio mix", err.name);
    }
    this.mix();
    this.draw();
    this.timer = setInterval(() => this.draw(), Math.round(1000 / FPS));
  }

  /** The composite as a stream to record: one video track fed frame by frame, the mix. */
  stream() {
    [this.frameTrack] = this.canvas.captureStream(0).getVideoTracks();
    return new MediaStream([this.frameTrack, ...(this.dest?.stream.getAudioTracks() || [])]);
  }

  /** Which pictures are in the composite now: {remote, local, share} (true while one has frames). */
  drawing() {
    const out = {};
    for (const [role, v] of this.videos) out[role] = Boolean(v.srcObject && v.videoWidth);
    return out;
  }

  release() {
    clearInterval(this.timer);
    this.frameTrack?.stop();
    for (const track of this.dest?.stream.getTracks() || []) track.stop();
    for (const v of this.videos.values()) v.srcObject = null;
    this.videos.clear();
    for (const node of this.inputs.values()) node.disconnect();
    this.inputs.clear();
    this.audio?.close().catch(() => {});
  }

  video(role, stream) {
    let v = this.videos.get(role);
    if (!stream) {
      if (v) v.srcObject = null;
      return null;
    }
    if (!v) {
      v = h("video", { muted: true, playsInline: true }); // for drawing: the page's own elements play the sound
      this.videos.set(role, v);
    }
    if (v.srcObject !== stream) {
      v.srcObject = stream;
      v.play().catch(() => {});
    }
    return v;
  }

  /** The voices into the mix (tracks come and go: a camera found late, a call's audio added, a
   *  guest heard or no longer heard). */
  mix() {
    if (!this.audio || !this.dest) return;
    const { local, guests } = this.sources();
    const want = new Map();
    for (const stream of [local, this.remote, ...(guests || [])]) {
      for (const track of stream?.getAudioTracks() || []) if (track.readyState === "live") want.set(track.id, track);
    }
    for (const [id, node] of this.inputs) {
      if (!want.has(id)) {
        node.disconnect();
        this.inputs.delete(id);
      }
    }
    for (const [id, track] of want) {
      if (this.inputs.has(id)) continue;
      try {
        const node = this.audio.createMediaStreamSource(new MediaStream([track]));
        node.connect(this.dest);
        this.inputs.set(id, node);
      } catch (err) {
        console.warn("recorder: audio source", err.name);
      }
    }
    if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
  }

  draw() {
    const g = this.g;
    const { local, share, sharer } = this.sources();
    const { specialist, citizen, sharedBy } = this.labels();
    const half = H / 2;
    const shared = this.video("share", share);
    // The bottom half only while a share shows: half the pixels to encode the rest of the time
    // (the encoder's cost follows the picture's size; bench/recording_bench.py). VP8 and VP9 carry
    // the size in each key frame, so the recording changes size with it.
    const height = shared?.videoWidth ? H : half;
    if (this.canvas.height !== height) this.canvas.height = height;
    g.fillStyle = "#000";
    g.fillRect(0, 0, W, half);
    this.tile(this.video("remote", this.remote), 0, 0, W / 2, half, specialist);
    this.tile(this.video("local", local), W / 2, 0, W / 2, half, citizen);
    if (height > half) {
      g.fillStyle = "#14181d";
      g.fillRect(0, half, W, half);
      this.tile(shared, 0, half, W, half, sharedBy(sharer));
    }
    const line = `● REC  ${this.caption()}  ${stamp(new Date())}`;
    g.font = "bold 22px sans-serif";
    g.textBaseline = "middle";
    const w = g.measureText(line).width + 24;
    g.fillStyle = "rgba(0,0,0,0.72)";
    g.fillRect(W - w - 8, height - 40, w, 32);
    g.fillStyle = "#fff";
    g.fillText(line, W - w + 4, height - 24);
    g.fillStyle = "#e0242b";
    g.fillText("●", W - w + 4, height - 24);
    if (!this.frameTrack) return; // not recording yet
    this.frameTrack.requestFrame?.();
    if (this.frames++ % FPS === 0) this.mix();
  }

  /** A video fitted (letterboxed) into a box, its label in the corner; the box stays dark without one. */
  tile(video, x, y, w, hgt, label) {
    const g = this.g;
    const vw = video?.videoWidth || 0;
    const vh = video?.videoHeight || 0;
    if (vw && vh) {
      const s = Math.min(w / vw, hgt / vh);
      g.drawImage(video, x + (w - vw * s) / 2, y + (hgt - vh * s) / 2, vw * s, vh * s);
    }
    g.font = "bold 20px sans-serif";
    g.textBaseline = "middle";
    const tw = g.measureText(label).width + 16;
    g.fillStyle = "rgba(0,0,0,0.72)";
    g.fillRect(x + 6, y + 6, tw, 30);
    g.fillStyle = "#fff";
    g.fillText(label, x + 14, y + 21);
  }
}
