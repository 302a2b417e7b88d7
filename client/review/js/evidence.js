// The evidence viewer: the frame blurred and greyscale by default; a click (or "r")
// reveals the original in colour, and a second one hides it again. The classifier's boxes
// are drawn over the frame in an SVG sized in frame pixels, so they line up at any size.
// Fetching the original is recorded in the audit log by the server.

import { h, s } from "./dom.js";

function boxes(evidence) {
  const width = evidence.width || 1;
  const height = evidence.height || 1;
  const list = Array.isArray(evidence.verdict?.boxes) ? evidence.verdict.boxes : [];
  // Sizes in frame pixels: about 13 px of text and a 2 px line at 640 px shown.
  const unit = Math.max(width, height) / 640;
  return s(
    "svg",
    {
      class: "evidence__boxes",
      viewBox: `0 0 ${width} ${height}`,
      preserveAspectRatio: "none",
      "aria-hidden": "true",
    },
    list.map((box) => {
      const label = `${box.label ?? "?"} ${Math.round((Number(box.score) || 0) * 100)}%`;
      const age = Number.isFinite(box.age) ? ` · age ~${box.age}` : "";
      return s(
        "g",
        { class: "evidence__box" },
        s("rect", {
          x: box.x,
          y: box.y,
          width: box.w,
          height: box.h,
          "vector-effect": "non-scaling-stroke",
        }),
        s(
          "text",
          {
            x: box.x + 6 * unit,
            y: box.y + 18 * unit,
            "font-size": 13 * unit,
            "stroke-width": 3 * unit,
          },
          label + age,
        ),
      );
    }),
  );
}

/** The frame with its verdict boxes; `evidence` as /api/admin/items/... gives it. */
export function evidenceView(evidence) {
  const image = h("img", {
    class: "evidence__image",
    "data-testid": "evidence-image",
    src: evidence.images.blurred,
    alt: "Evidence frame (blurred)",
    width: evidence.width || null,
    height: evidence.height || null,
    draggable: "false",
  });
  const frame = h(
    "div",
    { class: "evidence__frame", dataset: { revealed: "false" } },
    image,
    boxes(evidence),
  );
  const button = h("button", {
    class: "btn btn--ghost btn--small",
    type: "button",
    "data-testid": "reveal",
    text: "Reveal (R)",
  });
  const clip = evidence.clip ? clipView(evidence.clip) : null;
  const toggle = () => {
    const reveal = frame.dataset.revealed !== "true";
    frame.dataset.revealed = String(reveal);
    if (clip) clip.video.dataset.revealed = String(reveal);
    image.src = reveal ? evidence.images.original : evidence.images.blurred;
    image.alt = reveal ? "Evidence frame" : "Evidence frame (blurred)";
    button.textContent = reveal ? "Hide (R)" : "Reveal (R)";
  };
  frame.addEventListener("click", toggle);
  button.addEventListener("click", toggle);
  const verdict = evidence.verdict ?? {};
  const score = Math.round((Number(verdict.score) || 0) * 100);
  return {
    toggle,
    node: h(
      "figure",
      { class: "evidence" },
      frame,
      clip ? clip.node : "",
      h(
        "figcaption",
        { class: "evidence__caption" },
        h(
          "span",
          {},
          h("strong", { text: `${score}%` }),
          ` ${verdict.unsafe ? "unsafe" : "safe"}`,
          verdict.minor ? " · possible minor" : "",
          ` · ${verdict.faces ?? 0} face(s) · ${verdict.source ?? "?"}`,
        ),
        button,
      ),
    ),
  };
}

/**
 * The evidence clip (the visitor's last seconds of video, WebM): blurred and grey like the
 * frame until revealed (CSS only, so it is loaded on request: the server records every
 * load of a clip in the audit log).
 */
function clipView(clip) {
  const video = h("video", {
    class: "evidence__clip",
    "data-testid": "evidence-clip",
    controls: "",
    muted: "",
    loop: "",
    playsinline: "",
    preload: "none",
    dataset: { revealed: "false" },
  });
  const load = h("button", {
    class: "btn btn--ghost btn--small",
    type: "button",
    "data-testid": "load-clip",
    text: `Play clip (${Math.round((clip.bytes ?? 0) / 1024)} KB, audited)`,
  });
  load.addEventListener("click", () => {
    if (!video.src) video.src = clip.url;
    video.play().catch(() => {});
    load.hidden = true;
  });
  return { video, node: h("div", { class: "evidence__clipbox" }, video, load) };
}

/** Flagged chat messages kept as evidence (text, never HTML). */
export function messagesView(evidence) {
  return h(
    "ol",
    { class: "transcript" },
    (evidence.messages ?? []).map((text) =>
      h("li", { class: "transcript__line", dataset: { from: "reported" } }, text),
    ),
  );
}
