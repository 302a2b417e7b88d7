// The opened item's case file (what the queue page shows once an item is open): what the
// item is about (the appeal's text, the QA sample's stratum, the report's transcript),
// its evidence (a frame in the viewer of evidence.js, or messages), and a side column with
// the facts, the classifier's verdict and the visitor's / IP's history.

import { chip, h, when } from "./dom.js";
import { evidenceView, messagesView } from "./evidence.js";

export const KIND_LABEL = { review: "Review", report: "Report", appeal: "Appeal", qa: "QA" };

function banCard(ban) {
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

function reportTranscript(item) {
  if (!item.transcript.length) return h("p", { class: "empty", text: "No messages were attached." });
  return h(
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
  );
}

/** The main column of `casefile` and its frame viewer (`null` without a frame):
 * `{node, evidence}`; `evidence.toggle()` reveals or hides the frame. */
export function caseMain(casefile) {
  const { kind, item } = casefile;
  const main = h("div", { class: "item__main" });
  let viewer = null;
  if (kind === "appeal") {
    main.append(
      h("h2", { class: "item__h", text: "Appeal" }),
      h("blockquote", { class: "quote", "data-testid": "appeal-text" }, item.text),
    );
    if (casefile.ban) main.append(banCard(casefile.ban));
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
    if (casefile.ban) main.append(banCard(casefile.ban));
  }
  if (kind === "report") {
    main.append(
      h("h2", { class: "item__h", text: `Reported for ${item.reason}` }),
      item.comment ? h("blockquote", { class: "quote" }, item.comment) : null,
      h("h3", { class: "item__h3", text: "Chat transcript (attached by the report)" }),
      reportTranscript(item),
    );
  }
  const evidence = casefile.evidence;
  if (evidence) {
    main.append(h("h3", { class: "item__h3", text: "Evidence" }));
    if (evidence.kind === "frame") {
      viewer = evidenceView(evidence);
      main.append(viewer.node);
    } else {
      main.append(messagesView(evidence));
    }
    main.append(h("p", { class: "item__hash", text: `SHA-256 ${evidence.sha256}` }));
  } else if (kind !== "report") {
    main.append(h("p", { class: "empty", text: "The evidence was deleted (retention or an overturned appeal)." }));
  }
  return { node: main, evidence: viewer };
}

/** The side column: who the item is about, the verdict, and their history. */
export function caseSide(casefile) {
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

/** The header over the case: kind, flags, id, the claim's countdown, Release. */
export function caseHead(casefile, onRelease) {
  const { kind, item } = casefile;
  return h(
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
      onclick: onRelease,
    }),
  );
}
