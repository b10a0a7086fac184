// Issue 18 (conversation), the specialist's side: type to the citizen (Enter sends; shown large on
// the kiosk), read the citizen's quick replies (in Chinese, with their key) and typed words. The
// conversation is the session's: it comes back after a reload (chat_history) and reaches every
// tab of mine (chat pushes).

import { $, fill, h } from "../shared/dom.js";
import { onLang, t, tIn } from "./i18n.js";
import { report } from "./feedback.js";
import { HELD, S, sock } from "./state.js";

const chat = { sid: null, messages: new Map() }; // id -> {sid, id, from, text, quick?, at}

function hm(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export function renderChat() {
  const all = [...chat.messages.values()].sort((a, b) => a.id - b.id);
  const list = $("#chat-list");
  fill(list, all.length
    ? all.map((m) => h("li", { class: `from-${m.from}`, dataset: { id: String(m.id), quick: m.quick || "" } },
      h("span.who", `${t(m.from === "agent" ? "chat.me" : "chat.citizen")}：`),
      // a quick reply in Chinese whatever the citizen reads, and its key
      m.quick ? tIn("zh", `chat.quick.${m.quick}`) : m.text,
      m.quick ? h("span.key", `[${t("chat.quick")} ${m.quick}]`) : null,
      h("span.when", hm(m.at))))
    : h("li.empty", t("chat.empty")));
  list.scrollTop = list.scrollHeight;
}

function add(m) {
  if (!m || m.sid !== chat.sid || chat.messages.has(m.id)) return;
  chat.messages.set(m.id, m);
  renderChat();
}

/** Show the conversation of `sid` (null: none), its messages so far from the server. */
export async function loadChat(sid) {
  if (chat.sid !== sid) {
    chat.sid = sid;
    chat.messages.clear();
    $("#chat-input").value = "";
    renderChat();
  }
  if (!sid) return;
  try {
    const r = await sock.call("chat_history", { sid });
    if (chat.sid !== sid) return;
    for (const m of r.messages || []) chat.messages.set(m.id, m);
    renderChat();
  } catch (err) {
    console.debug("chat_history", err.code);
  }
}

async function send() {
  const input = $("#chat-input");
  const text = input.value.trim();
  const sess = S.sess;
  if (!text || !sess || !HELD.has(sess.state)) return;
  const m = await sock.call("chat", { sid: sess.sid, text });
  input.value = "";
  if (chat.sid !== sess.sid) await loadChat(sess.sid);
  add(m);
}

export function bindChat() {
  $("#chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    send().catch(report);
  });
  sock.on("chat", (m) => add(m));
  onLang(renderChat);
  renderChat();
}
