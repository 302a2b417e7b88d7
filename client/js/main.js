// Duet's browser client: the app state machine and the wiring between the server
// connection (signaling.js), the media (media.js, ice.js) and the page (ui.js, chat.js,
// emoji.js, remote.js).
//
// Before anything: the gate (gate.js, door.js) — age, anti-bot check, session; only then
// is the server connection opened (the session cookie authorises it).
//
// Phases (shown as data-state on the status line):
//   idle         landing page, nothing joined
//   starting     camera / ICE configuration / server greeting before `join` is sent
//   searching    joined, waiting for a partner (after `queued`, Next, or partner_left)
//   matched      talking to a stranger
//   reconnecting the server connection dropped; we join again once it is back
// One "session" spans Start..Stop; inside it each `join` gets its own peer connection.

import { BannedScreen, arrivalDecision, decisionText } from "./banned.js";
import { ChatLog, TypingIndicator, TypingNotifier } from "./chat.js";
import { EmojiPicker } from "./emoji.js";
import { Gate } from "./gate.js";
import { IceConfigCache } from "./ice.js";
import { MediaSession, describeCameraError, openCamera, stopStream } from "./media.js";
import { RemoteView } from "./remote.js";
import { RoomControls, parseInterests } from "./room.js";
import { Signaling, defaultSignalingUrl } from "./signaling.js";
import {
  dom,
  setComposerEnabled,
  setConnection,
  setLandingError,
  setLandingNotice,
  setStatus,
  showView,
  toast,
} from "./ui.js";

const TEXT = {
  held:
    "Your video was paused for a moderator to review. " +
    "You can't start a new chat until they have looked.",
  startingVideo: "Starting your camera…",
  starting: "Connecting…",
  searching: "Looking for someone…",
  matched: "Connected with a stranger",
  youSkipped: "Finding someone new…",
  reconnecting: "Connection lost — reconnecting…",
  partnerLeft: {
    next: "Stranger skipped you — finding someone new…",
    left: "Stranger left — finding someone new…",
    disconnected: "Stranger disconnected — finding someone new…",
  },
  partnerLeftLog: {
    next: "The stranger skipped you.",
    left: "The stranger left the chat.",
    disconnected: "The stranger lost their connection.",
  },
};

/** What the visitor's own tile says while the server holds their video back from the
 * partner (`video_state`, side "own"); nothing once it is open. */
const OWN_VIDEO_TEXT = {
  checking: "Checking your video before the stranger sees it…",
  face_required: "Show your face to start video. The stranger can't see you until then.",
};

function showOwnVideoState(state) {
  const text = OWN_VIDEO_TEXT[state];
  dom.localNotice.hidden = !text;
  dom.localNotice.textContent = text ?? "";
  dom.localNotice.dataset.state = text ? state : "open";
}

/** Errors the UI can ignore: they only mean we raced the server (e.g. Next as the partner left). */
const BENIGN_ERRORS = new Set(["not_in_match", "already_joined", "not_joined", "too_soon"]);
/** Errors about the session itself: back to the gate. */
const SESSION_ERRORS = new Set(["session_required", "session_invalid", "origin_not_allowed"]);
/** How long a second Esc confirms Next. */
const ESC_CONFIRM_MS = 2_500;
/** Media failures of one session after which we give up instead of joining again. */
const MAX_MEDIA_RETRIES = 3;

class App {
  constructor() {
    this.signaling = new Signaling(defaultSignalingUrl());
    /** One ICE configuration (TURN credential) shared by every join for up to 6 h. */
    this.ice = new IceConfigCache();
    this.log = new ChatLog(dom.log);
    this.typingIndicator = new TypingIndicator(dom.typing);
    this.typing = new TypingNotifier((on) => this.#sendIfMatched({ type: "typing", on }));
    this.remote = new RemoteView({
      box: dom.remote,
      video: dom.remoteVideo,
      text: dom.remoteText,
      play: dom.remotePlay,
    });
    this.emoji = new EmojiPicker({
      toggle: dom.emojiToggle,
      picker: dom.emojiPicker,
      input: dom.input,
    });
    this.bannedScreen = new BannedScreen(dom.bannedParts);
    this.gate = new Gate(() => this.#entered());
    this.room = new RoomControls((message) => this.signaling.send(message), toast);
    this.phase = "idle";
    /** @type {null | {mode: string, stream: MediaStream|null, media: MediaSession|null,
     *   joined: boolean, joins: number, mediaFailures: number, searchText: string}} */
    this.session = null;
    this.escArmedUntil = 0;
    this.escTimer = null;
    this.countdown = null;
  }

  init() {
    this.#wireSignaling();
    this.#wirePage();
    this.gate.wire();
    this.room.wire();
    this.#enterPhase("idle", "Ready");
    setComposerEnabled(false);
    this.emoji.setEnabled(false);
    setConnection("offline", "Not connected");
    this.gate.show();
  }

  /** The door gave us a session (its cookie is set): connect, then pick a mode. */
  #entered() {
    showView("landing");
    this.signaling.connect();
    this.#showAppealDecision();
  }

  // --- user actions --------------------------------------------------------------------

  async start(mode) {
    if (this.session) return;
    const session = {
      mode,
      stream: null,
      media: null,
      joined: false,
      joins: 0,
      mediaFailures: 0,
      searchText: TEXT.searching,
    };
    this.session = session;
    setLandingError(null);
    this.log.clear();
    this.remote.clear(TEXT.searching);
    showView("chat", mode);
    this.#enterPhase("starting", mode === "video" ? TEXT.startingVideo : TEXT.starting);
    if (mode === "video") {
      try {
        session.stream = await openCamera();
      } catch (error) {
        if (this.session === session) this.stop({ error: describeCameraError(error) });
        return;
      }
      if (this.session !== session) {
        stopStream(session.stream);
        return;
      }
      dom.localVideo.srcObject = session.stream;
      this.room.useStream(session.stream);
    }
    await this.#join(session);
  }

  next() {
    const session = this.session;
    if (!session || this.phase !== "matched") return;
    this.#disarmEsc();
    this.typing.stop();
    this.signaling.send({ type: "next" });
    this.log.system("You skipped the stranger.");
    this.#partnerGone(TEXT.youSkipped);
  }

  /** Leave for good: back to the landing page, camera off. */
  stop({ error = null } = {}) {
    const session = this.session;
    if (!session) return;
    this.session = null;
    this.#disarmEsc();
    this.typing.reset();
    if (session.joined) this.signaling.send({ type: "leave" });
    session.media?.close();
    stopStream(session.stream);
    dom.localVideo.srcObject = null;
    this.remote.clear(TEXT.searching);
    this.typingIndicator.set(false);
    this.room.reset();
    setComposerEnabled(false);
    this.emoji.setEnabled(false);
    dom.input.value = "";
    this.#enterPhase("idle", "Ready");
    showView("landing");
    setLandingError(error);
    const again = dom.startButtons.find((b) => b.dataset.mode === session.mode);
    again?.focus();
  }

  sendChat() {
    const text = dom.input.value;
    if (text.trim() === "" || this.phase !== "matched") return;
    if (!this.signaling.send({ type: "chat", text })) {
      toast("Not connected: your message was not sent.");
      return;
    }
    this.log.add("me", text);
    dom.input.value = "";
    setComposerEnabled(true);
    this.typing.stop();
  }

  // --- joining -------------------------------------------------------------------------

  /** Send `join` for `session` (with a fresh peer connection in video mode). */
  async #join(session) {
    const attempt = ++session.joins;
    const current = () => this.session === session && session.joins === attempt;
    try {
      await this.signaling.whenReady(20_000);
      if (!current()) return;
      let media = null;
      if (session.mode === "video") {
        const configuration = await this.ice.get();
        if (!current()) return;
        media = this.#createMedia(session, configuration);
      }
      const join = { type: "join", mode: session.mode, interests: parseInterests(dom.interests.value) };
      if (dom.language.value) join.language = dom.language.value;
      if (!this.signaling.send(join)) {
        // The socket dropped just now; "down" has put us in reconnecting, and the next
        // "ready" joins again.
        media?.close();
        return;
      }
      session.media = media;
      session.joined = true;
      if (this.phase !== "matched") this.#enterPhase("searching", session.searchText);
    } catch (error) {
      if (!current()) return;
      console.error("duet: join failed", error);
      this.stop({
        error: "We could not reach the Duet server. Check your connection and try again.",
      });
    }
  }

  #createMedia(session, configuration) {
    const send = (message) => this.signaling.send(message);
    const media = new MediaSession(configuration, session.stream, send);
    media.addEventListener("state", (event) => {
      this.#onMediaState(session, media, event.detail.state);
    });
    return media;
  }

  #onMediaState(session, media, state) {
    if (this.session !== session || session.media !== media) return;
    if (state === "connected") {
      session.mediaFailures = 0;
      return;
    }
    if (state !== "failed") return;
    // ICE or DTLS failed (network change, TURN hiccup). Keep the match: ask the server for
    // a fresh connection (it answers with an offer marked `restart`). Give up after a few
    // failures in a row.
    session.mediaFailures += 1;
    if (session.mediaFailures > MAX_MEDIA_RETRIES) {
      this.stop({
        error:
          "The video connection failed. Your network may block it: try again, or try Text chat.",
      });
      return;
    }
    toast("The video connection dropped. Reconnecting…");
    this.ice.invalidate();
    this.signaling.send({ type: "restart" });
  }

  /** The server replaced our failed connection: answer on a new peer connection. */
  async #restartMedia(session, sdp) {
    const configuration = await this.ice.get();
    if (this.session !== session || !session.media) return;
    const old = session.media;
    const fresh = this.#createMedia(session, configuration);
    session.media = fresh;
    old.close();
    if (this.phase === "matched") this.remote.show(fresh.remoteStream);
    await fresh.acceptOffer(sdp);
  }

  // --- server events -------------------------------------------------------------------

  #wireSignaling() {
    const on = (type, handler) =>
      this.signaling.addEventListener(type, (event) => handler(event.detail));

    on("connecting", ({ attempt }) => {
      clearInterval(this.countdown);
      setConnection("connecting", attempt === 0 ? "Connecting…" : "Reconnecting…");
    });
    on("ready", ({ welcome }) => {
      setConnection("online", "Online");
      const limit = welcome.limits?.chat_max_length;
      if (Number.isInteger(limit) && limit > 0) dom.input.maxLength = limit;
      if (this.session && this.phase === "reconnecting") this.#join(this.session);
    });
    on("down", ({ delay }) => {
      // Count down to the next attempt so people can see that something is happening.
      const retryAt = Date.now() + delay;
      const tick = () => {
        const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
        setConnection("offline", `Offline — retrying in ${seconds} s`);
      };
      clearInterval(this.countdown);
      tick();
      this.countdown = setInterval(tick, 250);
      this.#connectionLost();
    });

    on("offer", ({ sdp, restart }) => {
      const media = this.session?.media;
      if (!media || typeof sdp !== "string") return;
      const answering = restart ? this.#restartMedia(this.session, sdp) : media.acceptOffer(sdp);
      answering.catch((error) => {
        console.error("duet: could not answer the offer", error);
        toast("Your browser could not set up the video call.");
      });
    });
    on("queued", () => {
      if (!this.session?.joined) return;
      this.#enterPhase("searching", this.session.searchText);
    });
    on("banned", (event) => this.#onBanned(event));
    on("held", ({ released }) => {
      if (released) {
        setLandingNotice("A moderator has looked at your video: you can chat again.");
        return;
      }
      // Not a ban: the chat ends and the camera goes off until a moderator has looked.
      if (this.session) this.stop({ error: TEXT.held });
    });
    on("matched", (event) => {
      this.#onMatched(event.mode);
      if (this.phase === "matched") this.room.matched(event);
    });
    on("media", (event) => {
      if (this.phase === "matched") this.room.partnerMedia(event);
    });
    on("video_state", ({ side, state }) => {
      if (this.phase !== "matched") return;
      if (side === "partner") this.remote.gate(state);
      else if (side === "own") showOwnVideoState(state);
    });
    on("reported", () => toast("Thanks — your report was sent to our moderators.", "info"));
    on("blocked", () => {
      if (!this.session?.joined) return;
      this.log.system("You blocked the stranger. You won't meet them again.");
      this.#partnerGone("Finding someone new…");
    });
    on("refused", () => {
      // The session expired or was refused: leave and get a new one at the gate.
      this.stop();
      this.gate.show("Your session has ended. Please enter again.");
    });
    on("partner_left", ({ reason }) => {
      if (!this.session?.joined || this.phase !== "matched") return;
      this.log.system(TEXT.partnerLeftLog[reason] ?? TEXT.partnerLeftLog.left);
      this.#partnerGone(TEXT.partnerLeft[reason] ?? TEXT.partnerLeft.left);
    });
    on("chat", ({ text }) => {
      if (this.phase !== "matched" || typeof text !== "string") return;
      this.typingIndicator.set(false);
      this.log.add("stranger", text);
    });
    on("typing", ({ on: typing }) => {
      if (this.phase === "matched") this.typingIndicator.set(Boolean(typing));
    });
    on("error", ({ code, message }) => {
      if (code === "disconnected") {
        // A moderator ended this connection: back to the start, with their message.
        this.stop({ error: message || "A moderator ended your chat." });
        return;
      }
      if (SESSION_ERRORS.has(code)) return; // the socket closes next ("refused")
      if (BENIGN_ERRORS.has(code)) {
        console.debug("duet: server refused a message we raced:", code, message);
        return;
      }
      console.warn("duet: server error", code, message);
      toast(message || "Something went wrong.");
    });
  }

  /** Banned: no reconnecting, the camera off, the banned screen with the appeal form. */
  #onBanned(event) {
    this.signaling.close();
    clearInterval(this.countdown);
    if (this.session) this.stop();
    setConnection("offline", "Banned");
    setLandingNotice(null);
    this.bannedScreen.show(event);
    showView("banned");
  }

  /** The ban was lifted while the banned screen was open: back to the start, online. */
  #onLifted(state) {
    setLandingNotice(decisionText(state.decision === "overturned" ? "overturned" : "", state.appeal));
    showView("landing");
    this.signaling.connect();
  }

  /** An appeal this browser sent earlier was decided: say so on the landing page. */
  async #showAppealDecision() {
    const state = await arrivalDecision();
    if (!state || dom.app.dataset.view === "banned") return;
    setLandingNotice(
      decisionText(state.decision, state.appeal),
      state.decision === "overturned" ? "good" : "bad",
    );
  }

  #onMatched(mode) {
    const session = this.session;
    if (!session?.joined) return;
    this.#enterPhase("matched", TEXT.matched);
    session.searchText = TEXT.searching;
    this.log.clear();
    const verb = mode === "video" ? "talking to" : "chatting with";
    this.log.system(`You're ${verb} a stranger. Say hi!`);
    this.typing.reset();
    this.typingIndicator.set(false);
    setComposerEnabled(true);
    this.emoji.setEnabled(true);
    if (session.media) this.remote.show(session.media.remoteStream);
    showOwnVideoState("open");
    // Keep the keyboard where people type; on touch screens this would pop the keyboard.
    if (window.matchMedia("(pointer: fine)").matches) dom.input.focus();
  }

  /** The partner is gone (we or they pressed Next, or media failed): wait for another. */
  #partnerGone(statusText) {
    const session = this.session;
    if (!session) return;
    session.searchText = statusText;
    this.room.parted();
    this.typing.reset();
    this.typingIndicator.set(false);
    setComposerEnabled(false);
    this.emoji.setEnabled(false);
    this.remote.clear(statusText);
    showOwnVideoState("open");
    this.#enterPhase("searching", statusText);
  }

  /** The socket closed: the server has forgotten our join. Rejoin on the next welcome. */
  #connectionLost() {
    const session = this.session;
    if (!session || !session.joined) return;
    if (this.phase === "matched") this.log.system("You lost the connection to the server.");
    session.joined = false;
    session.media?.close();
    session.media = null;
    session.searchText = TEXT.searching;
    this.room.parted();
    this.typing.reset();
    this.typingIndicator.set(false);
    setComposerEnabled(false);
    this.emoji.setEnabled(false);
    this.remote.clear(TEXT.reconnecting);
    this.#enterPhase("reconnecting", TEXT.reconnecting);
  }

  // --- page ----------------------------------------------------------------------------

  #wirePage() {
    this.bannedScreen.addEventListener("lifted", (event) => this.#onLifted(event.detail));
    for (const button of dom.startButtons) {
      button.addEventListener("click", () => this.start(button.dataset.mode));
    }
    dom.next.addEventListener("click", () => this.next());
    dom.stop.addEventListener("click", () => this.stop());
    dom.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendChat();
    });
    dom.input.addEventListener("input", () => {
      const hasText = dom.input.value.trim() !== "";
      dom.send.disabled = dom.input.disabled || !hasText;
      if (this.phase === "matched") this.typing.input(hasText);
    });
    document.addEventListener("keydown", (event) => this.#onKey(event));
  }

  #onKey(event) {
    if (event.key !== "Escape" || event.defaultPrevented || this.emoji.isOpen) return;
    if (dom.reportDialog.open || dom.blockDialog.open) return; // Esc closes the dialog
    if (this.phase !== "matched") return;
    // Esc twice = Next (one stray Esc should not end a conversation).
    event.preventDefault();
    if (Date.now() < this.escArmedUntil) {
      this.next();
      return;
    }
    this.escArmedUntil = Date.now() + ESC_CONFIRM_MS;
    dom.nextLabel.textContent = "Really?";
    dom.next.dataset.armed = "true";
    clearTimeout(this.escTimer);
    this.escTimer = setTimeout(() => this.#disarmEsc(), ESC_CONFIRM_MS);
  }

  #disarmEsc() {
    clearTimeout(this.escTimer);
    this.escArmedUntil = 0;
    dom.nextLabel.textContent = "Next";
    delete dom.next.dataset.armed;
  }

  #enterPhase(phase, text) {
    this.phase = phase;
    setStatus(phase, text);
    dom.next.disabled = phase !== "matched";
    if (phase !== "matched") this.#disarmEsc();
  }

  #sendIfMatched(message) {
    if (this.phase === "matched") this.signaling.send(message);
  }
}

new App().init();
