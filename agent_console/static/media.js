// Peer connections of the console. One RTCPeerConnection per `pc` name of a session:
//   "call"    console <-> booth page     the console offers (sendrecv audio + video)
//   "preview" console <-> device agent   the console offers (recvonly video)
//   "screen"  console -> booth page      the console offers (sendonly: my shared screen)
//   any other name offered by the booth (e.g. "booth_screen") is answered here (recvonly).
// aiortc has no ICE restart, so reconnecting the preview means: close, and build a new connection
// under the same session and pc name (the answerer replaces its old one when a new offer comes).
// Between two browsers (the call) an ICE restart renegotiates the same connection instead
// (restartIce below; the kiosk answers it in place, recognising the offer's SDP origin).

const now = () => performance.timeOrigin + performance.now(); // comparable across pages

export class Peer {
  /**
   * @param {object} o
   * @param {string} o.name   pc name ("call", "preview", "screen", …)
   * @param {string} o.to     "booth" | "device"
   * @param {string} o.sid    session number
   * @param {(payload: object) => void} o.signal  sends one `signal` event
   * @param {RTCConfiguration} o.rtc  ICE servers and transport policy of the connect token (shared/rtc.js)
   * @param {(track: MediaStreamTrack, stream: MediaStream) => void} [o.onTrack]
   * @param {(state: string, peer: Peer) => void} [o.onState]
   */
  constructor({ name, to, sid, signal, rtc, onTrack, onState }) {
    Object.assign(this, { name, to, sid, signal });
    this.onTrack = onTrack || (() => {});
    this.onState = onState || (() => {});
    this.marks = { created: now() };
    this.held = true; // outgoing signals wait until release() (pre-warming before accept)
    this.outbox = [];
    this.remoteIce = [];
    this.closed = false;
    this.restarting = false; // an ICE restart's offer is out: a refused answer means rebuild
    this.pc = new RTCPeerConnection({ iceServers: [], ...rtc, bundlePolicy: "max-bundle" });
    this.pc.onicecandidate = (ev) => {
      if (ev.candidate) this._send("ice", ev.candidate.toJSON());
    };
    this.pc.ontrack = (ev) => {
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      this.onTrack(ev.track, stream);
    };
    this.pc.onconnectionstatechange = () => {
      const st = this.pc.connectionState;
      if (st === "connected" && !this.marks.connected) this.marks.connected = now();
      this.onState(st, this);
    };
    this.pc.oniceconnectionstatechange = () => {
      const st = this.pc.iceConnectionState;
      if ((st === "connected" || st === "completed") && !this.marks.ice) this.marks.ice = now();
    };
  }

  get state() {
    return this.closed ? "closed" : this.pc.connectionState;
  }

  _send(kind, data) {
    const msg = { sid: this.sid, to: this.to, kind, data, pc: this.name };
    if (this.held) this.outbox.push(msg);
    else this.signal(msg);
  }

  /** Start sending: the offer made while pre-warming and every candidate gathered since. */
  release(sid = this.sid) {
    this.sid = sid;
    this.held = false;
    this.marks.released = now();
    for (const msg of this.outbox.splice(0)) this.signal({ ...msg, sid });
  }

  /**
   * Make the offer. `send` are local tracks (sendrecv), `recv` kinds to receive without sending.
   * `sendOnly` makes the sent tracks one-way (screen sharing).
   */
  async offer({ send = [], recv = [], stream = null, sendOnly = false } = {}) {
    for (const track of send) {
      const streams = stream ? [stream] : [];
      this.pc.addTransceiver(track, { direction: sendOnly ? "sendonly" : "sendrecv", streams });
    }
    for (const kind of recv) this.pc.addTransceiver(kind, { direction: "recvonly" });
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.marks.offer = now();
    this._send("offer", { type: offer.type, sdp: this.pc.localDescription.sdp });
  }

  /**
   * Restart ICE on this connection (the offerer's side): same DTLS, same tracks, new candidates.
   * An offer still out from a restart the link swallowed is rolled back first.
   */
  async restartIce() {
    if (this.closed || this.held) return false;
    if (this.pc.signalingState === "have-local-offer") await this.pc.setLocalDescription({ type: "rollback" });
    if (this.pc.signalingState !== "stable") return false;
    const offer = await this.pc.createOffer({ iceRestart: true });
    await this.pc.setLocalDescription(offer);
    this.restarting = true;
    this.marks.iceRestart = now();
    this._send("offer", { type: offer.type, sdp: this.pc.localDescription.sdp });
    return true;
  }

  /** Answer a remote offer (the booth sharing its screen): receive only. */
  async answer(desc) {
    this.held = false;
    await this.pc.setRemoteDescription(desc);
    await this._flushIce();
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this._send("answer", { type: answer.type, sdp: this.pc.localDescription.sdp });
  }

  /** A signal for this pc from the other side. */
  async handle(kind, data) {
    if (this.closed) return;
    if (kind === "answer") {
      if (this.pc.signalingState !== "have-local-offer") return; // a stale or duplicate answer
      try {
        await this.pc.setRemoteDescription(data);
      } catch (err) {
        if (!this.restarting) throw err;
        // An answer from a new connection (a kiosk that cannot renegotiate in place): rebuild.
        this.restarting = false;
        this.restartRefused = true;
        this.onState("failed", this);
        return;
      }
      this.restarting = false;
      if (!this.marks.answer) this.marks.answer = now();
      await this._flushIce();
    } else if (kind === "ice") {
      if (!data || !data.candidate) return;
      // during an ICE restart the new candidates wait for the answer that carries their ufrag
      if (this.pc.remoteDescription && !this.restarting) await this._addIce(data);
      else this.remoteIce.push(data);
    }
  }

  async _flushIce() {
    for (const c of this.remoteIce.splice(0)) await this._addIce(c);
  }

  async _addIce(c) {
    try {
      await this.pc.addIceCandidate(c);
    } catch (err) {
      console.debug("ignored candidate", err.message);
    }
  }

  setSending(kind, on) {
    for (const s of this.pc.getSenders()) if (s.track && s.track.kind === kind) s.track.enabled = on;
  }

  /** Close; tell the other side unless it told us (bye) or the session is gone. */
  close({ bye = true } = {}) {
    if (this.closed) return;
    this.closed = true;
    if (bye && !this.held) this._send("bye", null);
    try {
      this.pc.close();
    } catch {
      /* already closed */
    }
    this.onState("closed", this);
  }

  /** Inbound video figures from getStats(): frames decoded, size, fps, bytes. */
  async inboundVideo() {
    if (this.closed) return null;
    const stats = await this.pc.getStats();
    let best = null;
    stats.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video" && (!best || (r.framesDecoded || 0) > (best.framesDecoded || 0))) best = r;
    });
    if (!best) return { framesDecoded: 0 };
    return {
      framesDecoded: best.framesDecoded || 0,
      width: best.frameWidth || 0,
      height: best.frameHeight || 0,
      fps: best.framesPerSecond || 0,
      bytes: best.bytesReceived || 0,
    };
  }
}

/** Watch a <video> for its first rendered frame; resolve with the wall-clock ms. */
export function firstFrame(video) {
  return new Promise((resolve) => {
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
      video.requestVideoFrameCallback(() => resolve(now()));
    } else {
      video.addEventListener("loadeddata", () => resolve(now()), { once: true });
    }
  });
}

/** Attach a stream to a <video> and play; fall back to muted playback if autoplay is refused. */
export async function attach(video, stream, { onMutedFallback } = {}) {
  if (video.srcObject !== stream) video.srcObject = stream;
  try {
    await video.play();
  } catch {
    if (!video.muted) {
      video.muted = true;
      try {
        await video.play();
      } catch {
        /* nothing more to do */
      }
      if (onMutedFallback) onMutedFallback();
    }
  }
}

/** The specialist's camera and microphone; null when there are none (receive only). */
export async function localMedia() {
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 24 } },
    });
  } catch (err) {
    console.warn("no local media", err.name);
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      return null;
    }
  }
}

export { now };
