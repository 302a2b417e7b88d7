// What the app says on the status line and in the chat log as the phases change.

export const TEXT = {
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
