// The REST API seam: every request the page makes goes through here (JSON, CSRF, errors).

export class ApiError extends Error {
  constructor(status, detail, body = null) {
    super(detail);
    this.status = status;
    this.body = body;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) return meta.content;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// DRF errors are {"detail": "..."} or, for validation, {"field": ["message", ...]}.
export function detailOf(body, status) {
  if (body && typeof body === "object") {
    if (typeof body.detail === "string") return body.detail;
    const first = Object.entries(body)[0];
    if (first) {
      const [field, value] = first;
      const message = Array.isArray(value) ? value.join(" ") : String(value);
      return field === "non_field_errors" ? message : `${field}: ${message}`;
    }
  }
  return `The server answered ${status}.`;
}

// A session that expired answers 401/403 "credentials were not provided": back to the login page.
export function signedOut(status, data) {
  const detail = (data && typeof data.detail === "string" && data.detail) || "";
  return status === 401 || (status === 403 && /credentials|not authenticated/i.test(detail));
}

export async function request(method, url, body) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "The server could not be reached. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (signedOut(response.status, data)) {
    window.location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
  }
  if (!response.ok) throw new ApiError(response.status, detailOf(data, response.status), data);
  return data;
}

// Lists may come paginated ({results: [...]}) or plain.
export const listOf = (data) => (Array.isArray(data) ? data : (data && data.results) || []);

// Every item of a paginated list: follows `next` until the last page.
export async function allPages(url) {
  const items = [];
  for (let next = url; next;) {
    const data = await request("GET", next);
    items.push(...listOf(data));
    next = data && !Array.isArray(data) ? data.next : null;
  }
  return items;
}

// A file upload with progress events (fetch cannot report them): resolves to {status, body}, never rejects.
// `fields`: more form fields sent with the file (e.g. {collection: 3}).
export function uploadFile(url, file, { onProgress, onUploaded, fields = {} } = {}) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded / event.total);
    });
    xhr.upload.addEventListener("load", () => onUploaded?.());
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON: the status says enough */
      }
      if (signedOut(xhr.status, body)) {
        window.location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
      }
      resolve({ status: xhr.status, body });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
    const form = new FormData();
    form.append("file", file, file.name);
    for (const [name, value] of Object.entries(fields)) {
      if (value !== null && value !== undefined && value !== "") form.append(name, String(value));
    }
    xhr.send(form);
  });
}

// The first page of the user's chats: the archived ones or the others, optionally only those matching words.
export function sessionsUrl({ archived = false, search = "" } = {}) {
  const query = new URLSearchParams({ page_size: "30" });
  if (archived) query.set("archived", "true");
  if (search) query.set("search", search);
  return `/api/sessions?${query}`;
}

export const api = {
  config: () => request("GET", "/api/config"),
  sessionsPage: (url) => request("GET", url), // {count, next, previous, results}: follow `next` for more
  // fields: {name?, scope?: {collections: [ids], documents: [ids]}}
  createSession: (fields = {}) => request("POST", "/api/sessions", fields),
  updateSession: (id, fields) => request("PATCH", `/api/sessions/${id}`, fields), // name, pinned, archived, scope
  deleteSession: (id) => request("DELETE", `/api/sessions/${id}`),
  session: (id) => request("GET", `/api/sessions/${id}`),
  messages: (id) => allPages(`/api/sessions/${id}/messages`),
  stopAnswer: (id) => request("POST", `/api/sessions/${id}/stop`),
  exportUrl: (id, as) => `/api/sessions/${id}/export?as=${as}`,
  rate: (messageId, rating, comment = "") =>
    request("PUT", `/api/messages/${messageId}/feedback`, { rating, comment }),
  unrate: (messageId) => request("DELETE", `/api/messages/${messageId}/feedback`),
  documents: () => allPages("/api/documents"),
  collections: () => allPages("/api/collections"),
  createCollection: (fields) => request("POST", "/api/collections", fields),
  moveDocument: (id, collection) => request("PATCH", `/api/documents/${id}`, { collection }),
  deleteDocument: (id) => request("DELETE", `/api/documents/${id}`),
  retryDocument: (id) => request("POST", `/api/documents/${id}/retry`),
  uploadDocument: (file, events) => uploadFile("/api/documents", file, events), // events.fields: {collection}
  // The reader's window of a document's text, around a cited chunk (or from its start); follow `previous`/`next`.
  documentText: (id, { chunk } = {}) =>
    request("GET", `/api/documents/${id}/text${chunk ? `?chunk=${encodeURIComponent(chunk)}` : ""}`),
  page: (url) => request("GET", url),
  originalUrl: (id) => `/api/documents/${id}/original`,
};
