/**
 * The WebSocket plumbing of one `river listen` session, shared by a subscription (`/v1/ws`) and the
 * tap (`/v1/tap`): the first frame, Ctrl+C, a refused upgrade, and what the end of the socket means
 * (`Outcome`). What the frames say is the caller's `SessionHandler`.
 */
import WebSocket from 'ws';
import type { IO } from '../io.js';

export type Outcome =
  | { kind: 'aborted' }
  | { kind: 'refused'; reason: string }
  | { kind: 'closed'; code: number; reason: string; wasReady: boolean }
  | { kind: 'failed'; err: Error; wasReady: boolean; status?: number };

export interface Session {
  /** Writes a frame while the socket is open. */
  send(frame: object): void;
  /** The node accepted the session: a later failure reconnects instead of ending the command. */
  ready(): void;
  /** Ends the session as refused (every subscription was), closing the socket. */
  refuse(reason: string): void;
}

export interface SessionHandler {
  /** The frame sent once the socket opens (auth, or tap with the API key). */
  hello: object;
  /** One JSON text frame from the node; `channel` is its `channel` field or ''. */
  frame(frame: Record<string, unknown>, channel: string, session: Session): void;
  /** What a close that is not a failure means, when it is not just `closed`. */
  closed?(code: number, reason: string): Outcome | undefined;
}

export function runSession(url: string, signal: AbortSignal, handler: SessionHandler): Promise<Outcome> {
  return new Promise((resolve) => {
    let wasReady = false;
    let failure: { err: Error; status?: number } | undefined;
    let done = false;
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const ws = new WebSocket(url, { handshakeTimeout: 10_000, perMessageDeflate: false });
    const session: Session = {
      send: (frame) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(frame)),
      ready: () => {
        wasReady = true;
      },
      refuse: (reason) => {
        finish({ kind: 'refused', reason });
        ws.close(1000, 'bye');
      },
    };
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
    ws.on('open', () => session.send(handler.hello));
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return;
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(raw.toString()) as Record<string, unknown>;
      } catch {
        return;
      }
      handler.frame(frame, typeof frame.channel === 'string' ? frame.channel : '', session);
    });
    ws.on('error', (err) => {
      failure ??= { err };
    });
    ws.on('close', (code, reason) => {
      if (failure || code === 1006) {
        const f = failure ?? { err: new Error('connection dropped (1006)') };
        finish({ kind: 'failed', wasReady, ...f });
      } else finish(handler.closed?.(code, reason.toString()) ?? { kind: 'closed', code, reason: reason.toString(), wasReady });
    });
  });
}

/** A `presence` frame as one status line on stderr: `CHANNEL: USER joined` (or left). */
export function printPresence(io: IO, frame: Record<string, unknown>, channel: string): void {
  const member = frame.member as { userId?: string } | undefined;
  io.info(`${channel}: ${member?.userId ?? '?'} ${frame.action === 'join' ? 'joined' : 'left'}`);
}
