/**
 * `river listen --all` / `river listen 'chat-*'`: the tap (docs/protocol.md#11-the-tap-watching-without-subscribing). One session
 * over `/v1/tap` with the API key in its first frame: every message of the matching channels is
 * printed as one JSON line (like `listen CHANNEL`), presence joins and leaves go to stderr, and
 * nothing is subscribed, so presence channels get no extra member. A tap is live only: a message
 * published while it reconnects is not printed (use `listen CHANNEL` for recovery).
 */
import type { IO } from '../io.js';
import type { Target } from '../target.js';
import { type Outcome, printPresence, runSession } from './listen-socket.js';

/** Whether these `listen` arguments ask for the tap: a pattern (`*`) among them. */
export function isTapRequest(channels: string[]): boolean {
  return channels.some((c) => c.includes('*'));
}

/** The tap's URL beside the node's WebSocket URL (`…/v1/ws` → `…/v1/tap`). */
export function tapUrl(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.pathname = `${u.pathname.replace(/\/v1\/ws$/, '')}/v1/tap`;
  return u.toString();
}

export function tapSession(io: IO, target: Target, key: string, patterns: string[], signal: AbortSignal): Promise<Outcome> {
  let refusal: string | undefined;
  return runSession(tapUrl(target.wsUrl), signal, {
    hello: { type: 'tap', key, channels: patterns },
    frame(frame, channel, session) {
      switch (frame.type) {
        case 'tapping':
          session.ready();
          io.info(`tapping ${patterns.join(', ')} (watching without subscribing)`);
          break;
        case 'message':
          io.out(JSON.stringify({ channel, event: frame.event, data: frame.data, offset: frame.offset, ts: frame.ts }));
          break;
        case 'presence':
          printPresence(io, frame, channel);
          break;
        case 'error':
          refusal = `${String(frame.code)}: ${String(frame.message)}`;
          break;
        default:
          break;
      }
    },
    closed: (code, reason) => (code === 4500 || code === 4502 ? { kind: 'refused', reason: refusal ?? reason } : undefined),
  });
}
