// The queue page: undecided items (urgent first, then oldest), the opened item, its
// actions, and the latest decisions. Opening an item claims it for a few minutes: nobody
// else can open or decide it meanwhile. Keys: N next item, R reveal/hide the frame,
// Esc release the item. The opened item's case file is drawn by case-view.js, its
// decision form by actions.js.

import { actionsForm, bansFor } from "./actions.js";
import { get, post } from "./api.js";
import { KIND_LABEL, caseHead, caseMain, caseSide } from "./case-view.js";
import { ago, ageOf, chip, fill, h, toast } from "./dom.js";

const REFRESH_MS = 10_000;

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
    this.holdsOnly = false;
    this.holdsToggle = h("button", {
      class: "btn btn--small",
      type: "button",
      "data-testid": "holds-only",
      "aria-pressed": "false",
      text: "Holds only",
      onclick: () => {
        this.holdsOnly = !this.holdsOnly;
        this.holdsToggle.setAttribute("aria-pressed", String(this.holdsOnly));
        this.load();
      },
    });
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
            this.holdsToggle,
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
      // Holds (possible minors in explicit video, kept out of matching) have a filter.
      data = await get(this.holdsOnly ? "/api/admin/queue?filter=hold" : "/api/admin/queue");
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
          item.hold ? chip("hold", "danger") : null,
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
    const main = caseMain(casefile);
    this.evidence = main.evidence;
    fill(
      this.pane,
      caseHead(casefile, () => this.release()),
      h("div", { class: "item__body" }, main.node, caseSide(casefile)),
      actionsForm(casefile.kind, (action, reason, duration) => this.decide(action, reason, duration)),
    );
    this.#tick();
    this.load();
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
    if (bansFor(current.kind, action)) body.duration_s = Number(durationSelect.value);
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
