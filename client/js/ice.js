// GET /api/ice: the RTCConfiguration for this browser (STUN/TURN with a fresh TURN
// credential, and the ICE transport policy). Fetched once per join, because TURN
// credentials expire.

const TIMEOUT_MS = 8_000;

/**
 * @returns {Promise<RTCConfiguration>} the server's `{iceServers, iceTransportPolicy}`,
 *   used as is (extra fields such as `ttl` are ignored by RTCPeerConnection).
 */
export async function fetchIceConfiguration() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const response = await fetch("/api/ice", {
      cache: "no-store",
      credentials: "same-origin",
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(`/api/ice answered ${response.status}`);
    const config = await response.json();
    if (!config || !Array.isArray(config.iceServers)) {
      throw new Error("/api/ice returned no iceServers");
    }
    return config;
  } finally {
    clearTimeout(timer);
  }
}
