/**
 * The tap (docs/protocol.md#11-the-tap-watching-without-subscribing): an admin WebSocket at `/v1/tap` that receives the frames of
 * every channel, or of the channels matching patterns, without subscribing: no presence entry, no
 * subscriber count, no history read. `river listen --all` / `river listen 'chat-*'` and the
 * console's live tail use it.
 *
 * Wire: the first frame is `{"type":"tap","key":"<API key>","channels":["chat-*"]}` (`channels`
 * defaults to `["*"]`; `key` may be left out when the console is open, under `river dev`); the
 * answer is `{"type":"tapping","channels":[…]}`, then every `message` and `presence` frame of a
 * matching channel, as its subscribers get it. A wrong key: an `error` frame `token_invalid`, then
 * close 4500. A tap whose outgoing buffer passes `maxBufferedBytes` is closed 4003.
 *
 * Cost: while no tap is open the bus has no tap handler (engines check one null field per message).
 * While one is open, the node receives every publish of the cluster once more (Redis: one
 * PSUBSCRIBE on this node only) and matches each channel against the open taps' patterns.
 */
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { CLOSE_CODES, isValidChannel, matchAny } from '@river/protocol';
import type { Bus, BusMessage, TapHandler } from '../engines/bus.js';

export const TAP_PATH = '/v1/tap';
const MAX_PATTERNS = 100;

export interface TapDeps {
  bus: Bus;
  logger: Logger;
  /** Whether the first frame's `key` (undefined when absent) may open a tap, given the upgrade's Origin and Host headers. */
  authorize: (key: string | undefined, upgrade: { origin?: string | undefined; host?: string | undefined }) => boolean;
  maxBufferedBytes: number;
  authTimeoutMs: number;
  /** Where the node feeds its own channels' messages when the bus cannot tap the cluster (Redis Cluster). */
  setLocalTap: (handler: TapHandler | null) => void;
}

interface TapClient {
  ws: WebSocket;
  patterns: string[];
}

function patternOk(p: unknown): p is string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 200) return false;
  const rest = p.replaceAll('*', '');
  return rest === '' || isValidChannel(rest);
}

export class Tap {
  private readonly clients = new Set<TapClient>();
  private busTap = false;
  private readonly handler: TapHandler = (msg) => this.deliver(msg);

  constructor(private readonly deps: TapDeps) {}

  /** How many taps are open on this node. */
  get size(): number {
    return this.clients.size;
  }

  /** Takes over a WebSocket upgraded on `/v1/tap`, with the upgrade request's Origin and Host headers. */
  accept(ws: WebSocket, origin?: string, host?: string): void {
    const upgrade = { origin, host };
    const timer = setTimeout(() => ws.close(CLOSE_CODES.auth_timeout, 'auth_timeout'), this.deps.authTimeoutMs);
    timer.unref();
    ws.on('error', () => ws.terminate());
    ws.once('message', (data: RawData, isBinary: boolean) => {
      clearTimeout(timer);
      void this.open(ws, data, isBinary, upgrade);
    });
    ws.once('close', () => clearTimeout(timer));
  }

  /** Closes every tap (node shutdown). */
  closeAll(): void {
    for (const c of [...this.clients]) c.ws.terminate();
  }

  private async open(
    ws: WebSocket,
    data: RawData,
    isBinary: boolean,
    upgrade: { origin?: string | undefined; host?: string | undefined },
  ): Promise<void> {
    let frame: { type?: unknown; key?: unknown; channels?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      const parsed: unknown = JSON.parse(data.toString());
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      frame = parsed as typeof frame;
    } catch {
      ws.close(CLOSE_CODES.protocol_error, 'protocol_error');
      return;
    }
    const key = typeof frame.key === 'string' ? frame.key : undefined;
    if (frame.type !== 'tap' || !this.deps.authorize(key, upgrade)) {
      this.deps.logger.debug(
        { reason: frame.type !== 'tap' ? 'first frame not tap' : key === undefined ? 'no API key' : 'wrong API key' },
        'tap refused',
      );
      ws.send(JSON.stringify({ type: 'error', code: 'token_invalid', message: 'the tap needs the API key: {"type":"tap","key":"…"}' }));
      ws.close(CLOSE_CODES.token_invalid, 'token_invalid');
      return;
    }
    const channels = frame.channels === undefined ? ['*'] : frame.channels;
    if (!Array.isArray(channels) || channels.length === 0 || channels.length > MAX_PATTERNS || !channels.every(patternOk)) {
      ws.send(
        JSON.stringify({
          type: 'error',
          code: 'bad_channel',
          message: `"channels" must be 1 to ${MAX_PATTERNS} channel names or patterns`,
        }),
      );
      ws.close(CLOSE_CODES.protocol_error, 'protocol_error');
      return;
    }
    const client: TapClient = { ws, patterns: channels };
    this.clients.add(client);
    ws.on('close', () => this.remove(client));
    // Frames after the first are ignored (a tap only listens); a WebSocket ping is answered by ws.
    this.deps.logger.debug({ channels }, 'tap opened');
    if (this.clients.size === 1) await this.startBusTap();
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'tapping', channels }));
  }

  private remove(client: TapClient): void {
    if (!this.clients.delete(client)) return;
    this.deps.logger.debug({ channels: client.patterns }, 'tap closed');
    if (this.clients.size === 0) void this.stopBusTap();
  }

  private async startBusTap(): Promise<void> {
    if (this.deps.bus.setTap === undefined) {
      this.deps.setLocalTap(this.handler);
      return;
    }
    try {
      await this.deps.bus.setTap(this.handler);
      this.busTap = true;
      // Every tap closed while the bus was being set up: undo it.
      if (this.clients.size === 0) await this.stopBusTap();
    } catch (err) {
      // Redis Cluster: no cluster-wide tap; the channels this node serves are still seen.
      this.deps.logger.warn({ err }, 'cluster-wide tap unavailable; tapping the channels this node serves');
      this.deps.setLocalTap(this.handler);
    }
  }

  private async stopBusTap(): Promise<void> {
    this.deps.setLocalTap(null);
    if (!this.busTap) return;
    this.busTap = false;
    await this.deps.bus.setTap?.(null).catch((err: unknown) => this.deps.logger.warn({ err }, 'tap stop failed'));
  }

  private deliver(msg: BusMessage): void {
    for (const c of this.clients) {
      if (!matchAny(c.patterns, msg.channel)) continue;
      if (c.ws.bufferedAmount > this.deps.maxBufferedBytes) {
        c.ws.close(CLOSE_CODES.slow_consumer, 'slow_consumer');
        continue;
      }
      c.ws.send(msg.frame);
    }
  }
}
