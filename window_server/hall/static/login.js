// The hall pages' login form: POST /api/login sets the HttpOnly cookie, then the page reloads.

import { post } from "../shared/api.js";
import { $ } from "../shared/dom.js";
import { apply, applyCentreName, getLang, setLang, t } from "./i18n.js";

function main() {
  apply();
  applyCentreName();
  if (document.body.dataset.message === "role") $("#login-error").textContent = t("role_needed");
  $("#btn-lang").addEventListener("click", () => {
    setLang(getLang() === "zh" ? "en" : "zh");
    applyCentreName();
  });
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#login-error").textContent = "";
    try {
      await post("/api/login", { username: $("#username").value.trim(), password: $("#password").value });
      location.reload();
    } catch (err) {
      $("#login-error").textContent = `${t("login_failed")}: ${err.message}`;
      $("#password").select();
    }
  });
}

main();
