// The JSON API over HTTP with the login cookie. Errors come back as {error: {code, message, field?}}.
// Shared by the console and the dashboard (served at /<page>/shared/api.js).

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export async function api(method, path, body, { raw = false } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body instanceof Blob || body instanceof FormData) {
    init.body = body;
    if (body instanceof Blob && body.type) init.headers["Content-Type"] = body.type;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (!resp.ok) {
    let err = {};
    try {
      err = (await resp.json()).error || {};
    } catch {
      /* not JSON */
    }
    throw new ApiError(resp.status, err.code || `http_${resp.status}`, err.message || resp.statusText, err.field);
  }
  if (raw) return resp;
  if (resp.status === 204) return null;
  return resp.json();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
