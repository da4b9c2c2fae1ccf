// "The same call as code": what the console just sent, as curl, the Python SDK and the CLI.
// The key itself never appears: the snippets read it from $ASYNCML_API_KEY.

import { h, uid } from "./dom.js";

function shellQuote(text) {
  return `'${String(text).replace(/'/g, "'\\''")}'`;
}

function pyString(text) {
  return JSON.stringify(String(text)); // a JSON string is a valid Python string literal
}

/** A JSON value as a Python literal. */
function py(value, indent = "") {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") return pyString(value);
  if (typeof value === "number") return String(value);
  const inner = `${indent}    `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => inner + py(v, inner)).join(",\n")},\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${inner}${pyString(k)}: ${py(v, inner)}`).join(",\n")},\n${indent}}`;
}

export function curl(base, body, withKey) {
  const lines = [
    `curl -s -X POST ${shellQuote(`${base}/v1/jobs`)}`,
    "  -H 'Content-Type: application/json'",
  ];
  if (withKey) lines.push('  -H "Authorization: Bearer $ASYNCML_API_KEY"');
  lines.push(`  -d ${shellQuote(JSON.stringify(body))}`);
  return lines.join(" \\\n");
}

export function python(base, body, withKey) {
  const args = [pyString(body.task), py(body.input, "    ")];
  if (body.webhook) args.push(`webhook=${pyString(body.webhook)}`);
  const key = withKey ? ', api_key=os.environ["ASYNCML_API_KEY"]' : "";
  return [
    ...(withKey ? ["import os", ""] : []),
    "from asyncml import Client",
    "",
    `with Client(${pyString(base)}${key}) as client:`,
    `    job = client.submit(${args.join(", ")})`,
    "    print(job.result(timeout=60))",
  ].join("\n");
}

export function cli(base, body, withKey) {
  const parts = [`asyncml submit ${shellQuote(body.task)}`];
  for (const [key, value] of Object.entries(body.input)) {
    parts.push(
      typeof value === "string"
        ? `-i ${shellQuote(`${key}=${value}`)}`
        : `-i ${shellQuote(`${key}:=${JSON.stringify(value)}`)}`,
    );
  }
  if (body.webhook) parts.push(`--webhook ${shellQuote(body.webhook)}`);
  parts.push(`--url ${shellQuote(base)}`, "--wait");
  const command = parts.join(" \\\n    ");
  return withKey ? `# the key is read from $ASYNCML_API_KEY\n${command}` : command;
}

/** A panel with one tab per language, showing the call for `body`. */
export function codePanel(body, withKey) {
  const base = window.location.origin;
  const samples = [
    ["curl", curl(base, body, withKey)],
    ["Python", python(base, body, withKey)],
    ["CLI", cli(base, body, withKey)],
  ];
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Same call as code" });
  const panels = [];
  const buttons = [];
  samples.forEach(([name, code], i) => {
    const tabId = uid("tab");
    const panelId = uid("panel");
    const button = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: tabId,
        "aria-controls": panelId,
        "aria-selected": i === 0 ? "true" : "false",
        tabindex: i === 0 ? "0" : "-1",
        "data-lang": name.toLowerCase(),
      },
      name,
    );
    const copy = h("button", { type: "button", class: "copy" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(code);
        copy.textContent = "Copied";
      } catch {
        copy.textContent = "Select and copy";
      }
    });
    const panel = h(
      "div",
      { role: "tabpanel", id: panelId, "aria-labelledby": tabId, hidden: i !== 0 },
      h("pre", { class: "code", tabindex: "0", "data-lang": name.toLowerCase() }, code),
      copy,
    );
    buttons.push(button);
    panels.push(panel);
    tabs.append(button);
  });
  const select = (index) => {
    buttons.forEach((b, i) => {
      b.setAttribute("aria-selected", i === index ? "true" : "false");
      b.tabIndex = i === index ? 0 : -1;
      panels[i].hidden = i !== index;
    });
    buttons[index].focus();
  };
  buttons.forEach((button, i) => {
    button.addEventListener("click", () => select(i));
    button.addEventListener("keydown", (event) => {
      if (event.key === "ArrowRight") select((i + 1) % buttons.length);
      if (event.key === "ArrowLeft") select((i + buttons.length - 1) % buttons.length);
    });
  });
  return h("section", { class: "code-panel", "aria-label": "Same call as code" },
    h("h3", {}, "Same call as code"), tabs, ...panels);
}
