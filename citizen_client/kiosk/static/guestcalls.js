// Guests of the session at the booth (issue 19; docs/booth.md, "Guests"): a supervisor who
// monitors, whispers or barges in, or a reviewer of the approving department in consult.
// Each guest's page offers one peer connection (pc "g") to the booth; the booth answers with its
// camera and microphone (never a screen share) and keys the peer by the guest's gid:
//   signal in   {sid, from: "guest", guest: gid, kind, data, pc: "g"}
//   signal out  {sid, to: "guest", guest: gid, kind, data, pc: "g"}
// A guest is heard here only while their mode is barge or consult (the server pushes the modes
// in /booth "guests"); otherwise their audio stays muted, whatever their page sends. A guest
// that leaves the "guests" push, or says bye, is closed.

import { lightenForGuest } from "../shared/guestlink.js";
import { h } from "../shared/dom.js";

export const GUEST_PC = "g";
/** The modes the citizen hears and is told about; monitor and whisper are neither. */
export const AUDIBLE = new Set(["barge", "consult"]);

export class GuestCalls {
  constructor({ send, rtcConfig, localMedia, onChange }) {
    this.send = send; // (msg) => Promise: emits /booth "signal"
    this.rtcConfig = rtcConfig; // () => RTCConfiguration from the connect token (ICE servers, policy)
    this.localMedia = localMedia; // () => Promise<MediaStream | null>: the booth's camera and microphone
    this.onChange = onChange; // () => void: who is heard changed (the notice, the recording's mix)
    this.peers = new Map(); // gid -> {pc, sid, pending: [], remote: MediaStream | null, audio: <audio>}
    this.sid = null;
    this.guests = new Map(); // gid -> {gid, role, mode, department}: the last "guests" push
  }

  /** The last /booth "guests" push of the session: modes, and who left. */
  setGuests(sid, list) {
    if (this.sid !== sid) this.closeAll();
    this.sid = sid;
    this.guests = new Map((list || []).filter((g) => g && g.gid).map((g) => [g.gid, g]));
    for (const gid of [...this.peers.keys()]) if (!this.guests.has(gid)) this.close(gid);
    this.applyModes();
  }

  audible(gid) {
    return AUDIBLE.has(this.guests.get(gid)?.mode);
  }

  /** The guests the citizen hears now (in barge or consult), without names: {gid, role, mode, department}. */
  heard() {
    return [...this.guests.values()].filter((g) => AUDIBLE.has(g.mode));
  }

  /** The audio of the guests heard now, for the recording's mix. */
  heardStreams() {
    const out = [];
    for (const [gid, peer] of this.peers) if (peer.remote && this.audible(gid)) out.push(peer.remote);
    return out;
  }

  applyModes() {
    for (const [gid, peer] of this.peers) {
      peer.audio.muted = !this.audible(gid);
      if (!peer.audio.muted) peer.audio.play().catch(() => {});
    }
    this.onChange();
  }

  async onSignal(msg) {
    const gid = msg.guest;
    if (typeof gid !== "string" || !gid || (msg.pc || GUEST_PC) !== GUEST_PC) return;
    if (msg.kind === "offer") return this.answer(gid, msg.sid, msg.data);
    const peer = this.peers.get(gid);
    if (!peer || peer.sid !== msg.sid) return;
    if (msg.kind === "ice") {
      if (!msg.data || !msg.data.candidate) return;
      if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(msg.data).catch(() => {});
      else peer.pending.push(msg.data);
    } else if (msg.kind === "bye") {
      this.close(gid);
    }
  }

  /** Answer a guest's offer with the booth's camera and microphone (a new offer replaces the peer). */
  async answer(gid, sid, desc) {
    this.close(gid);
    const pc = new RTCPeerConnection(this.rtcConfig());
    // Muted until the server says this guest may be heard; the element is not in the page.
    const audio = h("audio", { autoplay: true, muted: true });
    const peer = { pc, sid, pending: [], remote: null, audio };
    this.peers.set(gid, peer);
    const mine = () => this.peers.get(gid) === peer;
    pc.onicecandidate = (ev) => {
      if (!ev.candidate || !mine()) return;
      const { candidate, sdpMid, sdpMLineIndex } = ev.candidate;
      this.send({ sid, to: "guest", guest: gid, kind: "ice", pc: GUEST_PC, data: { candidate, sdpMid, sdpMLineIndex } });
    };
    pc.ontrack = (ev) => {
      if (!mine() || ev.track.kind !== "audio") return; // a guest sends a voice, no picture
      const stream = peer.remote || new MediaStream();
      if (!stream.getTracks().includes(ev.track)) stream.addTrack(ev.track);
      peer.remote = stream;
      audio.srcObject = stream;
      this.applyModes();
    };
    pc.onconnectionstatechange = () => {
      if (mine() && pc.connectionState === "failed") this.close(gid); // the guest's page offers again
    };
    // The peer is registered before any await, so candidates that arrive meanwhile wait in `pending`.
    const local = await this.localMedia();
    if (!mine()) return;
    await pc.setRemoteDescription(desc);
    // After the offer, so the tracks take the offered transceivers instead of adding new ones.
    for (const track of local?.getTracks() || []) pc.addTrack(track, local);
    await pc.setLocalDescription(await pc.createAnswer());
    const sent = this.send({ sid, to: "guest", guest: gid, kind: "answer", pc: GUEST_PC,
      data: { type: "answer", sdp: pc.localDescription.sdp } });
    const pending = peer.pending.splice(0);
    for (const c of pending) await pc.addIceCandidate(c).catch(() => {});
    await lightenForGuest(pc);
    await sent;
    this.applyModes();
  }

  close(gid) {
    const peer = this.peers.get(gid);
    if (!peer) return;
    this.peers.delete(gid);
    peer.audio.muted = true;
    peer.audio.srcObject = null;
    peer.pc.close(); // the booth's own tracks are the call's too: not stopped here
    this.onChange();
  }

  /** The session is over (or another began): every guest's peer, and what we knew of them. */
  closeAll() {
    for (const gid of [...this.peers.keys()]) this.close(gid);
    const had = this.guests.size > 0;
    this.guests = new Map();
    this.sid = null;
    if (had) this.onChange();
  }
}
