// Building the page. Everything a job, a task or the server says is untrusted text: it is
// only ever put into the page with textContent (through h() and setText()), never as markup.

/**
 * Create an element. attrs: properties and attributes (on*: event listeners; "class";
 * "for"); children: nodes or strings (strings become text nodes), null/false skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "for") {
      el.htmlFor = value;
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el, ...children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, ...children);
}

export function setText(el, text) {
  el.textContent = text === undefined || text === null ? "" : String(text);
}

let ids = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** JSON made readable (two-space indent), as text. */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

export function jsonBlock(value, label) {
  return h("pre", { class: "json", tabindex: "0", "aria-label": label }, pretty(value));
}

const two = (n) => String(n).padStart(2, "0");

/** A local time as HH:MM:SS. */
export function clock(date) {
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** An ISO timestamp as local YYYY-MM-DD HH:MM:SS (short, sortable, the same in every locale). */
export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${clock(date)}`;
}

export function ago(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return "<1 s";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}`, "data-status": status }, status);
}

/** A message shown in place of a page's content (errors, not found). */
export function notice(text, kind = "error") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/**
 * Run update(), which replaces part of `container`, and give focus back to the control
 * that had it (found again by its [data-key] holder, tag and href): a list refreshed
 * every few seconds must not throw a keyboard user back to the top of the page.
 */
export function keepFocus(container, update) {
  const active = document.activeElement;
  const holder = active && container.contains(active) ? active.closest("[data-key]") : null;
  const key = holder ? holder.dataset.key : null;
  const tag = active ? active.tagName : null;
  const href = active ? active.getAttribute("href") : null;
  update();
  if (key === null) return;
  const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
  const target = again
    ? [again, ...again.querySelectorAll(tag)].find(
        (el) => el.tagName === tag && el.getAttribute("href") === href,
      )
    : null;
  target?.focus({ preventScroll: true });
}
