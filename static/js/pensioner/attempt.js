// @ts-check
// A remote certification attempt: consent, the challenge (a selfie, then a short recording
// of the actions asked for, with spoken prompts), the upload with progress, and the result
// with what to do next.
import { ApiError } from "../api.js";
import { loadHome, loadVideo, showRoutes } from "./home.js";
import {
  $, api, busy, fail, i18n, openCamera, setError, show, stopCamera, t, token,
} from "./page.js";
import { forgetFlow, loadFlow, saveFlow, uploadParts } from "./resumable.js";
import { startSelfie } from "./selfie.js";

const STEP_MS = 4500;         // time given to each action: unhurried for older people
const POLL_MS = 1500;
// The challenge's recording: about 1 Mbit/s at 640x480 is plenty for the face checks, and a
// 10-second clip stays near 1.2 MB on a slow link.
const VIDEO_BITS_PER_SECOND = 1000000;

/**
 * @typedef {object} Attempt an attempt as the service returns it
 * @property {string} id
 * @property {string} status
 * @property {{ actions: string[], nonce: string, expires_at: string }} [challenge]
 * @property {import("../i18n.js").Pair[]} [next_steps]
 */

/**
 * The attempt under way and who helps, the selfie taken, and the attempt's result.
 * @type {{ attempt: Attempt | null, operatedBy: string | null, selfie: Blob | null, result: Attempt | null }}
 */
const current = { attempt: null, operatedBy: null, selfie: null, result: null };

// ---- consent and guidance ---------------------------------------------------------------
$("helped").addEventListener("change", () => {
  const helped = $("helped", HTMLInputElement).checked;
  $("helper-box").hidden = !helped;
  $("helped").setAttribute("aria-expanded", String(helped));
  if (helped) $("helper").focus();
});
$("form-consent").addEventListener("submit", (e) => {
  e.preventDefault();
  if (!$("agree", HTMLInputElement).checked) { setError(t("consent.need_agree")); $("agree").focus(); return; }
  current.operatedBy = $("helped", HTMLInputElement).checked ? ($("helper", HTMLInputElement).value.trim() || null) : null;
  show("screen-guide");
});

$("open-camera").addEventListener("click", async () => {
  busy($("open-camera"), true);
  try {
    current.attempt = await api("POST", "/certifications/attempts", {
      json: current.operatedBy ? { operated_by: current.operatedBy } : {},
    });
    show("screen-selfie");
    await startSelfie(current.attempt, (photo) => { current.selfie = photo; save(null, {}); showRecord(); });
  } catch (err) {
    if (err instanceof ApiError && err.code === "AttemptsLockedOut") {
      // Too many failed tries: the person is offered the ways with staff instead.
      showRoutes(t("routes.locked"));
      loadVideo().catch(() => {});
    } else if (err instanceof ApiError) fail(err);
    else { show("screen-guide"); setError(err.message); }
  } finally { busy($("open-camera"), false); }
});

// ---- the challenge recording -----------------------------------------------------------------
/** @param {string} name */
function actionText(name) { return t(`action.${name}`); }

function showRecord() {
  renderActions();
  $("action-prompt").textContent = "";
  $("countdown").textContent = "";
  $("start-recording").hidden = false;
  $("record-camera").hidden = true;
  show("screen-record");
}

export function renderActions() {
  if (!current.attempt) return;
  const list = $("action-list");
  list.replaceChildren(...current.attempt.challenge.actions.map((a) => {
    const li = document.createElement("li");
    li.textContent = actionText(a);
    return li;
  }));
}

/** @param {string} text */
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

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The recording format to ask for; "" for the browser's own, null if it cannot record. */
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
  const video = $("record-video", HTMLVideoElement);
  try {
    // A fresh camera stream, so the recording starts when the person is ready.
    const stream = await openCamera(video, "recording");
    const recorder = new MediaRecorder(stream, type ? { mimeType: type, videoBitsPerSecond: VIDEO_BITS_PER_SECOND } : { videoBitsPerSecond: VIDEO_BITS_PER_SECOND });
    /** @type {Blob[]} */
    const chunks = [];
    recorder.ondataavailable = (e) => { if (e.data && e.data.size) chunks.push(e.data); };
    const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
    recorder.start(1000);
    $("recording-badge").hidden = false;
    const actions = current.attempt.challenge.actions;
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

// ---- the flow kept across a reload -------------------------------------------------------------
/** When the challenge ends, the saved recording goes (it is useless and should not linger). */
let forgetTimer = /** @type {ReturnType<typeof setTimeout> | null} */ (null);

/**
 * Keep the attempt, the media and the uploads' places in IndexedDB.
 * @param {Blob | null} video
 * @param {import("./resumable.js").SavedFlow["uploads"]} uploads
 */
function save(video, uploads) {
  const a = current.attempt;
  if (!a || !a.challenge) return;
  saveFlow({
    attemptId: a.id, nonce: a.challenge.nonce, actions: a.challenge.actions,
    expiresAt: a.challenge.expires_at, selfie: current.selfie, video, uploads,
  });
  if (forgetTimer) clearTimeout(forgetTimer);
  forgetTimer = setTimeout(() => { forgetFlow(); }, Math.max(0, Date.parse(a.challenge.expires_at) - Date.now()));
}

function forget() {
  if (forgetTimer) clearTimeout(forgetTimer);
  forgetTimer = null;
  forgetFlow();
}

/**
 * After a reload: an attempt saved on this device and still valid goes on where it stopped
 * (its upload resumes; without a recording yet, the recording screen opens again, and the
 * camera with it). Resolves true when it took over the page.
 * @returns {Promise<boolean>}
 */
export async function resumeSaved() {
  const flow = await loadFlow();
  if (!flow || !flow.selfie) return false;
  /** @type {Attempt} */
  let attempt;
  try { attempt = await api("GET", `/certifications/attempts/${flow.attemptId}`); } catch (err) {
    await forgetFlow();  // another person's, or gone
    return false;
  }
  if (attempt.status !== "awaiting_upload") {
    await forgetFlow();
    if (attempt.status === "processing") { show("screen-upload"); await followUp(attempt); return true; }
    return false;
  }
  current.attempt = attempt;
  current.selfie = flow.selfie;
  if (!flow.video) {
    showRecord();
    await openCamera($("record-video", HTMLVideoElement), "recording").catch(() => {});
    $("record-camera").hidden = false;
    return true;
  }
  await upload(flow.video, flow.uploads, true);
  return true;
}

// ---- upload and result ------------------------------------------------------------------------
/**
 * Send the selfie and the video with the resumable upload, then follow the attempt.
 * @param {Blob} videoBlob
 * @param {import("./resumable.js").SavedFlow["uploads"]} [saved] places of uploads begun before a reload
 * @param {boolean} [resumed]
 */
async function upload(videoBlob, saved = {}, resumed = false) {
  show("screen-upload");
  const bar = $("upload-progress", HTMLProgressElement);
  bar.value = 0;
  $("upload-text").textContent = resumed ? t("upload.resumed") : t("upload.percent", { p: 0 });
  const a = /** @type {Attempt} */ (current.attempt);
  /** @type {import("./resumable.js").Part[]} */
  const parts = [
    { part: "selfie", blob: /** @type {Blob} */ (current.selfie), url: saved.selfie?.url ?? null, offset: saved.selfie?.offset ?? 0 },
    { part: "video", blob: videoBlob, url: saved.video?.url ?? null, offset: saved.video?.offset ?? 0 },
  ];
  save(videoBlob, saved);
  try {
    await uploadParts({
      attemptId: a.id,
      meta: { nonce: a.challenge.nonce, mirrored: false },
      parts,
      bearer: token,
      onProgress: (sent, total) => {
        const p = Math.round((sent / total) * 100);
        bar.value = p;
        $("upload-text").textContent = t("upload.percent", { p });
      },
      onSaved: (now) => {
        /** @type {import("./resumable.js").SavedFlow["uploads"]} */
        const uploads = {};
        for (const p of now) if (p.url) uploads[p.part] = { url: p.url, offset: p.offset };
        save(videoBlob, uploads);
      },
      onWaiting: (waiting) => { if (waiting) $("upload-text").textContent = t("upload.waiting"); },
    });
  } catch (err) {
    if (err instanceof ApiError && (err.code === "ChallengeExpired" || err.code === "UploadExpired")) {
      forget();
      showResult({ id: a.id, status: "expired", next_steps: [] });
      return;
    }
    forget();
    throw err;
  }
  forget();
  await followUp(await api("GET", `/certifications/attempts/${a.id}`));
}

/**
 * Wait for the decision of an attempt being checked, then show it.
 * @param {Attempt} attempt
 */
async function followUp(attempt) {
  const bar = $("upload-progress", HTMLProgressElement);
  bar.value = 100;
  $("upload-text").textContent = t("upload.checking");
  const deadline = Date.now() + 5 * 60 * 1000;
  while (attempt.status === "processing" && Date.now() < deadline) {
    await sleep(POLL_MS);
    attempt = await api("GET", `/certifications/attempts/${attempt.id}`);
  }
  showResult(attempt);
}

/** @param {Attempt} attempt */
function showResult(attempt) {
  current.result = attempt;
  renderResult();
  show("screen-result");
}

export function renderResult() {
  const a = current.result;
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
  /** @type {HTMLButtonElement[]} */
  const buttons = [];
  /**
   * @param {string} key
   * @param {boolean} primary
   * @param {() => void} onClick
   */
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
