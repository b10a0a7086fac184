// The citizen's path through the screens: the buttons of every step, taking a ticket, leaving
// the queue, the service screen's switches, rating.

import { $, $$ } from "../shared/dom.js";
import { getLang, setLang, t, tIn } from "./i18n.js";
import { repeat, say } from "./speech.js";
import { S } from "./state.js";
import { go, reset, bannerKey, banner, showToast, ask } from "./screens.js";
import { renderMatters, needsPlace } from "./finder.js";
import { request, resume } from "./connection.js";
import { calls } from "./media.js";

/** A button that switches something on and off, its words saying what a touch will do. */
export function toggleButton(selector, apply, wordsWhenOn, wordsWhenOff) {
  let on = false;
  const b = $(selector);
  b.addEventListener("click", () => {
    on = !on;
    apply(on);
    b.dataset.i18n = on ? wordsWhenOn : wordsWhenOff;
    b.textContent = t(b.dataset.i18n);
    b.setAttribute("aria-pressed", String(on));
  });
}

export async function submitRating(comment) {
  const sid = S.session?.sid;
  if (sid && S.rating) {
    const reply = await request("rate", { sid, level: S.rating, comment });
    if (reply.error && !["already_rated", "rating_closed"].includes(reply.error.code)) {
      showToast(t("error_generic"));
      return;
    }
  }
  go("receipt");
}

/** Wire every button of the flow. */
export function bindFlow() {
  $("#btn-lang").addEventListener("click", () => {
    setLang(getLang() === "zh" ? "en" : "zh");
    go(S.screen, { speak: false });
    if (bannerKey) banner(bannerKey);
    repeat();
  });
  $("#btn-repeat").addEventListener("click", () => repeat());
  $("#btn-home").addEventListener("click", () => reset());
  // --- choosing (issue 18, helper D1): the matter first, the place only when there is a choice
  $("#btn-start").addEventListener("click", () => {
    Object.assign(S, { category: null, group: null, matter: null, region: null });
    $("#matter-search").value = "";
    go("matter");
  });
  $("#matter-back").addEventListener("click", () => reset());
  $("#place-back").addEventListener("click", () => go("matter"));
  $("#priority-back").addEventListener("click", () => go(needsPlace() ? "place" : "matter"));
  // No recording, no video service: the hall's counter serves the citizen instead (no ticket).
  $("#consent-no").addEventListener("click", () => go("declined"));
  $("#declined-home").addEventListener("click", () => reset());
  $("#ended-home").addEventListener("click", () => reset());
  $("#matter-search").addEventListener("input", () => {
    S.category = null; // a search looks in every category
    renderMatters();
  });
  for (const b of $$("#priority-list .choice")) {
    b.addEventListener("click", () => {
      S.priority = b.dataset.priority;
      go("consent");
    });
  }

  $("#consent-yes").addEventListener("click", async () => {
    const button = $("#consent-yes");
    button.disabled = true;
    try {
      const reply = await request("request_service", { matter: S.matter, priority: S.priority, source: "walk_in",
        lang: getLang(), consent: true });
      if (reply.error) {
        if (reply.error.code === "booth_busy") return resume();
        showToast(t("error_generic"));
        return;
      }
      const ok = reply.ok;
      if (S.session?.sid === ok.sid) Object.assign(S.session, { ticket: ok.ticket, matter: S.matter }); // a push came first
      else {
        S.session = { ...ok, matter: S.matter };
        go("waiting");
      }
      say("say_ticket", { ticket: ok.ticket });
    } finally {
      button.disabled = false;
    }
  });

  $("#btn-leave").addEventListener("click", async () => {
    if (!(await ask("leave_confirm", "leave_yes", "leave_no")) || !S.session) return;
    const reply = await request("leave_queue", { sid: S.session.sid });
    if (reply.ok || reply.error?.code === "illegal_transition") reset(t("abandoned"));
    else showToast(t("error_generic"));
  });

  toggleButton("#btn-mute", (on) => calls.setMuted(on), "service_unmute", "service_mute");
  toggleButton("#btn-camera", (on) => calls.setCameraOff(on), "service_camera_on", "service_camera_off");
  $("#btn-share-stop").addEventListener("click", () => calls.stopShare());

  for (const b of $$("#rating-list .rate")) {
    b.addEventListener("click", () => {
      S.rating = Number(b.dataset.level);
      if (S.rating <= 2) go("reason");
      else submitRating("");
    });
  }
  $("#rating-skip").addEventListener("click", () => {
    S.rating = null;
    go("receipt");
  });
  for (const chip of $$(".chip")) {
    chip.addEventListener("click", () => chip.setAttribute("aria-pressed", String(chip.getAttribute("aria-pressed") !== "true")));
  }
  $("#reason-submit").addEventListener("click", () => {
    // Reasons go to staff in Chinese whatever the screen's language; the free text as typed.
    const picked = $$(".chip[aria-pressed='true']").map((c) => tIn("zh", c.dataset.reason));
    const free = $("#reason-comment").value.trim();
    submitRating([...picked, free].filter(Boolean).join("；").slice(0, 500));
  });

  $("#receipt-done").addEventListener("click", () => reset());
}
