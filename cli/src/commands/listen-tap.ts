/**
 * `river listen --all` / `river listen 'chat-*'`: the tap (docs/protocol.md#11-the-tap-watching-without-subscribing). One session
 * over `/v1/tap` with the API key in its first frame: every message of the matching channels is
 * printed as one JSON line (like `listen CHANNEL`), presence joins and leaves go to stderr, and
 * nothing is subscribed, so presence channels get no extra member. A tap is live only: a message
 * published while it reconnects is not printed (use `listen CHANNEL` for recovery).
 */
import WebSocket from 'ws';
import type { IO } from '../io.js';
import type { Target } from '../target.js';

export type Outcome =
  | { kind: 'aborted' }
  | { kind: 'refused'; reason: string }
  | { kind: 'closed'; code: number; reason: string; wasReady: boolean }
  | { kind: 'failed'; err: Error; wasReady: boolean; status?: number };

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
  return new Promise((resolve) => {
    let wasReady = false;
    let failure: { err: Error; status?: number } | undefined;
    let refusal: string | undefined;
    let done = false;
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const ws = new WebSocket(tapUrl(target.wsUrl), { handshakeTimeout: 10_000, perMessageDeflate: false });
    const onAbort = () => {
      ws.close(1000, 'bye');
      setTimeout(() => ws.terminate(), 1000).unref();
      finish({ kind: 'aborted' });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    ws.on('unexpected-response', (_req, res) => {
      failure = { err: new Error(`unexpected HTTP ${res.statusCode}`), status: res.statusCode ?? 0 };
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'tap', key, channels: patterns })));
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return;
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(raw.toString()) as Record<string, unknown>;
      } catch {
        return;
      }
      const channel = typeof frame.channel === 'string' ? frame.channel : '';
      switch (frame.type) {
        case 'tapping':
          wasReady = true;
          io.info(`tapping ${patterns.join(', ')} (watching without subscribing)`);
          break;
        case 'message':
          io.out(JSON.stringify({ channel, event: frame.event, data: frame.data, offset: frame.offset, ts: frame.ts }));
          break;
        case 'presence': {
          const member = frame.member as { userId?: string } | undefined;
          io.info(`${channel}: ${member?.userId ?? '?'} ${frame.action === 'join' ? 'joined' : 'left'}`);
          break;
        }
        case 'error':
          refusal = `${String(frame.code)}: ${String(frame.message)}`;
          break;
        default:
          break;
      }
    });
    ws.on('error', (err) => {
      failure ??= { err };
    });
    ws.on('close', (code, reason) => {
      if (failure || code === 1006) {
        const f = failure ?? { err: new Error('connection dropped (1006)') };
        finish({ kind: 'failed', wasReady, ...f });
      } else if (code === 4500 || code === 4502) finish({ kind: 'refused', reason: refusal ?? reason.toString() });
      else finish({ kind: 'closed', code, reason: reason.toString(), wasReady });
    });
  });
}
