// In the room: report and block dialogs, camera and microphone toggles, what the partner
// shares (name, interests, media state). Everything a stranger chose (name, interests) is
// put in the page with textContent only.

import { dom } from "./ui.js";

/**
 * "music, Films ,chess" -> ["music", "films", "chess"]: at most 5 tags of letters, digits,
 * spaces and + # . - (other characters are dropped; the server normalises again).
 */
export function parseInterests(text) {
  const tags = [];
  for (const part of text.split(",")) {
    const tag = part
      .replace(/[^\p{L}\p{N} +#.-]/gu, "")
      .trim()
      .toLowerCase()
      .replace(/\s+/g, " ");
    if (tag && !tags.includes(tag)) tags.push(tag.slice(0, 24));
  }
  return tags.slice(0, 5);
}

export class RoomControls {
  /**
   * @param {(message: object) => boolean} send sends one protocol message
   * @param {(text: string, kind?: string) => void} notify shows a short notice
   */
  constructor(send, notify) {
    this.send = send;
    this.notify = notify;
    this.stream = null;
    this.audio = true;
    this.video = true;
  }

  wire() {
    dom.report.addEventListener("click", () => {
      dom.reportForm.reset();
      dom.reportDialog.showModal();
    });
    dom.reportCancel.addEventListener("click", () => dom.reportDialog.close("cancel"));
    dom.reportForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const reason = new FormData(dom.reportForm).get("reason");
      if (!reason) return;
      const comment = dom.reportComment.value.trim();
      dom.reportDialog.close("send");
      if (this.send({ type: "report", reason, comment })) return;
      this.notify("Not connected: your report was not sent.");
    });
    dom.block.addEventListener("click", () => dom.blockDialog.showModal());
    dom.blockDialog.addEventListener("close", () => {
      if (dom.blockDialog.returnValue === "block") this.send({ type: "block" });
      dom.blockDialog.returnValue = "";
    });
    dom.toggleMic.addEventListener("click", () => this.#toggle("audio"));
    dom.toggleCamera.addEventListener("click", () => this.#toggle("video"));
  }

  /** A new local stream (video mode): the toggles apply to it. */
  useStream(stream) {
    this.stream = stream;
    this.audio = true;
    this.video = true;
    this.#draw();
  }

  /** Matched: who the partner is, what we share. Buttons on. */
  matched({ partner_name: name, interests }) {
    dom.remoteTag.textContent = typeof name === "string" && name ? name : "Stranger";
    const shared = Array.isArray(interests) ? interests.filter((i) => typeof i === "string") : [];
    dom.shared.textContent = shared.length ? `You both like: ${shared.join(", ")}` : "";
    dom.shared.hidden = shared.length === 0;
    this.partnerMedia({ audio: true, video: true });
    dom.report.disabled = false;
    dom.block.disabled = false;
    // Tell the new partner if our camera or microphone is off.
    if (this.stream && !(this.audio && this.video)) {
      this.send({ type: "media", audio: this.audio, video: this.video });
    }
  }

  /** No partner any more. */
  parted() {
    dom.remoteTag.textContent = "Stranger";
    dom.shared.hidden = true;
    dom.remoteMedia.hidden = true;
    dom.report.disabled = true;
    dom.block.disabled = true;
    if (dom.reportDialog.open) dom.reportDialog.close("cancel");
    if (dom.blockDialog.open) dom.blockDialog.close("cancel");
  }

  /** The partner's camera or microphone changed (a `media` event). */
  partnerMedia({ audio, video }) {
    const off = [];
    if (video === false) off.push("camera");
    if (audio === false) off.push("microphone");
    dom.remoteMedia.textContent = off.length ? `Stranger turned their ${off.join(" and ")} off` : "";
    dom.remoteMedia.hidden = off.length === 0;
  }

  reset() {
    this.parted();
    this.stream = null;
    this.audio = true;
    this.video = true;
    this.#draw();
  }

  #toggle(kind) {
    if (!this.stream) return;
    this[kind] = !this[kind];
    const tracks = kind === "audio" ? this.stream.getAudioTracks() : this.stream.getVideoTracks();
    for (const track of tracks) track.enabled = this[kind];
    this.#draw();
    this.send({ type: "media", audio: this.audio, video: this.video });
  }

  #draw() {
    dom.toggleMic.setAttribute("aria-pressed", String(this.audio));
    dom.toggleMic.textContent = this.audio ? "Mic on" : "Mic off";
    dom.toggleCamera.setAttribute("aria-pressed", String(this.video));
    dom.toggleCamera.textContent = this.video ? "Camera on" : "Camera off";
  }
}
