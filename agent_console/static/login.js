// The login page: POST /api/login sets the HttpOnly cookie; then the console.

import { post, get } from "../shared/api.js";
import { $ } from "../shared/dom.js";
import { loadStrings, t, setLang, getLang } from "./i18n.js";

async function main() {
  await loadStrings();
  $("#btn-lang").addEventListener("click", () => setLang(getLang() === "en" ? "zh" : "en"));
  if (new URLSearchParams(location.search).has("role")) $("#login-error").textContent = t("login.role");
  try {
    const me = await get("/api/me");
    if (me && ["specialist", "team_lead"].includes(me.user.role)) location.replace("/console");
    if (me && me.user.role === "reviewer") location.replace("/guest"); // issue 19: reviewers' page
  } catch {
    /* not signed in: stay */
  }
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = $("#login-submit");
    btn.disabled = true;
    btn.textContent = t("login.busy");
    $("#login-error").textContent = "";
    try {
      await post("/api/login", { username: $("#username").value.trim(), password: $("#password").value });
      location.assign("/console");
    } catch (err) {
      $("#login-error").textContent = err.message || err.code;
      btn.disabled = false;
      btn.textContent = t("login.submit");
      $("#password").select();
    }
  });
}

main();
