/** Reconnect delays: exponential backoff with full jitter (a pure function; the caller owns the randomness). */
export interface BackoffOptions {
  /** Cap of the first retry's delay, doubled per attempt. Default 500 ms. */
  minMs: number;
  /** Largest delay. Default 30 s. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 500, maxMs: 30_000 };

/**
 * The delay before retry number `attempt` (0 for the first retry): a uniform random value in
 * [0, min(maxMs, minMs × 2^attempt)) — "full jitter", so a crowd of clients that lost the same node
 * spreads out instead of reconnecting in waves.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const cap = Math.min(options.maxMs, options.minMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * cap);
}
