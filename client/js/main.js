// Duet's browser client: the app state machine and the wiring between the server
// connection (signaling.js, its events handled in server-events.js), the media
// (joining.js, media.js, ice.js) and the page (ui.js, chat.js, emoji.js, remote.js,
// esc-confirm.js).
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
import { EscConfirm } from "./esc-confirm.js";
import { Gate } from "./gate.js";
import { IceConfigCache } from "./ice.js";
import { join } from "./joining.js";
import { describeCameraError, openCamera, stopStream } from "./media.js";
import { RemoteView } from "./remote.js";
import { RoomControls } from "./room.js";
import { wireServerEvents } from "./server-events.js";
import { Signaling, defaultSignalingUrl } from "./signaling.js";
import { TEXT } from "./texts.js";
import {
  dom,
  setComposerEnabled,
  setConnection,
  setLandingError,
  setLandingNotice,
  setStatus,
  showOwnVideoState,
  showView,
  toast,
} from "./ui.js";

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
    this.esc = new EscConfirm(() => this.next());
    this.phase = "idle";
    /** @type {null | {mode: string, stream: MediaStream|null, media: MediaSession|null,
     *   joined: boolean, joins: number, mediaFailures: number, searchText: string}} */
    this.session = null;
    /** The interval counting down to the next connection attempt (server-events.js). */
    this.countdown = null;
  }

  init() {
    wireServerEvents(this);
    this.#wirePage();
    this.gate.wire();
    this.room.wire();
    this.enterPhase("idle", "Ready");
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
    this.enterPhase("starting", mode === "video" ? TEXT.startingVideo : TEXT.starting);
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
    await join(this, session);
  }

  next() {
    const session = this.session;
    if (!session || this.phase !== "matched") return;
    this.esc.disarm();
    this.typing.stop();
    this.signaling.send({ type: "next" });
    this.log.system("You skipped the stranger.");
    this.partnerGone(TEXT.youSkipped);
  }

  /** Leave for good: back to the landing page, camera off. */
  stop({ error = null } = {}) {
    const session = this.session;
    if (!session) return;
    this.session = null;
    this.esc.disarm();
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
    this.enterPhase("idle", "Ready");
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

  // --- what the server said (called from server-events.js) -----------------------------

  /** Banned: no reconnecting, the camera off, the banned screen with the appeal form. */
  onBanned(event) {
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

  onMatched(mode) {
    const session = this.session;
    if (!session?.joined) return;
    this.enterPhase("matched", TEXT.matched);
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
  partnerGone(statusText) {
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
    this.enterPhase("searching", statusText);
  }

  /** The socket closed: the server has forgotten our join. Rejoin on the next welcome. */
  connectionLost() {
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
    this.enterPhase("reconnecting", TEXT.reconnecting);
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
    this.esc.press(event);
  }

  enterPhase(phase, text) {
    this.phase = phase;
    setStatus(phase, text);
    dom.next.disabled = phase !== "matched";
    if (phase !== "matched") this.esc.disarm();
  }

  #sendIfMatched(message) {
    if (this.phase === "matched") this.signaling.send(message);
  }
}

new App().init();
