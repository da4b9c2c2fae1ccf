// The console's only way to the server: the public HTTP API, with the API key the user typed.
// The key lives in sessionStorage (this tab, until it closes), never in a cookie, so no
// other site can make the browser send it.

const KEY_SLOT = "asyncml.apiKey";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_SLOT) || "";
  } catch {
    return "";
  }
}

export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_SLOT, key);
    else sessionStorage.removeItem(KEY_SLOT);
  } catch {
    // Storage refused (private mode): the key is then asked for on each load.
  }
}

function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const key = apiKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function problem(response) {
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    } else if (body && Array.isArray(body.detail)) {
      message = body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    }
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(response.status, code, message);
}

/** A 401 tells the console (app.js) to ask for a key, wherever it happened. */
function unauthorized(error) {
  if (error.status === 401) window.dispatchEvent(new CustomEvent("asyncml:unauthorized"));
  return error;
}

/** GET/POST a JSON API path; resolves to the parsed body, rejects with an ApiError. */
export async function call(path, { method = "GET", body, signal } = {}) {
  const init = { method, signal, headers: headers(), credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw unauthorized(await problem(response));
  return response.status === 204 ? null : response.json();
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const TERMINAL = new Set(["succeeded", "failed", "canceled", "expired"]);
export const isTerminal = (status) => TERMINAL.has(status);

/**
 * Follow a job's Server-Sent Events until it ends, calling onEvent(name, job, eventId).
 *
 * EventSource cannot send an Authorization header, so the stream is read with fetch() and
 * parsed here: one code path with and without API keys, and the key never goes into a URL
 * (where logs and history would keep it). A dropped stream resumes after the last event
 * (Last-Event-ID); if streaming keeps failing (a proxy that buffers, say), it falls back to
 * long-polling GET /v1/jobs/{id}?wait=, which sends the states without the progress steps.
 */
export async function followJob(jobId, onEvent, signal) {
  let lastId = null;
  let failures = 0;
  const path = `/v1/jobs/${encodeURIComponent(jobId)}/events`;
  while (!signal.aborted && failures < 3) {
    try {
      const extra = { Accept: "text/event-stream" };
      if (lastId) extra["Last-Event-ID"] = lastId;
      const response = await fetch(path, {
        headers: headers(extra),
        signal,
        credentials: "omit",
        cache: "no-store",
      });
      if (response.status === 204) return;
      if (!response.ok) throw unauthorized(await problem(response));
      let ended = false;
      for await (const frame of frames(response.body, signal)) {
        if (frame.id) lastId = frame.id;
        if (!frame.event || !frame.data) continue;
        const job = JSON.parse(frame.data);
        onEvent(frame.event, job, frame.id);
        failures = 0;
        if (isTerminal(job.status)) ended = true;
      }
      if (ended) return;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500) throw error;
    }
    failures += 1;
    await pause(1000, signal);
  }
  await pollJob(jobId, onEvent, signal);
}

async function pollJob(jobId, onEvent, signal) {
  let seen = null;
  while (!signal.aborted) {
    try {
      const job = await call(`/v1/jobs/${encodeURIComponent(jobId)}?wait=20`, { signal });
      const step = `${job.status}|${job.progress ? job.progress.done : ""}`;
      if (step !== seen) {
        const moved = seen !== null && seen.startsWith("started|") && job.status === "started";
        onEvent(moved ? "progress" : job.status, job, null);
      }
      seen = step;
      if (isTerminal(job.status)) return;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500) throw error;
      await pause(2000, signal);
    }
  }
}

/** Parse a text/event-stream body into {id, event, data} frames. */
async function* frames(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = { id: null, event: null, data: "" };
        for (const line of buffer.slice(0, end).split("\n")) {
          const colon = line.indexOf(":");
          if (colon === 0) continue; // a comment (keep-alive)
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") frame.id = text;
          else if (field === "event") frame.event = text;
          else if (field === "data") frame.data += frame.data ? `\n${text}` : text;
        }
        buffer = buffer.slice(end + 2);
        yield frame;
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

export function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Call load() now and every `every` ms until the signal aborts; skipped while the tab is
 * hidden. Errors go to onError (the page shows them) and the polling goes on.
 */
export function every(ms, load, signal, onError = () => {}) {
  let timer = null;
  const tick = async () => {
    if (signal.aborted) return;
    if (document.visibilityState !== "hidden") {
      try {
        await load();
      } catch (error) {
        if (!signal.aborted) onError(error);
      }
    }
    if (!signal.aborted) timer = setTimeout(tick, ms);
  };
  signal.addEventListener("abort", () => clearTimeout(timer));
  tick();
}
