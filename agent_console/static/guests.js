// The console's side of guests (issue 19, docs/console.md "Guests"): supervisors and reviewers
// joined to the session in service. Every guest's page offers one peer connection to this console
// (signals with from "guest", its gid, pc "g"); the console answers with its own camera and
// microphone and plays the guest's voice only while that guest is in whisper, barge or consult
// (the `guests` pushes say the modes; the guest's page also keeps its microphone off in monitor).
// The session header shows who is in the session (#guests); 邀请审批部门 (#btn-invite) invites a
// reviewer of the matter's region; the department's marks on materials are listed in the side panel.

import { lightenForGuest } from "../shared/guestlink.js";
import { $, h, fill } from "../shared/dom.js";
import { getLang, onLang } from "./i18n.js";
import { Peer } from "./media.js";
import { HELD, S, sock, materials } from "./state.js";
import { report, toast } from "./feedback.js";

const HEARD = new Set(["whisper", "barge", "consult"]); // the specialist hears the guest

const WORDS = {
  zh: {
    invite: "邀请审批部门", title: "邀请审批部门工作人员会商", none: "该属地暂无审批部门账号。",
    online: "在线", offline: "离线", waiting: "已邀请", send: "邀请", sent: "已邀请 {name}", close: "关闭",
    pending: "等待 {name} 回复", cancel: "撤回", "state.accepted": "{name} 已接受邀请",
    "state.declined": "{name} 拒绝了邀请", "state.expired": "给 {name} 的邀请已过期",
    "state.cancelled": "已撤回给 {name} 的邀请", marks: "部门意见", "mode.monitor": "监听",
    "mode.whisper": "耳语", "mode.barge": "强插", "mode.consult": "会商", "role.team_lead": "组长",
    "role.manager": "管理员", "role.chain_manager": "总管理员", "role.reviewer": "审批部门",
    "view.ok": "符合", "view.not_ok": "不符合", "view.unsure": "待定", supervised: "正在被督导",
    joined: "{name}（{role}）已加入：{mode}", left: "{name} 已离开",
  },
  en: {
    invite: "Invite the department", title: "Invite a department reviewer", none: "No reviewers for this region.",
    online: "online", offline: "offline", waiting: "invited", send: "Invite", sent: "{name} invited", close: "Close",
    pending: "Waiting for {name}", cancel: "Withdraw", "state.accepted": "{name} accepted",
    "state.declined": "{name} declined", "state.expired": "The invitation to {name} expired",
    "state.cancelled": "Invitation to {name} withdrawn", marks: "Department's view", "mode.monitor": "monitoring",
    "mode.whisper": "whispering", "mode.barge": "barged in", "mode.consult": "consulting",
    "role.team_lead": "team lead", "role.manager": "manager", "role.chain_manager": "chain manager",
    "role.reviewer": "department", "view.ok": "meets", "view.not_ok": "does not meet", "view.unsure": "undecided",
    supervised: "Supervised", joined: "{name} ({role}) joined: {mode}", left: "{name} left",
  },
};

function w(key, vars = {}) {
  const s = WORDS[getLang()]?.[key] ?? WORDS.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

const GS = {
  sid: null, // the session the guests belong to (the one in service)
  guests: [], // [GUEST] of the last push
  peers: new Map(), // gid -> Peer
  audio: new Map(), // gid -> <audio>
  invites: new Map(), // id -> {id, reviewer, reviewer_name, state, deadline}
  marks: new Map(), // material id -> MARK
  sig: "",
};

/** Follow the session in service: a new one (or none) drops the last one's guests. */
function sync() {
  const sid = S.sess && HELD.has(S.sess.state) ? S.sess.sid : null;
  if (sid !== GS.sid) {
    for (const gid of [...GS.peers.keys()]) drop(gid);
    Object.assign(GS, { sid, guests: [], sig: "" });
    GS.invites.clear();
    GS.marks.clear();
    render();
  }
  $("#btn-invite").hidden = !sid;
  const sig = marksSig();
  if (sig !== GS.sig) renderMarks();
}

function drop(gid) {
  const p = GS.peers.get(gid);
  if (p) p.close({ bye: false });
  GS.peers.delete(gid);
  const a = GS.audio.get(gid);
  if (a) {
    a.srcObject = null;
    a.remove();
  }
  GS.audio.delete(gid);
}

const hears = (gid) => GS.guests.some((g) => g.gid === gid && HEARD.has(g.mode));

/** A signal from a guest's page (calls.js onSignal hands every `from: "guest"` one here). */
export async function onGuestSignal(d) {
  sync();
  if (!GS.sid || d.sid !== GS.sid || !d.guest) return;
  const gid = d.guest;
  let peer = GS.peers.get(gid);
  if (d.kind === "offer") {
    if (peer) drop(gid);
    peer = new Peer({
      name: d.pc || "g", to: "guest", sid: d.sid, rtc: sock.rtc,
      signal: (msg) => sock.send("signal", { ...msg, guest: gid }),
      onTrack: (track) => onTrack(gid, peer, track),
    });
    GS.peers.set(gid, peer);
    await answerWithMine(peer, d.data);
    return;
  }
  if (!peer) return;
  if (d.kind === "bye") return drop(gid);
  await peer.handle(d.kind, d.data);
}

/** Answer a guest's offer sending my camera and microphone on the transceivers it offered. */
async function answerWithMine(peer, desc) {
  peer.held = false;
  const pc = peer.pc;
  await pc.setRemoteDescription(desc);
  const mine = S.local ? S.local.getTracks() : [];
  for (const tr of pc.getTransceivers()) {
    const kind = tr.receiver.track && tr.receiver.track.kind;
    const track = mine.find((x) => x.kind === kind);
    if (!track) continue;
    await tr.sender.replaceTrack(track); // the same track as the call's: mute and camera off apply
    if (tr.sender.setStreams) tr.sender.setStreams(S.local);
    tr.direction = "sendrecv"; // the answer narrows it to what the guest offered (sendonly for video)
  }
  await peer._flushIce();
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  peer._send("answer", { type: answer.type, sdp: pc.localDescription.sdp });
  await lightenForGuest(pc);
}

function onTrack(gid, peer, track) {
  if (GS.peers.get(gid) !== peer || track.kind !== "audio") return;
  let a = GS.audio.get(gid);
  if (!a) {
    a = h("audio", { autoplay: true, dataset: { gid } });
    $("#guest-audio").append(a);
    GS.audio.set(gid, a);
  }
  a.srcObject = new MediaStream([track]);
  a.muted = !hears(gid);
  a.play().catch(() => {});
}

function onGuests(d) {
  sync();
  if (d.sid !== GS.sid) return;
  const before = new Map(GS.guests.map((g) => [g.gid, g]));
  GS.guests = d.guests || [];
  const now = new Set(GS.guests.map((g) => g.gid));
  for (const g of GS.guests) {
    const old = before.get(g.gid);
    if (!old || old.mode !== g.mode) toast(w("joined", { name: g.name || g.department, role: w(`role.${g.role}`), mode: w(`mode.${g.mode}`) }), "warn");
  }
  for (const [gid, g] of before) {
    if (!now.has(gid)) {
      drop(gid);
      toast(w("left", { name: g.name || g.department }), "info");
    }
  }
  for (const [gid, a] of GS.audio) a.muted = !hears(gid);
  render();
}

function onInvitation(d) {
  sync();
  if (d.sid !== GS.sid) return;
  const inv = { ...(GS.invites.get(d.id) || {}), ...d };
  GS.invites.set(d.id, inv);
  if (d.state !== "pending") toast(w(`state.${d.state}`, { name: inv.reviewer_name || inv.reviewer }), d.state === "accepted" ? "ok" : "warn");
  render();
  if ($("#dlg-invite").open) openInvite({ refresh: true }).catch(report);
}

function onMark(d) {
  sync();
  if (d.sid !== GS.sid) return;
  GS.marks.set(d.material_id, d.mark);
  renderMarks();
}

// --- rendering -----------------------------------------------------------------------------------

function render() {
  const chips = GS.guests.map((g) => h("span.guest", { dataset: { gid: g.gid, mode: g.mode, role: g.role },
    title: [g.name, w(`role.${g.role}`), g.department].filter(Boolean).join(" · ") },
  h("b", g.name || g.department || ""), " · ", w(`mode.${g.mode}`)));
  const pend = [...GS.invites.values()].filter((i) => i.state === "pending").map((i) =>
    h("span.invite", { dataset: { id: i.id, state: i.state } }, w("pending", { name: i.reviewer_name || i.reviewer }), " ",
      h("button.ghost.x", { type: "button", title: w("cancel"), on: { click: () => cancel(i.id) } }, "×")));
  fill($("#guests"), chips, pend);
  $("#guests").classList.toggle("supervised", GS.guests.length > 0);
  renderMarks();
}

function marksSig() {
  const parts = [getLang(), GS.sid];
  for (const m of materials.list.values()) if (m.dept || GS.marks.has(m.id)) parts.push(m.id, (GS.marks.get(m.id) || m.dept).at, m.kind);
  for (const [id, mk] of GS.marks) parts.push(id, mk.at);
  return parts.join("|");
}

function renderMarks() {
  GS.sig = marksSig();
  const all = new Map();
  for (const m of materials.list.values()) if (m.dept) all.set(m.id, m.dept);
  for (const [id, mk] of GS.marks) all.set(id, mk);
  $("#dept-marks-panel").hidden = !all.size;
  fill($("#dept-marks"), [...all].map(([id, mk]) => {
    const m = materials.list.get(id);
    return h("li", { dataset: { material: id, view: mk.view } },
      h("span.k", m ? materials.kindName(m.kind) : id), " ",
      h(`b.v-${mk.view}`, w(`view.${mk.view}`)),
      mk.note ? h("span.note", `：${mk.note}`) : null,
      h("span.by", ` — ${mk.by_name || mk.by || ""}${mk.department ? `（${mk.department}）` : ""}`));
  }));
}

// --- inviting a reviewer ---------------------------------------------------------------------------

async function openInvite({ refresh = false } = {}) {
  if (!GS.sid) return;
  const dlg = $("#dlg-invite");
  const r = await sock.call("reviewers", { sid: GS.sid });
  if (refresh && !dlg.open) return; // closed meanwhile (the invite's own ack): stay closed
  const pendingFor = new Set([...GS.invites.values()].filter((i) => i.state === "pending").map((i) => i.reviewer));
  const here = new Set(GS.guests.map((g) => g.name));
  fill($("#invite-title"), w("title"));
  fill($("#invite-list"), (r.reviewers || []).length ? r.reviewers.map((rv) => h("li", { dataset: { reviewer: rv.username, online: rv.online ? "1" : "0" } },
    h("b", rv.name || rv.username), ` · ${rv.department || ""} · `,
    h(`span.${rv.online ? "on" : "off"}`, w(rv.online ? "online" : "offline")), " ",
    h("button.primary.invite-send", { type: "button", disabled: pendingFor.has(rv.username) || here.has(rv.name),
      on: { click: () => invite(rv).catch(report) } }, pendingFor.has(rv.username) ? w("waiting") : w("send")))) : h("li.empty", w("none")));
  fill($("#invite-close"), w("close"));
  if (!dlg.open) dlg.showModal();
}

async function invite(rv) {
  const r = await sock.call("invite", { sid: GS.sid, reviewer: rv.username });
  GS.invites.set(r.id, { id: r.id, sid: GS.sid, reviewer: rv.username, reviewer_name: rv.name, state: "pending", deadline: r.deadline });
  toast(w("sent", { name: rv.name || rv.username }), "ok");
  render();
  $("#dlg-invite").close();
}

async function cancel(id) {
  try {
    await sock.call("invite_cancel", { id });
  } catch (err) {
    report(err);
  }
}

/** Wire the guests' pushes and the invite button (console.js bindSocket calls this once). */
export function bindGuests() {
  document.head.append(h("link", { rel: "stylesheet", href: "/console/static/guests.css" }));
  document.body.append(
    h("div#guest-audio", { hidden: true }),
    h("dialog#dlg-invite", h("h3#invite-title"), h("ul#invite-list.invite-list"),
      h("menu", h("button#invite-close.ghost", { type: "button", on: { click: () => $("#dlg-invite").close() } }))));
  const side = $("#side");
  side.insertBefore(h("section.panel.dept-marks#dept-marks-panel", { hidden: true },
    h("h2", { "data-role": "marks-title" }), h("ul#dept-marks")), side.children[1] || null);
  $("#btn-invite").addEventListener("click", () => openInvite().catch(report));
  sock.on("guests", onGuests);
  sock.on("invitation", onInvitation);
  sock.on("material_mark", onMark);
  onLang(() => {
    $("[data-role='marks-title']").textContent = w("marks");
    render();
  });
  $("[data-role='marks-title']").textContent = w("marks");
  setInterval(sync, 500);
  sync();
  window.rwGuests = GS; // tests and the bench read it through page.evaluate
}
