// One job, followed live: status, progress, timeline from its events, input, result or
// error, attempts, webhook deliveries; cancel and redeliver buttons. Used by the job page
// and, right after a submit, by the task page.

import { ApiError, call, followJob, isTerminal, pause } from "./api.js";
import { clock, fill, h, jsonBlock, keepFocus, notice, setText, statusBadge, when } from "./dom.js";

/** The time an event was logged: its id is a Redis stream id, "<milliseconds>-<n>". */
function eventTime(eventId, job, name) {
  const ms = eventId ? Number(eventId.split("-")[0]) : NaN;
  if (!Number.isNaN(ms)) return clock(new Date(ms));
  if (name === "progress") return clock(new Date());
  const iso = { queued: job.created_at, started: job.started_at }[name] || job.finished_at;
  return iso ? clock(new Date(iso)) : "";
}

/** "HH:MM:SS · ran 1.2 s": a time of the job's, and how long after the one before it. */
function since(iso, before, verb) {
  if (!iso) return "–";
  const at = new Date(iso);
  const seconds = (at - new Date(before)) / 1000;
  return Number.isNaN(seconds) ? when(iso) : `${clock(at)} · ${verb} ${seconds.toFixed(1)} s`;
}

function taskLink(job) {
  const name = job.version ? `${job.task}@${job.version}` : job.task;
  return h("a", { href: `#/tasks/${encodeURIComponent(name)}` }, name);
}

function deliveriesTable(deliveries) {
  if (!deliveries || deliveries.length === 0) return h("p", { class: "muted" }, "No attempts yet.");
  const rows = deliveries.map((d) =>
    h(
      "tr",
      { "data-outcome": d.outcome },
      h("td", {}, String(d.attempt)),
      h("td", {}, d.event),
      h("td", {}, when(d.at)),
      h("td", {}, d.status_code === null ? "–" : String(d.status_code)),
      h("td", {}, d.outcome),
      h("td", {}, d.error || ""),
    ),
  );
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: "deliveries" },
      h("caption", {}, "Delivery attempts"),
      h(
        "thead",
        {},
        h("tr", {}, ...["#", "event", "at", "HTTP", "outcome", "error"].map((t) => h("th", { scope: "col" }, t))),
      ),
      h("tbody", {}, ...rows),
    ),
  );
}

/** Render job `jobId` into `container` and keep it live until `signal` aborts. */
export async function showJob(container, jobId, signal, { heading = "h1" } = {}) {
  const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  let job;
  try {
    job = await call(path, { signal });
  } catch (error) {
    if (signal.aborted) return;
    const text = error instanceof ApiError && error.status === 404 ? `No job ${jobId} (or not yours).` : error.message;
    fill(container, notice(text));
    return;
  }

  const status = h("span", { class: "job-status", "aria-live": "polite" });
  const bar = h("progress", { max: "1", "aria-label": "progress" });
  const barText = h("span", { class: "progress-text" });
  const progress = h("div", { class: "progress", hidden: true }, bar, barText);
  const timeline = h("ol", { class: "timeline", "aria-label": "Status timeline" });
  const facts = h("dl", { class: "facts" });
  const outcome = h("div", { class: "outcome" });
  const actionNote = h("p", { class: "action-note", role: "status" });
  const cancel = h("button", { type: "button", class: "danger", "data-action": "cancel" }, "Cancel job");
  const redeliver = h("button", { type: "button", "data-action": "redeliver" }, "Redeliver webhook");
  const hooks = h("section", { class: "webhooks", hidden: true }, h("h3", {}, "Webhook"));
  const hookBody = h("div");
  hooks.append(hookBody);

  fill(
    container,
    h(heading, { class: "job-title", tabindex: "-1" }, "Job ", h("code", {}, job.id)),
    h("div", { class: "job-head" }, status, h("div", { class: "actions" }, cancel, redeliver)),
    actionNote,
    progress,
    h("div", { class: "columns" },
      h("section", {}, h("h3", {}, "Details"), facts),
      h("section", {}, h("h3", {}, "Timeline"), timeline),
    ),
    h("section", {}, h("h3", {}, "Input"), jsonBlock(job.input, "job input")),
    outcome,
    hooks,
  );

  const render = (current) => {
    job = { ...job, ...current, deliveries: current.deliveries ?? job.deliveries };
    fill(status, statusBadge(job.status));
    container.dataset.status = job.status;
    cancel.disabled = isTerminal(job.status);
    redeliver.hidden = !job.webhook;
    redeliver.disabled = !isTerminal(job.status);
    keepFocus(facts, () => fill(
      facts,
      ...[
        ["task", taskLink(job)],
        ["attempts", String(job.attempts)],
        ["created", when(job.created_at)],
        ["started", since(job.started_at, job.created_at, "waited")],
        ["finished", since(job.finished_at, job.started_at || job.created_at, "ran")],
        ["queue position", job.queue_position ?? "–"],
        ["priority", String(job.priority ?? 0)],
        ...(job.deadline ? [["start deadline", when(job.deadline)]] : []),
        ...(job.timeout_s ? [["time limit", `${job.timeout_s} s`]] : []),
      ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-fact": k, "data-key": k }, v instanceof Node ? v : String(v))]),
    ));
    const p = job.progress;
    if (p && !isTerminal(job.status)) {
      progress.hidden = false;
      if (p.total) {
        bar.max = p.total;
        bar.value = p.done;
      } else {
        bar.removeAttribute("value");
      }
      setText(barText, `${p.done}${p.total ? ` / ${p.total}` : ""}${p.message ? ` · ${p.message}` : ""}`);
    } else if (isTerminal(job.status) && p) {
      progress.hidden = false;
      bar.max = p.total || 1;
      bar.value = p.total || 1;
      setText(barText, `${p.done}${p.total ? ` / ${p.total}` : ""}${p.message ? ` · ${p.message}` : ""}`);
    }
    if (job.status === "succeeded") {
      fill(outcome, h("section", { class: "result" }, h("h3", {}, "Result"), jsonBlock(job.result, "job result")));
    } else if (job.error) {
      fill(
        outcome,
        h(
          "section",
          { class: "error-box", role: "alert" },
          h("h3", {}, "Error"),
          h("p", {}, h("code", { class: "error-code" }, job.error.code)),
          h("p", { class: "error-message" }, job.error.message),
        ),
      );
    }
    if (job.webhook) {
      hooks.hidden = false;
      fill(
        hookBody,
        h("p", {}, "To ", h("code", {}, job.webhook), " · status ", h("span", { class: "webhook-status" }, job.webhook_status)),
        deliveriesTable(job.deliveries),
      );
    }
  };
  render(job);

  // Deliveries are not in the event stream: read the job again while one is under way.
  const refresh = async () => {
    try {
      render(await call(path, { signal }));
    } catch (error) {
      if (!signal.aborted) setText(actionNote, error.message);
    }
  };
  const watchDeliveries = async () => {
    while (!signal.aborted && job.webhook) {
      await refresh();
      if (isTerminal(job.status) && !["pending", "delivering"].includes(job.webhook_status)) return;
      await pause(1000, signal);
    }
  };

  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      render(await call(`${path}/cancel`, { method: "POST", signal }));
      setText(actionNote, "Cancel requested.");
    } catch (error) {
      setText(actionNote, `Cancel refused: ${error.message}`);
      cancel.disabled = isTerminal(job.status);
    }
  });
  redeliver.addEventListener("click", async () => {
    redeliver.disabled = true;
    try {
      render(await call(`${path}/webhook/redeliver`, { method: "POST", signal }));
      setText(actionNote, "Webhook sent again.");
      watchDeliveries();
    } catch (error) {
      setText(actionNote, `Redeliver refused: ${error.message}`);
    } finally {
      redeliver.disabled = !isTerminal(job.status);
    }
  });

  try {
    await followJob(
      jobId,
      (name, current, eventId) => {
        // Events carry an id; states read by the polling fallback do not.
        timeline.dataset.source = eventId ? "events" : "polling";
        const kind = ["queued", "started", "progress"].includes(name) ? name : "end";
        const detail =
          name === "progress" && current.progress
            ? ` ${current.progress.done}${current.progress.total ? `/${current.progress.total}` : ""}`
            : "";
        timeline.append(
          h("li", { class: `event-${kind}`, "data-event": name },
            h("span", { class: "event-name" }, name + detail), " ",
            h("time", {}, eventTime(eventId, current, name))),
        );
        render({ ...current, deliveries: undefined });
      },
      signal,
    );
  } catch (error) {
    if (!signal.aborted) setText(actionNote, `Live updates stopped: ${error.message}`);
  }
  if (!signal.aborted) await watchDeliveries();
  if (!signal.aborted && !job.webhook) await refresh();
}
