// The jobs list: newest first, filtered by status and task, the API's cursor pagination,
// refreshed every two seconds. Filters and cursor live in the address (#/jobs?status=…), so
// a view can be bookmarked and the back button works.

import { call, every, query } from "./api.js";
import { clock, fill, h, keepFocus, notice, statusBadge, uid, when } from "./dom.js";

const STATUSES = ["queued", "started", "succeeded", "failed", "canceled", "expired"];
const REFRESH_MS = 2000;

function progressText(job) {
  const p = job.progress;
  if (!p || job.status !== "started") return "";
  return p.total ? `${p.done} / ${p.total}` : String(p.done);
}

function row(job) {
  return h(
    "tr",
    { "data-job": job.id, "data-key": job.id, "data-status": job.status },
    h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, title: job.id }, job.id.slice(0, 8))),
    h("td", {}, job.task),
    h("td", {}, statusBadge(job.status)),
    h("td", {}, progressText(job)),
    h("td", {}, when(job.created_at)),
    h("td", {}, job.error ? job.error.code : ""),
  );
}

/** params: {status, task, cursor, prev} from the address; go(params) navigates. */
export async function jobsPage(main, params, signal, go) {
  const statusId = uid("status");
  const taskId = uid("task");
  const status = h(
    "select",
    { id: statusId, name: "status" },
    h("option", { value: "" }, "any"),
    ...STATUSES.map((s) => h("option", { value: s }, s)),
  );
  status.value = params.status || "";
  const task = h("select", { id: taskId, name: "task" }, h("option", { value: "" }, "any"));
  const filters = h(
    "form",
    { class: "filters", "aria-label": "Filter jobs" },
    h("div", { class: "field" }, h("label", { for: statusId }, "Status"), status),
    h("div", { class: "field" }, h("label", { for: taskId }, "Task"), task),
  );
  const apply = () => go({ status: status.value, task: task.value, limit: params.limit });
  status.addEventListener("change", apply);
  task.addEventListener("change", apply);
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });

  const body = h("tbody");
  const table = h(
    "table",
    { class: "jobs" },
    h("caption", { class: "visually-hidden" }, "Jobs, newest first"),
    h("thead", {}, h("tr", {}, ...["id", "task", "status", "progress", "created", "error"].map((t) => h("th", { scope: "col" }, t)))),
    body,
  );
  const empty = h("p", { class: "muted", hidden: true }, "No jobs match.");
  const error = h("div");
  const first = h("button", { type: "button", disabled: !params.cursor }, "First page");
  const next = h("button", { type: "button", disabled: true }, "Next page");
  const updated = h("span", { class: "muted", role: "status" });
  fill(
    main,
    h("h1", { tabindex: "-1" }, "Jobs"),
    filters,
    error,
    h("div", { class: "scroll" }, table),
    empty,
    h("nav", { class: "pager", "aria-label": "Pages" }, first, next, updated),
  );
  const { status: s, task: t, limit } = params;
  first.addEventListener("click", () => go({ status: s, task: t, limit }));
  let nextCursor = null;
  next.addEventListener("click", () => go({ status: s, task: t, limit, cursor: nextCursor }));

  try {
    const tasks = await call("/v1/tasks", { signal });
    const names = [...new Set(tasks.map((t) => t.name))].sort();
    if (params.task && !names.includes(params.task)) names.push(params.task);
    task.append(...names.map((n) => h("option", { value: n }, n)));
    task.value = params.task || "";
  } catch {
    // The list works without the task names; the filter then offers "any" only.
  }

  every(
    REFRESH_MS,
    async () => {
      const page = await call(
        `/v1/jobs${query({ status: params.status, task: params.task, cursor: params.cursor, limit: params.limit || 20 })}`,
        { signal },
      );
      fill(error);
      keepFocus(body, () => fill(body, ...page.items.map(row)));
      empty.hidden = page.items.length > 0;
      nextCursor = page.next_cursor;
      next.disabled = !nextCursor;
      updated.textContent = `updated ${clock(new Date())}`;
    },
    signal,
    (e) => fill(error, notice(`Could not load jobs: ${e.message}`)),
  );
}
