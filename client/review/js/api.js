// The reviewer API (/api/admin/..., docs/console.md). Every change sends the session's
// CSRF token in X-CSRF-Token; a 401 means the session ended, and the console shows the
// login form again (the "unauthenticated" event on `apiEvents`).

const TIMEOUT_MS = 15_000;

export const apiEvents = new EventTarget();
let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body = undefined) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal: controller.signal,
    });
  } catch (error) {
    throw new ApiError(0, "network", "The server did not answer. Check your connection.");
  } finally {
    clearTimeout(timer);
  }
  const data = await response.json().catch(() => null);
  if (response.status === 401 && path !== "/api/auth/login") {
    apiEvents.dispatchEvent(new CustomEvent("unauthenticated"));
  }
  if (!response.ok) {
    throw new ApiError(response.status, data?.error ?? "error", data?.message ?? response.statusText);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
