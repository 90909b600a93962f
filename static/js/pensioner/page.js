// @ts-check
// What every flow of the pensioner's page shares: texts, the API with the login token, the
// logged-in person, screens and messages, and the one camera stream.
import { ApiError, makeApi } from "../api.js";
import { $ } from "../dom.js";
import { errorWords } from "../errors.js";
import { makeI18n } from "../i18n.js";
import { PENSIONER } from "../strings.js";

export { $ };
export const i18n = makeI18n(PENSIONER, "lifecert.lang");
export const { t } = i18n;
const TOKEN_KEY = "lifecert.pensioner.token";
export const token = () => sessionStorage.getItem(TOKEN_KEY);
export const api = makeApi({ token });

/**
 * The logged-in person, as GET /me returns them.
 * @typedef {object} Me
 * @property {string} name
 * @property {string} preferred_language
 * @property {string} benefit_status
 * @property {string} certification_status
 * @property {string | null} certified_until
 * @property {string} residence
 * @property {number} media_retention_days
 */

/** @type {{ me: Me | null }} */
export const session = { me: null };

/** @param {string} value */
export function startSession(value) { sessionStorage.setItem(TOKEN_KEY, value); }

// ---- screens and messages -------------------------------------------------------------
/**
 * Hooks run whenever a screen is shown (the selfie flow stops its live hints once its screen is left).
 * @type {((id: string) => void)[]}
 */
const onShow = [];
/** @param {(id: string) => void} fn called with the id of every screen shown */
export function whenShown(fn) { onShow.push(fn); }

/** @param {string} id */
export function show(id) {
  for (const s of document.querySelectorAll("[data-screen]")) {
    if (s instanceof HTMLElement) s.hidden = s.id !== id;
  }
  setError("");
  const heading = $(id).querySelector("h1");
  if (heading) heading.focus();
  for (const fn of onShow) fn(id);
}
/** @param {string} text */
export function setStatus(text) { $("status").textContent = text; }
/** @param {string} text */
export function setError(text) { $("error").textContent = text; }

/** @param {unknown} err */
function errorText(err) {
  if (!(err instanceof ApiError)) {
    const message = err instanceof Error ? err.message : String(err);
    return t("err.generic", { detail: message });
  }
  /** @type {string[]} */
  const fields = (err.body.fields || []).map((/** @type {{ field: string }} */ f) => f.field);
  switch (err.code) {
    case "NetworkError": return t("err.network");
    case "ValidationError":
      if (fields.some((f) => f.includes("national_id"))) return t("err.bad_id");
      if (fields.some((f) => f.includes("code"))) return t("err.code_format");
      break;
    default: break;
  }
  return errorWords(err.code, i18n.lang) ?? t("err.generic", { detail: err.message });
}

/**
 * Say what went wrong; a refused login token ends the session.
 * @param {unknown} err
 */
export function fail(err) {
  if (err instanceof ApiError && err.status === 401 && token()) {
    endSession();
    setError(t("err.session"));
    return;
  }
  if (err instanceof ApiError && err.status === 413) { setError(t("err.too_big")); return; }
  setError(errorText(err));
}

/**
 * @param {HTMLElement | null} button
 * @param {boolean} on
 */
export function busy(button, on) { if (button instanceof HTMLButtonElement) button.disabled = on; }

/** Log out: forget the token and the person, back to the login screen. */
export function endSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  stopCamera();
  session.me = null;
  $("logout").hidden = true;
  $("form-code").hidden = true;
  setStatus("");
  show("screen-login");
}

// ---- offline ------------------------------------------------------------------------------
// The page itself opens without a network (the service worker keeps its files); it says so,
// since logging in, the checks and the upload need the service.
function renderOffline() { $("offline").hidden = navigator.onLine; }
window.addEventListener("online", renderOffline);
window.addEventListener("offline", renderOffline);
renderOffline();
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => { /* the page works without it */ });
}

// ---- camera -------------------------------------------------------------------------------
export const RECORDING_MAX_SIDE = 640;
/** @type {MediaStream | null} */
let stream = null;

/** The open camera stream, if any. */
export function cameraStream() { return stream; }

/**
 * Open the front camera into `video`, sized to show the whole frame. The photo takes the
 * camera's usual HD frame (it is scaled down to 1600 px when taken); the challenge recording
 * asks for at most 640 px a side (640x480 on a 4:3 camera), enough for the face checks and a
 * fraction of the bytes on a slow link.
 * @param {HTMLVideoElement} video
 * @param {"photo" | "recording"} [use]
 * @returns {Promise<MediaStream>}
 */
export async function openCamera(video, use = "photo") {
  stopCamera();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error(t("err.no_camera"));
  const size = use === "recording"
    ? { width: { max: RECORDING_MAX_SIDE }, height: { max: RECORDING_MAX_SIDE } }
    : { width: { ideal: 1280 }, height: { ideal: 720 } };
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", ...size }, audio: false,
    });
  } catch (err) {
    const denied = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
    throw new Error(t(denied ? "err.camera_denied" : "err.no_camera"));
  }
  video.srcObject = stream;
  await new Promise((resolve) => {
    if (video.readyState >= 1) resolve(undefined); else video.addEventListener("loadedmetadata", resolve, { once: true });
  });
  // Show the whole frame so the outline and the face box line up with the photo.
  const ratio = video.videoWidth / video.videoHeight;
  video.parentElement.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  video.parentElement.style.width = `min(100%, calc(min(58vh, 36rem) * ${ratio.toFixed(4)}))`;
  await video.play().catch(() => {});
  return stream;
}

/**
 * Hold a stream opened elsewhere (the video call's camera and microphone) so that
 * stopCamera() ends it too.
 * @param {MediaStream} opened
 */
export function keepCamera(opened) { stopCamera(); stream = opened; }

export function stopCamera() {
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
}

// ---- appointments, as the home and booking screens describe them --------------------------
/** @param {string} iso a local date or date-time; its date part is shown */
export function localDate(iso) {
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(i18n.lang === "zh" ? "zh-CN" : "en-GB",
    { timeZone: "UTC", weekday: "long", month: "long", day: "numeric" });
}
/** @param {string} iso */
export const clock = (iso) => iso.slice(11, 16);

/**
 * A video-call appointment, as /appointments returns it.
 * @typedef {object} Appointment
 * @property {string} id
 * @property {string} status
 * @property {string} starts_at
 * @property {string} ends_at
 * @property {string} local_starts_at
 * @property {string} local_ends_at
 * @property {string} timezone
 * @property {string} agent_name
 * @property {string} join_opens_at
 * @property {string} join_closes_at
 * @property {string} change_deadline
 */

/** @param {Appointment} a */
export function describe(a) {
  return t("video.item", { date: localDate(a.local_starts_at), start: clock(a.local_starts_at), end: clock(a.local_ends_at), tz: a.timezone, agent: a.agent_name });
}
