// @ts-check
// Logging in, and the home screen: where the person stands, their video-call appointments,
// and the other ways to certify.
import { loadDocuments } from "./consular.js";
import {
  $, api, busy, describe, endSession, fail, i18n, session, setError, setStatus, show,
  startSession, stopCamera, t,
} from "./page.js";

/**
 * Whether the person may book a video call, as /appointments/eligibility says.
 * @typedef {object} Eligibility
 * @property {boolean} eligible
 * @property {string} timezone
 * @property {import("../i18n.js").Pair} message
 */

/** @type {{ eligibility: Eligibility | null, list: import("./page.js").Appointment[] }} */
export const appointments = { eligibility: null, list: [] };

// ---- log in --------------------------------------------------------------------------
$("form-id").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("nid", HTMLInputElement);
  const nid = input.value.trim().toUpperCase();
  input.value = nid;
  if (!/^\d{17}[\dX]$/.test(nid)) {
    input.setAttribute("aria-invalid", "true");
    setError(t("err.bad_id"));
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  await sendCode(nid);
});
$("resend").addEventListener("click", () => sendCode($("nid", HTMLInputElement).value.trim().toUpperCase()));

/** @param {string} nid */
async function sendCode(nid) {
  busy($("send-code"), true);
  setError("");
  try {
    await api("POST", "/auth/pensioner/code", { json: { national_id: nid } });
    $("form-code").hidden = false;
    setStatus(t("login.sent"));
    $("code").focus();
  } catch (err) { fail(err); } finally { busy($("send-code"), false); }
}

$("form-code").addEventListener("submit", async (e) => {
  e.preventDefault();
  const code = $("code", HTMLInputElement).value.trim();
  if (!/^\d{6}$/.test(code)) { setError(t("err.code_format")); $("code").focus(); return; }
  busy($("login"), true);
  try {
    const body = await api("POST", "/auth/pensioner/token", {
      json: { national_id: $("nid", HTMLInputElement).value.trim().toUpperCase(), code },
    });
    startSession(body.access_token);
    $("code", HTMLInputElement).value = "";
    setStatus("");
    await loadHome();
  } catch (err) { fail(err); $("code").focus(); } finally { busy($("login"), false); }
});

$("logout").addEventListener("click", endSession);

// ---- home -----------------------------------------------------------------------------
export async function loadHome() {
  session.me = await api("GET", "/me");
  if (!localStorage.getItem("lifecert.lang") && session.me.preferred_language !== i18n.lang) {
    i18n.setLang(session.me.preferred_language);
  }
  $("logout").hidden = false;
  renderHome();
  show("screen-home");
  await loadVideo();
}

export function renderHome() {
  const me = session.me;
  if (!me) return;
  $("hello").textContent = t("home.hello", { name: me.name });
  const key = me.benefit_status === "suspended" ? "status.suspended" : `status.${me.certification_status}`;
  $("cert-status").textContent = t(key, { date: i18n.date(me.certified_until) });
  $("overseas-note").hidden = me.residence !== "overseas";
  $("consent-keep").textContent = t("consent.keep", { days: me.media_retention_days });
}

$("begin").addEventListener("click", () => { renderHome(); show("screen-consent"); });

for (const b of document.querySelectorAll("[data-go]")) {
  if (!(b instanceof HTMLElement)) continue;
  b.addEventListener("click", () => {
    if (b.dataset.go === "screen-routes") showRoutes("");
    else if (b.dataset.go === "screen-home" && session.me) { renderHome(); show("screen-home"); }
    else show(session.me ? b.dataset.go : "screen-login");
  });
}

/**
 * The other ways to certify (a video call, a visit, the phone), with why they are offered.
 * @param {string} why
 */
export function showRoutes(why) {
  stopCamera();
  $("routes-why").textContent = why;
  $("routes-book").hidden = !(appointments.eligibility && appointments.eligibility.eligible);
  show("screen-routes");
}

// ---- video-call appointments on the home screen -----------------------------------------
// The buttons of each appointment name what they do (data-do) and which one (data-id); the
// booking and call flows listen for them.
export async function loadVideo() {
  try {
    appointments.eligibility = await api("GET", "/appointments/eligibility");
    appointments.list = await api("GET", "/appointments");
  } catch (err) {
    appointments.eligibility = null;
    appointments.list = [];
  }
  await loadDocuments();
  renderVideo();
}

/**
 * @param {string} key
 * @param {string} action
 * @param {string} id
 */
function actionButton(key, action, id) {
  const button = document.createElement("button");
  button.type = "button"; button.textContent = t(key);
  button.dataset.do = action; button.dataset.id = id;
  return button;
}

/** @param {string} text */
function hint(text) {
  const p = document.createElement("p");
  p.className = "hint";
  p.textContent = text;
  return p;
}

export function renderVideo() {
  const e = appointments.eligibility;
  const list = appointments.list || [];
  const abroad = !!session.me && session.me.residence === "overseas";
  $("routes-book").hidden = !(e && e.eligible);
  const box = $("video-box");
  box.hidden = !((e && e.eligible) || list.length || abroad);
  if (box.hidden) return;
  $("video-message").textContent = e ? i18n.pick(e.message) : "";
  const now = Date.now();
  const shown = list.filter((a) => a.status === "booked" || Date.parse(a.ends_at) > now - 7 * 864e5).slice(0, 5);
  const items = shown.map((a) => {
    const li = document.createElement("li");
    const text = document.createElement("p");
    text.textContent = `${describe(a)} · ${t(`video.status.${a.status}`)}`;
    li.append(text);
    if (a.status === "booked") {
      const open = Date.parse(a.join_opens_at) <= now && now < Date.parse(a.join_closes_at);
      const join = actionButton("video.join", "join", a.id);
      join.className = "primary";
      join.disabled = !open;
      li.append(join);
      if (!open) {
        li.append(hint(t("video.join_later", { min: Math.round((Date.parse(a.starts_at) - Date.parse(a.join_opens_at)) / 60000) })));
      }
      if (now >= Date.parse(a.change_deadline)) li.append(hint(t("video.too_late")));
      else li.append(actionButton("video.reschedule", "reschedule", a.id), actionButton("video.cancel", "cancel", a.id));
    }
    return li;
  });
  if (!items.length) { const li = document.createElement("li"); li.textContent = t("video.none"); items.push(li); }
  $("appointments").replaceChildren(...items);
  $("book-call").hidden = !(e && e.eligible) || list.some((a) => a.status === "booked");
  $("open-consular").hidden = !abroad;
}

/**
 * Run `handler` when an appointment's button doing `action` is pressed.
 * @param {string} action
 * @param {(appointment: import("./page.js").Appointment) => Promise<void>} handler
 */
export function onAppointment(action, handler) {
  $("appointments").addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest(`button[data-do="${action}"]`) : null;
    if (!(button instanceof HTMLButtonElement)) return;
    const appointment = appointments.list.find((a) => a.id === button.dataset.id);
    if (appointment) handler(appointment).catch(fail);
  });
}
