// A form made from a task's input JSON Schema (as Pydantic writes it), and the input object
// read back from it. Strings (URLs, enums, lengths), integers and numbers with their bounds,
// booleans, optional and nullable fields, nested objects (through $ref into $defs); anything
// else (arrays, unions) is a JSON text box. The API validates every input again: the form
// helps, the server decides.

import { h, uid } from "./dom.js";

const MAX_NESTING = 3;

function resolve(schema, root, seen = 0) {
  if (!schema || typeof schema !== "object") return {};
  if (schema.$ref && seen < 20) {
    const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(schema.$ref);
    const target = match && root[match[1]] ? root[match[1]][decodeURIComponent(match[2])] : null;
    const { $ref: _ignored, ...rest } = schema;
    return resolve({ ...(target || {}), ...rest }, root, seen + 1);
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) {
    const { allOf, ...rest } = schema;
    return { ...resolve(allOf[0], root, seen + 1), ...rest };
  }
  return schema;
}

/** {schema, nullable}: anyOf [X, null] (Pydantic's Optional[X]) becomes X, nullable. */
function unwrapNullable(schema, root) {
  const options = schema.anyOf || schema.oneOf;
  if (Array.isArray(options)) {
    const nonNull = options.filter((s) => resolve(s, root).type !== "null");
    if (nonNull.length === 1 && nonNull.length < options.length) {
      const { anyOf: _a, oneOf: _o, ...rest } = schema;
      return { schema: { ...resolve(nonNull[0], root), ...rest }, nullable: true };
    }
  }
  return { schema: resolve(schema, root), nullable: false };
}

function kindOf(schema, depth) {
  if (Array.isArray(schema.enum) && schema.enum.every((v) => typeof v === "string")) return "enum";
  if (schema.const !== undefined) return "const";
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (type === "object" && schema.properties && depth < MAX_NESTING) return "object";
  if (["string", "integer", "number", "boolean"].includes(type)) return type;
  return "json";
}

function bounds(schema) {
  const parts = [];
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined) parts.push(`> ${schema.exclusiveMinimum}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.exclusiveMaximum !== undefined) parts.push(`< ${schema.exclusiveMaximum}`);
  const chars = (n) => `${n} character${n === 1 ? "" : "s"}`;
  if (schema.minLength !== undefined) parts.push(`at least ${chars(schema.minLength)}`);
  if (schema.maxLength !== undefined) parts.push(`at most ${chars(schema.maxLength)}`);
  return parts.join(", ");
}

/**
 * Build the fields for an object schema into `container`; returns a reader: () => the
 * input object (throws an Error naming the field when a JSON box does not parse).
 */
export function buildForm(container, rootSchema) {
  return objectFields(container, rootSchema, rootSchema, "input", 0);
}

function objectFields(container, schema, root, path, depth) {
  const required = new Set(schema.required || []);
  const readers = [];
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    const { schema: field, nullable } = unwrapNullable(raw, root);
    const isRequired = required.has(name);
    const reader = field_(container, name, field, root, `${path}.${name}`, depth, {
      required: isRequired,
      nullable,
    });
    readers.push([name, reader]);
  }
  return () => {
    const out = {};
    for (const [name, read] of readers) {
      const value = read();
      if (value !== undefined) out[name] = value;
    }
    return out;
  };
}

function field_(container, name, schema, root, path, depth, { required, nullable }) {
  const kind = kindOf(schema, depth);
  const id = uid("field");
  const hintId = `${id}-hint`;
  const title = schema.title || name;
  const hintText = [schema.description, bounds(schema)].filter(Boolean).join(" · ");
  const marker = required ? h("span", { class: "req" }, " (required)") : h("span", { class: "opt" }, " (optional)");

  if (kind === "object") {
    const set = h("fieldset", { class: "nested", "data-field": path });
    set.append(h("legend", {}, title, marker));
    if (hintText) set.append(h("p", { class: "hint" }, hintText));
    container.append(set);
    const read = objectFields(set, schema, root, path, depth + 1);
    return () => {
      const value = read();
      return !required && Object.keys(value).length === 0 ? undefined : value;
    };
  }

  const row = h("div", { class: "field", "data-field": path });
  const label = h("label", { for: id }, title, marker);
  const common = {
    id,
    name: path,
    "aria-describedby": hintText ? hintId : null,
    "data-kind": kind,
  };
  let control;
  let read;

  if (kind === "boolean") {
    if (required || schema.default !== undefined) {
      control = h("input", { ...common, type: "checkbox", checked: schema.default === true });
      row.classList.add("check");
      read = () => control.checked;
    } else {
      control = h(
        "select",
        common,
        h("option", { value: "" }, "(not set)"),
        h("option", { value: "true" }, "true"),
        h("option", { value: "false" }, "false"),
      );
      read = () => (control.value === "" ? undefined : control.value === "true");
    }
  } else if (kind === "enum" || kind === "const") {
    const values = kind === "const" ? [schema.const] : schema.enum;
    const options = values.map((v) => h("option", { value: String(v) }, String(v)));
    if (!required) options.unshift(h("option", { value: "" }, "(not set)"));
    control = h("select", { ...common, required }, options);
    if (schema.default !== undefined) control.value = String(schema.default);
    read = () => (control.value === "" ? undefined : control.value);
  } else if (kind === "integer" || kind === "number") {
    control = h("input", {
      ...common,
      type: "number",
      inputmode: kind === "integer" ? "numeric" : "decimal",
      step: kind === "integer" ? "1" : "any",
      min: schema.minimum ?? schema.exclusiveMinimum,
      max: schema.maximum ?? schema.exclusiveMaximum,
      required,
      placeholder: schema.examples ? String(schema.examples[0]) : null,
    });
    if (schema.default !== undefined && schema.default !== null) control.value = String(schema.default);
    read = () => {
      if (control.value.trim() === "") return nullable && required ? null : undefined;
      const value = Number(control.value);
      if (Number.isNaN(value)) throw new Error(`${path}: not a number`);
      return value;
    };
  } else if (kind === "string") {
    const isUrl = schema.format === "uri" || schema.format === "url";
    const long = (schema.maxLength || 0) > 200 || (!schema.maxLength && !isUrl && !schema.pattern && !schema.format);
    const attrs = {
      ...common,
      required,
      minlength: schema.minLength,
      maxlength: schema.maxLength,
      placeholder: schema.examples ? String(schema.examples[0]) : isUrl ? "https://…" : null,
      spellcheck: isUrl ? "false" : null,
      autocomplete: "off",
    };
    control = long
      ? h("textarea", { ...attrs, rows: "3" })
      : h("input", {
          ...attrs,
          type: isUrl ? "url" : schema.format === "date" ? "date" : "text",
          inputmode: isUrl ? "url" : null,
        });
    if (typeof schema.default === "string") control.value = schema.default;
    read = () => {
      if (control.value === "") return required && nullable ? null : required ? "" : undefined;
      return control.value;
    };
  } else {
    control = h("textarea", {
      ...common,
      rows: "3",
      class: "json-input",
      required,
      placeholder: "JSON",
      spellcheck: "false",
    });
    if (schema.default !== undefined) control.value = JSON.stringify(schema.default);
    read = () => {
      if (control.value.trim() === "") return undefined;
      try {
        return JSON.parse(control.value);
      } catch {
        throw new Error(`${path}: not valid JSON`);
      }
    };
  }

  row.append(label, control);
  if (hintText) row.append(h("p", { class: "hint", id: hintId }, hintText));
  container.append(row);
  return read;
}
