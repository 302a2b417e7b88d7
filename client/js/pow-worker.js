// Solves the server's proof-of-work challenge (ALTCHA v1) off the main thread.
//
// The server sends {algorithm: "SHA-256", challenge, salt, maxNumber, signature}: find the
// number n in 0..maxNumber with SHA-256(salt + n) === challenge (hex). WebCrypto digests
// are asynchronous, so a batch of them runs concurrently; progress is posted after each
// batch so the page can show how far along we are.
//
// In:  {challenge}                        Out: {type: "progress", tried, max}
//                                               {type: "solved", number, took}
//                                               {type: "failed", reason}

const BATCH = 500;
const encoder = new TextEncoder();

function hex(buffer) {
  const bytes = new Uint8Array(buffer);
  let out = "";
  for (let i = 0; i < bytes.length; i += 1) out += bytes[i].toString(16).padStart(2, "0");
  return out;
}

async function solve({ algorithm, challenge, salt, maxNumber }) {
  if (algorithm !== "SHA-256") throw new Error(`unsupported algorithm ${algorithm}`);
  const started = performance.now();
  self.postMessage({ type: "progress", tried: 0, max: maxNumber + 1 });
  for (let start = 0; start <= maxNumber; start += BATCH) {
    const end = Math.min(maxNumber, start + BATCH - 1);
    const numbers = [];
    for (let n = start; n <= end; n += 1) numbers.push(n);
    const digests = await Promise.all(
      numbers.map((n) => crypto.subtle.digest("SHA-256", encoder.encode(salt + n))),
    );
    for (let i = 0; i < digests.length; i += 1) {
      if (hex(digests[i]) === challenge) {
        return { number: numbers[i], took: Math.round(performance.now() - started) };
      }
    }
    self.postMessage({ type: "progress", tried: end + 1, max: maxNumber + 1 });
  }
  return null;
}

self.addEventListener("message", async (event) => {
  try {
    const found = await solve(event.data.challenge);
    if (found) self.postMessage({ type: "solved", ...found });
    else self.postMessage({ type: "failed", reason: "no solution" });
  } catch (error) {
    self.postMessage({ type: "failed", reason: String(error?.message ?? error) });
  }
});
