// The service screen's media: the call with the specialist (and screen shares both ways) and
// the document camera's view from the device agent.

import { $, $$ } from "../shared/dom.js";
import { t } from "./i18n.js";
import { say } from "./speech.js";
import { Calls } from "./calls.js";
import { DeviceView } from "./device.js";
import { DEVICE_PORT, S } from "./state.js";
import { bannerKey, banner, showToast } from "./screens.js";
import { request } from "./connection.js";

export const calls = new Calls({
  send: (msg) => request("signal", msg),
  iceServers: () => S.iceServers,
  onLocal: (stream, failed) => {
    $("#self-video").srcObject = stream;
    if (failed && S.screen === "service") showToast(t("service_no_camera"));
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
  },
  onState: (name, state) => {
    document.body.dataset[`pc_${name}`] = state;
    if (name !== "call") return;
    if (state === "connected") {
      if (["service_media_lost", "service_connecting"].includes(bannerKey)) banner("");
      const who = `${S.session?.sid}:${S.session?.agent}`;
      if (S.greeted !== who) {
        S.greeted = who;
        say("say_connected");
      }
    } else if (state === "failed" || state === "disconnected") {
      if (!bannerKey) banner("service_media_lost");
    }
  },
  onShareEnded: () => {
    $("#btn-share-stop").hidden = true;
  },
});

export const device = new DeviceView(DEVICE_PORT, { img: $("#doc-img"), off: $("#doc-off") });

/** Each picture marks itself live once it shows something (for a hall technician's eye, and tests). */
export function bindMedia() {
  for (const el of $$(".pane video")) {
    el.addEventListener("loadeddata", () => { el.dataset.live = "1"; });
    el.addEventListener("emptied", () => { delete el.dataset.live; });
  }
  $("#doc-img").addEventListener("load", (ev) => { ev.target.dataset.live = "1"; });
}
