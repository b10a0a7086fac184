// The kiosk's peer connections with the specialist's console (docs/booth.md, "WebRTC"):
//   pc "call"   the console offers, the booth answers with its camera and microphone;
//   pc "screen" one screen share at a time, in either direction: whoever offers shares.
//               The console's offer: the specialist's screen, the booth answers receive-only.
//               The booth's offer: the booth's screen (getDisplayMedia), after the citizen agrees.
// A new offer on a name replaces that peer connection (aiortc peers cannot restart ICE), and
// "bye" ends it. Candidates are trickled both ways; early ones wait for the remote description.

export class Calls {
  constructor({ send, rtcConfig, onRemote, onState, onLocal, onShareEnded }) {
    this.send = send; // (msg) => Promise: emits /booth "signal"
    this.rtcConfig = rtcConfig; // () => RTCConfiguration from the connect token (ICE servers, policy)
    this.onRemote = onRemote; // (name, MediaStream | null)
    this.onState = onState; // (name, connectionState)
    this.onLocal = onLocal; // (MediaStream | null, failed)
    this.onShareEnded = onShareEnded;
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
    if (msg.kind === "offer") return this.answer(name, msg.sid, msg.data);
    const entry = this.pcs.get(name);
    if (!entry || entry.sid !== msg.sid) return;
    if (msg.kind === "answer") {
      if (entry.pc.signalingState !== "have-local-offer") return; // an answer to an offer we dropped
      await entry.pc.setRemoteDescription(msg.data);
      await this.flush(entry);
    } else if (msg.kind === "ice") {
      if (!msg.data || !msg.data.candidate) return;
      if (entry.pc.remoteDescription) await entry.pc.addIceCandidate(msg.data).catch(() => {});
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
    const entry = { pc, sid, pending: [], sharing: null, remote: null };
    this.pcs.set(name, entry);
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
    await pc.setRemoteDescription(desc);
    // After the offer, so the tracks take the offered transceivers instead of adding new ones.
    for (const track of local?.getTracks() || []) pc.addTrack(track, local);
    await pc.setLocalDescription(await pc.createAnswer());
    await this.flush(entry);
    await this.send({ sid, to: "agent", kind: "answer", pc: name, data: { type: "answer", sdp: pc.localDescription.sdp } });
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
    for (const track of entry.sharing?.getTracks() || []) track.stop();
    entry.pc.close();
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
