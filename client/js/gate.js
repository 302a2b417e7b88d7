// The gate view: the age form, the anti-bot progress bar, and what the door said.
// Network work is in door.js; this module only reads the form and draws.

import { DoorError, enter } from "./door.js";
import { dom, showView } from "./ui.js";

const FINAL = new Set(["underage", "refused"]);
const MESSAGES = {
  underage: "Duet is only for adults. Sorry — you can't use it.",
  refused: "Duet is only for adults. Sorry — you can't use it.",
  rate_limited: "Too many attempts from your connection. Wait a minute and try again.",
  challenge_expired: "The check took too long. Please try again.",
  challenge_reused: "The check was already used. Please try again.",
  challenge_too_easy: "Please try again: your connection needs a longer check.",
  challenge_invalid: "The check failed. Please try again.",
  challenge_failed: "The check could not run in this browser. Try another browser.",
};

export class Gate {
  /** @param {(session: object) => void} onEntered called with the server's session JSON */
  constructor(onEntered) {
    this.onEntered = onEntered;
    this.busy = false;
    this.closed = false;
  }

  wire() {
    dom.gateForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
  }

  /** Show the gate (again), with an optional notice. */
  show(notice = null) {
    showView("gate");
    this.#setError(notice);
    if (!this.closed) dom.gateEnter.disabled = false;
    dom.gateProgress.hidden = true;
  }

  async #submit() {
    if (this.busy || this.closed) return;
    const year = Number.parseInt(dom.gateYear.value, 10);
    if (!Number.isInteger(year) || year < 1900 || year > new Date().getFullYear()) {
      this.#setError("Enter the year you were born.");
      dom.gateYear.focus();
      return;
    }
    if (!dom.gateAdult.checked) {
      this.#setError("Please confirm that you are 18 or older and accept the guidelines.");
      return;
    }
    this.busy = true;
    dom.gateEnter.disabled = true;
    this.#setError(null);
    this.#progress(0);
    try {
      const session = await enter(
        { birthYear: year, adult: true, name: dom.gateName.value.trim() || null },
        (fraction) => this.#progress(fraction),
      );
      dom.gateProgressText.textContent = "Done.";
      this.onEntered(session);
    } catch (error) {
      const code = error instanceof DoorError ? error.code : "unavailable";
      if (FINAL.has(code)) {
        this.closed = true;
        dom.gateForm.dataset.closed = "true";
        for (const input of dom.gateForm.querySelectorAll("input, button")) input.disabled = true;
      } else {
        dom.gateEnter.disabled = false;
      }
      dom.gateProgress.hidden = true;
      const fallback = error instanceof DoorError ? error.message : "The server is unreachable.";
      this.#setError(MESSAGES[code] ?? fallback);
    } finally {
      this.busy = false;
    }
  }

  #progress(fraction) {
    dom.gateProgress.hidden = false;
    const percent = Math.round(fraction * 100);
    dom.gateProgressBar.value = percent;
    dom.gateProgressText.textContent = `Checking you are not a robot… ${percent}%`;
  }

  #setError(text) {
    dom.gateError.textContent = text ?? "";
    dom.gateError.hidden = !text;
  }
}
