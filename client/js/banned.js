// The banned screen: why, until when, and the one appeal of this ban.
//
// The server's `banned` event carries the ban's appeal token (docs/protocol.md). The page
// sends the appeal with it (POST /api/appeals) and keeps the token in localStorage, so the
// decision can be shown the next time this browser arrives (POST /api/appeals/status).
// Everything the server or the visitor wrote is shown as text, never as HTML.

const STORE_KEY = "duet.appeal";
const TIMEOUT_MS = 8_000;

const STATUS_TEXT = {
  pending: "Your appeal was sent. A reviewer will read it; come back later to see the decision.",
  upheld: "A reviewer looked at your appeal and the ban stands.",
  overturned: "Your appeal was accepted: the ban is lifted. You can chat again.",
  lifted: "A reviewer checked your ban again and lifted it: it was a mistake. You can chat again.",
};

/** POST JSON to `path`; resolves to {status, data} (data null when not JSON). */
async function postJson(path, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: controller.signal,
      credentials: "omit",
    });
    const data = await response.json().catch(() => null);
    return { status: response.status, data };
  } finally {
    clearTimeout(timer);
  }
}

function remember(token) {
  try {
    localStorage.setItem(STORE_KEY, token);
  } catch {
    // Storage may be disabled; the decision then shows only while the ban lasts.
  }
}

function forget() {
  try {
    localStorage.removeItem(STORE_KEY);
  } catch {
    // Nothing to forget.
  }
}

function remembered() {
  try {
    return localStorage.getItem(STORE_KEY);
  } catch {
    return null;
  }
}

/**
 * On arrival: the decision on an appeal this browser sent, once there is one
 * ({decision: "overturned"|"upheld", active}), else null. A decided or finished case is
 * forgotten after it has been reported once.
 */
export async function arrivalDecision() {
  const token = remembered();
  if (!token) return null;
  try {
    const { status, data } = await postJson("/api/appeals/status", { token });
    if (status === 404) forget();
    if (status !== 200 || !data) return null;
    if (data.decision || !data.active) forget();
    return data.decision ? data : null;
  } catch {
    return null;
  }
}

export function decisionText(decision, appeal = "pending") {
  // A ban lifted without an appeal (a QA check found it wrong) says so, not "your appeal".
  if (decision === "overturned" && appeal === "none") return STATUS_TEXT.lifted;
  return STATUS_TEXT[decision] ?? "";
}

/**
 * The view. Emits "lifted" when a status check finds the ban lifted (the page may offer
 * chatting again at once).
 */
export class BannedScreen extends EventTarget {
  constructor(elements) {
    super();
    this.el = elements;
    this.token = null;
    this.maxLength = 1000;
    this.el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
    this.el.text.addEventListener("input", () => this.#count());
    this.el.check.addEventListener("click", () => this.check());
  }

  /** Show the `banned` event's facts and the appeal form or the appeal's state. */
  show(event) {
    this.token = event.appeal?.token ?? null;
    this.maxLength = Number(event.appeal?.max_length) || 1000;
    this.el.reason.textContent = event.reason || "Breaking the rules";
    const until = new Date(event.until);
    this.el.until.textContent = Number.isNaN(until.getTime())
      ? String(event.until ?? "")
      : until.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    this.el.text.maxLength = this.maxLength;
    const status = event.appeal?.status ?? "none";
    if (status === "none" && this.token) {
      this.#setStatus(null);
      this.el.form.hidden = false;
      this.el.text.value = "";
      this.#count();
    } else {
      this.el.form.hidden = true;
      this.#setStatus(status === "upheld" ? "upheld" : "pending");
    }
    if (this.token && status !== "upheld") remember(this.token);
  }

  /** Ask whether the appeal was decided; emits "lifted" if the ban no longer applies. */
  async check() {
    if (!this.token) return;
    this.el.check.disabled = true;
    try {
      const { status, data } = await postJson("/api/appeals/status", { token: this.token });
      if (status !== 200 || !data) return;
      if (data.decision === "overturned" || !data.active) {
        forget();
        this.dispatchEvent(new CustomEvent("lifted", { detail: data }));
        return;
      }
      this.#setStatus(data.appeal === "upheld" ? "upheld" : "pending");
    } catch {
      // Offline: the button stays, try again later.
    } finally {
      this.el.check.disabled = false;
    }
  }

  async #submit() {
    const text = this.el.text.value.trim();
    if (!this.token || text === "" || text.length > this.maxLength) return;
    this.el.send.disabled = true;
    try {
      const { status, data } = await postJson("/api/appeals", { token: this.token, text });
      if (status === 201 || data?.error === "already_appealed") {
        this.el.form.hidden = true;
        this.#setStatus("pending");
        return;
      }
      this.#setError(data?.message || "The appeal could not be sent. Try again.");
    } catch {
      this.#setError("The appeal could not be sent: check your connection and try again.");
    } finally {
      this.el.send.disabled = false;
    }
  }

  #count() {
    const length = this.el.text.value.length;
    this.el.count.textContent = `${length} / ${this.maxLength}`;
    if (length > this.maxLength) this.el.count.dataset.over = "";
    else delete this.el.count.dataset.over;
  }

  #setStatus(status) {
    this.el.status.hidden = status === null;
    this.el.check.hidden = status !== "pending";
    if (status === null) return;
    this.el.status.dataset.status = status;
    this.el.status.textContent = STATUS_TEXT[status];
  }

  #setError(text) {
    this.el.status.hidden = false;
    this.el.status.dataset.status = "error";
    this.el.status.textContent = text;
  }
}
