// @ts-check
// A small tus 1.0 client (core, creation, expiration) for the attempt's selfie and video: each
// part is sent in chunks at offsets; after a lost connection it waits for the network, asks the
// service where the upload stands (HEAD) and goes on from there, with backoff between tries.
// The flow's state (the attempt, the media, the upload URLs and offsets) is kept in IndexedDB
// so a reload or a restarted phone resumes too; it is deleted once the challenge expires.
import { ApiError } from "../api.js";

const TUS = "1.0.0";
export const CHUNK_BYTES = 256 * 1024;
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];
const STALL_MS = 30000;

/**
 * One part of the attempt being uploaded.
 * @typedef {object} Part
 * @property {"selfie" | "video"} part
 * @property {Blob} blob
 * @property {string | null} url the upload's URL once created
 * @property {number} offset bytes the service has
 */

/**
 * What the page keeps across a reload.
 * @typedef {object} SavedFlow
 * @property {string} attemptId
 * @property {string} nonce
 * @property {string[]} actions
 * @property {string} expiresAt ISO date-time of the challenge's end
 * @property {Blob | null} selfie
 * @property {Blob | null} video
 * @property {{ selfie?: { url: string, offset: number }, video?: { url: string, offset: number } }} uploads
 */

// ---- the saved flow (IndexedDB) -------------------------------------------------------------
const DB_NAME = "lifecert-pensioner";
const STORE = "flow";
const KEY = "current";

/** @returns {Promise<IDBDatabase>} */
function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => { request.result.createObjectStore(STORE); };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest} act
 * @returns {Promise<any>}
 */
async function withStore(mode, act) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = act(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally { db.close(); }
}

/** @param {SavedFlow} flow */
export function saveFlow(flow) { return withStore("readwrite", (s) => s.put(flow, KEY)).catch(() => {}); }

export function forgetFlow() { return withStore("readwrite", (s) => s.delete(KEY)).catch(() => {}); }

/**
 * The saved flow, if its challenge is still valid; an expired one is deleted (a recording is
 * not kept longer than its challenge).
 * @returns {Promise<SavedFlow | null>}
 */
export async function loadFlow() {
  /** @type {SavedFlow | undefined} */
  let flow;
  try { flow = await withStore("readonly", (s) => s.get(KEY)); } catch (e) { return null; }
  if (!flow) return null;
  if (Date.parse(flow.expiresAt) <= Date.now()) { await forgetFlow(); return null; }
  return flow;
}

// ---- the protocol ---------------------------------------------------------------------------
/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the browser says it is online again. */
function online() {
  if (navigator.onLine) return Promise.resolve();
  return new Promise((resolve) => window.addEventListener("online", () => resolve(undefined), { once: true }));
}

/** @param {string} text */
const b64 = (text) => btoa(unescape(encodeURIComponent(text)));

/**
 * @param {Response} response
 * @returns {Promise<ApiError>}
 */
async function errorOf(response) {
  /** @type {Record<string, any>} */
  let body = {};
  try { body = await response.json(); } catch (e) { /* HEAD, or not JSON */ }
  return new ApiError(response.status, body.error || `HTTP${response.status}`, body.detail || `HTTP ${response.status}`, body);
}

/**
 * @param {string} method
 * @param {string} url
 * @param {string | null} bearer
 * @param {Record<string, string>} headers
 */
async function call(method, url, bearer, headers) {
  /** @type {Record<string, string>} */
  const all = { "Tus-Resumable": TUS, ...headers };
  if (bearer) all.Authorization = `Bearer ${bearer}`;
  let response;
  try { response = await fetch(url, { method, headers: all, cache: "no-store" }); } catch (e) {
    throw new ApiError(0, "NetworkError", "network");
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/**
 * Create the upload of one part (tus creation).
 * @param {string} attemptId
 * @param {Part} part
 * @param {{ nonce: string, mirrored: boolean }} meta
 * @param {string | null} bearer
 * @returns {Promise<string>} the upload's URL
 */
async function create(attemptId, part, meta, bearer) {
  const response = await call("POST", `/api/v1/certifications/attempts/${attemptId}/uploads`, bearer, {
    "Upload-Length": String(part.blob.size),
    "Upload-Metadata": `part ${b64(part.part)},nonce ${b64(meta.nonce)},mirrored ${b64(String(meta.mirrored))}`,
  });
  const location = response.headers.get("Location");
  if (!location) throw new ApiError(response.status, "UploadProtocolError", "no Location");
  return location;
}

/**
 * Where the upload stands (tus HEAD).
 * @param {string} url
 * @param {string | null} bearer
 */
async function offsetOf(url, bearer) {
  const response = await call("HEAD", url, bearer, {});
  return Number(response.headers.get("Upload-Offset"));
}

/**
 * Send one chunk with progress (fetch cannot report upload progress).
 * @param {string} url
 * @param {number} offset
 * @param {Blob} chunk
 * @param {string | null} bearer
 * @param {(sent: number) => void} progress bytes of this chunk sent so far
 * @returns {Promise<{ offset: number, status: string | null }>}
 */
function patch(url, offset, chunk, bearer, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    // A request the lost connection left hanging is given up: at once when the browser says
    // it is offline, else after STALL_MS without a byte moving; the service keeps what arrived.
    let moved = Date.now();
    const giveUp = () => xhr.abort();
    const stall = setInterval(() => { if (Date.now() - moved > STALL_MS) giveUp(); }, 1000);
    window.addEventListener("offline", giveUp);
    const settle = () => { clearInterval(stall); window.removeEventListener("offline", giveUp); };
    xhr.onabort = () => { settle(); reject(new ApiError(0, "NetworkError", "network")); };
    xhr.open("PATCH", url);
    xhr.setRequestHeader("Tus-Resumable", TUS);
    xhr.setRequestHeader("Upload-Offset", String(offset));
    xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
    if (bearer) xhr.setRequestHeader("Authorization", `Bearer ${bearer}`);
    xhr.upload.onprogress = (e) => { moved = Date.now(); progress(e.loaded); };
    xhr.onload = () => {
      settle();
      if (xhr.status === 204) {
        resolve({ offset: Number(xhr.getResponseHeader("Upload-Offset")), status: xhr.getResponseHeader("Upload-Attempt-Status") });
        return;
      }
      /** @type {Record<string, any>} */
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      reject(new ApiError(xhr.status, body.error || `HTTP${xhr.status}`, body.detail || `HTTP ${xhr.status}`, body));
    };
    xhr.onerror = () => { settle(); reject(new ApiError(0, "NetworkError", "network")); };
    xhr.send(chunk);
  });
}

/** @param {unknown} err whether trying again later may help */
function transient(err) {
  return err instanceof ApiError && (err.status === 0 || err.status === 502 || err.status === 503 || err.status === 504 || err.code === "UploadOffsetMismatch");
}

/**
 * Upload every part, resuming where each stands; resolves with the attempt's status once the
 * service has all of them ("processing").
 * @param {object} options
 * @param {string} options.attemptId
 * @param {{ nonce: string, mirrored: boolean }} options.meta
 * @param {Part[]} options.parts
 * @param {() => string | null} options.bearer
 * @param {(sent: number, total: number) => void} options.onProgress
 * @param {(parts: Part[]) => void} options.onSaved called whenever an offset moved
 * @param {(waiting: boolean) => void} [options.onWaiting] true while waiting for the network
 * @returns {Promise<string | null>}
 */
export async function uploadParts({ attemptId, meta, parts, bearer, onProgress, onSaved, onWaiting = () => {} }) {
  const total = parts.reduce((n, p) => n + p.blob.size, 0);
  const done = () => parts.reduce((n, p) => n + p.offset, 0);
  let status = null;
  let failures = 0;
  // Resuming (after a reload): the service says where each begun upload stands.
  for (const part of parts) {
    if (part.url === null) continue;
    try { part.offset = await offsetOf(part.url, bearer()); } catch (err) {
      if (err instanceof ApiError && err.status === 404) { part.url = null; part.offset = 0; } else if (!transient(err)) throw err;
    }
  }
  for (const part of parts) {
    while (part.url === null || part.offset < part.blob.size) {
      try {
        if (part.url === null) {
          part.url = await create(attemptId, part, meta, bearer());
          part.offset = 0;
          onSaved(parts);
        }
        const end = Math.min(part.offset + CHUNK_BYTES, part.blob.size);
        const before = done();
        const sent = await patch(part.url, part.offset, part.blob.slice(part.offset, end), bearer(), (n) => onProgress(before + n, total));
        part.offset = sent.offset;
        status = sent.status;
        failures = 0;
        onProgress(done(), total);
        onSaved(parts);
      } catch (err) {
        if (!transient(err)) throw err;
        // Lost connection (or a chunk the service saw only part of): wait, then ask where it stands.
        onWaiting(true);
        await online();
        await sleep(BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]);
        failures += 1;
        try {
          if (part.url !== null) { part.offset = await offsetOf(part.url, bearer()); onSaved(parts); }
        } catch (headErr) { if (!transient(headErr)) throw headErr; }
        onWaiting(false);
      }
    }
  }
  return status;
}
