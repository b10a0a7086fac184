// The /booth socket: a fresh connect token on every (re)connection (POST
// /api/booths/{booth}/connect-token, role "booth"), requests with acknowledgements, and what the
// server pushes: session states, queue positions, signals, screen-share requests, materials.

import { io } from "/kiosk/vendor/socket.io.esm.min.js";
import { $ } from "../shared/dom.js";
import { rtcConfig } from "../shared/rtc.js";
import { PROTOCOL, STATE } from "../protocol/protocol.js";
import { getLang, t } from "./i18n.js";
import { say } from "./speech.js";
import { BOOTH, TOKEN_KEY, S } from "./state.js";
import { go, reset, dismissed, banner, showToast, ask, closeModal } from "./screens.js";
import { centreName, renderWaiting, verdictClass, materialName, renderMaterials } from "./views.js";
import { calls, device, recorder } from "./media.js";
import { rebuildChecklist } from "./checklist.js";
import { refreshGuests } from "./guests.js"; // issue 19, guests

const SESSION_SCREENS = new Set(["waiting", "service"]);

export class SetupNeeded extends Error {}
export class TokenRefused extends Error {}

export async function fetchGrant() {
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) throw new SetupNeeded("no booth token");
  const resp = await fetch(`/api/booths/${encodeURIComponent(BOOTH)}/connect-token`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ role: "booth" }),
    cache: "no-store",
  });
  if (resp.status === 401) throw new TokenRefused("booth token refused");
  if (!resp.ok) throw new Error(`connect-token: HTTP ${resp.status}`);
  const body = await resp.json();
  S.rtc = rtcConfig(body);
  return body.token;
}

export const socket = io(PROTOCOL.namespaces.booth, {
  autoConnect: false,
  transports: ["websocket"],
  reconnectionDelay: 500,
  // at most 2 s between attempts: after a booth's link returns, its call needs signaling again
  // soon (measured: with 10 s the first attempt came 4–6.6 s after the link, bench/reconnect_bench.py);
  // socket.io's randomization (±50 %) still spreads a hall's booths after a node restart
  reconnectionDelayMax: 2000,
  auth: (cb) => {
    fetchGrant().then(
      (token) => {
        S.authProblem = null;
        cb({ token });
      },
      (err) => {
        S.authProblem = err instanceof TokenRefused || err instanceof SetupNeeded ? err : null;
        cb({});
      },
    );
  },
});

export async function request(event, payload) {
  try {
    return await socket.timeout(10000).emitWithAck(event, payload);
  } catch {
    return { error: { code: "timeout", message: "no answer" } };
  }
}

/** Ask the server for this booth's open session and show it (after any (re)connection). */
export async function resume() {
  const reply = await request("resume", {});
  const s = reply.ok?.session;
  if (s) onSession({ ...s, act: "resume" });
  else if (reply.ok && SESSION_SCREENS.has(S.screen)) showEnded("interrupted");
}

export function sayAdvice(kind, zh, en) {
  say("say_recapture", { material: materialName(kind), advice: (getLang() === "en" ? en : zh) || "" });
}

/** A session change from the server (pushed, or the answer to resume). */
export function onSession(d) {
  if (!d || !d.sid) return;
  const same = S.session?.sid === d.sid;
  if (!same && d.act !== "resume" && S.session) return; // an old session's late news
  if (!same && [STATE.COMPLETED, STATE.RATED].includes(d.state) && dismissed(d.sid)) return; // a citizen who walked away
  const before = same ? S.session : {};
  S.session = { ...before, ...d, requeued: d.act === "requeue" || (before.requeued && d.state === STATE.WAITING) };
  switch (d.state) {
    case STATE.WAITING:
    case STATE.OFFERED:
      if (S.screen === "service") calls.closeAll();
      go("waiting");
      if (d.act === "resume" && before.ticket !== d.ticket) say("say_ticket", { ticket: d.ticket });
      break;
    case STATE.IN_SERVICE:
    case STATE.TRANSFERRING:
    case STATE.RECONNECTING:
      showService(d);
      if (d.act === "resume") rebuildChecklist(d.sid); // a reload or a reconnection: the server's list
      if (d.act === "resume") refreshGuests(d.sid); // issue 19: who else is in the call, and heard
      break;
    case STATE.COMPLETED:
      endMedia();
      request("resume", {}).then((r) => {
        const view = r.ok?.session;
        if (view && view.sid === d.sid) Object.assign(S.session, view);
      });
      if (!["rating", "reason", "receipt"].includes(S.screen)) go("rating");
      break;
    case STATE.RATED:
      if (!["receipt"].includes(S.screen)) go("receipt");
      break;
    case STATE.NO_SHOW:
      showEnded("no_show");
      break;
    case STATE.INTERRUPTED:
      showEnded("interrupted");
      break;
    case STATE.ABANDONED:
      reset(t("abandoned"));
      break;
    default:
      break;
  }
}

export function showService(d) {
  if (S.screen !== "service") {
    go("service");
    calls.localMedia(); // the self view at once, before the specialist's offer arrives
    device.start();
  }
  if (d.state === STATE.RECONNECTING) banner("service_reconnecting");
  else if (d.state === STATE.TRANSFERRING) {
    banner("service_transferring");
    say("say_transferring");
  } else banner(socket.connected ? "" : "offline");
  if (d.act === "transfer_accept" && d.agent_centre) showToast(t("service_transferred", { centre: centreName(d.agent_centre) }));
}

export function showEnded(kind) {
  endMedia();
  $("#ended-title").textContent = t(kind === "no_show" ? "no_show_title" : "interrupted_title");
  $("#ended-body").textContent = t(kind === "no_show" ? "no_show_body" : "interrupted_body");
  banner("");
  go("ended");
}

export function endMedia() {
  calls.closeAll();
  device.stop();
  closeModal();
  banner("");
  $("#btn-share-stop").hidden = true;
}

export function showSetup(key) {
  calls.closeAll();
  device.stop();
  $("#setup-body").textContent = t(key);
  go("setup");
}

/** Listen to the server's pushes and to the connection's ups and downs. */
export function bindSocket() {
  let retry = 500;
  socket.on("connect", () => {
    retry = 500;
    banner(S.screen === "service" && S.session?.state === STATE.RECONNECTING ? "service_reconnecting" : "");
    resume();
  });
  socket.on("disconnect", () => banner("offline"));
  socket.on("connect_error", () => {
    if (S.authProblem) {
      showSetup(S.authProblem instanceof TokenRefused ? "token_refused" : "setup_body");
      return; // an operator must act; the page is reloaded after set-up
    }
    banner("offline");
    if (!socket.active) {
      // refused at the door (token expired in between, server not ready): ask again with backoff
      setTimeout(() => socket.connect(), retry);
      retry = Math.min(retry * 2, 10000);
    }
  });

  socket.on("session_state", (d) => {
    onSession(d);
    recorder.sync(); // a session no longer held stops its recording at once
  });
  // The server's word on the recording (a disk that stopped taking chunks): the indicator goes off.
  socket.on("recording_status", (d) => {
    if (S.session && d?.sid === S.session.sid) recorder.onStatus(d);
  });
  socket.on("queue_position", (d) => {
    if (!S.session || d.sid !== S.session.sid) return;
    Object.assign(S.session, { position: d.position, ahead: d.ahead, eta_s: d.eta_s, wide: d.wide });
    if (S.screen === "waiting") renderWaiting();
  });
  socket.on("signal", (d) => {
    if (!S.session || d.sid !== S.session.sid) return;
    calls.onSignal(d).catch((err) => console.warn("kiosk: signaling failed", d.kind, d.pc, err.name));
  });
  socket.on("screen_share_request", async (d) => {
    if (!S.session || d.sid !== S.session.sid || S.screen !== "service") return;
    say("say_share");
    const yes = await ask("share_request", "share_yes", "share_no");
    request("screen_share_reply", { sid: d.sid, accepted: yes });
    if (!yes) return;
    try {
      await calls.shareScreen(d.sid);
      $("#btn-share-stop").hidden = false;
    } catch (err) {
      console.warn("kiosk: screen share failed", err.name);
      request("screen_share_reply", { sid: d.sid, accepted: false });
    }
  });
  // Materials: first the automatic check (material_added: taken, or what to fix), then the
  // specialist's verdict (material_verdict). Both come with plain words in both languages.
  socket.on("material_added", (d) => {
    if (!S.session || d.sid !== S.session.sid || !d.material) return;
    const m = d.material;
    if (S.materials.has(m.id)) return; // its recognition or verdict came first (pushes of two nodes may cross)
    S.materials.set(m.id, { id: m.id, kind: m.kind, stage: "check", verdict: m.verdict, cls: m.class ?? null,
      reasons: m.reasons || [], advice_zh: d.advice_zh, advice_en: d.advice_en });
    renderMaterials();
    if (m.verdict === "rejected") sayAdvice(m.kind, d.advice_zh, d.advice_en);
  });
  // Then what the still was recognised as (material_recognised, for every still): another
  // document than the one asked for is said in plain words (这不是身份证人像面，请放身份证人像面).
  // A specialist's verdict that came first stands; the booth never gets an ID number.
  socket.on("material_recognised", (d) => {
    if (!S.session || d.sid !== S.session.sid || !d.material) return;
    const m = d.material;
    const before = S.materials.get(m.id);
    if (before && before.stage === "specialist") {
      before.cls = m.class;
      renderMaterials();
      return;
    }
    S.materials.set(m.id, { id: m.id, kind: m.kind, stage: "check", verdict: m.verdict, cls: m.class,
      reasons: m.reasons || [], advice_zh: d.advice_zh, advice_en: d.advice_en });
    renderMaterials();
    const said = before && before.verdict === "rejected" ? before.advice_zh : null;
    if (m.verdict === "rejected" && said !== d.advice_zh) sayAdvice(m.kind, d.advice_zh, d.advice_en);
  });
  socket.on("material_verdict", (d) => {
    if (!S.session || d.sid !== S.session.sid) return;
    S.materials.set(d.material_id, { id: d.material_id, kind: d.kind, stage: "specialist", verdict: d.verdict,
      advice_zh: d.advice_zh, advice_en: d.advice_en });
    renderMaterials();
    if (verdictClass(S.materials.get(d.material_id)) === "bad") sayAdvice(d.kind, d.advice_zh, d.advice_en);
  });

}
