// The partner's video tile: a placeholder while we look for someone, "loading" until the
// partner's video actually plays, then the video itself. With the server's pre-screen
// (`video_state` events), "checking" or "waiting" while the partner's video is held, and
// the video only from the first frame that arrives after it opened.

/** What the tile says while the partner's video is held (`video_state`, side "partner"). */
const HELD_TEXT = {
  checking: "Checking the stranger's video…",
  waiting: "Waiting for the stranger's video…",
};

export class RemoteView {
  /**
   * @param {{box: HTMLElement, video: HTMLVideoElement, text: HTMLElement,
   *          play: HTMLButtonElement}} parts
   */
  constructor({ box, video, text, play }) {
    this.box = box;
    this.video = video;
    this.text = text;
    this.playButton = play;
    this.stream = null;
    /** The partner's video is held by the server's pre-screen (no frame may be shown). */
    this.held = false;
    // "playing" and "resize" both fire once frames of a (new) partner are decoded.
    for (const type of ["playing", "resize", "loadeddata"]) {
      video.addEventListener(type, () => this.#checkPlaying());
    }
    play.addEventListener("click", () => this.#play());
  }

  /** Show a placeholder with `message` and detach any video (no stale last frame). */
  clear(message) {
    this.stream = null;
    this.held = false;
    this.video.srcObject = null;
    this.playButton.hidden = true;
    this.#overlay("searching", message);
  }

  /** A partner is here: show their stream once it plays, "loading" until then. */
  show(stream, message = "Partner video is loading…") {
    this.stream = stream;
    this.held = false;
    this.#overlay("loading", message);
    // Re-assigning srcObject restarts the element, so the loading state is honest even
    // though the SFU keeps the same tracks across partners.
    this.video.srcObject = stream;
    this.#play();
  }

  /**
   * The server's pre-screen says where the partner's video stands: "checking" or
   * "waiting" (held: keep the placeholder whatever the element shows), or "open" (show
   * the video from the next decoded frame on).
   */
  gate(state) {
    if (!this.stream) return;
    if (state === "open") {
      this.held = false;
      this.#overlay("loading", "Partner video is loading…");
      const video = this.video;
      if (typeof video.requestVideoFrameCallback === "function") {
        // Only a frame presented after the video opened is the new partner's.
        video.requestVideoFrameCallback(() => this.#checkPlaying());
      } else {
        this.#checkPlaying();
      }
      return;
    }
    this.held = true;
    this.#overlay(state === "waiting" ? "waiting" : "checking", HELD_TEXT[state] ?? HELD_TEXT.checking);
  }

  #play() {
    this.playButton.hidden = true;
    const started = this.video.play();
    started?.catch((error) => {
      // Autoplay with sound can be refused without a recent click: ask for one.
      if (error?.name === "NotAllowedError" && this.stream) this.playButton.hidden = false;
    });
  }

  #checkPlaying() {
    if (this.stream && !this.held && this.video.videoWidth > 0 && !this.video.paused) {
      this.#overlay("none", "");
    }
  }

  #overlay(kind, message) {
    this.box.dataset.overlay = kind;
    this.text.textContent = message;
  }
}
