// The /ws connection to the Duet server (protocol: docs/protocol.md).
//
// Signaling is an EventTarget. Every server event is dispatched as a CustomEvent whose
// type is the protocol message type ("welcome", "offer", "matched", ...) and whose detail
// is the parsed message. Connection life is reported with three more events:
//   "connecting"   {attempt}            a socket is being opened
//   "down"         {code, delay, attempt} the socket closed; a retry follows in `delay` ms
//   "ready"        {welcome}            the server greeted us (same moment as "welcome")
//   "refused"      {code, reason}       the server refused this session (close codes 4401,
//                                       4403): no retry; the page must get a new session
// The server forgets a visitor when its socket closes, so after "down" the caller must
// treat any join as lost and join again after the next "ready". The session travels in an
// HttpOnly cookie set by POST /api/session; a `ping` every 25 s keeps the socket alive.

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;
const PING_MS = 25_000;
/** Close codes after which reconnecting with the same session is pointless. */
const FINAL_CODES = new Set([4401, 4403]);

export class Signaling extends EventTarget {
  /** @param {string} url ws:// or wss:// URL of /ws */
  constructor(url) {
    super();
    this.url = url;
    this.socket = null;
    this.welcome = null; // the last welcome message; null while not ready
    // Given back on reconnect so the server keeps our visitor id (and our place in line).
    this.resume = null;
    this.attempt = 0; // consecutive failed connects, drives the backoff
    this.retryTimer = null;
    this.pingTimer = null;
    this.stopped = false;
  }

  /** True once the server has sent `welcome` on the current socket. */
  get ready() {
    return this.welcome !== null && this.socket?.readyState === WebSocket.OPEN;
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.welcome = null;
    this.#emit("connecting", { attempt: this.attempt });
    let socket;
    try {
      socket = new WebSocket(this.#socketUrl());
    } catch (err) {
      // Only a malformed URL throws here; treat it like a failed connect.
      console.error("duet: cannot open WebSocket", err);
      this.#scheduleRetry(0);
      return;
    }
    this.socket = socket;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_MS);
    socket.addEventListener("message", (event) => this.#onMessage(socket, event));
    socket.addEventListener("close", (event) => this.#onClose(socket, event));
    // "error" is always followed by "close"; nothing to do here.
  }

  /** Wait (at most `timeoutMs`) until the server has welcomed us. */
  whenReady(timeoutMs = 10_000) {
    if (this.ready) return Promise.resolve(this.welcome);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.removeEventListener("ready", onReady);
        reject(new Error("The server did not answer."));
      }, timeoutMs);
      const onReady = (event) => {
        clearTimeout(timer);
        resolve(event.detail.welcome);
      };
      this.addEventListener("ready", onReady, { once: true });
    });
  }

  /** Send one client message. Returns false (and drops it) when not connected. */
  send(message) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Close for good (no reconnect). */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.socket?.close(1000);
  }

  #onMessage(socket, event) {
    if (socket !== this.socket || typeof event.data !== "string") return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      console.warn("duet: server sent invalid JSON");
      return;
    }
    if (!message || typeof message.type !== "string") return;
    if (message.type === "welcome") {
      this.welcome = message;
      this.attempt = 0;
      if (typeof message.resume === "string") this.resume = message.resume;
    }
    this.#emit(message.type, message);
    if (message.type === "welcome") this.#emit("ready", { welcome: message });
  }

  #socketUrl() {
    if (!this.resume) return this.url;
    const separator = this.url.includes("?") ? "&" : "?";
    return `${this.url}${separator}resume=${encodeURIComponent(this.resume)}`;
  }

  #onClose(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.welcome = null;
    clearInterval(this.pingTimer);
    if (this.stopped) return;
    if (FINAL_CODES.has(event.code)) {
      this.stopped = true;
      this.#emit("refused", { code: event.code, reason: event.reason });
      return;
    }
    this.#scheduleRetry(event.code);
  }

  #scheduleRetry(code) {
    // Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... capped at 15 s.
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.#emit("down", { code, delay, attempt: this.attempt });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** The /ws URL of the page's own origin. */
export function defaultSignalingUrl(location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}
