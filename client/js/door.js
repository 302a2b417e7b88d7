// The door: age gate, proof of work, session (docs/client.md, docs/protocol.md).
//
// 1. A random device id is kept in localStorage (the server remembers an under-age answer
//    by it, and bans and blocks can cover it).
// 2. GET /api/challenge, solved in a Web Worker (pow-worker.js) with progress.
// 3. POST /api/session {birth_year, adult, altcha, device, name}: the server answers with
//    a token and sets it as an HttpOnly cookie, which /ws then carries on its own.

const DEVICE_KEY = "duet.device";

/** The browser's device id (created once, kept in localStorage). */
export function deviceId(storage = window.localStorage) {
  let id = null;
  try {
    id = storage.getItem(DEVICE_KEY);
  } catch {
    // Storage blocked (private mode): a per-page id still works, it just won't persist.
  }
  if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
    id = `d_${crypto.randomUUID().replaceAll("-", "")}`;
    try {
      storage.setItem(DEVICE_KEY, id);
    } catch {
      // see above
    }
  }
  return id;
}

/** A refusal from the door, with the server's stable `code`. */
export class DoorError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

async function json(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

/** Solve `challenge` in a worker; `onProgress(fraction)` is called along the way. */
export function solveChallenge(challenge, onProgress) {
  return new Promise((resolve, reject) => {
    const worker = new Worker("/js/pow-worker.js");
    worker.addEventListener("message", (event) => {
      const message = event.data;
      if (message.type === "progress") {
        onProgress(Math.min(1, message.tried / message.max));
        return;
      }
      worker.terminate();
      if (message.type === "solved") {
        onProgress(1);
        const payload = {
          algorithm: challenge.algorithm,
          challenge: challenge.challenge,
          number: message.number,
          salt: challenge.salt,
          signature: challenge.signature,
        };
        resolve(btoa(JSON.stringify(payload)));
      } else {
        reject(new DoorError("challenge_failed", "The check could not be completed."));
      }
    });
    worker.addEventListener("error", () => {
      worker.terminate();
      reject(new DoorError("challenge_failed", "The check could not run in this browser."));
    });
    worker.postMessage({ challenge });
  });
}

/**
 * Pass the door. `answer` is {birthYear, adult, name}; `onProgress(fraction)` follows
 * the proof of work. Resolves with the server's session JSON; rejects with DoorError.
 */
export async function enter(answer, onProgress) {
  const device = deviceId();
  const challengeResponse = await fetch(`/api/challenge?device=${encodeURIComponent(device)}`, {
    cache: "no-store",
  });
  if (!challengeResponse.ok) {
    const body = await json(challengeResponse);
    throw new DoorError(body.error ?? "unavailable", body.message ?? "The server is busy.");
  }
  const challenge = await challengeResponse.json();
  const body = {
    birth_year: answer.birthYear,
    adult: answer.adult,
    device,
  };
  if (answer.name) body.name = answer.name;
  if (challenge.enabled) body.altcha = await solveChallenge(challenge, onProgress);
  else onProgress(1);
  const response = await fetch("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const result = await json(response);
  if (!response.ok) {
    throw new DoorError(result.error ?? "unavailable", result.message ?? "Please try again.");
  }
  return result;
}
