/**
 * Reconnect delays: exponential backoff with full jitter (a pure function; the caller owns the
 * randomness). The one implementation of the `backoff` reconnect policy (docs/protocol.md#7-codes),
 * used by @river/client and `river listen`.
 */
export interface BackoffOptions {
  /** Shortest delay, and the jitter range of the first retry (doubled per attempt). Default 500 ms. */
  minMs: number;
  /** Longest delay. Default 30 s. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 500, maxMs: 30_000 };

/**
 * The delay before retry number `attempt` (0 for the first retry): `minMs` plus a uniform random
 * part in [0, min(maxMs, minMs × 2^attempt)), never more than `maxMs` — full jitter over an
 * exponentially growing range, as centrifuge-js does, so delays stay within 0.5 s … 30 s and a crowd
 * of clients that lost the same node spreads out instead of reconnecting in waves.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const range = Math.min(options.maxMs, options.minMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.min(options.maxMs, options.minMs + Math.floor(random() * range));
}
