// Record pages: bans (with filters, manual ban, unban), reports, appeals, decisions and,
// for admins, the audit log.

import { get, post } from "./api.js";
import { ago, ageOf, chip, fill, h, table, toast, when } from "./dom.js";

const DURATIONS = [
  ["3600", "1 hour"],
  ["86400", "1 day"],
  ["604800", "7 days"],
  ["2592000", "30 days"],
  ["31536000", "365 days"],
];

function header(title, ...tools) {
  return h("div", { class: "page__head" }, h("h1", { class: "page__title", text: title }), ...tools);
}

function tabs(options, selected, onpick) {
  return h(
    "div",
    { class: "tabs", role: "tablist" },
    options.map(([value, label]) =>
      h("button", {
        type: "button",
        role: "tab",
        class: "tab",
        "aria-selected": String(value === selected),
        text: label,
        onclick: () => onpick(value),
      }),
    ),
  );
}

function reasonPrompt(what) {
  const reason = window.prompt(`Reason to ${what} (recorded in the audit log):`);
  return reason && reason.trim().length >= 3 ? reason.trim() : null;
}

export class BansPage {
  constructor(root) {
    this.root = root;
    this.state = "active";
    this.ip = "";
  }

  async mount() {
    await this.render();
  }

  unmount() {}

  async render() {
    let bans = [];
    let problem = null;
    try {
      const query = new URLSearchParams({ state: this.state });
      if (this.ip) query.set("ip", this.ip);
      bans = (await get(`/api/admin/bans?${query}`)).bans;
    } catch (error) {
      problem = error.message;
    }
    const filter = h("input", {
      class: "input input--small",
      placeholder: "Filter by IP",
      value: this.ip,
      "aria-label": "Filter by IP",
      onchange: (event) => {
        this.ip = event.target.value.trim();
        this.render();
      },
    });
    fill(
      this.root,
      header(
        "Bans",
        tabs(
          [
            ["active", "Active"],
            ["expired", "Expired"],
            ["lifted", "Lifted"],
          ],
          this.state,
          (state) => {
            this.state = state;
            this.render();
          },
        ),
        filter,
      ),
      problem ? h("p", { class: "empty", text: problem }) : null,
      table(
        [
          { label: "Created", cell: (b) => when(b.created_at) },
          { label: "IP", cell: (b) => b.ip, class: "mono" },
          { label: "Visitor / session / device", cell: (b) => [b.visitor, b.session, b.device].filter(Boolean).join(" · "), class: "mono" },
          { label: "Reason", cell: (b) => b.reason },
          { label: "Source", cell: (b) => chip(b.created_by ? `${b.source} · ${b.created_by}` : b.source) },
          { label: "Until", cell: (b) => (b.state === "lifted" ? `lifted ${when(b.lifted_at)}` : when(b.until)) },
          {
            label: "",
            cell: (b) =>
              b.state === "active"
                ? h("button", {
                    class: "btn btn--ghost btn--small",
                    type: "button",
                    text: "Unban",
                    onclick: () => this.unban(b),
                  })
                : "",
          },
        ],
        bans,
        { empty: "No bans here.", testid: "bans-table" },
      ),
      this.#manual(),
    );
  }

  #manual() {
    const ip = h("input", { class: "input input--small", placeholder: "IP address", "aria-label": "IP" });
    const visitor = h("input", { class: "input input--small", placeholder: "or visitor id (v_…)", "aria-label": "Visitor" });
    const reason = h("input", { class: "input", placeholder: "Reason", "aria-label": "Reason", maxlength: 500 });
    const duration = h(
      "select",
      { class: "input input--select", "aria-label": "Ban length" },
      DURATIONS.map(([value, label]) => h("option", { value, text: label, selected: value === "86400" })),
    );
    const submit = async (event) => {
      event.preventDefault();
      const body = { reason: reason.value.trim(), duration_s: Number(duration.value) };
      if (ip.value.trim()) body.ip = ip.value.trim();
      if (visitor.value.trim()) body.visitor = visitor.value.trim();
      try {
        const ban = await post("/api/admin/bans", body);
        toast(`Banned ${ban.ip} until ${when(ban.until)}`, "ok");
        await this.render();
      } catch (error) {
        toast(error.message);
      }
    };
    return h(
      "form",
      { class: "panel manual", onsubmit: submit },
      h("h2", { class: "side__title", text: "Ban by hand" }),
      h("div", { class: "manual__row" }, ip, visitor, duration, reason, h("button", { class: "btn btn--danger btn--small", type: "submit", text: "Ban" })),
    );
  }

  async unban(ban) {
    const reason = reasonPrompt(`lift ban ${ban.id}`);
    if (!reason) return;
    try {
      await post(`/api/admin/bans/${encodeURIComponent(ban.id)}/lift`, { reason });
      toast("Ban lifted", "ok");
      await this.render();
    } catch (error) {
      toast(error.message);
    }
  }
}

class ListPage {
  constructor(root, { title, path, key, statuses, columns }) {
    this.root = root;
    this.options = { title, path, key, statuses, columns };
    this.status = "";
  }

  async mount() {
    await this.render();
  }

  unmount() {}

  async render() {
    const { title, path, key, statuses, columns } = this.options;
    let rows = [];
    let problem = null;
    try {
      rows = (await get(this.status ? `${path}?status=${this.status}` : path))[key];
    } catch (error) {
      problem = error.message;
    }
    fill(
      this.root,
      header(
        title,
        tabs([["", "All"], ...statuses.map((st) => [st, st])], this.status, (status) => {
          this.status = status;
          this.render();
        }),
      ),
      problem ? h("p", { class: "empty", text: problem }) : null,
      table(columns, rows, { testid: `${key}-table` }),
    );
  }
}

const statusChip = (status) =>
  chip(status, { open: "warn", escalated: "warn", actioned: "danger", upheld: "danger", overturned: "ok", dismissed: "" }[status] ?? "");

export function reportsPage(root) {
  return new ListPage(root, {
    title: "Reports",
    path: "/api/admin/reports",
    key: "reports",
    statuses: ["open", "escalated", "actioned", "dismissed"],
    columns: [
      { label: "Filed", cell: (r) => `${ago(ageOf(r.created_at))} ago` },
      { label: "Reason", cell: (r) => chip(r.reason, r.priority === "high" ? "danger" : "") },
      { label: "Reported", cell: (r) => `${r.reported.ip} · ${r.reported.visitor}`, class: "mono" },
      { label: "Comment", cell: (r) => r.comment || "–" },
      { label: "Messages", cell: (r) => String(r.transcript.length) },
      { label: "Status", cell: (r) => statusChip(r.status) },
      { label: "Decided", cell: (r) => (r.decided_by ? `${r.decided_by}: ${r.decision_note ?? ""}` : "–") },
    ],
  });
}

export function appealsPage(root) {
  return new ListPage(root, {
    title: "Appeals",
    path: "/api/admin/appeals",
    key: "appeals",
    statuses: ["open", "escalated", "upheld", "overturned"],
    columns: [
      { label: "Sent", cell: (a) => `${ago(ageOf(a.created_at))} ago` },
      { label: "Ban", cell: (a) => a.ban, class: "mono" },
      { label: "Appeal", cell: (a) => h("span", { class: "clip", text: a.text }) },
      { label: "Status", cell: (a) => statusChip(a.status) },
      { label: "Decided", cell: (a) => (a.decided_by ? `${a.decided_by}: ${a.decision_note ?? ""}` : "–") },
    ],
  });
}

const auditColumns = [
  { label: "#", cell: (e) => String(e.seq), class: "mono" },
  { label: "When", cell: (e) => when(e.at) },
  { label: "Who", cell: (e) => e.actor },
  { label: "Action", cell: (e) => chip(e.action) },
  { label: "Target", cell: (e) => e.target, class: "mono" },
  { label: "Reason", cell: (e) => e.reason || "–" },
];

export class DecisionsPage {
  constructor(root) {
    this.root = root;
  }

  async mount() {
    let entries = [];
    let problem = null;
    try {
      entries = (await get("/api/admin/decisions?limit=100")).decisions;
    } catch (error) {
      problem = error.message;
    }
    fill(
      this.root,
      header("Recent decisions"),
      h("p", { class: "page__lead", text: "Decisions and bans by reviewers and by automatic moderation, newest first." }),
      problem ? h("p", { class: "empty", text: problem }) : null,
      table(auditColumns, entries, { testid: "decisions-table" }),
    );
  }

  unmount() {}
}

export class AuditPage {
  constructor(root) {
    this.root = root;
    this.entries = [];
    this.more = true;
  }

  async mount() {
    await this.load();
  }

  async load() {
    const last = this.entries.at(-1);
    const query = last ? `?limit=100&before=${last.seq}` : "?limit=100";
    try {
      const page = (await get(`/api/admin/audit${query}`)).entries;
      this.entries.push(...page);
      this.more = page.length === 100;
    } catch (error) {
      toast(error.message);
    }
    fill(
      this.root,
      header("Audit log"),
      h("p", {
        class: "page__lead",
        text: "Append-only and hash-chained: `duet audit verify` checks every link. Newest first.",
      }),
      table(
        [...auditColumns, { label: "Hash", cell: (e) => `${e.hash.slice(0, 12)}…`, class: "mono" }],
        this.entries,
        { testid: "audit-table" },
      ),
      this.more
        ? h("button", {
            class: "btn btn--ghost btn--small more",
            type: "button",
            text: "Older entries",
            onclick: () => this.load(),
          })
        : null,
    );
  }

  unmount() {}
}
