// What the app does on each event from the server connection (signaling.js): the
// connection's own state (connecting, ready, down), the match's lifecycle (queued,
// matched, partner_left, blocked), media (offer, media, video_state), chat, moderation
// (banned, held, reported) and errors. Acts on the App of main.js.

import { answerOffer, join } from "./joining.js";
import { TEXT } from "./texts.js";
import { dom, setConnection, setLandingNotice, showOwnVideoState, toast } from "./ui.js";

/** Errors the UI can ignore: they only mean we raced the server (e.g. Next as the partner left). */
const BENIGN_ERRORS = new Set(["not_in_match", "already_joined", "not_joined", "too_soon"]);
/** Errors about the session itself: back to the gate. */
const SESSION_ERRORS = new Set(["session_required", "session_invalid", "origin_not_allowed"]);

function wireConnection(app, on) {
  on("connecting", ({ attempt }) => {
    clearInterval(app.countdown);
    setConnection("connecting", attempt === 0 ? "Connecting…" : "Reconnecting…");
  });
  on("ready", ({ welcome }) => {
    setConnection("online", "Online");
    const limit = welcome.limits?.chat_max_length;
    if (Number.isInteger(limit) && limit > 0) dom.input.maxLength = limit;
    if (app.session && app.phase === "reconnecting") join(app, app.session);
  });
  on("down", ({ delay }) => {
    // Count down to the next attempt so people can see that something is happening.
    const retryAt = Date.now() + delay;
    const tick = () => {
      const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
      setConnection("offline", `Offline — retrying in ${seconds} s`);
    };
    clearInterval(app.countdown);
    tick();
    app.countdown = setInterval(tick, 250);
    app.connectionLost();
  });
  on("refused", () => {
    // The session expired or was refused: leave and get a new one at the gate.
    app.stop();
    app.gate.show("Your session has ended. Please enter again.");
  });
  on("error", ({ code, message }) => {
    if (code === "disconnected") {
      // A moderator ended this connection: back to the start, with their message.
      app.stop({ error: message || "A moderator ended your chat." });
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

function wireMatch(app, on) {
  on("offer", ({ sdp, restart }) => answerOffer(app, sdp, restart));
  on("queued", () => {
    if (!app.session?.joined) return;
    app.enterPhase("searching", app.session.searchText);
  });
  on("matched", (event) => {
    app.onMatched(event.mode);
    if (app.phase === "matched") app.room.matched(event);
  });
  on("media", (event) => {
    if (app.phase === "matched") app.room.partnerMedia(event);
  });
  on("video_state", ({ side, state }) => {
    if (app.phase !== "matched") return;
    if (side === "partner") app.remote.gate(state);
    else if (side === "own") showOwnVideoState(state);
  });
  on("blocked", () => {
    if (!app.session?.joined) return;
    app.log.system("You blocked the stranger. You won't meet them again.");
    app.partnerGone("Finding someone new…");
  });
  on("partner_left", ({ reason }) => {
    if (!app.session?.joined || app.phase !== "matched") return;
    app.log.system(TEXT.partnerLeftLog[reason] ?? TEXT.partnerLeftLog.left);
    app.partnerGone(TEXT.partnerLeft[reason] ?? TEXT.partnerLeft.left);
  });
  on("chat", ({ text }) => {
    if (app.phase !== "matched" || typeof text !== "string") return;
    app.typingIndicator.set(false);
    app.log.add("stranger", text);
  });
  on("typing", ({ on: typing }) => {
    if (app.phase === "matched") app.typingIndicator.set(Boolean(typing));
  });
}

function wireModeration(app, on) {
  on("banned", (event) => app.onBanned(event));
  on("held", ({ released }) => {
    if (released) {
      setLandingNotice("A moderator has looked at your video: you can chat again.");
      return;
    }
    // Not a ban: the chat ends and the camera goes off until a moderator has looked.
    if (app.session) app.stop({ error: TEXT.held });
  });
  on("reported", () => toast("Thanks — your report was sent to our moderators.", "info"));
}

/** Subscribe `app` to every event of its `signaling`. */
export function wireServerEvents(app) {
  const on = (type, handler) =>
    app.signaling.addEventListener(type, (event) => handler(event.detail));
  wireConnection(app, on);
  wireMatch(app, on);
  wireModeration(app, on);
}
