// @ts-check
// The selfie: the camera preview with live hints from the service's photo check, then the
// photo itself, checked once more before it is kept.
import { ApiError } from "../api.js";
import { $, api, busy, cameraStream, fail, i18n, openCamera, stopCamera, t, whenShown } from "./page.js";

const CHECK_EVERY_MS = 2000;  // live hints: one preview check at a time, this often
export const SELFIE_MAX_SIDE = 1600;
export const SELFIE_QUALITY = 0.85;

/** @type {{ id: string } | null} */
let attempt = null;
/** @type {(photo: Blob) => void} */
let whenTaken = () => {};
/** @type {ReturnType<typeof setInterval> | null} */
let checkTimer = null;
let checking = false;
// The hint on screen: a key of the page's texts, or a text from the service.
/** @type {string | null} */
let hintKey = null;
let hintText = "";

whenShown((id) => { if (id !== "screen-selfie") stopHints(); });

/**
 * Open the camera for the selfie of `current`; `taken` receives the photo once it passes.
 * @param {{ id: string }} current the attempt
 * @param {(photo: Blob) => void} taken
 */
export async function startSelfie(current, taken) {
  attempt = current;
  whenTaken = taken;
  setHint("selfie.hint");
  await openCamera($("selfie-video", HTMLVideoElement));
  startHints();
}

/**
 * @param {string | null} key
 * @param {string} [text] shown instead of the key's text
 */
function setHint(key, text) {
  const value = text || t(key);
  hintKey = key; hintText = text || "";
  if ($("selfie-hint").textContent !== value) $("selfie-hint").textContent = value;
}

/** Show the hint again in the language just chosen. */
export function renderHint() { if (hintKey) setHint(hintKey, hintText); }

/**
 * @typedef {object} FaceBox fractions of the photo's width and height
 * @property {number} left
 * @property {number} top
 * @property {number} width
 * @property {number} height
 */

/**
 * @param {FaceBox | null} face
 * @param {boolean} ok
 */
function drawFace(face, ok) {
  $("oval", SVGElement).classList.toggle("good", !!ok);
  const box = $("face-box", SVGElement);
  if (!face) { box.setAttribute("width", "0"); box.setAttribute("height", "0"); return; }
  box.setAttribute("x", String(face.left * 100)); box.setAttribute("y", String(face.top * 100));
  box.setAttribute("width", String(face.width * 100)); box.setAttribute("height", String(face.height * 100));
}

/**
 * @param {HTMLVideoElement} video
 * @param {number} maxSide
 * @param {number} quality
 * @returns {Promise<{ blob: Blob, ctx: CanvasRenderingContext2D, canvas: HTMLCanvasElement }>}
 */
function grab(video, maxSide, quality) {
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob((blob) => resolve({ blob, ctx, canvas }), "image/jpeg", quality));
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {HTMLCanvasElement} canvas
 */
function meanLuma(ctx, canvas) {
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  let sum = 0;
  for (let i = 0; i < data.length; i += 16) sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
  return sum / (data.length / 16);
}

/**
 * @typedef {object} PhotoCheck
 * @property {boolean} ok
 * @property {FaceBox | null} face
 * @property {import("../i18n.js").Pair[]} hints
 */

/**
 * @param {Blob} blob
 * @returns {Promise<PhotoCheck>}
 */
async function checkPhoto(blob) {
  const form = new FormData();
  form.append("selfie", blob, "preview.jpg");
  return api("POST", `/certifications/attempts/${attempt.id}/selfie-check`, { form });
}

function startHints() {
  stopHints();
  checkTimer = setInterval(async () => {
    const video = $("selfie-video", HTMLVideoElement);
    if (checking || !cameraStream() || !video.videoWidth) return;
    checking = true;
    try {
      const { blob, ctx, canvas } = await grab(video, 640, 0.8);
      if (meanLuma(ctx, canvas) < 45) { setHint("selfie.dark"); drawFace(null, false); return; }
      const check = await checkPhoto(blob);
      drawFace(check.face, check.ok);
      if (check.ok) setHint("selfie.good"); else if (check.hints.length) setHint(null, i18n.pick(check.hints[0]));
    } catch (err) {
      if (err instanceof ApiError && (err.code === "ChallengeExpired" || err.status === 401)) { stopHints(); fail(err); }
    } finally { checking = false; }
  }, CHECK_EVERY_MS);
}
function stopHints() { if (checkTimer) clearInterval(checkTimer); checkTimer = null; }

$("take-photo").addEventListener("click", async () => {
  const video = $("selfie-video", HTMLVideoElement);
  if (!cameraStream() || !video.videoWidth) return;
  busy($("take-photo"), true);
  setHint("selfie.checking");
  try {
    // At most 1600 px on the long side, JPEG quality 0.85: the face checks need far less, and
    // a slow link carries a third of the bytes of a full camera frame.
    const { blob } = await grab(video, SELFIE_MAX_SIDE, SELFIE_QUALITY);
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
    stopHints();
    stopCamera();
    whenTaken(blob);
  } catch (err) { fail(err); } finally { busy($("take-photo"), false); }
});
