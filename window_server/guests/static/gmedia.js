// The guest's media: one RTCPeerConnection per pair, all offered by this page, pc name "g"
// (docs/protocol.md, guests):
//   "booth"  recv the citizen's video and audio; send my microphone, enabled in barge/consult only
//   "agent"  recv the specialist's video and audio; send my microphone, enabled in whisper/barge/consult
//   "device" recv the 高拍仪 preview only
// Each pair sends its own clone of the microphone track, so enabling it toward the specialist
// (whisper) leaves it disabled toward the booth. The receivers enforce the same rule on their side.
// aiortc (the device agent) has no ICE restart: a failed or closed pair is rebuilt as a new pc.

import { Peer, attach, firstFrame, now } from "/console/static/media.js";

/** The modes in which each side hears this guest. */
export const AUDIBLE = {
  booth: new Set(["barge", "consult"]),
  agent: new Set(["whisper", "barge", "consult"]),
  device: new Set(),
};

const VIDEO = { booth: "#v-booth", agent: "#v-agent", device: "#v-device" };

export class GuestMedia {
  /**
   * @param {object} o
   * @param {import("./gsocket.js").GuestSocket} o.sock
   * @param {() => void} [o.onMutedFallback]  autoplay with sound was refused
   * @param {() => void} [o.onChange]  a pair's state or first frame changed
   */
  constructor({ sock, onMutedFallback, onChange }) {
    this.sock = sock;
    this.onMutedFallback = onMutedFallback || (() => {});
    this.onChange = onChange || (() => {});
    this.peers = new Map(); // "booth" | "agent" | "device" -> Peer
    this.remote = new Map(); // same keys -> MediaStream shown in that tile
    this.mic = null; // my microphone (MediaStream) or null
    this.sid = null;
    this.mode = "monitor";
    this.marks = {}; // wall-clock ms: joined, and first frame per pair (booth, agent, device)
  }

  /** Ask for the microphone once (a fake one in tests); null when there is none. */
  async microphone() {
    if (this.mic) return this.mic;
    try {
      this.mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true }, video: false,
      });
    } catch (err) {
      console.warn("no microphone", err.name);
      this.mic = null;
    }
    return this.mic;
  }

  /** Open the pairs of a session just joined: the booth, the specialist, the device agent if online. */
  /** Build the three pairs' offers, held, before the join is answered (start() sends them). */
  async prepare(mode) {
    this.closeAll(false);
    this.mode = mode;
    this.prepared = mode;
    await Promise.all(["booth", "agent", "device"].map((to) => this.open(to, { hold: true })));
  }

  async start(sid, { device, mode }) {
    const targets = device ? ["booth", "agent", "device"] : ["booth", "agent"];
    document.querySelector(VIDEO.device).closest("figure").hidden = !device; // no 高拍仪 online: no tile
    const held = this.prepared !== undefined && this.sid === null && targets.every((to) => this.peers.get(to)?.held);
    this.prepared = undefined;
    if (!held) {
      this.closeAll(false);
      this.sid = sid;
      this.mode = mode;
      this.marks = { joined: now() };
      await Promise.all(targets.map((to) => this.open(to)));
      return;
    }
    this.sid = sid;
    this.marks = { joined: now() };
    for (const [to, peer] of [...this.peers]) {
      if (targets.includes(to)) peer.release(sid);
      else {
        peer.close({ bye: false });
        this.peers.delete(to);
      }
    }
    if (mode !== this.mode) this.setMode(mode);
    this.onChange();
  }

  async open(to, { hold = false } = {}) {
    const old = this.peers.get(to);
    if (old) old.close({ bye: false });
    const sid = this.sid;
    const tile = document.querySelector(VIDEO[to]).closest("figure");
    delete tile.dataset.live;
    const stream = new MediaStream();
    this.remote.set(to, stream);
    const peer = new Peer({
      name: "g", to, sid, rtc: this.sock.rtc,
      signal: (msg) => this.sock.send("signal", msg),
      onTrack: (track) => this.onTrack(peer, to, track),
      onState: (state) => this.onState(peer, to, state),
    });
    this.peers.set(to, peer);
    if (!hold) peer.release(); // held: start() releases it with the session's number
    if (to === "device") {
      await peer.offer({ recv: ["video"] });
    } else {
      const mic = this.mic && this.mic.getAudioTracks()[0];
      if (mic) {
        const mine = mic.clone();
        mine.enabled = AUDIBLE[to].has(this.mode);
        await peer.offer({ send: [mine], recv: ["video"], stream: new MediaStream([mine]) });
      } else {
        await peer.offer({ recv: ["audio", "video"] });
      }
    }
    this.onChange();
  }

  onTrack(peer, to, track) {
    if (this.peers.get(to) !== peer) return;
    const stream = this.remote.get(to);
    stream.addTrack(track);
    const video = document.querySelector(VIDEO[to]);
    if (track.kind === "video") {
      firstFrame(video).then((ts) => {
        if (this.peers.get(to) !== peer) return;
        if (!this.marks[to]) this.marks[to] = ts;
        video.closest("figure").dataset.live = "1";
        this.onChange();
      });
    }
    attach(video, stream, { onMutedFallback: this.onMutedFallback });
  }

  onState(peer, to, state) {
    if (this.peers.get(to) !== peer) return;
    this.onChange();
    if (state === "failed" && this.sid) {
      // No ICE restart (aiortc): a new connection after a short pause.
      setTimeout(() => {
        if (this.peers.get(to) === peer && this.sid) this.open(to).catch((e) => console.warn(e));
      }, 1000);
    }
  }

  /** My microphone toward each side follows the mode. */
  setMode(mode) {
    this.mode = mode;
    for (const [to, peer] of this.peers) peer.setSending("audio", AUDIBLE[to].has(mode));
  }

  /** Which sides hear me now (for the page and the tests). */
  audible() {
    const out = {};
    for (const [to, peer] of this.peers) {
      out[to] = peer.pc.getSenders().some((s) => s.track && s.track.kind === "audio" && s.track.enabled);
    }
    return out;
  }

  /** A signal of one of my pairs from the other side (answer, ice, bye). */
  async handle(d) {
    if (d.sid !== this.sid || (d.pc && d.pc !== "g")) return;
    const peer = this.peers.get(d.from);
    if (!peer) return;
    if (d.kind === "bye") {
      // The other side went away (a kiosk reload, the device agent restarting): offer again.
      peer.close({ bye: false });
      setTimeout(() => {
        if (this.peers.get(d.from) === peer && this.sid) this.open(d.from).catch((e) => console.warn(e));
      }, 1000);
      return;
    }
    await peer.handle(d.kind, d.data);
  }

  /** Close every pair (bye: tell the other sides; not when the server ended the session). */
  closeAll(bye = true) {
    for (const peer of this.peers.values()) peer.close({ bye });
    this.peers.clear();
    for (const [to, sel] of Object.entries(VIDEO)) {
      const v = document.querySelector(sel);
      if (v) {
        v.srcObject = null;
        delete v.closest("figure").dataset.live;
      }
      this.remote.delete(to);
    }
    this.sid = null;
  }

  /** Inbound video figures of a pair, and its state and marks. */
  async stats(to) {
    const p = this.peers.get(to);
    if (!p) return null;
    return { ...(await p.inboundVideo()), state: p.state, marks: p.marks };
  }
}
