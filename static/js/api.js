// A small fetch wrapper: JSON in and out, the service's {error, detail} body turned into an
// ApiError whose message can be shown to a person, and one place that adds the bearer token.

export class ApiError extends Error {
  constructor(status, code, detail, body) {
    super(detail);
    this.status = status;
    this.code = code;
    this.body = body || {};
  }
}

export function makeApi({ base = "/api/v1", token, onUnauthorized } = {}) {
  async function request(method, path, { json, form, query, raw } = {}) {
    const url = new URL(base + path, window.location.origin);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    }
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

export async function toError(response) {
  let body = {};
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  return new ApiError(response.status, body.error || `HTTP${response.status}`,
    body.detail || response.statusText || `HTTP ${response.status}`, body);
}

// Upload a multipart form with progress (fetch cannot report upload progress).
export function uploadWithProgress(url, form, bearer, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    if (bearer) xhr.setRequestHeader("Authorization", `Bearer ${bearer}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body.error || `HTTP${xhr.status}`, body.detail || `HTTP ${xhr.status}`, body));
    };
    xhr.onerror = () => reject(new ApiError(0, "NetworkError", "network"));
    xhr.send(form);
  });
}
