// Issue 19, the booth's side of guests (docs/booth.md, "Guests at the booth"): the peers
// (guestcalls.js), the server's "guests" pushes and the notice the citizen reads while a guest
// can be heard: 主管已加入通话，可以听到您说话 (a supervisor barging in) or
// 审批部门（<department>）工作人员已加入通话 (a reviewer in consult). Never a name; nothing is
// shown for a guest who monitors or whispers to the specialist (the citizen cannot hear them).

import { $, h } from "../shared/dom.js";
import { PROTOCOL } from "../protocol/protocol.js";
import { onLang, t } from "./i18n.js";
import { S } from "./state.js";
import { request, socket } from "./connection.js";
import { calls, recorder } from "./media.js";
import { GuestCalls } from "./guestcalls.js";

const HELD = new Set(PROTOCOL.sessions.held);

export const guests = new GuestCalls({
  send: (msg) => request("signal", msg),
  rtcConfig: () => S.rtc,
  localMedia: () => calls.localMedia(),
  onChange: () => {
    renderGuestNotice();
    recorder.remix(); // an audible guest's voice into the recording's mix at once
  },
});

// For tests and a hall technician: who is connected and who is heard (gids and modes, no names).
Object.defineProperty(window, "__rwGuests", {
  get: () => Object.freeze({
    peers: [...guests.peers.keys()],
    heard: guests.heard().map((g) => g.gid),
    muted: Object.fromEntries([...guests.peers].map(([gid, p]) => [gid, p.audio.muted])),
    connection: Object.fromEntries([...guests.peers].map(([gid, p]) => [gid, p.pc.connectionState])),
  }),
  configurable: false,
});

/** The notice's lines: one for supervisors heard, one per department of the reviewers heard. */
export function noticeLines(heard) {
  const lines = [];
  if (heard.some((g) => g.role !== "reviewer")) lines.push(t("guest_supervisor"));
  const departments = new Set(heard.filter((g) => g.role === "reviewer").map((g) => g.department || ""));
  for (const department of departments) {
    lines.push(department ? t("guest_reviewer", { department }) : t("guest_reviewer_plain"));
  }
  return lines;
}

export function renderGuestNotice() {
  const el = $("#guest-notice");
  const lines = S.session && HELD.has(S.session.state) ? noticeLines(guests.heard()) : [];
  const text = lines.join("\n");
  if (el.dataset.text !== text) {
    el.dataset.text = text; // re-announced (aria-live) only when the words change
    el.replaceChildren(...lines.map((line) => h("p", {}, line)));
  }
  el.hidden = lines.length === 0;
  document.body.dataset.guestsHeard = String(guests.heard().length);
}

/** Ask the server who the session's guests are now (after a reload, or an offer from a guest
 *  we have not been told of yet): until then a guest stays muted and unannounced. */
export async function refreshGuests(sid) {
  const reply = await request("guests", { sid });
  if (reply.ok && S.session?.sid === sid) guests.setGuests(sid, reply.ok.guests);
}

/** Listen to the server's guest pushes and to the guests' signaling. */
export function bindGuests() {
  socket.on("guests", (d) => {
    if (!S.session || d?.sid !== S.session.sid) return;
    guests.setGuests(d.sid, d.guests);
  });
  socket.on("signal", (d) => {
    if (d?.from !== "guest" || !S.session || d.sid !== S.session.sid) return;
    if (d.kind === "offer" && !guests.guests.has(d.guest)) refreshGuests(d.sid);
    guests.onSignal(d).catch((err) => console.warn("kiosk: guest signaling failed", d.kind, err.name));
  });
  // A session no longer held has no guests: their peers close and the notice goes.
  socket.on("session_state", (d) => {
    if (!d || (guests.sid && d.sid !== guests.sid) || !HELD.has(d.state)) guests.closeAll();
    renderGuestNotice();
  });
  onLang(renderGuestNotice);
  renderGuestNotice();
}
