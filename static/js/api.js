// @ts-check
// A small fetch wrapper: JSON in and out, the service's {error, detail} body turned into an
// ApiError whose message can be shown to a person, and one place that adds the bearer token.

/**
 * The parsed body of an answer: JSON objects are read field by field.
 * @typedef {Record<string, any>} Body
 */

/**
 * @typedef {object} RequestOptions
 * @property {unknown} [json] sent as a JSON body
 * @property {FormData} [form] sent as a multipart body
 * @property {Record<string, string | number | null | undefined>} [query] empty values left out
 * @property {boolean} [raw] resolve to the Response itself
 */

/** @typedef {(method: string, path: string, options?: RequestOptions) => Promise<any>} Api */

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status; 0 when the service could not be reached
   * @param {string} code the service's error code ("FaceNotFound"), or "NetworkError"
   * @param {string} detail
   * @param {Body} [body]
   */
  constructor(status, code, detail, body) {
    super(detail);
    this.status = status;
    this.code = code;
    this.body = body || {};
  }
}

/**
 * @param {object} [options]
 * @param {string} [options.base]
 * @param {() => string | null | undefined} [options.token] the bearer token, if logged in
 * @param {() => Promise<boolean>} [options.onUnauthorized] refresh the token; true to retry
 * @returns {Api}
 */
export function makeApi({ base = "/api/v1", token, onUnauthorized } = {}) {
  /** @type {Api} */
  async function request(method, path, { json, form, query, raw } = {}) {
    const url = new URL(base + path, window.location.origin);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
    }
    /** @type {Record<string, string>} */
    const headers = {};
    const bearer = token ? token() : null;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body });
    } catch (e) {
      throw new ApiError(0, "NetworkError", "network");
    }
    if (response.status === 401 && onUnauthorized && path !== "/auth/token") {
      const retried = await onUnauthorized();
      if (retried) return request(method, path, { json, form, query, raw });
    }
    if (!response.ok) throw await toError(response);
    if (raw) return response;
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }
  return request;
}

/**
 * @param {Response} response
 * @returns {Promise<ApiError>}
 */
export async function toError(response) {
  /** @type {Body} */
  let body = {};
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  return new ApiError(response.status, body.error || `HTTP${response.status}`,
    body.detail || response.statusText || `HTTP ${response.status}`, body);
}

/**
 * Upload a multipart form with progress (fetch cannot report upload progress).
 * @param {string} url
 * @param {FormData} form
 * @param {string | null} bearer
 * @param {(fraction: number) => void} onProgress
 * @returns {Promise<Body>}
 */
export function uploadWithProgress(url, form, bearer, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    if (bearer) xhr.setRequestHeader("Authorization", `Bearer ${bearer}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      /** @type {Body} */
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body.error || `HTTP${xhr.status}`, body.detail || `HTTP ${xhr.status}`, body));
    };
    xhr.onerror = () => reject(new ApiError(0, "NetworkError", "network"));
    xhr.send(form);
  });
}
