// Page side of bench/network_bench.py (issue 21): one peer connection per page, its sources,
// and what the page measures. Loaded as a classic script; everything lives on window.bench.
//
// Sources (each stamps the send time into every frame, see the time code in bench/netem.py):
// - "document": the synthetic 高拍仪 scene of citizen_client/camera.py. The page gets the
//   camera's pre-rendered 1280x960 base frame of the A4 form as a PNG and moves it as
//   SyntheticCamera.pose() does (drift and a slow turn), cropping the centre 1280x720 band, at
//   15 fps into a canvas.captureStream(15) with contentHint 'detail': the agent's content.
// - "face": the fake camera (kiosk or console size) redrawn into a canvas, contentHint 'motion',
//   plus the fake microphone.
// Receiving: every rendered frame (requestVideoFrameCallback) is timed, and the time-code strip
// of that very frame is drawn into a 256x16 canvas and sampled: 32 mean luminances, decoded in
// Python (bench/netem.py decode_timecode) so the decoder is the tested one.
"use strict";
(() => {
  const CELLS = 32, DATA_BITS = 24, STRIP = 1 / 18, MOD = 2 ** DATA_BITS;
  const now = () => performance.timeOrigin + performance.now();

  function crc8(bytes) {
    let crc = 0;
    for (const b of bytes) {
      crc ^= b;
      for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
    }
    return crc;
  }

  function timecodeBits(tMs) {
    const v = Math.floor(tMs) % MOD;
    const crc = crc8([(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]) ^ 0x55; // TIMECODE_CRC_XOR
    const bits = [];
    for (let i = DATA_BITS - 1; i >= 0; i--) bits.push((v >> i) & 1);
    for (let i = 7; i >= 0; i--) bits.push((crc >> i) & 1);
    return bits;
  }

  function drawTimecode(ctx, w, h, tMs) {
    const strip = Math.max(1, Math.round(h * STRIP));
    timecodeBits(tMs).forEach((bit, i) => {
      const x0 = Math.round((i * w) / CELLS), x1 = Math.round(((i + 1) * w) / CELLS);
      ctx.fillStyle = bit ? "#000" : "#fff";
      ctx.fillRect(x0, 0, x1 - x0, strip);
    });
  }

  // SyntheticCamera.pose(): dx, dy in base pixels, angle in degrees clockwise on screen
  const pose = (t) => ({
    dx: 18 * Math.sin((2 * Math.PI * t) / 6),
    dy: 10 * Math.sin((2 * Math.PI * t) / 4.3 + 1),
    angle: 1.2 * Math.sin((2 * Math.PI * t) / 8),
  });

  async function documentSource(baseUrl) {
    const img = new Image();
    img.src = baseUrl;
    await img.decode();
    const bw = img.naturalWidth, bh = img.naturalHeight, pw = 1280, ph = 720;
    const canvas = document.createElement("canvas");
    canvas.width = pw; canvas.height = ph;
    const ctx = canvas.getContext("2d");
    const t0 = performance.now();
    const draw = () => {
      const p = pose((performance.now() - t0) / 1000);
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#202020"; // the dark plate at the edges (the camera replicates its border)
      ctx.fillRect(0, 0, pw, ph);
      ctx.translate(p.dx + bw / 2, p.dy - (bh - ph) / 2 + bh / 2);
      ctx.rotate((p.angle * Math.PI) / 180);
      ctx.drawImage(img, -bw / 2, -bh / 2);
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      drawTimecode(ctx, pw, ph, now());
    };
    draw();
    const timer = setInterval(draw, 1000 / 15);
    const stream = canvas.captureStream(15);
    const video = stream.getVideoTracks()[0];
    video.contentHint = "detail";
    return { video, audio: null, role: "document", stop: () => clearInterval(timer) };
  }

  async function faceSource(width, height, fps) {
    const cam = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: fps } },
      audio: true,
    });
    const v = document.createElement("video");
    v.muted = true; v.playsInline = true; v.srcObject = new MediaStream(cam.getVideoTracks());
    await v.play();
    const canvas = document.createElement("canvas");
    canvas.width = width; canvas.height = height;
    const ctx = canvas.getContext("2d");
    const draw = () => {
      ctx.drawImage(v, 0, 0, width, height);
      drawTimecode(ctx, width, height, now());
    };
    draw();
    const timer = setInterval(draw, 1000 / fps);
    const video = canvas.captureStream(fps).getVideoTracks()[0];
    video.contentHint = "motion";
    return { video, audio: cam.getAudioTracks()[0] || null, role: "face",
             stop: () => { clearInterval(timer); cam.getTracks().forEach((t) => t.stop()); } };
  }

  function gathered(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
    });
  }

  const B = (window.bench = {
    pc: null, source: null, frames: [], tuned: [], tuneErrors: [], video: null, timers: [],

    // cfg: { iceServers, relayOnly, source: null|"document"|"face", base, width, height, fps, tune }
    async setup(cfg) {
      B.cfg = cfg;
      // max-bundle: one transport (one candidate) from the offer on, so the relay's SDP steering
      // sees a single 127.0.0.1 candidate for audio and video alike
      B.pc = new RTCPeerConnection({ iceServers: cfg.iceServers || [], bundlePolicy: "max-bundle",
                                     iceTransportPolicy: cfg.relayOnly ? "relay" : "all" });
      if (cfg.source === "document") B.source = await documentSource(cfg.base);
      else if (cfg.source === "face") B.source = await faceSource(cfg.width, cfg.height, cfg.fps);
      B.pc.ontrack = (ev) => {
        if (ev.track.kind === "video") B.watch(ev.track);
        else B.listen(ev.track);
      };
    },

    // Remote audio is decoded (and concealedSamples counted) only while something plays it out.
    listen(track) {
      const a = document.createElement("audio");
      a.srcObject = new MediaStream([track]);
      document.body.appendChild(a);
      a.play().catch((err) => B.tuneErrors.push("audio: " + err.message));
    },

    watch(track) {
      const v = (B.video = document.createElement("video"));
      v.muted = true; v.playsInline = true;
      document.body.appendChild(v);
      v.srcObject = new MediaStream([track]);
      const strip = document.createElement("canvas");
      strip.width = 256; strip.height = 16;
      const sctx = strip.getContext("2d", { willReadFrequently: true });
      const tick = (t) => {
        const at = performance.timeOrigin + t;
        const vw = v.videoWidth, vh = v.videoHeight;
        let levels = null;
        if (vw && vh) {
          sctx.drawImage(v, 0, 0, vw, Math.max(1, Math.round(vh * STRIP)), 0, 0, 256, 16);
          const px = sctx.getImageData(0, 0, 256, 16).data;
          levels = [];
          for (let c = 0; c < CELLS; c++) {
            let sum = 0, n = 0;
            for (let y = 4; y < 12; y++) for (let x = c * 8 + 2; x < c * 8 + 6; x++) {
              const i = (y * 256 + x) * 4;
              sum += px[i] + px[i + 1] + px[i + 2]; n += 3;
            }
            levels.push(Math.round(sum / n));
          }
        }
        B.frames.push([at, vw, vh, levels]);
        v.requestVideoFrameCallback(tick);
      };
      v.requestVideoFrameCallback(tick);
      v.play().catch(() => {});
    },

    async addTracks() {
      const s = B.source;
      if (!s) return;
      const stream = new MediaStream([s.video, ...(s.audio ? [s.audio] : [])]);
      B.senders = [[s.video, s.role], [s.audio, "voice"]]
        .filter(([track]) => track)
        .map(([track, role]) => [B.pc.addTrack(track, stream), role]);
    },

    // quality.js, as the pages use it (when it exists): each sender tuned for its role after
    // setLocalDescription (Chromium has no encodings before), then the page's total send cap.
    async tune() {
      if (!B.cfg.tune || !B.senders) return;
      let quality;
      try { quality = await import("/static/shared/quality.js"); }
      catch (err) { B.tuneErrors.push("import: " + err.message); return; }
      for (const [sender, role] of B.senders) {
        try { if (await quality.tuneSender(sender, role, {})) B.tuned.push(role); }
        catch (err) { B.tuneErrors.push(role + ": " + err.message); }
      }
      if (B.cfg.capKbps && typeof quality.capSendRate === "function") {
        try { await quality.capSendRate(B.pc, B.cfg.capKbps); B.tuned.push("cap" + B.cfg.capKbps); }
        catch (err) { B.tuneErrors.push("cap: " + err.message); }
      }
    },

    async offer() {
      await B.addTracks();
      await B.pc.setLocalDescription(await B.pc.createOffer());
      await B.tune();
      await gathered(B.pc);
      return B.pc.localDescription.sdp;
    },

    async answer(sdp) {
      await B.pc.setRemoteDescription({ type: "offer", sdp });
      await B.addTracks(); // after the offer: the offer's transceivers are reused, sendrecv
      await B.pc.setLocalDescription(await B.pc.createAnswer());
      await B.tune();
      await gathered(B.pc);
      return B.pc.localDescription.sdp;
    },

    async accept(sdp) { await B.pc.setRemoteDescription({ type: "answer", sdp }); },

    async stats() {
      const out = { now: now(), video: null, audio: null, sent: null, pair: null };
      const all = await B.pc.getStats();
      all.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") out.video = {
          packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, framesDecoded: s.framesDecoded,
          nackCount: s.nackCount, pliCount: s.pliCount, width: s.frameWidth, height: s.frameHeight,
          bytesReceived: s.bytesReceived };
        if (s.type === "inbound-rtp" && s.kind === "audio") out.audio = {
          concealedSamples: s.concealedSamples, totalSamplesReceived: s.totalSamplesReceived,
          packetsLost: s.packetsLost };
        if (s.type === "outbound-rtp" && s.kind === "video") out.sent = {
          width: s.frameWidth, height: s.frameHeight, framesEncoded: s.framesEncoded, bytesSent: s.bytesSent,
          qlr: s.qualityLimitationReason, qld: s.qualityLimitationDurations, target: s.targetBitrate,
          keyFrames: s.keyFramesEncoded, nackCount: s.nackCount, pliCount: s.pliCount };
        if (s.type === "media-source" && s.kind === "video") out.source = { frames: s.frames };
        if (s.type === "transport" && s.selectedCandidatePairId) {
          const p = all.get(s.selectedCandidatePairId);
          if (p) {
            const l = all.get(p.localCandidateId), r = all.get(p.remoteCandidateId);
            out.pair = { rtt: p.currentRoundTripTime, port: r ? r.port : null,
                         local: l ? l.candidateType : null, remote: r ? r.candidateType : null };
          }
        }
      });
      return out;
    },

    // The frames rendered since index `from` (the list is drained by Python as it goes).
    framesSince(from) { return B.frames.slice(from); },

    snapshot() {
      const v = B.video;
      if (!v || !v.videoWidth) return null;
      const c = document.createElement("canvas");
      c.width = v.videoWidth; c.height = v.videoHeight;
      c.getContext("2d").drawImage(v, 0, 0);
      return c.toDataURL("image/png");
    },

    close() {
      if (B.source) B.source.stop();
      if (B.pc) B.pc.close();
    },
  });
})();
