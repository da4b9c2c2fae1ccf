// Queues and workers: each queue's depth, jobs waiting, oldest waiting age and workers,
// and per task the jobs finished since the store began and in the last minute (from two
// readings of GET /v1/outcomes a minute apart), refreshed every second.

import { call, every } from "./api.js";
import { ago, clock, fill, h, notice } from "./dom.js";

const REFRESH_MS = 1000;
const WINDOW_MS = 60_000;

function table(caption, columns, rows) {
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...rows),
    ),
  );
}

export async function queuesPage(main, signal) {
  const queues = h("div");
  const outcomes = h("div");
  const error = h("div");
  const updated = h("p", { class: "muted", role: "status" });
  fill(
    main,
    h("h1", { tabindex: "-1" }, "Queues and workers"),
    error,
    h("section", { "aria-label": "Queues" }, queues),
    h("section", { "aria-label": "Outcomes per task" }, outcomes),
    updated,
  );
  // Readings of the counters, oldest first, to show what changed over the last minute.
  const readings = [];

  every(
    REFRESH_MS,
    async () => {
      const [qs, counts] = await Promise.all([call("/v1/queues", { signal }), call("/v1/outcomes", { signal })]);
      fill(error);
      fill(
        queues,
        table(
          "Queues",
          ["queue", "tasks", "depth", "waiting", "oldest waiting", "workers", "processes"],
          qs.map((q) =>
            h(
              "tr",
              { "data-queue": q.name },
              h("th", { scope: "row" }, q.name),
              h("td", {}, q.tasks.join(", ")),
              h("td", { "data-col": "depth" }, q.depth ?? "–"),
              h("td", { "data-col": "waiting" }, String(q.waiting)),
              h("td", { "data-col": "oldest" }, ago(q.oldest_waiting_age_s)),
              h("td", { "data-col": "workers" }, String(q.workers)),
              h("td", { "data-col": "processes" }, String(q.worker_processes)),
            ),
          ),
        ),
      );
      const now = Date.now();
      readings.push({ at: now, counts: Object.fromEntries(counts.map((c) => [c.task, c])) });
      while (readings.length > 2 && now - readings[1].at >= WINDOW_MS) readings.shift();
      const base = readings[0].counts;
      const since = (c, field) => c[field] - (base[c.task] ? base[c.task][field] : 0);
      const span = Math.round((now - readings[0].at) / 1000);
      const recent = span >= 60 ? "the last minute" : `the ${span} s since this page opened`;
      fill(
        outcomes,
        table(
          `Jobs per task since the job store began; recent: ${recent}`,
          ["task", "submitted", "succeeded", "failed", "canceled", "succeeded (recent)", "failed (recent)"],
          counts.map((c) =>
            h(
              "tr",
              { "data-task": c.task },
              h("th", { scope: "row" }, c.task),
              h("td", { "data-col": "submitted" }, String(c.submitted)),
              h("td", { "data-col": "succeeded" }, String(c.succeeded)),
              h("td", { "data-col": "failed" }, String(c.failed)),
              h("td", { "data-col": "canceled" }, String(c.canceled)),
              h("td", { "data-col": "recent-succeeded" }, String(since(c, "succeeded"))),
              h("td", { "data-col": "recent-failed" }, String(since(c, "failed"))),
            ),
          ),
        ),
      );
      updated.textContent = `updated ${clock(new Date())}`;
    },
    signal,
    (e) => fill(error, notice(`Could not load queues: ${e.message}`)),
  );
}
