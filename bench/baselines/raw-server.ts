/**
 * The floor: a plain `net` server that writes one pre-built 100-byte record per message to each
 * socket of a channel (a client's first line names it). No framing, no auth, no per-socket state
 * beyond the socket. `coalesce` (on
 * /v1/batch) groups k records into one write per socket, to show what a write system call costs.
 *
 *   node --import tsx bench/baselines/raw-server.ts --port 5001 --http-port 5002 --key KEY
 *
 * Same HTTP shape as River's API: POST /v1/publish {data: {t}}, POST /v1/batch {messages: [...], coalesce?}.
 */
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { publishApi } from './publish-api.js';

const RECORD = 100;
const { values } = parseArgs({
  options: { port: { type: 'string' }, 'http-port': { type: 'string' }, key: { type: 'string' }, host: { type: 'string' } },
});
const host = values.host ?? '127.0.0.1';
/** Sockets by channel: a client's first line names its channel. */
const channels = new Map<string, Set<net.Socket>>();

function record(kind: 'M' | 'R', t: number): Buffer {
  const b = Buffer.alloc(RECORD, 0x20);
  b.write(kind, 0, 'latin1');
  b.write(String(t), 1, 'latin1');
  b[RECORD - 1] = 0x0a;
  return b;
}

const server = net.createServer((s) => {
  s.setNoDelay(true);
  let line = '';
  let set: Set<net.Socket> | undefined;
  s.on('data', (c: Buffer) => {
    if (set) return;
    line += c.toString('latin1');
    const nl = line.indexOf('\n');
    if (nl < 0) return;
    const name = line.slice(0, nl);
    set = channels.get(name) ?? new Set();
    channels.set(name, set);
    set.add(s);
    s.write(record('R', 0));
  });
  s.on('close', () => set?.delete(s));
  s.on('error', () => s.destroy());
});

function fanout(channel: string | undefined, buf: Buffer): void {
  for (const s of channels.get(channel ?? '') ?? []) s.write(buf);
}

interface Body {
  channel?: string;
  data?: { t?: number };
  messages?: { channel?: string; data?: { t?: number } }[];
  coalesce?: number;
}

const api = http.createServer(
  publishApi<Body>(values.key!, (url, body) => {
    if (url === '/v1/publish') {
      fanout(body.channel, record('M', body.data?.t ?? 0));
    } else if (url === '/v1/batch') {
      const recs = (body.messages ?? []).map((m) => record('M', m.data?.t ?? 0));
      const k = Math.max(1, body.coalesce ?? 1);
      const channel = body.messages?.[0]?.channel;
      for (let i = 0; i < recs.length; i += k) fanout(channel, k === 1 ? recs[i]! : Buffer.concat(recs.slice(i, i + k)));
    } else {
      return false;
    }
    return true;
  }),
);

server.listen(Number(values.port), host);
api.listen(Number(values['http-port']), host);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
