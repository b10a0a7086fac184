// The kiosk's peer connections with the specialist's console (docs/booth.md, "WebRTC"):
//   pc "call"   the console offers, the booth answers with its camera and microphone;
//   pc "screen" one screen share at a time, in either direction: whoever offers shares.
//               The console's offer: the specialist's screen, the booth answers receive-only.
//               The booth's offer: the booth's screen (getDisplayMedia), after the citizen agrees.
// A new offer on a name replaces that peer connection, and "bye" ends it. An offer from the same
// connection as before (its SDP origin, the o= line's session id, is the same: the console's ICE
// restart after a network change, issue 21) is answered in place: same tracks, same recording.
// Candidates are trickled both ways; early ones wait for the remote description.
// On a weak link (shared/quality.js): encoder roles, a send budget, a good/weak/lost indicator.

import { KIOSK_SEND_KBPS, QualityMonitor, capSendRate, tuneSender } from "../shared/quality.js";

/** The session id of an SDP's o= line: the same for every offer of one RTCPeerConnection. */
export function sdpOrigin(sdp) {
  const m = /^o=\S+ (\S+) /m.exec(sdp || "");
  return m ? m[1] : null;
}

export class Calls {
  constructor({ send, rtcConfig, onRemote, onState, onLocal, onShareEnded, onQuality, sendKbps = KIOSK_SEND_KBPS, qualityMs = 1000 }) {
    this.send = send; // (msg) => Promise: emits /booth "signal"
    this.rtcConfig = rtcConfig; // () => RTCConfiguration from the connect token (ICE servers, policy)
    this.onRemote = onRemote; // (name, MediaStream | null)
    this.onState = onState; // (name, connectionState)
    this.onLocal = onLocal; // (MediaStream | null, failed)
    this.onShareEnded = onShareEnded;
    this.onQuality = onQuality || (() => {}); // (name, "good" | "weak" | "lost", sample)
    this.sendKbps = sendKbps; // the booth page's whole send budget, kbit/s (shared/quality.js)
    this.qualityMs = qualityMs; // how often the indicator samples getStats()
    this.pcs = new Map(); // name -> {pc, sid, pending: [], sharing: MediaStream | null, remote: MediaStream | null}
    this.local = null;
    this.localPromise = null;
  }

  /** The booth's camera and microphone, asked once per session; null if there are none. */
  async localMedia() {
    if (this.local) return this.local;
    if (!this.localPromise) {
      this.localPromise = navigator.mediaDevices
        .getUserMedia({
          video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 15 } },
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        })
        .then((stream) => {
          this.local = stream;
          this.onLocal(stream);
          return stream;
        })
        .catch((err) => {
          console.warn("kiosk: no camera or microphone", err.name);
          this.onLocal(null, true);
          return null;
        })
        .finally(() => {
          this.localPromise = null;
        });
    }
    return this.localPromise;
  }

  setMuted(muted) {
    for (const track of this.local?.getAudioTracks() || []) track.enabled = !muted;
  }

  setCameraOff(off) {
    for (const track of this.local?.getVideoTracks() || []) track.enabled = !off;
  }

  get sharing() {
    return Boolean(this.pcs.get("screen")?.sharing);
  }

  async onSignal(msg) {
    if (msg.from === "guest") return; // a guest's peer: guests.js (issue 19)
    const name = msg.pc || "call";
    if (msg.kind === "offer") {
      const same = this.pcs.get(name);
      if (same && same.sid === msg.sid && same.origin && same.origin === sdpOrigin(msg.data?.sdp)
          && !same.sharing && same.pc.signalingState === "stable") return this.reanswer(same, msg.data);
      return this.answer(name, msg.sid, msg.data);
    }
    const entry = this.pcs.get(name);
    if (!entry || entry.sid !== msg.sid) return;
    if (msg.kind === "answer") {
      if (entry.pc.signalingState !== "have-local-offer") return; // an answer to an offer we dropped
      await entry.pc.setRemoteDescription(msg.data);
      await this.flush(entry);
    } else if (msg.kind === "ice") {
      if (!msg.data || !msg.data.candidate) return;
      // while a restart's offer is being applied, its new candidates wait for it
      if (entry.pc.remoteDescription && !entry.renegotiating) await entry.pc.addIceCandidate(msg.data).catch(() => {});
      else entry.pending.push(msg.data);
    } else if (msg.kind === "bye") {
      this.close(name);
    }
  }

  async flush(entry) {
    const pending = entry.pending.splice(0);
    for (const c of pending) await entry.pc.addIceCandidate(c).catch(() => {});
  }

  make(name, sid) {
    this.close(name);
    const pc = new RTCPeerConnection(this.rtcConfig());
    const entry = { name, pc, sid, pending: [], sharing: null, remote: null, origin: null, renegotiating: false, quality: null };
    this.pcs.set(name, entry);
    if (name === "call") {
      entry.quality = new QualityMonitor(pc, (state, sample) => {
        if (this.pcs.get(name) === entry) this.onQuality(name, state, sample);
      }, { intervalMs: this.qualityMs }).start();
    }
    pc.onicecandidate = (ev) => {
      if (!ev.candidate || this.pcs.get(name) !== entry) return;
      const { candidate, sdpMid, sdpMLineIndex } = ev.candidate;
      this.send({ sid, to: "agent", kind: "ice", pc: name, data: { candidate, sdpMid, sdpMLineIndex } });
    };
    pc.ontrack = (ev) => {
      if (this.pcs.get(name) !== entry) return;
      // One stream per connection, audio and video together (the recorder mixes and draws it),
      // also when the other side's tracks come without a stream id.
      const stream = ev.streams[0] || entry.remote || new MediaStream();
      if (!stream.getTracks().includes(ev.track)) stream.addTrack(ev.track);
      entry.remote = stream;
      this.onRemote(name, stream);
    };
    pc.onconnectionstatechange = () => {
      if (this.pcs.get(name) === entry) this.onState(name, pc.connectionState);
    };
    return entry;
  }

  /** Answer the console's offer: with camera and microphone for "call", receive-only otherwise. */
  async answer(name, sid, desc) {
    const local = name === "call" ? await this.localMedia() : null;
    const entry = this.make(name, sid);
    const { pc } = entry;
    entry.origin = sdpOrigin(desc.sdp);
    await pc.setRemoteDescription(desc);
    // After the offer, so the tracks take the offered transceivers instead of adding new ones.
    for (const track of local?.getTracks() || []) pc.addTrack(track, local);
    await pc.setLocalDescription(await pc.createAnswer());
    await this.flush(entry);
    await this.send({ sid, to: "agent", kind: "answer", pc: name, data: { type: "answer", sdp: pc.localDescription.sdp } });
    await this.tune(entry);
  }

  /** The same connection offers again (an ICE restart): answer it in place, nothing rebuilt. */
  async reanswer(entry, desc) {
    const { pc } = entry;
    entry.renegotiating = true; // candidates that come meanwhile are the new offer's: they wait
    try {
      await pc.setRemoteDescription(desc);
      await pc.setLocalDescription(await pc.createAnswer());
      // the answer first: its candidates (trickled from now on) must not overtake it
      const sent = this.send({ sid: entry.sid, to: "agent", kind: "answer", pc: entry.name, data: { type: "answer", sdp: pc.localDescription.sdp } });
      entry.renegotiating = false;
      await this.flush(entry);
      await sent;
    } finally {
      entry.renegotiating = false;
    }
  }

  /** Encoder roles for this connection's senders, then the page's budget over all of them. */
  async tune(entry) {
    for (const sender of entry.pc.getSenders()) {
      if (!sender.track) continue;
      const role = sender.track.kind === "audio" ? "voice" : entry.sharing ? "screen" : "face";
      await tuneSender(sender, role);
    }
    await this.cap();
  }

  /** Split the page's send budget over what it sends now (the call, and a screen it shares). */
  cap() {
    const pcs = [...this.pcs.values()].map((e) => e.pc);
    return capSendRate(pcs, this.sendKbps).catch(() => ({}));
  }

  /** Share this booth's screen with the specialist: the booth offers on pc "screen". */
  async shareScreen(sid) {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 10 } }, audio: false });
    const entry = this.make("screen", sid);
    entry.sharing = stream;
    const [track] = stream.getVideoTracks();
    track.contentHint = "detail"; // text on forms: sharp rather than smooth
    track.onended = () => this.stopShare(); // the citizen stopped it from the browser
    entry.pc.addTrack(track, stream);
    await entry.pc.setLocalDescription(await entry.pc.createOffer());
    await this.send({ sid, to: "agent", kind: "offer", pc: "screen", data: { type: "offer", sdp: entry.pc.localDescription.sdp } });
    await this.tune(entry);
  }

  stopShare() {
    const entry = this.pcs.get("screen");
    if (!entry?.sharing) return;
    this.send({ sid: entry.sid, to: "agent", kind: "bye", pc: "screen", data: null });
    this.close("screen");
  }

  close(name) {
    const entry = this.pcs.get(name);
    if (!entry) return;
    this.pcs.delete(name);
    if (entry.quality) {
      entry.quality.stop();
      this.onQuality(name, null, null); // nothing to say about a connection that is gone
    }
    for (const track of entry.sharing?.getTracks() || []) track.stop();
    entry.pc.close();
    if (entry.sharing) this.cap(); // the share's budget goes back to the call
    this.onRemote(name, null);
    if (entry.sharing) this.onShareEnded();
  }

  /** End everything of this session: peer connections, camera and microphone. */
  closeAll() {
    for (const name of [...this.pcs.keys()]) this.close(name);
    for (const track of this.local?.getTracks() || []) track.stop();
    this.local = null;
    this.onLocal(null, false);
  }
}
