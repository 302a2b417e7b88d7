// A small emoji picker: a toggle button opens a grid; picking an emoji inserts it at the
// caret of the chat input. Emoji are plain text (the system emoji font draws them), so no
// images are needed.

const EMOJI = [
  "😀", "😂", "🙂", "😉", "😊", "😍", "😘", "😎",
  "🤔", "😅", "😬", "🙄", "😮", "😢", "😭", "😡",
  "🥳", "😴", "🤗", "🤝", "👋", "👍", "👎", "👏",
  "🙏", "💪", "✌️", "🤞", "❤️", "🔥", "✨", "🎉",
  "😇", "🤣", "😳", "🤯", "🤷", "💯", "👀", "🌍",
];

export class EmojiPicker {
  /**
   * @param {{toggle: HTMLButtonElement, picker: HTMLElement, input: HTMLInputElement}} parts
   */
  constructor({ toggle, picker, input }) {
    this.toggle = toggle;
    this.picker = picker;
    this.input = input;
    this.#build();
    toggle.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    picker.addEventListener("keydown", (event) => this.#onKey(event));
    document.addEventListener("pointerdown", (event) => {
      if (this.isOpen && !picker.contains(event.target) && !toggle.contains(event.target)) {
        this.close({ restoreFocus: false });
      }
    });
  }

  get isOpen() {
    return !this.picker.hidden;
  }

  open() {
    if (this.toggle.disabled) return;
    this.picker.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    this.picker.querySelector("button")?.focus();
  }

  close({ restoreFocus = true } = {}) {
    if (!this.isOpen) return;
    this.picker.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
    if (restoreFocus) this.input.focus();
  }

  /** Disable (and close) the picker, e.g. while there is no partner. */
  setEnabled(enabled) {
    this.toggle.disabled = !enabled;
    if (!enabled) this.close({ restoreFocus: false });
  }

  #build() {
    const buttons = EMOJI.map((emoji) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "emoji__item";
      button.textContent = emoji;
      button.setAttribute("aria-label", `Insert ${emoji}`);
      button.addEventListener("click", () => this.#insert(emoji));
      return button;
    });
    this.picker.replaceChildren(...buttons);
  }

  #insert(emoji) {
    const input = this.input;
    if (input.disabled) return;
    if (input.maxLength > 0 && input.value.length + emoji.length > input.maxLength) return;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    input.setRangeText(emoji, start, end, "end");
    // Let listeners (typing notifications, send button state) see the edit.
    input.dispatchEvent(new Event("input", { bubbles: true }));
    this.close();
  }

  #onKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation(); // Esc here closes the picker; it must not skip the partner.
      this.close();
      return;
    }
    const keys = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 8, ArrowUp: -8 };
    const step = keys[event.key];
    if (step === undefined) return;
    const items = [...this.picker.querySelectorAll("button")];
    const index = items.indexOf(document.activeElement);
    if (index === -1) return;
    event.preventDefault();
    const next = Math.min(items.length - 1, Math.max(0, index + step));
    items[next].focus();
  }
}
