// The queue page: undecided items (urgent first, then oldest), the opened item, its
// actions, and the latest decisions. Opening an item claims it for a few minutes: nobody
// else can open or decide it meanwhile. Keys: N next item, R reveal/hide the frame,
// Esc release the item.

import { get, post } from "./api.js";
import { ago, ageOf, chip, fill, h, toast, when } from "./dom.js";
import { evidenceView, messagesView } from "./evidence.js";

const REFRESH_MS = 10_000;
const KIND_LABEL = { review: "Review", report: "Report", appeal: "Appeal", qa: "QA" };
const ACTIONS = {
  review: [
    ["uphold", "Uphold · ban", "danger"],
    ["overturn", "Overturn · no violation", "ok"],
    ["escalate", "Escalate", "warn"],
  ],
  report: [
    ["uphold", "Uphold · ban", "danger"],
    ["dismiss", "Dismiss", "ok"],
    ["escalate", "Escalate", "warn"],
  ],
  appeal: [
    ["uphold", "Uphold · keep ban", "danger"],
    ["overturn", "Overturn · lift ban", "ok"],
    ["escalate", "Escalate", "warn"],
  ],
  // A QA sample of an automatic action: was the machine right?
  qa: [
    ["correct", "Correct · keep", "danger"],
    ["wrong", "Wrong · lift ban", "ok"],
    ["unsure", "Unsure · escalate", "warn"],
  ],
};
const PRESETS = {
  review: ["Explicit content on camera", "Looks under 18", "No violation", "Unclear: needs a second look"],
  report: ["Harassment confirmed", "Explicit content", "Not a violation", "Spam"],
  appeal: ["Evidence is clear", "Classifier mistake", "Mistaken identity (shared IP)", "Ban was too harsh"],
  qa: ["Evidence is clear", "Classifier mistake: no nudity", "Not the visitor's video", "Chat was not abusive"],
};
const DURATIONS = [
  ["3600", "1 hour"],
  ["86400", "1 day"],
  ["604800", "7 days"],
  ["2592000", "30 days"],
  ["31536000", "365 days"],
];

function describeDecision(entry) {
  const who = entry.actor.replace(/^reviewer:/, "").replace(/^system:/, "⚙ ");
  return h(
    "li",
    { class: "decision" },
    h("span", { class: "decision__what", text: entry.action }),
    h("span", { class: "decision__target", text: entry.target }),
    h("span", { class: "decision__who", text: `${who} · ${ago(ageOf(entry.at))} ago` }),
    entry.reason ? h("span", { class: "decision__reason", text: entry.reason }) : null,
  );
}

export class QueuePage {
  constructor(root, me, onCount) {
    this.root = root;
    this.me = me;
    this.onCount = onCount;
    this.current = null;
    this.evidence = null;
    this.timers = [];
    this.onKey = (event) => this.#key(event);
  }

  async mount() {
    this.list = h("ol", { class: "queue__list", "data-testid": "queue-list" });
    this.summary = h("p", { class: "queue__summary" });
    this.decisions = h("ol", { class: "decisions", "data-testid": "recent-decisions" });
    this.pane = h("section", { class: "item", "data-testid": "item-view" }, this.#placeholder());
    fill(
      this.root,
      h(
        "div",
        { class: "queue" },
        h(
          "aside",
          { class: "queue__side" },
          h(
            "div",
            { class: "queue__bar" },
            h("h1", { class: "page__title", text: "Queue" }),
            h("button", {
              class: "btn btn--primary btn--small",
              type: "button",
              "data-testid": "next-item",
              text: "Next item (N)",
              onclick: () => this.next(),
            }),
          ),
          this.summary,
          this.list,
          h("h2", { class: "side__title", text: "Recent decisions" }),
          this.decisions,
        ),
        this.pane,
      ),
    );
    document.addEventListener("keydown", this.onKey);
    this.timers.push(setInterval(() => this.load(), REFRESH_MS));
    this.timers.push(setInterval(() => this.#tick(), 1000));
    await Promise.all([this.load(), this.loadDecisions()]);
  }

  unmount() {
    document.removeEventListener("keydown", this.onKey);
    for (const timer of this.timers) clearInterval(timer);
    if (this.current) this.release({ quiet: true });
  }

  async load() {
    let data;
    try {
      data = await get("/api/admin/queue");
    } catch (error) {
      this.summary.textContent = error.message;
      return;
    }
    const items = data.items;
    this.onCount(items.length);
    const urgent = items.filter((i) => i.priority === "high" || i.status === "escalated").length;
    const oldest = items.reduce((m, i) => Math.max(m, i.age_s), 0);
    this.summary.textContent = items.length
      ? `${items.length} waiting · ${urgent} urgent · oldest ${ago(oldest)}`
      : "The queue is empty. Nice work.";
    fill(this.list, items.map((item) => this.#row(item)));
  }

  async loadDecisions() {
    try {
      const data = await get("/api/admin/decisions?limit=12");
      fill(
        this.decisions,
        data.decisions.length
          ? data.decisions.map(describeDecision)
          : h("li", { class: "empty", text: "No decisions yet." }),
      );
    } catch {
      // The list is a convenience; the queue still works without it.
    }
  }

  #row(item) {
    const mine = this.current && this.current.kind === item.kind && this.current.item.id === item.id;
    const taken = item.claimed_by && item.claimed_by !== this.me.name;
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "qrow",
          "data-testid": "queue-item",
          dataset: { kind: item.kind, id: item.id, current: String(Boolean(mine)) },
          disabled: taken,
          onclick: () => this.open(item.kind, item.id),
        },
        h(
          "span",
          { class: "qrow__top" },
          chip(KIND_LABEL[item.kind], item.kind),
          item.status === "escalated" ? chip("escalated", "warn") : null,
          item.priority === "high" ? chip("high", "danger") : null,
          h("span", { class: "qrow__age", text: ago(item.age_s) }),
        ),
        h("span", { class: "qrow__reason", text: item.reason }),
        h(
          "span",
          { class: "qrow__meta" },
          `${item.ip ?? "?"} · ${item.visitor || "?"}`,
          item.claimed_by
            ? h("span", {
                class: "qrow__claim",
                text: item.claimed_by === this.me.name ? " · yours" : ` · held by ${item.claimed_by}`,
              })
            : null,
        ),
      ),
    );
  }

  async next() {
    try {
      const data = await post("/api/admin/queue/next");
      if (!data.item && !data.kind) {
        toast("Nothing left that nobody else holds.", "info");
        return;
      }
      this.#show(data);
    } catch (error) {
      toast(error.message);
    }
  }

  async open(kind, id) {
    try {
      this.#show(await post(`/api/admin/items/${kind}/${encodeURIComponent(id)}/open`));
    } catch (error) {
      toast(error.message);
      await this.load();
    }
  }

  async release({ quiet = false } = {}) {
    const current = this.current;
    if (!current) return;
    this.current = null;
    this.evidence = null;
    fill(this.pane, this.#placeholder());
    try {
      await post(`/api/admin/items/${current.kind}/${encodeURIComponent(current.item.id)}/release`);
    } catch (error) {
      if (!quiet) toast(error.message);
    }
    if (!quiet) await this.load();
  }

  #placeholder() {
    return h(
      "div",
      { class: "item__empty" },
      h("p", { class: "item__empty-title", text: "Pick an item, or take the next one." }),
      h("p", { text: "Frames stay blurred and grey until you reveal them." }),
    );
  }

  #show(casefile) {
    const previous = this.current;
    if (previous && (previous.kind !== casefile.kind || previous.item.id !== casefile.item.id)) {
      // One item at a time: give the previous one back to the queue.
      const path = `/api/admin/items/${previous.kind}/${encodeURIComponent(previous.item.id)}/release`;
      post(path).catch(() => {});
    }
    this.current = casefile;
    this.evidence = null;
    const { kind, item } = casefile;
    const main = h("div", { class: "item__main" });
    if (kind === "appeal") {
      main.append(
        h("h2", { class: "item__h", text: "Appeal" }),
        h("blockquote", { class: "quote", "data-testid": "appeal-text" }, item.text),
      );
      if (casefile.ban) main.append(this.#banCard(casefile.ban));
    }
    if (kind === "qa") {
      const score = item.score == null ? "" : ` · score ${Math.round(item.score * 100)}%`;
      main.append(
        h("h2", { class: "item__h", text: `QA sample: was this automatic ${item.kind} right?` }),
        h("p", {
          class: "item__qa",
          "data-testid": "qa-stratum",
          text: `${item.source} · ${item.classifier} · ${item.reason}${score}`,
        }),
      );
      if (casefile.ban) main.append(this.#banCard(casefile.ban));
    }
    if (kind === "report") {
      main.append(
        h("h2", { class: "item__h", text: `Reported for ${item.reason}` }),
        item.comment ? h("blockquote", { class: "quote" }, item.comment) : null,
        h("h3", { class: "item__h3", text: "Chat transcript (attached by the report)" }),
        item.transcript.length
          ? h(
              "ol",
              { class: "transcript" },
              item.transcript.map((line) =>
                h(
                  "li",
                  { class: "transcript__line", dataset: { from: line.from } },
                  h("span", { class: "transcript__who", text: line.from === "reported" ? "Reported" : "Reporter" }),
                  line.text,
                ),
              ),
            )
          : h("p", { class: "empty", text: "No messages were attached." }),
      );
    }
    const evidence = casefile.evidence;
    if (evidence) {
      main.append(h("h3", { class: "item__h3", text: "Evidence" }));
      if (evidence.kind === "frame") {
        this.evidence = evidenceView(evidence);
        main.append(this.evidence.node);
      } else {
        main.append(messagesView(evidence));
      }
      main.append(h("p", { class: "item__hash", text: `SHA-256 ${evidence.sha256}` }));
    } else if (kind !== "report") {
      main.append(h("p", { class: "empty", text: "The evidence was deleted (retention or an overturned appeal)." }));
    }
    fill(
      this.pane,
      h(
        "header",
        { class: "item__head" },
        chip(KIND_LABEL[kind], kind),
        item.priority === "high" ? chip("high", "danger") : null,
        kind === "qa" ? chip(item.kind) : null,
        item.status === "escalated" ? chip("escalated", "warn") : null,
        h("span", { class: "item__id", text: item.id }),
        h("span", { class: "item__claim", "data-testid": "claim", text: "" }),
        h("button", {
          class: "btn btn--ghost btn--small",
          type: "button",
          text: "Release (Esc)",
          onclick: () => this.release(),
        }),
      ),
      h("div", { class: "item__body" }, main, this.#side(casefile)),
      this.#actions(kind),
    );
    this.#tick();
    this.load();
  }

  #banCard(ban) {
    return h(
      "dl",
      { class: "facts facts--card" },
      h("dt", { text: "Ban" }),
      h("dd", {}, ban.id, " ", chip(ban.state, ban.state === "active" ? "danger" : "")),
      h("dt", { text: "Reason" }),
      h("dd", { text: ban.reason }),
      h("dt", { text: "Source" }),
      h("dd", { text: ban.created_by ? `${ban.source} (${ban.created_by})` : ban.source }),
      h("dt", { text: "Until" }),
      h("dd", { text: when(ban.until) }),
    );
  }

  #side(casefile) {
    const { kind, item } = casefile;
    const who = kind === "report" ? item.reported : kind === "appeal" ? (casefile.ban ?? {}) : item;
    const facts = [
      ["Visitor", who.visitor],
      ["IP", who.ip],
      ["Match", item.match ?? "–"],
      ["Created", when(item.created_at)],
      ["Reason", kind === "appeal" ? casefile.ban?.reason : item.reason],
    ];
    if (casefile.evidence?.verdict) {
      const v = casefile.evidence.verdict;
      const flags = [v.unsafe ? "unsafe" : "safe", v.minor ? "possible minor" : null];
      facts.push(["Verdict", `${Math.round((v.score ?? 0) * 100)}% ${flags.filter(Boolean).join(", ")}`]);
      facts.push(["Classifier", v.source ?? "?"]);
    }
    const history = casefile.history ?? {};
    const counts = [
      ["bans", history.bans?.length ?? 0],
      ["reports", history.reports?.length ?? 0],
      ["appeals", history.appeals?.length ?? 0],
      ["reviews", history.reviews?.length ?? 0],
    ];
    return h(
      "aside",
      { class: "item__side" },
      h(
        "dl",
        { class: "facts" },
        facts.map(([label, value]) => [h("dt", { text: label }), h("dd", { text: value ?? "–" })]),
      ),
      h("h3", { class: "item__h3", text: "History of this visitor / IP" }),
      h(
        "p",
        { class: "history__counts", "data-testid": "history" },
        counts.map(([label, n]) => chip(`${n} ${label}`, n > 0 && label !== "reviews" ? "warn" : "")),
      ),
      h(
        "ul",
        { class: "history" },
        (history.bans ?? []).map((b) =>
          h("li", {}, chip(b.state), ` ${when(b.created_at)} · ${b.reason}`),
        ),
        (history.reports ?? []).map((r) => h("li", {}, chip("report"), ` ${when(r.created_at)} · ${r.reason} (${r.status})`)),
        (history.appeals ?? []).map((a) => h("li", {}, chip("appeal"), ` ${when(a.created_at)} · ${a.status}`)),
      ),
    );
  }

  #actions(kind) {
    const reason = h("input", {
      class: "input",
      "data-testid": "decision-reason",
      placeholder: "Why? (a short reason, recorded in the audit log)",
      maxlength: 500,
    });
    const duration = h(
      "select",
      { class: "input input--select", "data-testid": "decision-duration", "aria-label": "Ban length" },
      DURATIONS.map(([value, label]) => h("option", { value, text: label, selected: value === "86400" })),
    );
    const presets = h(
      "div",
      { class: "presets" },
      PRESETS[kind].map((text) =>
        h("button", {
          type: "button",
          class: "preset",
          text,
          onclick: () => {
            reason.value = text;
            reason.focus();
          },
        }),
      ),
    );
    const buttons = ACTIONS[kind].map(([action, label, tone]) =>
      h("button", {
        type: "button",
        class: `btn btn--action btn--${tone}`,
        "data-testid": `action-${action}`,
        text: label,
        onclick: () => this.decide(action, reason, duration),
      }),
    );
    return h(
      "footer",
      { class: "item__actions" },
      presets,
      h(
        "div",
        { class: "item__decide" },
        reason,
        kind === "appeal" || kind === "qa" ? null : h("label", { class: "duration" }, "Ban for ", duration),
      ),
      h(
        "div",
        { class: "item__buttons" },
        h(
          "span",
          { class: "item__keys" },
          h("kbd", { text: "R" }),
          " reveal · ",
          h("kbd", { text: "N" }),
          " next · ",
          h("kbd", { text: "Esc" }),
          " release",
        ),
        buttons,
      ),
    );
  }

  async decide(action, reasonInput, durationSelect) {
    const current = this.current;
    if (!current) return;
    const reason = reasonInput.value.trim();
    if (reason.length < 3) {
      reasonInput.focus();
      reasonInput.setAttribute("aria-invalid", "true");
      toast("Give a short reason first.", "info");
      return;
    }
    const body = { action, reason };
    if (action === "uphold" && current.kind !== "appeal" && current.kind !== "qa") body.duration_s = Number(durationSelect.value);
    try {
      const outcome = await post(
        `/api/admin/items/${current.kind}/${encodeURIComponent(current.item.id)}/decision`,
        body,
      );
      const extra = outcome.ban ? ` · ban ${outcome.ban}` : outcome.lifted ? ` · ban ${outcome.lifted} lifted` : "";
      toast(`${KIND_LABEL[current.kind]} ${outcome.status}${extra}`, "ok");
      this.current = null;
      this.evidence = null;
      fill(
        this.pane,
        h(
          "div",
          { class: "item__empty", "data-testid": "decision-result", dataset: { status: outcome.status } },
          h("p", { class: "item__empty-title", text: `${KIND_LABEL[current.kind]} ${outcome.status}.` }),
          h("p", { text: "Press N for the next item." }),
        ),
      );
      await Promise.all([this.load(), this.loadDecisions()]);
    } catch (error) {
      toast(error.message);
    }
  }

  #tick() {
    const label = this.pane.querySelector(".item__claim");
    if (!label || !this.current?.claim) return;
    const left = Math.round((new Date(this.current.claim.expires_at).getTime() - Date.now()) / 1000);
    if (left <= 0) {
      label.textContent = "claim expired: reopen the item";
      label.dataset.expired = "true";
      return;
    }
    label.textContent = `yours for ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  }

  #key(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = event.target?.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    if (event.key === "n" || event.key === "N") this.next();
    else if ((event.key === "r" || event.key === "R") && this.evidence) this.evidence.toggle();
    else if (event.key === "Escape" && this.current) this.release();
  }
}
