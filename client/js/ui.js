// Page elements and the small helpers that change what is shown. No app logic here:
// main.js decides, this module draws. Visibility is driven by attributes (`hidden`,
// `data-*`) that the CSS reads; no inline styles (a strict CSP is planned).

const byId = (id) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`duet: #${id} is missing from index.html`);
  return element;
};

export const dom = {
  app: byId("app"),
  gate: byId("gate"),
  gateForm: byId("gate-form"),
  gateYear: byId("gate-year"),
  gateAdult: byId("gate-adult"),
  gateName: byId("gate-name"),
  gateEnter: byId("gate-enter"),
  gateProgress: byId("gate-progress"),
  gateProgressBar: byId("gate-progress-bar"),
  gateProgressText: byId("gate-progress-text"),
  gateError: byId("gate-error"),
  interests: byId("interests"),
  language: byId("language"),
  landing: byId("landing"),
  landingError: byId("landing-error"),
  landingNotice: byId("landing-notice"),
  startButtons: [...document.querySelectorAll("[data-testid^='start-']")],
  chat: byId("chat"),
  remote: byId("remote"),
  remoteVideo: byId("remote-video"),
  remoteText: byId("remote-overlay-text"),
  remotePlay: byId("remote-play"),
  remoteTag: byId("remote-tag"),
  remoteMedia: byId("remote-media"),
  localVideo: byId("local-video"),
  localNotice: byId("local-notice"),
  toggleMic: byId("toggle-mic"),
  toggleCamera: byId("toggle-camera"),
  shared: byId("shared"),
  report: byId("report"),
  block: byId("block"),
  reportDialog: byId("report-dialog"),
  reportForm: byId("report-form"),
  reportComment: byId("report-comment"),
  reportCancel: byId("report-cancel"),
  blockDialog: byId("block-dialog"),
  status: byId("status"),
  statusText: byId("status-text"),
  log: byId("chat-log"),
  typing: byId("typing"),
  composer: byId("composer"),
  input: byId("chat-input"),
  send: byId("chat-send"),
  emojiToggle: byId("emoji-toggle"),
  emojiPicker: byId("emoji-picker"),
  next: byId("next"),
  nextLabel: byId("next-label"),
  stop: byId("stop"),
  conn: byId("conn"),
  connText: byId("conn-text"),
  toasts: byId("toasts"),
  banned: byId("banned"),
  bannedParts: {
    reason: byId("banned-reason"),
    until: byId("banned-until"),
    form: byId("appeal-form"),
    text: byId("appeal-text"),
    count: byId("appeal-count"),
    send: byId("appeal-send"),
    status: byId("appeal-status"),
    check: byId("appeal-check"),
  },
};

/** Show the gate, the landing page, the chat view (in "video" or "text" mode) or the banned
 * screen. */
export function showView(view, mode = null) {
  dom.app.dataset.view = view;
  if (mode) dom.app.dataset.mode = mode;
  dom.gate.hidden = view !== "gate";
  dom.landing.hidden = view !== "landing";
  dom.chat.hidden = view !== "chat";
  dom.banned.hidden = view !== "banned";
}

/**
 * The status line. `state` is machine-readable (data-state: idle, starting, searching,
 * matched, reconnecting); `text` is for people.
 */
export function setStatus(state, text) {
  dom.status.dataset.state = state;
  dom.app.dataset.state = state;
  dom.statusText.textContent = text;
}

/** The server connection indicator in the top bar: "online", "connecting" or "offline". */
export function setConnection(state, text) {
  dom.conn.dataset.conn = state;
  dom.connText.textContent = text;
}

/** A good-news line on the landing page (e.g. an accepted appeal); `kind` "bad" for not. */
export function setLandingNotice(text, kind = "good") {
  dom.landingNotice.textContent = text ?? "";
  dom.landingNotice.dataset.kind = kind;
  dom.landingNotice.hidden = !text;
}

export function setLandingError(text) {
  dom.landingError.textContent = text ?? "";
  dom.landingError.hidden = !text;
}

/** Enable or disable the composer (there is no partner to talk to). */
export function setComposerEnabled(enabled) {
  dom.input.disabled = !enabled;
  dom.send.disabled = !enabled || dom.input.value.trim() === "";
  dom.input.placeholder = enabled ? "Type a message…" : "Waiting for a stranger…";
}

const TOAST_MS = 5_000;
const MAX_TOASTS = 3;

/** A short, unobtrusive notice in the corner that disappears on its own. */
export function toast(text, kind = "error") {
  const item = document.createElement("div");
  item.className = `toast toast--${kind}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  item.textContent = text;
  dom.toasts.append(item);
  while (dom.toasts.children.length > MAX_TOASTS) dom.toasts.firstElementChild.remove();
  setTimeout(() => item.remove(), TOAST_MS);
}

/** What the visitor's own tile says while the server holds their video back from the
 * partner (`video_state`, side "own"); nothing once it is open. */
const OWN_VIDEO_TEXT = {
  checking: "Checking your video before the stranger sees it…",
  face_required: "Show your face to start video. The stranger can't see you until then.",
};

export function showOwnVideoState(state) {
  const text = OWN_VIDEO_TEXT[state];
  dom.localNotice.hidden = !text;
  dom.localNotice.textContent = text ?? "";
  dom.localNotice.dataset.state = text ? state : "open";
}
