// Joining and the peer connection of one join: `join` is sent once the server has
// welcomed us (with a fresh RTCPeerConnection and the cached ICE configuration in video
// mode); a failed connection is replaced by an ICE restart that keeps the match.
//
// These steps act on the App of main.js (its `session`, `phase`, `signaling`, `ice`,
// `remote`, `stop()` and `enterPhase()`); an answer that arrives after the session moved
// on (Stop, another join) is dropped.

import { MediaSession } from "./media.js";
import { parseInterests } from "./room.js";
import { dom, toast } from "./ui.js";

/** Media failures of one session after which we give up instead of joining again. */
const MAX_MEDIA_RETRIES = 3;

/** Send `join` for `session` (with a fresh peer connection in video mode). */
export async function join(app, session) {
  const attempt = ++session.joins;
  const current = () => app.session === session && session.joins === attempt;
  try {
    await app.signaling.whenReady(20_000);
    if (!current()) return;
    let media = null;
    if (session.mode === "video") {
      const configuration = await app.ice.get();
      if (!current()) return;
      media = createMedia(app, session, configuration);
    }
    const message = { type: "join", mode: session.mode, interests: parseInterests(dom.interests.value) };
    if (dom.language.value) message.language = dom.language.value;
    if (!app.signaling.send(message)) {
      // The socket dropped just now; "down" has put us in reconnecting, and the next
      // "ready" joins again.
      media?.close();
      return;
    }
    session.media = media;
    session.joined = true;
    if (app.phase !== "matched") app.enterPhase("searching", session.searchText);
  } catch (error) {
    if (!current()) return;
    console.error("duet: join failed", error);
    app.stop({
      error: "We could not reach the Duet server. Check your connection and try again.",
    });
  }
}

function createMedia(app, session, configuration) {
  const send = (message) => app.signaling.send(message);
  const media = new MediaSession(configuration, session.stream, send);
  media.addEventListener("state", (event) => {
    onMediaState(app, session, media, event.detail.state);
  });
  return media;
}

function onMediaState(app, session, media, state) {
  if (app.session !== session || session.media !== media) return;
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
    app.stop({
      error:
        "The video connection failed. Your network may block it: try again, or try Text chat.",
    });
    return;
  }
  toast("The video connection dropped. Reconnecting…");
  app.ice.invalidate();
  app.signaling.send({ type: "restart" });
}

/** The server replaced our failed connection: answer on a new peer connection. */
async function restartMedia(app, session, sdp) {
  const configuration = await app.ice.get();
  if (app.session !== session || !session.media) return;
  const old = session.media;
  const fresh = createMedia(app, session, configuration);
  session.media = fresh;
  old.close();
  if (app.phase === "matched") app.remote.show(fresh.remoteStream);
  await fresh.acceptOffer(sdp);
}

/** The server's `offer` for the current join: answer it (on a new peer connection when
 * it is a `restart`). */
export function answerOffer(app, sdp, restart) {
  const media = app.session?.media;
  if (!media || typeof sdp !== "string") return;
  const answering = restart ? restartMedia(app, app.session, sdp) : media.acceptOffer(sdp);
  answering.catch((error) => {
    console.error("duet: could not answer the offer", error);
    toast("Your browser could not set up the video call.");
  });
}
