// Esc twice = Next (one stray Esc should not end a conversation): the first press arms
// the Next button ("Really?") for a moment, a second one within it confirms.

import { dom } from "./ui.js";

/** How long a second Esc confirms Next. */
const ESC_CONFIRM_MS = 2_500;

export class EscConfirm {
  /** `onConfirm` runs on the second Esc while armed. */
  constructor(onConfirm) {
    this.onConfirm = onConfirm;
    this.armedUntil = 0;
    this.timer = null;
  }

  /** An Esc the app let through (matched, no dialog or picker open). */
  press(event) {
    event.preventDefault();
    if (Date.now() < this.armedUntil) {
      this.onConfirm();
      return;
    }
    this.armedUntil = Date.now() + ESC_CONFIRM_MS;
    dom.nextLabel.textContent = "Really?";
    dom.next.dataset.armed = "true";
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.disarm(), ESC_CONFIRM_MS);
  }

  disarm() {
    clearTimeout(this.timer);
    this.armedUntil = 0;
    dom.nextLabel.textContent = "Next";
    delete dom.next.dataset.armed;
  }
}
