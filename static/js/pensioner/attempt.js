// @ts-check
// A remote certification attempt: consent, the challenge (a selfie, then a short recording
// of the actions asked for, with spoken prompts), the upload with progress, and the result
// with what to do next.
import { ApiError, uploadWithProgress } from "../api.js";
import { loadHome, loadVideo, showRoutes } from "./home.js";
import {
  $, api, busy, fail, i18n, openCamera, setError, show, stopCamera, t, token,
} from "./page.js";
import { startSelfie } from "./selfie.js";

const STEP_MS = 4500;         // time given to each action: unhurried for older people
const POLL_MS = 1500;

/**
 * @typedef {object} Attempt an attempt as the service returns it
 * @property {string} id
 * @property {string} status
 * @property {{ actions: string[], nonce: string }} [challenge]
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
    await startSelfie(current.attempt, (photo) => { current.selfie = photo; showRecord(); });
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
    const stream = await openCamera(video);
    const recorder = new MediaRecorder(stream, type ? { mimeType: type, videoBitsPerSecond: 2500000 } : {});
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

// ---- upload and result ------------------------------------------------------------------------
/** @param {Blob} videoBlob */
async function upload(videoBlob) {
  show("screen-upload");
  const bar = $("upload-progress", HTMLProgressElement);
  bar.value = 0;
  $("upload-text").textContent = t("upload.percent", { p: 0 });
  const form = new FormData();
  form.append("selfie", current.selfie, "selfie.jpg");
  form.append("video", videoBlob, videoBlob.type.includes("mp4") ? "video.mp4" : "video.webm");
  form.append("nonce", current.attempt.challenge.nonce);
  form.append("mirrored", "false");
  /** @type {Attempt} */
  let attempt;
  try {
    attempt = /** @type {Attempt} */ (await uploadWithProgress(`/api/v1/certifications/attempts/${current.attempt.id}/upload`, form, token(), (f) => {
      const p = Math.round(f * 100);
      bar.value = p;
      $("upload-text").textContent = t("upload.percent", { p });
    }));
  } catch (err) {
    if (err instanceof ApiError && err.code === "ChallengeExpired") { showResult({ id: current.attempt.id, status: "expired", next_steps: [] }); return; }
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
