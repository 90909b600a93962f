// @ts-check
// The pensioner's page. Each flow is a module of ./pensioner/: logging in and the home screen
// (home.js), a remote certification attempt (attempt.js, with its selfie in selfie.js),
// booking a video call (booking.js), the call itself (video-call.js) and the consular
// certificate for people abroad (consular.js); page.js holds what they share. This module
// loads them all, follows the language switch and starts the page.
import { renderActions, renderResult, resumeSaved } from "./pensioner/attempt.js";
import "./pensioner/booking.js";
import { renderDocuments } from "./pensioner/consular.js";
import { loadHome, renderHome, renderVideo } from "./pensioner/home.js";
import { $, endSession, fail, i18n, show, t, token } from "./pensioner/page.js";
import { loadFlow } from "./pensioner/resumable.js";
import { renderHint } from "./pensioner/selfie.js";
import "./pensioner/video-call.js";

function renderLangButton() {
  const b = $("lang");
  b.textContent = t("lang_switch");
  b.setAttribute("lang", i18n.lang === "zh" ? "en" : "zh-CN");
}
$("lang").addEventListener("click", () => i18n.setLang(i18n.lang === "zh" ? "en" : "zh"));
i18n.onChange(() => {
  renderLangButton();
  renderHome();
  renderResult();
  renderVideo();
  if (!$("screen-consular").hidden) renderDocuments();
  if (!$("screen-record").hidden) renderActions();
  renderHint();
});

i18n.apply();
renderLangButton();
// An attempt saved on this device (a reload mid-upload) goes on where it stopped; a saved
// recording whose challenge has ended is deleted, logged in or not.
if (token()) loadHome().then(() => resumeSaved().catch(fail), () => endSession());
else { show("screen-login"); loadFlow().catch(() => {}); }
