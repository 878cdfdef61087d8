/**
 * River's wire codes, in one table each (docs/protocol.md#7-codes).
 * docs/protocol.md is checked against these tables by codes.test.ts.
 */

/** What a client should do after a close with a given code. */
export type ReconnectPolicy =
  /** reconnect at once (node draining) */
  | 'immediate'
  /** reconnect at once with a fresh token */
  | 'refresh'
  /** reconnect with exponential backoff and full jitter */
  | 'backoff'
  /** do not reconnect until the app acts */
  | 'stop';

export const CLOSE_CODES = {
  server_restarting: 4000,
  auth_timeout: 4001,
  token_expired: 4002,
  slow_consumer: 4003,
  heartbeat_timeout: 4004,
  rate_limited: 4008,
  token_invalid: 4500,
  protocol_error: 4502,
  user_disconnected: 4503,
  message_too_big: 1009,
} as const;

export type CloseName = keyof typeof CLOSE_CODES;
export type CloseCode = (typeof CLOSE_CODES)[CloseName];

const CLOSE_NAMES: ReadonlyMap<number, CloseName> = new Map(
  (Object.entries(CLOSE_CODES) as [CloseName, number][]).map(([name, code]) => [code, name]),
);

/** The name of a River close code, or undefined for codes outside the table. */
export function closeName(code: number): CloseName | undefined {
  return CLOSE_NAMES.get(code);
}

/**
 * 4000–4499 reconnect (4000 at once, 4002 at once with a fresh token, others with backoff);
 * 4500–4999 stop until the app acts. Anything else (1006 network drop, 1001, 1009, 1011 …) backs off.
 */
export function reconnectPolicy(code: number): ReconnectPolicy {
  if (code === CLOSE_CODES.server_restarting) return 'immediate';
  if (code === CLOSE_CODES.token_expired) return 'refresh';
  if (code >= 4500 && code <= 4999) return 'stop';
  return 'backoff';
}

/** Codes carried by `error` frames and by the HTTP API's `{"error":{"code","message"}}` bodies. */
export const ERROR_CODES = [
  'bad_request',
  'bad_channel',
  'forbidden',
  'too_large',
  'too_many_subscriptions',
  'not_subscribed',
  'token_invalid',
  'unavailable',
  'internal',
  // HTTP API only
  'unauthorized',
  'not_found',
  'rate_limited',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** HTTP status for each error code when it is returned by the HTTP API. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  bad_channel: 400,
  forbidden: 403,
  too_large: 413,
  too_many_subscriptions: 400,
  not_subscribed: 400,
  token_invalid: 401,
  unavailable: 503,
  internal: 500,
  unauthorized: 401,
  not_found: 404,
  rate_limited: 429,
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
