// The guest page (/guest): a supervisor (组长 / 管理员 / 总管理员) joins a live session from the
// dashboard (`/guest?sid=…&mode=monitor`) and switches 监听 / 耳语 / 强插; a reviewer (审批部门)
// sees the invitations a specialist sent, accepts one and joins as 会商 with the stills and the
// checklist. One /guest socket; the media is in gmedia.js, the reviewer's panels in review.js.
// The page states itself on <body>: data-view (login | inbox | joining | session | ended),
// data-role and data-mode, so tests and styles wait on the DOM.

import { $, $$, h, fill, clock } from "../shared/dom.js";
import { get, post } from "../shared/api.js";
import { t, apply, has, getLang, setLang, onLang, errorText } from "./i18n.js";
import { GuestSocket } from "./gsocket.js";
import { GuestMedia } from "./gmedia.js";
import { Review } from "./review.js";
import { now } from "/console/static/media.js";

const GUEST_ROLES = new Set(["team_lead", "manager", "chain_manager", "reviewer"]);
const SUPERVISOR_MODES = ["monitor", "whisper", "barge"];

const G = {
  me: null, // /api/me user
  sid: null,
  gid: null,
  mode: null,
  session: null, // the join ack's session
  guests: [],
  invites: new Map(), // id -> INVITE
  joining: false,
  ended: "",
  marks: {}, // wall-clock ms for the bench: accept (the invitation_reply sent), joinAck
};

const sock = new GuestSocket({ onStatus: connStatus, onDenied: () => showLogin("role") });
const media = new GuestMedia({ sock, onMutedFallback: () => show("#btn-unmute", true), onChange: () => {} });
const review = new Review({ sock, toast });

function show(sel, on) {
  $(sel).hidden = !on;
}

function view(name) {
  document.body.dataset.view = name;
}

function toast(text, kind = "") {
  const el = h("div.toast", { class: kind, role: "status" }, text);
  $("#toasts").append(el);
  setTimeout(() => el.remove(), 5000);
}

function connStatus(online) {
  const el = $("#conn");
  el.classList.toggle("on", online);
  el.textContent = t(online ? "conn_on" : "conn_off");
}

const isReviewer = () => G.me && G.me.role === "reviewer";

// --- login -----------------------------------------------------------------------------------

function showLogin(why = "") {
  view("login");
  $("#login-error").textContent = why === "role" ? t("role_needed") : "";
}

async function submitLogin(ev) {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    await post("/api/login", { username: $("#username").value.trim(), password: $("#password").value });
    location.reload();
  } catch (err) {
    $("#login-error").textContent = t("login_failed", { msg: err.message });
    $("#password").select();
  }
}

// --- the reviewer's inbox ----------------------------------------------------------------------

async function loadInvitations() {
  if (!isReviewer()) return;
  const r = await sock.call("invitations", {});
  G.invites = new Map((r.invitations || []).map((i) => [i.id, i]));
  renderInbox();
}

function renderInbox() {
  const list = $("#invites");
  const items = [...G.invites.values()].sort((a, b) => a.deadline - b.deadline);
  fill(list, items.map((inv) => {
    const left = (inv.deadline - Date.now()) / 1000;
    return h("li.invite", { dataset: { id: inv.id, sid: inv.sid } },
      h("div.who", t("invite_from", { by: inv.by_name || inv.by, centre: inv.centre || "" })),
      h("div.what", h("b", inv.matter_name || inv.matter || ""), " · ", inv.department || "", " · ",
        h("span.sid", inv.sid)),
      h("span.left", { dataset: { deadline: inv.deadline } }, left > 0 ? t("invite_left", { left: clock(left) }) : t("invite_expired")),
      h("span.acts",
        h("button.primary.accept", { type: "button", on: { click: () => reply(inv, true) } }, t("accept")),
        h("button.decline", { type: "button", on: { click: () => reply(inv, false) } }, t("decline"))));
  }));
  show("#inbox-empty", isReviewer() && !items.length);
}

function tickInbox() {
  for (const el of $$("#invites .left")) {
    const left = (Number(el.dataset.deadline) - Date.now()) / 1000;
    el.textContent = left > 0 ? t("invite_left", { left: clock(left) }) : t("invite_expired");
  }
}

async function reply(inv, accept) {
  try {
    G.marks.accept = now();
    await sock.call("invitation_reply", { id: inv.id, accept });
    G.invites.delete(inv.id);
    renderInbox();
    if (accept) await join(inv.sid, "consult");
  } catch (err) {
    toast(errorText(err), "bad");
    await loadInvitations().catch(() => {});
  }
}

// --- joining, modes, leaving -------------------------------------------------------------------

async function join(sid, mode) {
  if (G.joining) return;
  G.joining = true;
  view("joining");
  try {
    await media.microphone(); // before the clock of the first offer; once per page
    // The three offers (ICE gathering included) are built while the join travels; sent on its ack.
    const prepared = media.prepare(mode).catch((err) => console.warn("offers not prepared", err));
    let ack;
    try {
      ack = await sock.call("join", { sid, mode });
    } catch (err) {
      await prepared;
      media.closeAll(false);
      throw err;
    }
    G.marks.joinAck = now();
    await prepared;
    Object.assign(G, { sid: ack.sid, gid: ack.gid, mode: ack.mode, session: ack.session, guests: ack.guests || [], ended: "" });
    renderSession();
    renderGuests();
    view("session");
    if (!media.mic) toast(t("mic_none"), "warn");
    await media.start(ack.sid, { device: !!ack.device, mode: ack.mode });
    if (isReviewer()) await review.start(ack.sid, ack.session.matter);
  } catch (err) {
    toast(errorText(err), "bad");
    G.sid = null;
    view(isReviewer() ? "inbox" : "ended");
    if (!isReviewer()) $("#ended-text").textContent = errorText(err);
  } finally {
    G.joining = false;
  }
}

async function changeMode(mode) {
  if (!G.sid || mode === G.mode) return;
  try {
    const ack = await sock.call("mode", { sid: G.sid, mode });
    G.mode = ack.mode;
    media.setMode(ack.mode);
    if (ack.guests) G.guests = ack.guests;
    renderSession();
    renderGuests();
  } catch (err) {
    toast(errorText(err), "bad");
  }
}

async function leave() {
  if (!G.sid) return;
  const sid = G.sid;
  try {
    await sock.call("leave", { sid });
  } catch (err) {
    toast(errorText(err), "warn");
  }
  ended("left", true);
}

function ended(why, bye = false) {
  media.closeAll(bye);
  review.stop();
  G.sid = null;
  G.gid = null;
  G.ended = why;
  $("#ended-text").textContent = has(`ended.${why}`) ? t(`ended.${why}`) : t("ended");
  if (isReviewer()) {
    view("inbox");
    toast($("#ended-text").textContent, "");
    loadInvitations().catch(() => {});
  } else {
    view("ended");
  }
}

// --- rendering ---------------------------------------------------------------------------------

function renderSession() {
  const s = G.session || {};
  document.body.dataset.mode = G.mode || "";
  $("#s-ticket").textContent = s.ticket || "";
  $("#s-matter").textContent = s.matter_name || s.matter || "";
  $("#s-agent").textContent = `${t("agent")}: ${s.agent_name || s.agent || ""}`;
  $("#s-region").textContent = s.region ? `${t("region")}: ${s.region}` : "";
  show("#modes", !isReviewer());
  for (const m of SUPERVISOR_MODES) {
    const b = $(`#mode-${m}`);
    b.setAttribute("aria-pressed", String(G.mode === m));
    b.classList.toggle("on", G.mode === m);
  }
  $("#mode-hint").textContent = G.mode ? t(`mode_hint.${G.mode}`) : "";
  show("#review", isReviewer());
}

function renderGuests() {
  fill($("#guest-list"), G.guests.map((g) => h("li", { dataset: { gid: g.gid, mode: g.mode } },
    h("b", g.name || g.department || ""), g.gid === G.gid ? t("me") : "",
    " · ", t(`role.${g.role}`), g.department ? ` · ${g.department}` : "",
    " · ", h("span.mode", t(`mode.${g.mode}`)))));
}

function renderAll() {
  apply();
  $("#who").textContent = G.me ? `${G.me.name || G.me.username}` : "";
  connStatus(sock.connected);
  if (G.sid) {
    renderSession();
    renderGuests();
    review.render();
  }
  renderInbox();
}

// --- socket ------------------------------------------------------------------------------------

let connectedOnce = false;

function bindSocket() {
  sock.on("connect", () => {
    const first = !connectedOnce;
    connectedOnce = true;
    if (first) {
      const q = new URLSearchParams(location.search);
      const sid = q.get("sid");
      if (sid && !isReviewer()) join(sid, q.get("mode") || "monitor");
      else if (isReviewer()) loadInvitations().catch((e) => toast(errorText(e), "bad"));
    } else if (G.sid && G.mode) {
      // The server forgets a guest whose socket left; come back under a fresh gid.
      const { sid, mode } = G;
      media.closeAll(false);
      G.sid = null;
      join(sid, mode);
    } else if (isReviewer()) {
      loadInvitations().catch(() => {});
    }
  });
  sock.on("signal", (d) => media.handle(d).catch((e) => console.warn(e)));
  sock.on("guests", (d) => {
    if (d.sid !== G.sid) return;
    G.guests = d.guests || [];
    const mine = G.guests.find((g) => g.gid === G.gid);
    if (mine && mine.mode !== G.mode) {
      G.mode = mine.mode;
      media.setMode(mine.mode);
      renderSession();
    }
    renderGuests();
  });
  sock.on("guest_ended", (d) => {
    if (d.sid === G.sid) ended(d.why || "");
  });
  sock.on("invited", (inv) => {
    G.invites.set(inv.id, inv);
    renderInbox();
    toast(t("invite_from", { by: inv.by_name || inv.by, centre: inv.centre || "" }), "ok");
  });
  sock.on("invitation_over", (d) => {
    if (G.invites.delete(d.id)) toast(t(`over.${d.state}`), "warn");
    renderInbox();
  });
}

function bindUi() {
  $("#btn-lang").addEventListener("click", () => setLang(getLang() === "en" ? "zh" : "en"));
  $("#login-form").addEventListener("submit", submitLogin);
  $("#btn-logout").addEventListener("click", async () => {
    if (G.sid) await leave();
    await post("/api/logout").catch(() => {});
    location.assign("/guest");
  });
  for (const m of SUPERVISOR_MODES) $(`#mode-${m}`).addEventListener("click", () => changeMode(m));
  $("#btn-leave").addEventListener("click", leave);
  $("#btn-back").addEventListener("click", () => location.assign("/guest"));
  $("#btn-refresh").addEventListener("click", () => review.load().catch((e) => toast(errorText(e), "bad")));
  $("#btn-unmute").addEventListener("click", () => {
    for (const v of $$("#v-booth, #v-agent")) {
      v.muted = false;
      v.play().catch(() => {});
    }
    show("#btn-unmute", false);
  });
  onLang(renderAll);
}

// For tests and the bench: the page's state and media figures, read through page.evaluate.
window.rwGuest = {
  state: G,
  media,
  stats: (to) => media.stats(to),
  audible: () => media.audible(),
};

async function boot() {
  bindUi();
  apply();
  try {
    G.me = (await get("/api/me")).user;
  } catch {
    return showLogin();
  }
  document.body.dataset.role = G.me.role;
  if (!GUEST_ROLES.has(G.me.role)) return showLogin("role");
  show("#btn-logout", true);
  show("#sup-hint", !isReviewer());
  show("#inbox-hint", isReviewer());
  view(isReviewer() || !new URLSearchParams(location.search).get("sid") ? "inbox" : "joining");
  renderAll();
  bindSocket();
  sock.connect();
  setInterval(tickInbox, 1000);
}

boot().catch((err) => {
  console.error(err);
  toast(String(err.message || err), "bad");
});
