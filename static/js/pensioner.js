// The pensioner's page: log in, consent, guidance, selfie with live hints, the challenge
// recording with spoken prompts, upload with progress, and the result with what to do next.
import { ApiError, makeApi, uploadWithProgress } from "./api.js";
import { joinCall } from "./call.js";
import { makeI18n } from "./i18n.js";
import { PENSIONER } from "./strings.js";

const i18n = makeI18n(PENSIONER, "lifecert.lang");
const { t } = i18n;
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "lifecert.pensioner.token";
const STEP_MS = 4500;         // time given to each action: unhurried for older people
const CHECK_EVERY_MS = 2000;  // live hints: one preview check at a time, this often
const POLL_MS = 1500;

const state = {
  me: null, attempt: null, operatedBy: null, selfie: null, stream: null,
  checkTimer: null, checking: false, result: null, hintKey: null, hintText: "",
  eligibility: null, appointments: [], tz: null, slotsFrom: null, rescheduling: null, call: null,
  consular: [],
};
const token = () => sessionStorage.getItem(TOKEN_KEY);
const api = makeApi({ token });

// ---- screens and messages -------------------------------------------------------------
function show(id) {
  for (const s of document.querySelectorAll("[data-screen]")) s.hidden = s.id !== id;
  setError("");
  const heading = $(id).querySelector("h1");
  if (heading) heading.focus();
  if (id !== "screen-selfie") stopHints();
}
function setStatus(text) { $("status").textContent = text; }
function setError(text) { $("error").textContent = text; }

function errorText(err) {
  if (!(err instanceof ApiError)) return t("err.generic", { detail: String(err && err.message || err) });
  const fields = (err.body.fields || []).map((f) => f.field);
  switch (err.code) {
    case "NetworkError": return t("err.network");
    case "ValidationError":
      if (fields.some((f) => f.includes("national_id"))) return t("err.bad_id");
      if (fields.some((f) => f.includes("code"))) return t("err.code_format");
      break;
    case "OtpInvalid": return t("err.code_wrong");
    case "RateLimited": return t("err.rate");
    case "ChallengeExpired": return t("err.expired");
    case "NotEnrolled": return t("err.not_enrolled");
    case "NotAuthenticated": case "InvalidToken": return t("err.session");
    case "SlotTaken": return t("book.taken");
    case "TooLateToChange": return t("video.too_late");
    case "VideoCallNotOffered": case "ConsularDocumentNotOffered": return t("err.not_offered");
    case "CallWindowNotOpen": case "CallWindowClosed": return t("err.window");
    case "CorruptScan": return t("err.bad_scan");
    case "UnsupportedMediaType": return t("err.bad_type");
    default: break;
  }
  return t("err.generic", { detail: err.message });
}

function fail(err) {
  if (err instanceof ApiError && err.status === 401 && token()) {
    logout();
    setError(t("err.session"));
    return;
  }
  if (err instanceof ApiError && err.code === "AttemptsLockedOut") {
    showRoutes(t("routes.locked"));
    loadVideo().catch(() => {});
    return;
  }
  if (err instanceof ApiError && err.status === 413) { setError(t("err.too_big")); return; }
  setError(errorText(err));
}

function busy(button, on) { if (button) button.disabled = on; }

// ---- log in --------------------------------------------------------------------------
$("form-id").addEventListener("submit", async (e) => {
  e.preventDefault();
  const nid = $("nid").value.trim().toUpperCase();
  $("nid").value = nid;
  if (!/^\d{17}[\dX]$/.test(nid)) {
    $("nid").setAttribute("aria-invalid", "true");
    setError(t("err.bad_id"));
    $("nid").focus();
    return;
  }
  $("nid").removeAttribute("aria-invalid");
  await sendCode(nid);
});
$("resend").addEventListener("click", () => sendCode($("nid").value.trim().toUpperCase()));

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
  const code = $("code").value.trim();
  if (!/^\d{6}$/.test(code)) { setError(t("err.code_format")); $("code").focus(); return; }
  busy($("login"), true);
  try {
    const body = await api("POST", "/auth/pensioner/token", {
      json: { national_id: $("nid").value.trim().toUpperCase(), code },
    });
    sessionStorage.setItem(TOKEN_KEY, body.access_token);
    $("code").value = "";
    setStatus("");
    await loadHome();
  } catch (err) { fail(err); $("code").focus(); } finally { busy($("login"), false); }
});

function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  stopCamera();
  state.me = null;
  $("logout").hidden = true;
  $("form-code").hidden = true;
  setStatus("");
  show("screen-login");
}
$("logout").addEventListener("click", logout);

// ---- home -----------------------------------------------------------------------------
async function loadHome() {
  state.me = await api("GET", "/me");
  if (!localStorage.getItem("lifecert.lang") && state.me.preferred_language !== i18n.lang) {
    i18n.setLang(state.me.preferred_language);
  }
  $("logout").hidden = false;
  renderHome();
  show("screen-home");
  await loadVideo();
}

function renderHome() {
  const me = state.me;
  if (!me) return;
  $("hello").textContent = t("home.hello", { name: me.name });
  const key = me.benefit_status === "suspended" ? "status.suspended" : `status.${me.certification_status}`;
  $("cert-status").textContent = t(key, { date: i18n.date(me.certified_until) });
  $("overseas-note").hidden = me.residence !== "overseas";
  $("consent-keep").textContent = t("consent.keep", { days: me.media_retention_days });
}

$("begin").addEventListener("click", () => { renderHome(); show("screen-consent"); });

// ---- consent and guidance ---------------------------------------------------------------
$("helped").addEventListener("change", () => {
  $("helper-box").hidden = !$("helped").checked;
  $("helped").setAttribute("aria-expanded", String($("helped").checked));
  if ($("helped").checked) $("helper").focus();
});
$("form-consent").addEventListener("submit", (e) => {
  e.preventDefault();
  if (!$("agree").checked) { setError(t("consent.need_agree")); $("agree").focus(); return; }
  state.operatedBy = $("helped").checked ? ($("helper").value.trim() || null) : null;
  show("screen-guide");
});
for (const b of document.querySelectorAll("[data-go]")) {
  b.addEventListener("click", () => {
    if (b.dataset.go === "screen-routes") showRoutes("");
    else if (b.dataset.go === "screen-home" && state.me) { renderHome(); show("screen-home"); }
    else show(state.me ? b.dataset.go : "screen-login");
  });
}

function showRoutes(why) {
  stopCamera();
  $("routes-why").textContent = why;
  $("routes-book").hidden = !(state.eligibility && state.eligibility.eligible);
  show("screen-routes");
}

// ---- camera -------------------------------------------------------------------------------
async function openCamera(video) {
  stopCamera();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error(t("err.no_camera"));
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false,
    });
  } catch (err) {
    const denied = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
    throw new Error(t(denied ? "err.camera_denied" : "err.no_camera"));
  }
  video.srcObject = state.stream;
  await new Promise((resolve) => {
    if (video.readyState >= 1) resolve(); else video.addEventListener("loadedmetadata", resolve, { once: true });
  });
  // Show the whole frame so the outline and the face box line up with the photo.
  const ratio = video.videoWidth / video.videoHeight;
  video.parentElement.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  video.parentElement.style.width = `min(100%, calc(min(58vh, 36rem) * ${ratio.toFixed(4)}))`;
  await video.play().catch(() => {});
}

function stopCamera() {
  if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  state.stream = null;
}

function grab(video, maxSide, quality) {
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob((blob) => resolve({ blob, ctx, canvas }), "image/jpeg", quality));
}

function meanLuma(ctx, canvas) {
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  let sum = 0;
  for (let i = 0; i < data.length; i += 16) sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
  return sum / (data.length / 16);
}

// ---- selfie ------------------------------------------------------------------------------
$("open-camera").addEventListener("click", async () => {
  busy($("open-camera"), true);
  try {
    state.attempt = await api("POST", "/certifications/attempts", {
      json: state.operatedBy ? { operated_by: state.operatedBy } : {},
    });
    show("screen-selfie");
    setHint("selfie.hint");
    await openCamera($("selfie-video"));
    startHints();
  } catch (err) {
    if (err instanceof ApiError) fail(err); else { show("screen-guide"); setError(err.message); }
  } finally { busy($("open-camera"), false); }
});

function setHint(key, text) {
  const value = text || t(key);
  state.hintKey = key; state.hintText = text || "";
  if ($("selfie-hint").textContent !== value) $("selfie-hint").textContent = value;
}

function drawFace(face, ok) {
  $("oval").classList.toggle("good", !!ok);
  const box = $("face-box");
  if (!face) { box.setAttribute("width", 0); box.setAttribute("height", 0); return; }
  box.setAttribute("x", face.left * 100); box.setAttribute("y", face.top * 100);
  box.setAttribute("width", face.width * 100); box.setAttribute("height", face.height * 100);
}

async function checkPhoto(blob) {
  const form = new FormData();
  form.append("selfie", blob, "preview.jpg");
  return api("POST", `/certifications/attempts/${state.attempt.id}/selfie-check`, { form });
}

function startHints() {
  stopHints();
  state.checkTimer = setInterval(async () => {
    const video = $("selfie-video");
    if (state.checking || !state.stream || !video.videoWidth) return;
    state.checking = true;
    try {
      const { blob, ctx, canvas } = await grab(video, 640, 0.8);
      if (meanLuma(ctx, canvas) < 45) { setHint("selfie.dark"); drawFace(null, false); return; }
      const check = await checkPhoto(blob);
      drawFace(check.face, check.ok);
      if (check.ok) setHint("selfie.good"); else if (check.hints.length) setHint(null, i18n.pick(check.hints[0]));
    } catch (err) {
      if (err instanceof ApiError && (err.code === "ChallengeExpired" || err.status === 401)) { stopHints(); fail(err); }
    } finally { state.checking = false; }
  }, CHECK_EVERY_MS);
}
function stopHints() { if (state.checkTimer) clearInterval(state.checkTimer); state.checkTimer = null; }

$("take-photo").addEventListener("click", async () => {
  const video = $("selfie-video");
  if (!state.stream || !video.videoWidth) return;
  busy($("take-photo"), true);
  setHint("selfie.checking");
  try {
    const { blob } = await grab(video, 1920, 0.92);
    let check = null;
    try { check = await checkPhoto(blob); } catch (err) {
      // The preview check is advice; if it is unavailable the full check still runs later.
      if (!(err instanceof ApiError) || err.code !== "RateLimited") throw err;
    }
    if (check && !check.ok) {
      drawFace(check.face, false);
      const first = check.hints.length ? i18n.pick(check.hints[0]) : "";
      setHint(null, `${first} ${t("selfie.retake")}`.trim());
      return;
    }
    state.selfie = blob;
    stopHints();
    stopCamera();
    showRecord();
  } catch (err) { fail(err); } finally { busy($("take-photo"), false); }
});

// ---- the challenge recording -----------------------------------------------------------------
function actionText(name) { return t(`action.${name}`); }

function showRecord() {
  renderActions();
  $("action-prompt").textContent = "";
  $("countdown").textContent = "";
  $("start-recording").hidden = false;
  $("record-camera").hidden = true;
  show("screen-record");
}

function renderActions() {
  const list = $("action-list");
  list.replaceChildren(...state.attempt.challenge.actions.map((a) => {
    const li = document.createElement("li");
    li.textContent = actionText(a);
    return li;
  }));
}

function speak(text) {
  if (!("speechSynthesis" in window)) return;
  try {
    window.speechSynthesis.cancel();
    const u = new SpeechSynthesisUtterance(text);
    u.lang = i18n.lang === "zh" ? "zh-CN" : "en-US";
    u.rate = 0.9;
    window.speechSynthesis.speak(u);
  } catch (e) { /* no voice: the prompt is on screen */ }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function recorderType() {
  if (!("MediaRecorder" in window)) return null;
  const types = ["video/webm;codecs=vp8", "video/webm;codecs=vp9", "video/webm", "video/mp4"];
  return types.find((type) => MediaRecorder.isTypeSupported(type)) || "";
}

$("start-recording").addEventListener("click", async () => {
  const type = recorderType();
  if (type === null) { setError(t("err.no_recorder")); return; }
  $("start-recording").hidden = true;
  $("record-camera").hidden = false;
  const video = $("record-video");
  try {
    // A fresh camera stream, so the recording starts when the person is ready.
    await openCamera(video);
    const recorder = new MediaRecorder(state.stream, type ? { mimeType: type, videoBitsPerSecond: 2500000 } : {});
    const chunks = [];
    recorder.ondataavailable = (e) => { if (e.data && e.data.size) chunks.push(e.data); };
    const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
    recorder.start(1000);
    $("recording-badge").hidden = false;
    const actions = state.attempt.challenge.actions;
    for (let i = 0; i < actions.length; i++) {
      const text = t("record.step", { n: i + 1, total: actions.length, action: actionText(actions[i]) });
      $("action-prompt").textContent = text;
      speak(actionText(actions[i]));
      for (let s = Math.round(STEP_MS / 1000); s > 0; s--) {
        $("countdown").textContent = String(s);
        await sleep(STEP_MS / Math.round(STEP_MS / 1000));
      }
    }
    $("countdown").textContent = "";
    await sleep(500);
    recorder.stop();
    await stopped;
    $("recording-badge").hidden = true;
    stopCamera();
    $("action-prompt").textContent = t("record.done");
    const blob = new Blob(chunks, { type: recorder.mimeType || type || "video/webm" });
    await upload(blob);
  } catch (err) {
    stopCamera();
    $("recording-badge").hidden = true;
    $("start-recording").hidden = false;
    if (err instanceof ApiError) fail(err); else setError(err.message);
  }
});

// ---- upload and result ------------------------------------------------------------------------
async function upload(videoBlob) {
  show("screen-upload");
  const bar = $("upload-progress");
  bar.value = 0;
  $("upload-text").textContent = t("upload.percent", { p: 0 });
  const form = new FormData();
  form.append("selfie", state.selfie, "selfie.jpg");
  form.append("video", videoBlob, videoBlob.type.includes("mp4") ? "video.mp4" : "video.webm");
  form.append("nonce", state.attempt.challenge.nonce);
  form.append("mirrored", "false");
  let attempt;
  try {
    attempt = await uploadWithProgress(`/api/v1/certifications/attempts/${state.attempt.id}/upload`, form, token(), (f) => {
      const p = Math.round(f * 100);
      bar.value = p;
      $("upload-text").textContent = t("upload.percent", { p });
    });
  } catch (err) {
    if (err.code === "ChallengeExpired") { showResult({ status: "expired", next_steps: [] }); return; }
    throw err;
  }
  bar.value = 100;
  $("upload-text").textContent = t("upload.checking");
  const deadline = Date.now() + 5 * 60 * 1000;
  while (attempt.status === "processing" && Date.now() < deadline) {
    await sleep(POLL_MS);
    attempt = await api("GET", `/certifications/attempts/${attempt.id}`);
  }
  showResult(attempt);
}

function showResult(attempt) {
  state.result = attempt;
  renderResult();
  show("screen-result");
}

function renderResult() {
  const a = state.result;
  if (!a) return;
  const title = $("result-title");
  title.textContent = t(`result.${a.status}`) || a.status;
  title.className = a.status === "certified" ? "ok" : (a.status === "rejected" ? "bad" : "");
  const steps = (a.next_steps || []).map((s) => {
    const p = document.createElement("p");
    p.textContent = i18n.pick(s);
    return p;
  });
  if (a.status === "expired" && !steps.length) {
    const p = document.createElement("p"); p.textContent = t("err.expired"); steps.push(p);
  }
  $("result-steps").replaceChildren(...steps);
  const buttons = [];
  const button = (key, primary, onClick) => {
    const b = document.createElement("button");
    b.type = "button"; b.className = primary ? "primary big" : "big"; b.textContent = t(key);
    b.addEventListener("click", onClick);
    buttons.push(b);
  };
  if (a.status === "retry" || a.status === "expired") {
    button("result.again", true, () => show("screen-guide"));
    button("result.other_ways", false, () => showRoutes(""));
  } else if (a.status === "rejected") {
    button("result.other_ways", true, () => showRoutes(""));
    button("back_home", false, () => loadHome().catch(fail));
  } else {
    button("result.done", true, () => loadHome().catch(fail));
  }
  $("result-actions").replaceChildren(...buttons);
}

// ---- video calls: booking, changing, joining ----------------------------------------------------
const ZONES = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Tokyo", "Asia/Singapore", "Australia/Sydney",
  "Pacific/Auckland", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York",
  "America/Chicago", "America/Los_Angeles", "America/Vancouver", "America/Toronto"];

async function loadVideo() {
  try {
    state.eligibility = await api("GET", "/appointments/eligibility");
    state.appointments = await api("GET", "/appointments");
  } catch (err) {
    state.eligibility = null;
    state.appointments = [];
  }
  if (state.me && state.me.residence === "overseas") {
    state.consular = await api("GET", "/certifications/consular-documents").catch(() => []);
  }
  renderVideo();
}

function localDate(iso) {
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(i18n.lang === "zh" ? "zh-CN" : "en-GB",
    { timeZone: "UTC", weekday: "long", month: "long", day: "numeric" });
}
const clock = (iso) => iso.slice(11, 16);

function describe(a) {
  return t("video.item", { date: localDate(a.local_starts_at), start: clock(a.local_starts_at), end: clock(a.local_ends_at), tz: a.timezone, agent: a.agent_name });
}

function renderVideo() {
  const e = state.eligibility;
  const list = state.appointments || [];
  $("routes-book").hidden = !(e && e.eligible);
  const box = $("video-box");
  box.hidden = !((e && e.eligible) || list.length || (state.me && state.me.residence === "overseas"));
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
      const join = document.createElement("button");
      join.type = "button"; join.className = "primary"; join.textContent = t("video.join");
      join.disabled = !open;
      join.addEventListener("click", () => joinAppointment(a).catch(fail));
      li.append(join);
      if (!open) {
        const hint = document.createElement("p");
        hint.className = "hint";
        hint.textContent = t("video.join_later", { min: Math.round((Date.parse(a.starts_at) - Date.parse(a.join_opens_at)) / 60000) });
        li.append(hint);
      }
      if (now >= Date.parse(a.change_deadline)) {
        const hint = document.createElement("p");
        hint.className = "hint";
        hint.textContent = t("video.too_late");
        li.append(hint);
      } else {
        const move = document.createElement("button");
        move.type = "button"; move.textContent = t("video.reschedule");
        move.addEventListener("click", () => showBooking(a.id).catch(fail));
        const cancel = document.createElement("button");
        cancel.type = "button"; cancel.textContent = t("video.cancel");
        cancel.addEventListener("click", () => cancelAppointment(a).catch(fail));
        li.append(move, cancel);
      }
    }
    return li;
  });
  if (!items.length) { const li = document.createElement("li"); li.textContent = t("video.none"); items.push(li); }
  $("appointments").replaceChildren(...items);
  $("book-call").hidden = !(e && e.eligible) || list.some((a) => a.status === "booked");
  $("open-consular").hidden = !(state.me && state.me.residence === "overseas");
}

async function cancelAppointment(a) {
  if (!window.confirm(`${t("video.cancel")}: ${describe(a)}?`)) return;
  await api("POST", `/appointments/${a.id}/cancel`, { json: {} });
  setStatus(t("video.cancelled"));
  await loadVideo();
}

function fillZones() {
  const zones = [...new Set([state.tz, state.eligibility && state.eligibility.timezone,
    Intl.DateTimeFormat().resolvedOptions().timeZone, ...ZONES].filter(Boolean))];
  $("tz").replaceChildren(...zones.map((z) => { const o = document.createElement("option"); o.value = z; o.textContent = z; return o; }));
  $("tz").value = state.tz;
}

async function showBooking(rescheduleId = null) {
  state.rescheduling = rescheduleId;
  state.tz = state.tz || (state.eligibility && state.eligibility.timezone) || "Asia/Shanghai";
  state.slotsFrom = null;
  fillZones();
  await loadSlots();
  show("screen-book");
}

async function loadSlots() {
  const list = await api("GET", "/appointments/slots", { query: { tz: state.tz, from: state.slotsFrom, days: 7 } });
  state.slotsFrom = list.from_date;
  $("book-intro").textContent = t("book.intro", { min: list.slot_minutes });
  const days = new Map();
  for (const slot of list.slots) {
    if (!days.has(slot.local_date)) days.set(slot.local_date, []);
    days.get(slot.local_date).push(slot);
  }
  const groups = [...days.entries()].map(([day, slots]) => {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "slot-day";
    const legend = document.createElement("legend");
    legend.textContent = localDate(day);
    fieldset.append(legend);
    for (const slot of slots) {
      const label = document.createElement("label");
      label.className = "check";
      const radio = document.createElement("input");
      radio.type = "radio"; radio.name = "slot"; radio.value = JSON.stringify({ starts_at: slot.starts_at });
      const span = document.createElement("span");
      span.textContent = t("book.slot", { start: clock(slot.local_starts_at), end: clock(slot.local_ends_at) });
      label.append(radio, span);
      fieldset.append(label);
    }
    return fieldset;
  });
  if (!groups.length) { const p = document.createElement("p"); p.textContent = t("book.none"); groups.push(p); }
  $("slots").replaceChildren(...groups);
}

function shiftWeek(days) {
  const [y, m, d] = state.slotsFrom.split("-").map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + days));
  state.slotsFrom = next.toISOString().slice(0, 10);
  loadSlots().catch(fail);
}
$("slots-earlier").addEventListener("click", () => shiftWeek(-7));
$("slots-later").addEventListener("click", () => shiftWeek(7));
$("tz").addEventListener("change", async () => {
  state.tz = $("tz").value;
  // Remember the choice on the register, so reminders use it too.
  api("PATCH", "/me", { json: { display_timezone: state.tz } }).catch(() => {});
  await loadSlots().catch(fail);
});
$("book-call").addEventListener("click", () => showBooking().catch(fail));
$("routes-book").addEventListener("click", () => showBooking().catch(fail));

$("form-book").addEventListener("submit", async (e) => {
  e.preventDefault();
  const picked = document.querySelector("input[name=slot]:checked");
  if (!picked) { setError(t("book.pick")); return; }
  const body = { ...JSON.parse(picked.value), timezone: state.tz };
  try {
    const path = state.rescheduling ? `/appointments/${state.rescheduling}/reschedule` : "/appointments";
    const a = await api("POST", path, { json: body });
    await loadHome();
    setStatus(t("book.done", { when: describe(a) }));
  } catch (err) {
    fail(err);
    if (err instanceof ApiError && err.code === "SlotTaken") await loadSlots().catch(() => {});
  }
});

function setCallState(text) { $("call-state").textContent = text; }

async function joinAppointment(a) {
  const room = await api("POST", `/appointments/${a.id}/room-token`);
  show("screen-call");
  $("call-code").hidden = true;
  setCallState(t("call.connecting"));
  stopCamera();
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: true })
      .catch(() => navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false }));
  } catch (err) {
    setError(t(err && err.name === "NotAllowedError" ? "err.camera_denied" : "err.no_camera"));
    return;
  }
  $("call-local").srcObject = state.stream;
  let ended = false;
  state.call = joinCall({
    room, role: "pensioner", stream: state.stream, remoteVideo: $("remote-video"),
    onState: (s, reason) => {
      if (ended) return;
      if (s === "waiting") setCallState(t("call.waiting"));
      else if (s === "peer-present") setCallState(t("call.connecting"));
      else if (s === "connected") setCallState(t("call.connected"));
      else if (s === "peer-left") setCallState(t("call.peer_left"));
      else if (s === "closed" || s === "error") setCallState(t("call.closed", { reason: reason || s }));
    },
    onMessage: (m) => {
      if (m.type === "read-code") {
        $("call-code-digits").textContent = m.code;
        $("call-code").hidden = false;
      } else if (m.type === "call-ended") {
        ended = true;
        $("call-code").hidden = true;
        setCallState(t(`call.ended.${m.outcome}`));
        stopCamera();
        $("leave-call").textContent = t("back_home");
      }
    },
  });
}

$("leave-call").addEventListener("click", async () => {
  if (state.call) state.call.leave();
  state.call = null;
  stopCamera();
  $("leave-call").textContent = t("call.leave");
  await loadHome().catch(fail);
});

// ---- consular certificate (abroad) --------------------------------------------------------------
function renderConsular() {
  const items = (state.consular || []).map((d) => {
    const li = document.createElement("li");
    const when = i18n.dateTime(d.uploaded_at);
    const status = d.status === "verified" ? t("consular.verified", { date: i18n.date(d.valid_until) })
      : d.status === "rejected" ? t("consular.rejected", { reason: d.decision_reason || "" }) : t("consular.pending");
    li.textContent = `${when} · ${status}`;
    return li;
  });
  $("consular-docs").replaceChildren(...items);
}
$("open-consular").addEventListener("click", () => { renderConsular(); show("screen-consular"); });
$("form-consular").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = $("scan").files[0];
  if (!file) { setError(t("consular.pick")); $("scan").focus(); return; }
  const form = new FormData();
  form.append("scan", file, file.name);
  if ($("consulate").value.trim()) form.append("consulate", $("consulate").value.trim());
  if ($("issued-on").value) form.append("issued_on", $("issued-on").value);
  try {
    await api("POST", "/certifications/consular-documents", { form });
    $("form-consular").reset();
    state.consular = await api("GET", "/certifications/consular-documents");
    renderConsular();
    setStatus(t("consular.done"));
  } catch (err) { fail(err); }
});

// ---- language and start-up ---------------------------------------------------------------------
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
  if (!$("screen-consular").hidden) renderConsular();
  if (!$("screen-record").hidden && state.attempt) renderActions();
  if (state.hintKey) setHint(state.hintKey, state.hintText);
});

i18n.apply();
renderLangButton();
if (token()) loadHome().catch(() => logout()); else show("screen-login");
