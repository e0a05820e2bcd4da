// Server-sent events over fetch(): EventSource cannot POST, so the stream is read and parsed here.
import { ApiError, csrfToken, detailOf, signedOut } from "./api.js";

// Yields {event, data} for each event in a text/event-stream body; data is parsed JSON when it is JSON.
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) yield event;
    }
  }
  const last = parseEvent(buffer);
  if (last) yield last;
}

export function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // comments keep the connection alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}

// POSTs JSON and yields the answer's events. Errors before the stream starts throw ApiError.
export async function* postStream(url, payload, { signal } = {}) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      signal,
      headers: { Accept: "text/event-stream", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(payload),
    });
  } catch {
    throw new ApiError(0, "The server could not be reached. Check your connection and try again.");
  }
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok || !type.startsWith("text/event-stream")) {
    const data = await response.json().catch(() => null);
    if (signedOut(response.status, data)) window.location.assign("/accounts/login/");
    if (response.ok && data) {
      // A server that answered without streaming: one complete reply.
      yield { event: "done", data };
      return;
    }
    throw new ApiError(response.status, detailOf(data, response.status), data);
  }
  yield* readEvents(response.body);
}
