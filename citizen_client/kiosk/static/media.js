// The service screen's media: the call with the specialist (and screen shares both ways), the
// document camera's view from the device agent, and the session's recording with its indicator.
// Guests' peers (issue 19) are in guests.js; the recording mixes in the voices the citizen hears.

import { $, $$ } from "../shared/dom.js";
import { PROTOCOL } from "../protocol/protocol.js";
import { t } from "./i18n.js";
import { say } from "./speech.js";
import { Calls } from "./calls.js";
import { DeviceView } from "./device.js";
import { Recorder } from "./recorder.js";
import { BOOTH, DEVICE_PORT, TOKEN_KEY, S, RECORD } from "./state.js";
import { bannerKey, banner, showToast } from "./screens.js";
import { request } from "./connection.js";
import { guests } from "./guests.js"; // issue 19, guests

export const calls = new Calls({
  send: (msg) => request("signal", msg),
  rtcConfig: () => S.rtc,
  onLocal: (stream, failed) => {
    $("#self-video").srcObject = stream;
    if (!stream && !failed) guests.closeAll(); // the call's media ended (calls.closeAll): the guests' too
    if (failed && S.screen === "service") showToast(t("service_no_camera"));
    recorder.sync();
  },
  onRemote: (name, stream) => {
    if (name === "call") {
      $("#remote-video").srcObject = stream;
      $("#remote-wait").hidden = Boolean(stream);
    } else if (name === "screen") {
      const own = calls.sharing;
      $("#shared-video").srcObject = own ? null : stream;
      $("#shared-pane").hidden = !stream || own;
      $("#stage").classList.toggle("sharing", Boolean(stream) && !own);
    }
    recorder.sync();
  },
  onState: (name, state) => {
    document.body.dataset[`pc_${name}`] = state;
    if (name !== "call") return;
    recorder.sync();
    if (state === "connected") {
      if (["service_media_lost", "service_connecting"].includes(bannerKey)) banner("");
      const who = `${S.session?.sid}:${S.session?.agent}`;
      if (S.greeted !== who) {
        S.greeted = who;
        say("say_connected");
      }
    }
    // a lost picture is said by the quality overlay (showQuality: 网络中断，正在重新连接……), not a banner too
  },
  onShareEnded: () => {
    $("#btn-share-stop").hidden = true;
  },
  onQuality: (name, state) => showQuality(state),
});

/** The link's quality in big plain words over the specialist's picture (issue 21): said when
 *  weak or lost, a small quiet tag when good, nothing while there is no call. */
function showQuality(state) {
  const el = $("#net-quality");
  if (state) document.body.dataset.quality_call = state;
  else delete document.body.dataset.quality_call;
  if (!el) return;
  el.hidden = !state;
  if (!state) return;
  el.dataset.quality = state;
  el.dataset.i18n = `quality_${state}`; // a language switch re-applies it
  el.textContent = t(`quality_${state}`);
}

const HELD = new Set(PROTOCOL.sessions.held);

/** What the recorder records: the call with the specialist, the booth's own camera, any share,
 *  and the voices of the guests the citizen hears now (barge, consult). */
function recordingSources() {
  const s = S.session;
  const call = calls.pcs.get("call");
  const screen = calls.pcs.get("screen");
  return {
    sid: s?.sid || null,
    held: Boolean(s && HELD.has(s.state)),
    call: call ? { key: call, stream: call.remote, connected: call.pc.connectionState === "connected" } : null,
    local: calls.local,
    share: screen ? screen.sharing || screen.remote : null,
    sharer: screen?.sharing ? "booth" : "specialist",
    guests: guests.heardStreams(),
  };
}

// Burned into the recording, for whoever watches it later: staff, in Chinese and English.
function recordingLabels() {
  return {
    specialist: `专员 Specialist  ${S.session?.agent || ""}`.trim(),
    citizen: `市民 Citizen  ${BOOTH}`,
    sharedBy: (who) => (who === "booth" ? "本机共享的屏幕 Booth's screen" : "专员共享的屏幕 Specialist's screen"),
  };
}

/** ● 录制中 while the recorder runs and the server acknowledges what it sends. */
function showRecording(snap) {
  const badge = $("#rec-badge");
  if (badge) badge.hidden = !snap.healthy;
  document.body.dataset.recording = snap.healthy ? "on" : snap.state;
  document.body.dataset.voices = String(snap.voices); // how many voices the recording mixes now
}

export const recorder = new Recorder({
  auth: () => ({ Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY) || ""}`, "X-Booth": BOOTH }),
  sources: RECORD ? recordingSources : () => ({ held: false }), // ?record=0: a benchmark's baseline only
  labels: recordingLabels,
  onChange: showRecording,
});
// For tests and a hall technician's console: a read-only picture of the recorder.
Object.defineProperty(window, "__rwRecorder", { get: () => recorder.snapshot(), configurable: false });

export const device = new DeviceView(DEVICE_PORT, { img: $("#doc-img"), off: $("#doc-off") });

/** Each picture marks itself live once it shows something (for a hall technician's eye, and tests). */
export function bindMedia() {
  for (const el of $$(".pane video")) {
    el.addEventListener("loadeddata", () => { el.dataset.live = "1"; });
    el.addEventListener("emptied", () => { delete el.dataset.live; });
  }
  $("#doc-img").addEventListener("load", (ev) => { ev.target.dataset.live = "1"; });
}
