// Building the page without HTML strings: every text goes through textContent, so
// anything a visitor wrote (chat, appeals, comments) is shown as text, never markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function setProps(element, props) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") element.setAttribute("class", value);
    else if (key === "text") element.textContent = String(value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: h("p", {class: "x", text: "..."}, child, ...). */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  setProps(element, props);
  append(element, children);
  return element;
}

/** An SVG element, same shape as h(). */
export function s(tag, props = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setProps(element, props);
  append(element, children);
  return element;
}

/** Replace everything inside `element`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** "12 s", "4 min", "3 h", "2 d" */
export function ago(seconds) {
  const value = Math.max(0, Number(seconds) || 0);
  if (value < 60) return `${Math.round(value)} s`;
  if (value < 3600) return `${Math.round(value / 60)} min`;
  if (value < 86_400) return `${(value / 3600).toFixed(value < 36_000 ? 1 : 0)} h`;
  return `${(value / 86_400).toFixed(1)} d`;
}

/** Seconds since an ISO time. */
export function ageOf(iso) {
  return (Date.now() - new Date(iso).getTime()) / 1000;
}

/** A short local date and time. */
export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

const TOAST_MS = 5_000;

/** A notice in the corner that goes away by itself. */
export function toast(text, kind = "error") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast--${kind}`, role: kind === "error" ? "alert" : "status", text });
  box.append(item);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => item.remove(), TOAST_MS);
}

/** A table: columns [{label, cell(row) -> node|string, class?}], rows. */
export function table(columns, rows, { empty = "Nothing here.", testid = null } = {}) {
  if (rows.length === 0) return h("p", { class: "empty", text: empty });
  return h(
    "table",
    { class: "grid", "data-testid": testid },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class, text: c.label })))),
    h(
      "tbody",
      {},
      rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.class }, c.cell(row))))),
    ),
  );
}

/** A small coloured label. */
export function chip(text, kind = "") {
  return h("span", { class: `chip ${kind ? `chip--${kind}` : ""}`.trim(), text });
}
