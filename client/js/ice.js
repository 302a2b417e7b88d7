// The RTCConfiguration for this browser, from GET /api/ice: STUN plus the nearest TURN
// servers with a time-limited credential, and the ICE transport policy.
//
// Assumptions: the server's TURN credentials live 24 h (`ttl`), so a configuration is
// reused for 6 h (or half its ttl if that is shorter); concurrent callers share one
// request; a request that takes longer than 5 s, or fails, falls back to STUN only (the
// last STUN servers we were given, or none: an SFU with a public address is reachable
// from most networks without STUN or TURN), and is not cached, so the next call tries
// again.

export const CACHE_MS = 6 * 60 * 60 * 1000;
export const TIMEOUT_MS = 5_000;

export class IceConfigCache {
  /**
   * @param {{fetch?: typeof fetch, now?: () => number, url?: string,
   *          cacheMs?: number, timeoutMs?: number}} options (injectable for tests)
   */
  constructor(options = {}) {
    this.fetch = options.fetch ?? ((...args) => window.fetch(...args));
    this.now = options.now ?? (() => Date.now());
    this.url = options.url ?? "/api/ice";
    this.cacheMs = options.cacheMs ?? CACHE_MS;
    this.timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
    this.cached = null; // {config, expiresAt}
    this.inFlight = null;
    this.stunServers = [];
    /** How many requests were actually sent (diagnostics and tests). */
    this.requests = 0;
  }

  /** @returns {Promise<RTCConfiguration>} never rejects: falls back to STUN only. */
  async get() {
    if (this.cached && this.now() < this.cached.expiresAt) return this.cached.config;
    if (!this.inFlight) {
      this.inFlight = this.#load().finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  /** Forget the cached configuration (e.g. after TURN refused its credential). */
  invalidate() {
    this.cached = null;
  }

  async #load() {
    this.requests += 1;
    const controller = new AbortController();
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`${this.url} timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    try {
      const request = (async () => {
        const response = await this.fetch(this.url, {
          cache: "no-store",
          credentials: "same-origin",
          signal: controller.signal,
        });
        if (!response.ok) throw new Error(`${this.url} answered ${response.status}`);
        return response.json();
      })();
      const config = await Promise.race([request, timeout]);
      if (!config || !Array.isArray(config.iceServers)) {
        throw new Error(`${this.url} returned no iceServers`);
      }
      const ttlMs = Number.isFinite(config.ttl) ? (config.ttl * 1000) / 2 : this.cacheMs;
      this.cached = { config, expiresAt: this.now() + Math.min(this.cacheMs, ttlMs) };
      this.stunServers = config.iceServers.filter((server) => !server.username);
      return config;
    } catch (error) {
      console.warn("duet: using STUN only:", error.message);
      return { iceServers: this.stunServers, iceTransportPolicy: "all" };
    } finally {
      clearTimeout(timer);
    }
  }
}
