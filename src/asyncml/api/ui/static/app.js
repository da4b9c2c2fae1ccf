// The console's shell: the address (#/tasks, #/tasks/NAME, #/jobs?…, #/jobs/ID, #/queues)
// picks the page; each page gets an AbortSignal that stops its polling and streams when
// the user goes elsewhere. With API keys configured, any 401 brings up the key form.

import { apiKey, setApiKey } from "./api.js";
import { fill, h, notice, uid } from "./dom.js";
import { showJob } from "./job.js";
import { jobsPage } from "./jobs.js";
import { queuesPage } from "./queues.js";
import { taskPage, tasksPage } from "./tasks.js";

const main = document.getElementById("main");
const keyState = document.getElementById("key-state");
let current = null;

function parse() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: Object.fromEntries(new URLSearchParams(search)) };
}

function go(params) {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
  window.location.hash = `#/jobs${search ? `?${search}` : ""}`;
}

function markNav(section) {
  for (const link of document.querySelectorAll("nav.main a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function showKeyState() {
  const key = apiKey();
  const forget = h("button", { type: "button", class: "link" }, "Forget key");
  forget.addEventListener("click", () => {
    setApiKey("");
    showKeyState();
    route();
  });
  fill(keyState, key ? [h("span", { class: "muted" }, "API key set "), forget] : []);
}

function askForKey() {
  current?.abort();
  current = new AbortController();
  const id = uid("key");
  const input = h("input", { id, type: "password", name: "api-key", autocomplete: "off", required: true });
  const form = h(
    "form",
    { class: "key-form", "aria-label": "API key" },
    h("div", { class: "field" }, h("label", { for: id }, "API key"), input,
      h("p", { class: "hint" }, "Kept in this tab only (sessionStorage) and sent as a Bearer header; never a cookie.")),
    h("button", { type: "submit", class: "primary" }, "Use key"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    showKeyState();
    route();
  });
  fill(
    main,
    h("h1", { tabindex: "-1" }, "API key needed"),
    apiKey() ? notice("That key was refused.") : h("p", {}, "This asyncml API needs a key to show its tasks and your jobs."),
    form,
  );
  input.focus();
}

async function route() {
  current?.abort();
  current = new AbortController();
  const { signal } = current;
  const { parts, params } = parse();
  const [section = "tasks", id] = parts;
  markNav(section);
  fill(main, h("p", { class: "muted" }, "Loading…"));
  try {
    if (section === "tasks" && id) await taskPage(main, id, signal);
    else if (section === "jobs" && id) showJob(main, id, signal);
    else if (section === "jobs") await jobsPage(main, params, signal, go);
    else if (section === "queues") await queuesPage(main, signal);
    else await tasksPage(main, signal);
  } catch (error) {
    if (signal.aborted) return;
    fill(main, notice(error.message));
  }
  if (!signal.aborted) main.querySelector("h1")?.focus({ preventScroll: true });
}

window.addEventListener("asyncml:unauthorized", askForKey);
window.addEventListener("hashchange", route);
showKeyState();
route();
