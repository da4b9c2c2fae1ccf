// The tasks page (every registered task) and one task's page: its form, made from its
// input schema, a submit that follows the job right there, and the same call as code.

import { ApiError, apiKey, call, every } from "./api.js";
import { fill, h, keepFocus, notice, setText, uid } from "./dom.js";
import { showJob } from "./job.js";
import { buildForm } from "./schemaform.js";
import { codePanel } from "./snippets.js";

function taskFacts(task) {
  return h(
    "dl",
    { class: "facts inline" },
    h("dt", {}, "version"), h("dd", { "data-fact": "version" }, task.version),
    h("dt", {}, "queue"), h("dd", { "data-fact": "queue" }, task.queue),
    h("dt", {}, "workers online"), h("dd", { "data-fact": "workers" }, String(task.workers)),
    h("dt", {}, "queue depth"), h("dd", { "data-fact": "depth" }, task.queue_depth ?? "–"),
  );
}

function setupErrors(task) {
  if (!task.setup_errors || task.setup_errors.length === 0) return null;
  return h(
    "div",
    { class: "notice error", role: "alert" },
    h("strong", {}, "setup() failed on a worker"),
    h("ul", {}, ...task.setup_errors.map((e) => h("li", {}, `${e.worker}: ${e.error}`))),
  );
}

export async function tasksPage(main, signal) {
  const list = h("div", { class: "task-list" });
  const error = h("div");
  fill(main, h("h1", { tabindex: "-1" }, "Tasks"), error, list);
  const cards = new Map();
  every(
    3000,
    async () => {
      const tasks = await call("/v1/tasks", { signal });
      fill(error);
      if (tasks.length === 0) fill(list, notice("No tasks registered yet: start a worker.", "info"));
      for (const task of tasks) {
        const card = h(
          "article",
          { class: "task-card", "data-task": task.name, "data-key": task.name },
          h("h2", {}, h("a", { href: `#/tasks/${encodeURIComponent(task.name)}` }, task.name)),
          h("p", { class: "description" }, task.description || ""),
          taskFacts(task),
          setupErrors(task),
        );
        const old = cards.get(task.name);
        if (old && old.isEqualNode(card)) continue;
        keepFocus(list, () => (old ? old.replaceWith(card) : list.append(card)));
        cards.set(task.name, card);
      }
    },
    signal,
    (e) => fill(error, notice(`Could not load tasks: ${e.message}`)),
  );
}

/** Several versions registered: a select that opens name@version. */
function versionPicker(task) {
  const id = uid("version");
  const select = h(
    "select",
    { id, name: "version" },
    ...task.versions.map((v) => h("option", { value: v }, v)),
  );
  select.value = task.version;
  select.addEventListener("change", () => {
    window.location.hash = `#/tasks/${encodeURIComponent(`${task.name}@${select.value}`)}`;
  });
  return h("div", { class: "field inline-field" }, h("label", { for: id }, "Version"), select);
}

export async function taskPage(main, name, signal) {
  let versions;
  try {
    versions = await call(`/v1/tasks/${encodeURIComponent(name)}`, { signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      fill(main, h("h1", { tabindex: "-1" }, name), notice(`No task ${name} in the registry.`));
      return;
    }
    throw error;
  }
  const task = versions[0];
  const facts = h("div", {}, taskFacts(task));
  if (task.versions.length > 1) facts.append(versionPicker(task));
  const formId = uid("form");
  const fields = h("div", { class: "fields" });
  const webhookId = uid("webhook");
  const webhook = h("input", {
    id: webhookId,
    type: "url",
    name: "webhook",
    placeholder: "https://… (optional)",
    autocomplete: "off",
    spellcheck: "false",
  });
  const formError = h("div", { class: "form-error", role: "alert", "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "primary" }, "Submit job");
  const form = h(
    "form",
    { id: formId, class: "task-form", novalidate: false, "aria-label": `Input for ${task.name}` },
    fields,
    h(
      "details",
      { class: "advanced" },
      h("summary", {}, "Webhook"),
      h("div", { class: "field" },
        h("label", { for: webhookId }, "Webhook URL (optional)"),
        webhook,
        h("p", { class: "hint" }, "Receives signed events when the job ends (Standard Webhooks).")),
    ),
    formError,
    submit,
  );
  const read = buildForm(fields, task.input_schema);
  const code = h("div", { class: "code-slot" });
  // Not a live region itself: the job's status inside it is one, so a reader hears changes once.
  const follow = h("div", { class: "follow" });
  fill(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/tasks" }, "Tasks"), " / ", task.name),
    h("h1", { tabindex: "-1" }, task.name),
    h("p", { class: "description" }, task.description || ""),
    facts,
    setupErrors(task),
    task.workers === 0
      ? notice("No worker serves this version right now: its jobs wait in the queue until one starts.", "info")
      : null,
    h("div", { class: "columns wide" },
      h("section", { "aria-label": "Submit a job" }, h("h2", {}, "Try it"), form, code),
      h("section", { class: "follow-slot", "aria-label": "The submitted job" }, follow)),
  );

  let following = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setText(formError, "");
    let body;
    try {
      body = { task: `${task.name}@${task.version}`, input: read() };
    } catch (error) {
      setText(formError, error.message);
      return;
    }
    if (webhook.value) body.webhook = webhook.value;
    submit.disabled = true;
    try {
      const job = await call("/v1/jobs", { method: "POST", body, signal });
      fill(code, codePanel(body, Boolean(apiKey())));
      following?.abort();
      following = new AbortController();
      signal.addEventListener("abort", () => following.abort());
      showJob(follow, job.id, following.signal, { heading: "h2" });
    } catch (error) {
      setText(formError, error instanceof ApiError ? `${error.code}: ${error.message}` : error.message);
    } finally {
      submit.disabled = false;
    }
  });
}
