/**
 * The client's connection state machine, written down in one place.
 *
 *   state          on `connect`     on `ready`     on `lost`        on `stop`
 *   disconnected   connecting       -              -                -
 *   connecting     -                connected      reconnecting     disconnected
 *   connected      -                -              reconnecting     disconnected
 *   reconnecting   -                connected      reconnecting     disconnected
 *
 * `connect`: the app called `connect()` (or `new River()` did). `ready`: the server answered `auth`
 * with `ready`. `lost`: the socket closed or went silent and the client will retry (see `afterClose`).
 * `stop`: the app called `close()`, or the server closed with a 45xx code (after the one retry with a
 * fresh token on 4500). Every change is reported as `state` `{ from, to, reason }`.
 */
import { CLOSE_CODES, closeName, reconnectPolicy } from '@river/protocol';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';
export type ConnectionEvent = 'connect' | 'ready' | 'lost' | 'stop';

export const TRANSITIONS: Readonly<Record<ConnectionState, Partial<Record<ConnectionEvent, ConnectionState>>>> = {
  disconnected: { connect: 'connecting' },
  connecting: { ready: 'connected', lost: 'reconnecting', stop: 'disconnected' },
  connected: { lost: 'reconnecting', stop: 'disconnected' },
  reconnecting: { ready: 'connected', lost: 'reconnecting', stop: 'disconnected' },
};

/** The state after `event`, or undefined when the event does not apply in `state` (ignored). */
export function nextState(state: ConnectionState, event: ConnectionEvent): ConnectionState | undefined {
  return TRANSITIONS[state][event];
}

/** What to do after the socket closed with `code`. */
export type CloseAction =
  /** reconnect after `delay` ('now' or 'backoff'), fetching a fresh token first when `fresh` */
  | { action: 'reconnect'; delay: 'now' | 'backoff'; fresh: boolean; reason: string }
  /** go to `disconnected` and wait for the app */
  | { action: 'stop'; reason: string };

export interface CloseContext {
  /** The closed connection had reached `ready` (immediate reconnects only follow a healthy connection). */
  wasReady: boolean;
  /** The token is a function, so a fresh one can be fetched. */
  canRefresh: boolean;
  /** A fresh-token retry after 4500 was already made since the last `ready`. */
  retriedToken: boolean;
  /** A 4002 closed a connection since the last `ready` (or `connect()`): another one backs off. */
  retriedExpired: boolean;
}

/**
 * The close-code policy of docs/protocol.md#7-codes: 4000 reconnects at once; 4002 at once with a fresh
 * token; 4500 (token_invalid) once more with a fresh token, then stops; other 45xx stop (4503 means the
 * app's backend disconnected this user, which a retry would undo); anything else backs off.
 * A server that keeps refusing can never cause a tight loop: 4000 reconnects at once only after a
 * connection that had reached `ready`, and 4002 only once until the next `ready` (the server closes
 * 4002 at `auth` too when the token has already expired, so a token endpoint or clock that keeps
 * handing out expired tokens gets a 4002 again before `ready`: that one backs off, still with a
 * fresh token).
 */
export function afterClose(code: number, ctx: CloseContext): CloseAction {
  const reason = closeName(code) ?? (code === 1000 ? 'closed_by_server' : 'network');
  const policy = reconnectPolicy(code);
  if (policy === 'stop') {
    if (code === CLOSE_CODES.token_invalid && ctx.canRefresh && !ctx.retriedToken) {
      return { action: 'reconnect', delay: 'now', fresh: true, reason };
    }
    return { action: 'stop', reason };
  }
  const now = policy === 'refresh' ? !ctx.retriedExpired : policy === 'immediate' && ctx.wasReady;
  return { action: 'reconnect', delay: now ? 'now' : 'backoff', fresh: policy === 'refresh', reason };
}
