// The dashboard: online now, matches / reports / bans per hour, the queue, the breaker,
// the relay share, repeat offenders and the measured precision of automatic actions (QA).
// Refreshes every 15 s while shown.

import { get } from "./api.js";
import { columns, ring, stacked } from "./charts.js";
import { ago, chip, fill, h, table, when } from "./dom.js";

const REFRESH_MS = 15_000;
const BREAKER_KIND = { closed: "ok", half_open: "warn", open: "danger", off: "" };

function share(value) {
  return value == null ? "–" : `${(value * 100).toFixed(1)}%`;
}

function interval(row) {
  return row.interval ? `${share(row.interval[0])} – ${share(row.interval[1])}` : "–";
}

function wrongScores(row) {
  const s = row.wrong_scores;
  if (!s.count) return "–";
  return `${s.min.toFixed(2)} / ${s.median.toFixed(2)} / ${s.max.toFixed(2)}`;
}

function tile(label, value, note, testid = null) {
  return h(
    "div",
    { class: "tile", "data-testid": testid },
    h("span", { class: "tile__label", text: label }),
    h("span", { class: "tile__value", text: value }),
    note ? h("span", { class: "tile__note" }, note) : null,
  );
}

export class DashboardPage {
  constructor(root) {
    this.root = root;
    this.timer = null;
  }

  async mount() {
    await this.render();
    this.timer = setInterval(() => this.render(), REFRESH_MS);
  }

  unmount() {
    clearInterval(this.timer);
  }

  async render() {
    let data;
    try {
      data = await get("/api/admin/dashboard");
    } catch (error) {
      fill(this.root, h("p", { class: "empty", text: error.message }));
      return;
    }
    const { online, per_hour: hourly, queue, moderation, relay } = data;
    const queueTotal = Object.values(queue).reduce((sum, q) => sum + q.depth, 0);
    const precision = data.precision;
    const oldest = Math.max(0, ...Object.values(queue).map((q) => q.oldest_s ?? 0));
    const breaker = moderation.enabled ? moderation.breaker : "off";
    const bansToday = hourly.bans.reduce((a, b) => a + b, 0);
    const matchesToday = hourly.matches.reduce((a, b) => a + b, 0);
    fill(
      this.root,
      h(
        "div",
        { class: "page__head" },
        h("h1", { class: "page__title", text: "Dashboard" }),
        h("span", { class: "page__stamp", text: `updated ${when(data.at)}` }),
      ),
      h(
        "div",
        { class: "tiles" },
        tile("Online now", String(online.total), `${online.video.matched + online.text.matched} in a chat`, "tile-online"),
        tile("Matches, 24 h", String(matchesToday), null),
        tile("Bans, 24 h", String(bansToday), null),
        tile("Queue", String(queueTotal), queueTotal ? `oldest ${ago(oldest)}` : "empty", "tile-queue"),
        tile("Breaker", "", chip(breaker.replace("_", "-"), BREAKER_KIND[breaker] ?? ""), "tile-breaker"),
        precision
          ? tile(
              `Precision, ${precision.days} d`,
              share(precision.total.precision),
              `${precision.total.decided} QA decided · ${interval(precision.total)}`,
              "tile-precision",
            )
          : null,
      ),
      h(
        "div",
        { class: "charts" },
        columns({
          title: "Matches per hour (UTC)",
          labels: hourly.hours,
          series: [{ name: "matches", values: hourly.matches, cls: "s-accent" }],
          testid: "chart-matches",
        }),
        columns({
          title: "Reports and bans per hour",
          labels: hourly.hours,
          series: [
            { name: "reports", values: hourly.reports, cls: "s-warn" },
            { name: "bans", values: hourly.bans, cls: "s-danger" },
          ],
          testid: "chart-safety",
        }),
        stacked({
          title: "Online now by mode",
          testid: "chart-online",
          rows: ["video", "text"].map((mode) => ({
            label: mode,
            parts: [
              { name: "in a chat", value: online[mode].matched, cls: "s-accent" },
              { name: "waiting", value: online[mode].waiting, cls: "s-muted" },
            ],
          })),
        }),
        stacked({
          title: "Review queue",
          testid: "chart-queue",
          rows: Object.keys(queue).map((kind) => ({
            label: `${kind}s`,
            parts: [
              { name: "urgent", value: queue[kind].urgent, cls: "s-danger" },
              { name: "normal", value: queue[kind].depth - queue[kind].urgent, cls: "s-muted" },
            ],
          })),
        }),
        ring({
          title: "Media relayed by TURN",
          share: relay.share,
          caption: Object.entries(relay.candidate_types)
            .map(([type, n]) => `${type} ${n}`)
            .join(" · ") || "no video visitors right now",
          testid: "chart-relay",
        }),
      ),
      h("h2", { class: "side__title", text: "Repeat offenders (30 days)" }),
      table(
        [
          { label: "IP", cell: (r) => r.ip, class: "mono" },
          { label: "Bans", cell: (r) => String(r.bans) },
          { label: "Last", cell: (r) => when(r.last) },
        ],
        data.repeat_offenders,
        { empty: "Nobody was banned twice.", testid: "repeat-offenders" },
      ),
      h("h2", { class: "side__title", text: "Measured precision of automatic actions (QA samples and appeals)" }),
      precision
        ? table(
            [
              { label: "Kind", cell: (r) => r.kind },
              { label: "Source", cell: (r) => r.source },
              { label: "Classifier", cell: (r) => r.classifier, class: "mono" },
              { label: "Reason", cell: (r) => r.reason, class: "mono" },
              { label: "Actions", cell: (r) => String(r.actions) },
              { label: "Sampled", cell: (r) => String(r.sampled) },
              { label: "Decided", cell: (r) => String(r.decided) },
              { label: "Wrong", cell: (r) => `${r.wrong}${r.wrong_via_appeal ? ` (${r.wrong_via_appeal} by appeal)` : ""}` },
              { label: "Precision", cell: (r) => share(r.precision) },
              { label: "95% CI", cell: (r) => interval(r) },
              { label: "Wrong scores min/med/max", cell: (r) => wrongScores(r) },
            ],
            [...precision.strata, precision.total],
            { empty: "No automatic actions yet.", testid: "precision-table" },
          )
        : h("p", { class: "empty", text: "QA is not measured on this node." }),
    );
  }
}
