// The decision form under an opened item: preset reasons, the reason field (recorded in
// the audit log), the ban length where a decision bans, and one button per action the
// item's kind allows.

import { h } from "./dom.js";

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

/** Whether a decision of `action` on an item of `kind` bans for a chosen length (appeals
 * and QA samples keep or lift an existing ban). */
export function bansFor(kind, action) {
  return action === "uphold" && kind !== "appeal" && kind !== "qa";
}

/** The form for an item of `kind`; a button calls `onDecide(action, reasonInput,
 * durationSelect)`. */
export function actionsForm(kind, onDecide) {
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
      onclick: () => onDecide(action, reason, duration),
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
