// The status page's one switch: Chinese ⇄ English (both are in the page; the choice is not kept).
const html = document.documentElement;
const btn = document.getElementById("btn-lang");
const start = new URLSearchParams(location.search).get("lang");
if (start === "en") html.lang = "en";
btn.hidden = false;
btn.addEventListener("click", () => {
  html.lang = html.lang === "en" ? "zh-CN" : "en";
});
