// Issue 18 (conversation), the kiosk's side: the specialist's words shown large beside the video
// (the latest prominent, a short history below), the citizen's quick replies (a stable key and
// its words in the citizen's language) and optional typed words; who serves (centre and 工号);
// the hang-up button (结束通话, confirmed). The conversation comes back after a reload
// (chat_history), and everything of it is cleared for the next citizen (clearChat).

import { $, h } from "../shared/dom.js";
import { PROTOCOL, STATE } from "../protocol/protocol.js";
import { onLang, t } from "./i18n.js";
import { S } from "./state.js";
import { ask, showToast } from "./screens.js";
import { centreName } from "./views.js";
import { onSession, request, socket } from "./connection.js";

const HELD = new Set([STATE.IN_SERVICE, STATE.TRANSFERRING, STATE.RECONNECTING]);
const chat = { sid: null, messages: new Map() }; // id -> {sid, id, from, text, quick?, at}

/** The conversation as the page holds it (read by the page tests). */
export const conversation = () => ({ sid: chat.sid, messages: [...chat.messages.values()] });
window.rwKioskChat = conversation;

// --- who serves -----------------------------------------------------------------------------------

export function renderServing() {
  const s = S.session || {};
  const el = $("#serving");
  if (!s.agent_centre) el.textContent = t("service_serving_wait");
  else if (s.agent_no) el.textContent = t("service_serving", { centre: centreName(s.agent_centre), no: s.agent_no });
  else el.textContent = t("service_serving_centre", { centre: centreName(s.agent_centre) });
}

// --- messages ------------------------------------------------------------------------------------

/** The words of a message as this screen shows them: a quick reply in the current language. */
function words(m) {
  return m.quick ? t(`quick_${m.quick}`) : m.text;
}

export function renderChat() {
  const all = [...chat.messages.values()].sort((a, b) => a.id - b.id);
  const latest = [...all].reverse().find((m) => m.from === "agent");
  const big = $("#chat-latest");
  big.classList.toggle("empty", !latest);
  big.textContent = latest ? latest.text : t("chat_hint");
  const list = $("#chat-log");
  list.replaceChildren(...all.map((m) => h("li", { class: `from-${m.from}`, dataset: { id: String(m.id) } },
    h("b", {}, `${t(m.from === "agent" ? "chat_from_agent" : "chat_from_you")}：`), words(m))));
  list.scrollTop = list.scrollHeight;
}

function add(m) {
  if (!m || !chat.sid || m.sid !== chat.sid || chat.messages.has(m.id)) return;
  chat.messages.set(m.id, m);
  renderChat();
  // the specialist's newest words in view, even if the citizen's typing scrolled the panel
  if (m.from === "agent" && S.screen === "service") $("#chat-latest").scrollIntoView({ block: "nearest" });
}

/** Forget the conversation (the next citizen must not see it). */
export function clearChat() {
  chat.sid = null;
  chat.messages.clear();
  $("#chat-input").value = "";
  renderChat();
}

/** Start (or come back to) the conversation of `sid`: its messages so far from the server. */
async function load(sid) {
  if (chat.sid !== sid) {
    chat.sid = sid;
    chat.messages.clear();
    renderChat();
  }
  const reply = await request("chat_history", { sid });
  if (chat.sid !== sid || !reply.ok) return;
  for (const m of reply.ok.messages || []) chat.messages.set(m.id, m);
  renderChat();
}

async function send(payload) {
  const sid = S.session?.sid;
  if (!sid || !HELD.has(S.session.state)) return false;
  const reply = await request("chat", { sid, ...payload });
  if (reply.error) {
    showToast(t("chat_failed"));
    return false;
  }
  if (chat.sid !== sid) await load(sid);
  add(reply.ok);
  $("#chat-latest").scrollIntoView({ block: "nearest" }); // back to the specialist's words
  return true;
}

// --- hang-up ---------------------------------------------------------------------------------------

async function hangUp() {
  const s = S.session;
  if (!s || !HELD.has(s.state)) return;
  if (!(await ask("hangup_confirm", "hangup_yes", "hangup_no"))) return;
  if (S.session?.sid !== s.sid || !HELD.has(S.session.state)) return; // it ended meanwhile
  const reply = await request("hang_up", { sid: s.sid });
  if (reply.ok) onSession({ sid: s.sid, state: reply.ok.state, act: "hang_up" }); // the push may come later
  else if (reply.error?.code !== "illegal_transition") showToast(t("error_generic"));
}

// --- wiring ----------------------------------------------------------------------------------------

export function bindChat() {
  const chips = $("#chat-chips");
  for (const key of PROTOCOL.quickReplies) {
    const label = `quick_${key}`;
    chips.append(h("button", { class: "chat-chip", type: "button", dataset: { quick: key, i18n: label },
      on: { click: () => send({ quick: key, text: t(label) }) } }, t(label)));
  }
  $("#chat-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("#chat-input");
    const text = input.value.trim();
    if (text && (await send({ text }))) input.value = "";
  });
  $("#btn-hang-up").addEventListener("click", () => hangUp());
  socket.on("chat", (m) => add(m));
  // after connection.js's own handler: the session's news is in S.session already
  socket.on("session_state", (d) => {
    renderServing();
    if (d && d.sid && HELD.has(d.state) && (chat.sid !== d.sid || d.act === "resume")) load(d.sid);
  });
  onLang(() => {
    renderServing();
    renderChat();
  });
  renderServing();
  renderChat();
}
