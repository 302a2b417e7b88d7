// The partner's video tile: a placeholder while we look for someone, "loading" until the
// partner's video actually plays, then the video itself.

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
    // "playing" and "resize" both fire once frames of a (new) partner are decoded.
    for (const type of ["playing", "resize", "loadeddata"]) {
      video.addEventListener(type, () => this.#checkPlaying());
    }
    play.addEventListener("click", () => this.#play());
  }

  /** Show a placeholder with `message` and detach any video (no stale last frame). */
  clear(message) {
    this.stream = null;
    this.video.srcObject = null;
    this.playButton.hidden = true;
    this.#overlay("searching", message);
  }

  /** A partner is here: show their stream once it plays, "loading" until then. */
  show(stream, message = "Partner video is loading…") {
    this.stream = stream;
    this.#overlay("loading", message);
    // Re-assigning srcObject restarts the element, so the loading state is honest even
    // though the SFU keeps the same tracks across partners.
    this.video.srcObject = stream;
    this.#play();
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
    if (this.stream && this.video.videoWidth > 0 && !this.video.paused) {
      this.#overlay("none", "");
    }
  }

  #overlay(kind, message) {
    this.box.dataset.overlay = kind;
    this.text.textContent = message;
  }
}
