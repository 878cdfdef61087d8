/**
 * The reconnect backoff: @river/protocol's one rule (docs/protocol.md#7-codes), re-exported with its
 * types spelled out here, so that the client's published declarations need no @river/protocol (the
 * client ships with no dependency; its JavaScript bundles what it uses).
 */
import { backoffDelay as protocolBackoffDelay, DEFAULT_BACKOFF as PROTOCOL_DEFAULT_BACKOFF } from '@river/protocol';

export interface BackoffOptions {
  /** Shortest delay, and the jitter range of the first retry (doubled per attempt). Default 500 ms. */
  minMs: number;
  /** Longest delay. Default 30 s. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = PROTOCOL_DEFAULT_BACKOFF;

/** The delay before retry number `attempt` (0 for the first): minMs plus full jitter, at most maxMs. */
export function backoffDelay(attempt: number, random: () => number = Math.random, options: BackoffOptions = DEFAULT_BACKOFF): number {
  return protocolBackoffDelay(attempt, random, options);
}
