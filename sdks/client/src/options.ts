/** The client's options and the seams tests inject (WebSocket, clock, network events). */
import type { ConnectionState } from './state.js';
import type { TokenSource } from './token.js';

export type { TokenSource, TokenResponse } from './token.js';

/** Timers and time, injectable so tests can drive them. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The part of the browser WebSocket API River uses (`globalThis.WebSocket`, or `ws` in Node). */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Where `online` / `offline` come from (default: `globalThis` when it has `addEventListener`). */
export interface NetworkEvents {
  addEventListener(type: string, fn: () => void): void;
  removeEventListener(type: string, fn: () => void): void;
}

export interface RiverOptions {
  /** The WebSocket endpoint, e.g. `wss://rt.example.com/v1/ws`. */
  url: string;
  /** A JWT, or a function returning one (or the token endpoint's fetch `Response`); called again
   *  before `exp`, on 4002 and once on 4500. A Response that is not ok, or a string that is not a
   *  JWT, is never sent: it is an `error` event (`token_error`) and the client retries with backoff. */
  token: TokenSource;
  /** WebSocket implementation (default `globalThis.WebSocket`; pass `ws`'s export in Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Connect at once (default true; otherwise call `connect()`). */
  autoConnect?: boolean;
  /** Backoff of reconnects: first cap and largest delay (defaults 500 ms and 30 s). */
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Longest wait for the socket to open and `ready` to arrive (default 15 s). */
  timeoutMs?: number;
  /** Longest wait for a client publish to be answered, counted from the `publish()` call, waiting
   *  for a connection included (default 10 s); then it rejects with `timeout`. */
  publishTimeoutMs?: number;
  clock?: Clock;
  random?: () => number;
  network?: NetworkEvents | null;
}

export interface StateChange {
  from: ConnectionState;
  to: ConnectionState;
  /** Why: `connect`, `ready`, a close name (`server_restarting`, `token_invalid` …), `network`,
   *  `heartbeat_timeout`, `timeout`, `offline`, `token_error` or `closed` (the app called close()).
   *  `online` is the one change with `from === to` (`connecting` or `reconnecting`): the network came
   *  back, and the client gave up its wait or attempt in progress to connect at once. */
  reason: string;
  /** The close code, when a close caused the change. */
  code?: number;
}

/** The browser WebSocket API's handler properties, as River sets them. */
export interface Socket extends WebSocketLike {
  onopen: (() => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: (() => void) | null;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

const MS_OPTIONS = ['minReconnectDelayMs', 'maxReconnectDelayMs', 'timeoutMs', 'publishTimeoutMs'] as const;

/**
 * Checks the constructor's options once, throwing a TypeError with one exact sentence naming the
 * option. Delays are capped at 2^31-1 ms, the longest a timer can wait.
 */
export function validateOptions(o: RiverOptions): void {
  const fail = (what: string): never => {
    throw new TypeError(`River: ${what}`);
  };
  if (!o || typeof o !== 'object') fail('options must be an object with url and token');
  let url: URL | undefined;
  try {
    url = new URL(o.url);
  } catch {
    // not a URL
  }
  if (typeof o.url !== 'string' || (url?.protocol !== 'ws:' && url?.protocol !== 'wss:')) fail('options.url must be a ws:// or wss:// URL');
  if (!(typeof o.token === 'function' || (typeof o.token === 'string' && o.token)))
    fail('options.token must be a JWT string or a function returning one');
  for (const k of MS_OPTIONS) {
    const v = o[k];
    if (v !== undefined && !(typeof v === 'number' && v > 0 && v <= 2 ** 31 - 1))
      fail(`options.${k} must be a positive number of milliseconds, at most 2147483647`);
  }
  if (o.minReconnectDelayMs !== undefined && o.maxReconnectDelayMs !== undefined && o.maxReconnectDelayMs < o.minReconnectDelayMs) {
    fail('options.maxReconnectDelayMs must not be less than options.minReconnectDelayMs');
  }
  if (o.WebSocket !== undefined && typeof o.WebSocket !== 'function') fail('options.WebSocket must be a WebSocket constructor');
  if (o.autoConnect !== undefined && typeof o.autoConnect !== 'boolean') fail('options.autoConnect must be true or false');
  if (o.random !== undefined && typeof o.random !== 'function') fail('options.random must be a function returning a number in [0, 1)');
  if (
    o.clock !== undefined &&
    !(
      o.clock &&
      ['now', 'setTimeout', 'clearTimeout'].every((m) => typeof (o.clock as unknown as Record<string, unknown>)[m] === 'function')
    )
  ) {
    fail('options.clock must have now(), setTimeout() and clearTimeout()');
  }
  const net = o.network;
  if (net !== undefined && net !== null && !(typeof net.addEventListener === 'function' && typeof net.removeEventListener === 'function')) {
    fail('options.network must have addEventListener() and removeEventListener(), or be null');
  }
}
