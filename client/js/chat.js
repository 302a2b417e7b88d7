// The chat log, the "Stranger is typing…" indicator, and our own typing notifications.
//
// Chat text comes from strangers: it is only ever put into the page with textContent
// (never parsed as HTML), so markup in a message shows up literally.

/** How close (px) to the bottom the log must be scrolled to follow new messages. */
const STICKY_BOTTOM_PX = 48;

export class ChatLog {
  /** @param {HTMLElement} list the element whose children are the messages */
  constructor(list) {
    this.list = list;
    // Whether the reader is at the bottom; if so, stay there when the log's box shrinks
    // (typing indicator shown, on-screen keyboard opened) or new messages arrive.
    this.stuck = true;
    list.addEventListener("scroll", () => (this.stuck = this.#nearBottom()), { passive: true });
    new ResizeObserver(() => {
      if (this.stuck) this.scrollToEnd();
    }).observe(list);
  }

  /**
   * Append one message.
   * @param {"me"|"stranger"|"system"} from
   * @param {string} text shown as text, never parsed as HTML
   */
  add(from, text) {
    const follow = this.stuck || this.#nearBottom();
    const item = document.createElement("li");
    item.className = `msg msg--${from}`;
    item.dataset.from = from;
    item.textContent = text;
    this.list.append(item);
    if (follow || from === "me") this.scrollToEnd();
    return item;
  }

  system(text) {
    return this.add("system", text);
  }

  clear() {
    this.list.replaceChildren();
    this.stuck = true;
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
    this.stuck = true;
  }

  #nearBottom() {
    const { scrollTop, scrollHeight, clientHeight } = this.list;
    return scrollHeight - scrollTop - clientHeight < STICKY_BOTTOM_PX;
  }
}

/** Shows or hides "Stranger is typing…". */
export class TypingIndicator {
  /** @param {HTMLElement} element */
  constructor(element) {
    this.element = element;
  }

  set(on) {
    this.element.hidden = !on;
  }
}

/**
 * Sends `typing {on:true}` when the user starts typing and `typing {on:false}` after
 * `idleMs` without a keystroke, when the input is emptied, or when the message is sent.
 */
export class TypingNotifier {
  /** @param {(on: boolean) => void} send @param {number} idleMs */
  constructor(send, idleMs = 2_000) {
    this.sendTyping = send;
    this.idleMs = idleMs;
    this.on = false;
    this.timer = null;
  }

  /** Call on every edit of the input. */
  input(hasText) {
    if (!hasText) {
      this.stop();
      return;
    }
    if (!this.on) {
      this.on = true;
      this.sendTyping(true);
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.stop(), this.idleMs);
  }

  /** The user stopped typing (idle, sent, or cleared): tell the partner. */
  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.on) {
      this.on = false;
      this.sendTyping(false);
    }
  }

  /** Forget the state without telling anyone (the partner is gone). */
  reset() {
    clearTimeout(this.timer);
    this.timer = null;
    this.on = false;
  }
}
