/**
 * One lean load-generator connection: a raw TCP (or TLS) socket that does the WebSocket upgrade by
 * hand, speaks just enough of River protocol v1 (auth → subscribe), of Engine.IO/Socket.IO v4 over
 * the WebSocket transport (open → connect with auth → join with ack), or of the raw floor server's
 * 100-byte records, and then only counts messages and latency-stamps them. A full client library costs
 * as much CPU per message as the server (FACTS.md), which would measure the generator, not the server.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Histogram, nowMs } from './stats.js';
import {
  FrameReader,
  OP_CLOSE,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  encodeClientFrame,
  encodeClientText,
  findStamp,
  readNumber,
} from './ws-frame.js';

export type TargetKind = 'river' | 'socketio' | 'raw';

export interface ConnectSpec {
  kind: TargetKind;
  host: string;
  port: number;
  tls?: boolean;
  /** River's WebSocket path (default /v1/ws). */
  path?: string;
  channel: string;
  /** River: the client JWT; Socket.IO: sent as the connect packet's auth token. */
  token: string;
  localAddress?: string;
  timeoutMs: number;
}

/** Worker-wide counters every connection adds to. */
export class Counters {
  messages = 0;
  presence = 0;
  other = 0;
  open = 0;
  dropped = 0;
  errors = 0;
  lastError = '';
  closes: Record<string, number> = {};
  readonly hist = new Histogram();

  reset(): void {
    this.messages = 0;
    this.presence = 0;
    this.other = 0;
    this.dropped = 0;
    this.errors = 0;
    this.lastError = '';
    this.closes = {};
    this.hist.reset();
  }
}

/** Size of one raw-floor record; must match baselines/raw-server.ts. */
export const RAW_RECORD = 100;

const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const TYPE_KEY = Buffer.from('"type":"');
const RIVER_PONG = encodeClientText('{"type":"pong"}');
const SIO_PONG = encodeClientText('3');
const C = (s: string) => s.charCodeAt(0);

type State = 'connecting' | 'upgrading' | 'auth' | 'subscribing' | 'open' | 'closed';

export class LeanConnection {
  private state: State = 'connecting';
  private readonly socket: net.Socket;
  private readonly reader: FrameReader;
  private head = '';
  private rawCarry: Buffer | null = null;
  private chunkNow = NaN;
  private timer: NodeJS.Timeout | undefined;
  private settle: ((err?: Error) => void) | undefined;

  /** Resolves when the connection is authenticated and subscribed (raw: when the server said ready). */
  readonly ready: Promise<void>;

  constructor(
    private readonly spec: ConnectSpec,
    private readonly counters: Counters,
  ) {
    this.reader = new FrameReader((op, buf, start, end) => this.onFrame(op, buf, start, end));
    this.ready = new Promise<void>((resolve, reject) => {
      this.settle = (err) => {
        this.settle = undefined;
        clearTimeout(this.timer);
        if (err) reject(err);
        else resolve();
      };
    });
    this.timer = setTimeout(() => this.fail(new Error(`not subscribed within ${spec.timeoutMs} ms (state ${this.state})`)), spec.timeoutMs);
    const opts = { host: spec.host, port: spec.port, ...(spec.localAddress ? { localAddress: spec.localAddress } : {}) };
    this.socket = spec.tls ? tls.connect({ ...opts, servername: spec.host }) : net.connect(opts);
    this.socket.setNoDelay(true);
    this.socket.on(spec.tls ? 'secureConnect' : 'connect', () => this.onConnect());
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.onClose());
  }

  close(): void {
    this.socket.destroy();
  }

  /** Stops reading (a slow consumer) or starts again. */
  setPaused(paused: boolean): void {
    if (paused) this.socket.pause();
    else this.socket.resume();
  }

  private onConnect(): void {
    if (this.spec.kind === 'raw') {
      this.state = 'auth';
      this.socket.write(`${this.spec.channel}\n`);
      return;
    }
    this.state = 'upgrading';
    const path = this.spec.kind === 'river' ? (this.spec.path ?? '/v1/ws') : '/socket.io/?EIO=4&transport=websocket';
    this.socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${this.spec.host}:${this.spec.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  }

  private onData(chunk: Buffer): void {
    this.chunkNow = NaN;
    if (this.spec.kind === 'raw') return this.onRaw(chunk);
    if (this.state === 'upgrading') {
      this.head += chunk.toString('latin1');
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.head.length > 8192) this.fail(new Error('upgrade response too long'));
        return;
      }
      const status = this.head.slice(0, this.head.indexOf('\r\n'));
      if (!/^HTTP\/1\.1 101 /.test(status)) return this.fail(new Error(`upgrade refused: ${status}`));
      const rest = Buffer.from(this.head.slice(end + 4), 'latin1');
      this.head = '';
      this.state = 'auth';
      if (this.spec.kind === 'river') this.send(JSON.stringify({ type: 'auth', token: this.spec.token }));
      if (rest.length > 0) this.reader.push(rest);
      return;
    }
    this.reader.push(chunk);
  }

  private stamp(buf: Buffer, start: number, end: number): void {
    const t = findStamp(buf, start, end);
    if (!Number.isNaN(t)) {
      if (Number.isNaN(this.chunkNow)) this.chunkNow = nowMs();
      this.counters.hist.record(this.chunkNow - t);
    }
  }

  private onFrame(op: number, buf: Buffer, start: number, end: number): void {
    if (op === OP_TEXT) {
      if (this.spec.kind === 'river') this.onRiver(buf, start, end);
      else this.onSocketIo(buf, start, end);
    } else if (op === OP_PING) {
      this.socket.write(encodeClientFrame(OP_PONG, Buffer.from(buf.subarray(start, end))));
    } else if (op === OP_CLOSE) {
      const code = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
      this.counters.closes[code] = (this.counters.closes[code] ?? 0) + 1;
      if (this.state !== 'open') this.fail(new Error(`closed ${code} ${buf.toString('utf8', start + 2, end)}`));
      this.socket.destroy();
    }
  }

  private onRiver(buf: Buffer, start: number, end: number): void {
    const at = buf.indexOf(TYPE_KEY, start);
    const t0 = at >= 0 && at < end ? buf[at + 8] : 0;
    const t1 = at >= 0 && at < end ? buf[at + 9] : 0;
    if (this.state === 'open') {
      if (t0 === C('m')) {
        this.counters.messages++;
        this.stamp(buf, start, end);
      } else if (t0 === C('p') && t1 === C('r')) {
        this.counters.presence++;
      } else if (t0 === C('p') && t1 === C('i')) {
        this.socket.write(RIVER_PONG);
      } else {
        this.counters.other++;
      }
      return;
    }
    if (t0 === C('r') && this.state === 'auth') {
      this.state = 'subscribing';
      this.send(JSON.stringify({ type: 'subscribe', channel: this.spec.channel }));
    } else if (t0 === C('s') && this.state === 'subscribing') {
      this.opened();
    } else if (t0 === C('e')) {
      this.fail(new Error(`error frame: ${buf.toString('utf8', start, Math.min(end, start + 200))}`));
    } else if (t0 === C('p') && t1 === C('i')) {
      this.socket.write(RIVER_PONG);
    }
  }

  private onSocketIo(buf: Buffer, start: number, end: number): void {
    const c0 = buf[start];
    const c1 = end - start > 1 ? buf[start + 1] : 0;
    if (c0 === C('4') && c1 === C('2')) {
      // 42["m",{...}] or 42["presence",{...}]
      if (buf[start + 4] === C('m')) {
        this.counters.messages++;
        this.stamp(buf, start, end);
      } else if (buf[start + 4] === C('p')) {
        this.counters.presence++;
      } else {
        this.counters.other++;
      }
    } else if (c0 === C('2')) {
      this.socket.write(SIO_PONG);
    } else if (c0 === C('0') && this.state === 'auth') {
      this.send(`40${JSON.stringify({ token: this.spec.token })}`);
    } else if (c0 === C('4') && c1 === C('0') && this.state === 'auth') {
      this.state = 'subscribing';
      this.send(`420${JSON.stringify(['join', this.spec.channel])}`);
    } else if (c0 === C('4') && c1 === C('3') && this.state === 'subscribing') {
      this.opened();
    } else if (c0 === C('4') && c1 === C('4')) {
      this.fail(new Error(`connect_error: ${buf.toString('utf8', start, Math.min(end, start + 200))}`));
    } else {
      this.counters.other++;
    }
  }

  private onRaw(chunk: Buffer): void {
    let buf = chunk;
    if (this.rawCarry !== null) {
      buf = Buffer.concat([this.rawCarry, chunk]);
      this.rawCarry = null;
    }
    let pos = 0;
    while (buf.length - pos >= RAW_RECORD) {
      const kind = buf[pos];
      if (kind === C('M')) {
        this.counters.messages++;
        const t = readNumber(buf, pos + 1, pos + RAW_RECORD);
        if (!Number.isNaN(t)) {
          if (Number.isNaN(this.chunkNow)) this.chunkNow = nowMs();
          this.counters.hist.record(this.chunkNow - t);
        }
      } else if (kind === C('R') && this.state === 'auth') {
        this.opened();
      } else {
        this.counters.other++;
      }
      pos += RAW_RECORD;
    }
    if (pos < buf.length) this.rawCarry = Buffer.from(buf.subarray(pos));
  }

  private send(text: string): void {
    this.socket.write(encodeClientText(text));
  }

  private opened(): void {
    this.state = 'open';
    this.counters.open++;
    this.settle?.();
  }

  private fail(err: Error): void {
    if (this.settle) {
      this.settle(err);
      this.socket.destroy();
    } else if (this.state === 'open') {
      this.counters.errors++;
      this.counters.lastError = err.message;
    }
  }

  private onClose(): void {
    if (this.state === 'open') {
      this.counters.open--;
      this.counters.dropped++;
    }
    this.state = 'closed';
    this.settle?.(new Error('socket closed before subscribed'));
  }
}
