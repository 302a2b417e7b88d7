// Small SVG charts drawn by hand (no library, nothing from another origin): grouped
// columns over time, horizontal stacked bars, and a ring for a share.

import { h, s } from "./dom.js";

const W = 420;
const H = 150;
const PAD = { top: 12, right: 6, bottom: 22, left: 30 };

/** A round axis maximum whose half is a whole number too (4, 10, 20, 50, 100 ...). */
function niceMax(value) {
  if (value <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 4, 6, 8, 10].find((m) => m * magnitude >= value) ?? 10;
  return step * magnitude;
}

/** Grouped columns: labels (x), series [{name, values, cls}]. */
export function columns({ labels, series, title, testid = null }) {
  const max = niceMax(Math.max(1, ...series.flatMap((x) => x.values)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, labels.length);
  const bar = Math.max(1, (slot * 0.8) / series.length);
  const y = (v) => PAD.top + plotH - (v / max) * plotH;
  const grid = [0, 0.5, 1].map((f) => {
    const value = max * f;
    return s(
      "g",
      { class: "chart__grid" },
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(value), y2: y(value) }),
      s("text", { x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end" }, String(value)),
    );
  });
  const bars = series.flatMap((serie, si) =>
    serie.values.map((value, i) =>
      s(
        "rect",
        {
          class: `chart__bar ${serie.cls}`,
          x: PAD.left + i * slot + slot * 0.1 + si * bar,
          y: y(value),
          width: bar,
          height: Math.max(0, PAD.top + plotH - y(value)),
        },
        s("title", {}, `${labels[i]}:00 UTC — ${serie.name}: ${value}`),
      ),
    ),
  );
  const ticks = labels.map((label, i) =>
    i % 6 === 0 || i === labels.length - 1
      ? s(
          "text",
          { class: "chart__tick", x: PAD.left + i * slot + slot / 2, y: H - 6, "text-anchor": "middle" },
          `${label.slice(-2)}h`,
        )
      : null,
  );
  return h(
    "figure",
    { class: "chart", "data-testid": testid },
    h("figcaption", { class: "chart__title" }, title, legend(series)),
    s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart__svg", role: "img", "aria-label": title }, grid, bars, ticks),
  );
}

function legend(series) {
  return h(
    "span",
    { class: "legend" },
    series.map((serie) =>
      h("span", { class: "legend__item" }, h("span", { class: `legend__swatch ${serie.cls}` }), serie.name),
    ),
  );
}

/** Horizontal stacked bars: rows [{label, parts: [{name, value, cls}]}]. */
export function stacked({ rows, title, testid = null }) {
  const max = Math.max(1, ...rows.map((r) => r.parts.reduce((a, p) => a + p.value, 0)));
  return h(
    "figure",
    { class: "chart", "data-testid": testid },
    h("figcaption", { class: "chart__title" }, title, legend(rows[0]?.parts ?? [])),
    h(
      "div",
      { class: "stack" },
      rows.map((row) => {
        const total = row.parts.reduce((a, p) => a + p.value, 0);
        let x = 0;
        return h(
          "div",
          { class: "stack__row" },
          h("span", { class: "stack__label", text: row.label }),
          s(
            "svg",
            { class: "stack__bar", viewBox: "0 0 100 10", preserveAspectRatio: "none" },
            s("rect", { class: "stack__track", x: 0, y: 0, width: 100, height: 10 }),
            row.parts.map((part) => {
              const width = (part.value / max) * 100;
              const rect = s("rect", { class: part.cls, x, y: 0, width, height: 10 });
              x += width;
              return rect;
            }),
          ),
          h("span", { class: "stack__total", text: String(total) }),
        );
      }),
    ),
  );
}

/** A ring showing `share` (0..1, or null for "no data"). */
export function ring({ share, title, caption, testid = null }) {
  const r = 40;
  const length = 2 * Math.PI * r;
  const filled = share === null ? 0 : Math.max(0, Math.min(1, share)) * length;
  return h(
    "figure",
    { class: "chart chart--ring", "data-testid": testid },
    h("figcaption", { class: "chart__title", text: title }),
    s(
      "svg",
      { viewBox: "0 0 100 100", class: "ring", role: "img", "aria-label": title },
      s("circle", { class: "ring__track", cx: 50, cy: 50, r }),
      s("circle", {
        class: "ring__value",
        visibility: share === null ? "hidden" : "visible",
        cx: 50,
        cy: 50,
        r,
        "stroke-dasharray": `${filled} ${length}`,
        transform: "rotate(-90 50 50)",
      }),
      s("text", { x: 50, y: 56, "text-anchor": "middle", class: "ring__text" },
        share === null ? "–" : `${Math.round(share * 100)}%`),
    ),
    h("p", { class: "chart__caption", text: caption }),
  );
}
