/**
 * A bare `ws` server doing River's minimum: first-frame JWT auth (HS256, checked with node:crypto),
 * `ready`, `subscribe` → `subscribed`, and an HTTP publish endpoint that builds each message's
 * WebSocket frame once (`WebSocket.Sender.frame`) and writes the same bytes to every subscriber's
 * socket. No heartbeat, limits, history or recovery: the "bare ws" line of FACTS.md.
 *
 *   node --import tsx bench/baselines/ws-server.ts --port 5004 --key KEY --secret SECRET
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import * as wsModule from 'ws';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { verifyToken } from '../src/jwt.js';
import { publishApi } from './publish-api.js';

const { values } = parseArgs({
  options: { port: { type: 'string' }, key: { type: 'string' }, secret: { type: 'string' }, host: { type: 'string' } },
});
const secret = values.secret ?? '';
const channels = new Map<string, Set<WebSocket>>();
const socketOf = (ws: WebSocket) => (ws as unknown as { _socket: Duplex })._socket;

/** ws's own frame builder (not in @types/ws). */
const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, opts: Record<string, unknown>): Buffer[] } }).Sender;

function frame(text: string): Buffer {
  const parts = Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false });
  return Buffer.concat(parts);
}

interface Body {
  channel?: string;
  event?: string;
  data?: unknown;
  messages?: Body[];
}

let offset = 0;
const server = http.createServer(
  publishApi<Body>(values.key!, (url, body) => {
    for (const m of url === '/v1/batch' ? (body.messages ?? []) : [body]) {
      const ch = m.channel ?? '';
      const f = frame(
        `{"type":"message","channel":${JSON.stringify(ch)},"event":${JSON.stringify(m.event)},"data":${JSON.stringify(m.data)},"offset":${++offset},"ts":${Date.now()}}`,
      );
      for (const ws of channels.get(ch) ?? []) socketOf(ws).write(f);
    }
    return true;
  }),
);

const wss = new WebSocketServer({ server, path: '/v1/ws', perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  let authed = false;
  const subs = new Set<string>();
  ws.on('message', (data: RawData) => {
    let f: { type?: string; token?: string; channel?: string };
    try {
      f = JSON.parse(String(data)) as typeof f;
    } catch {
      return ws.close(4502);
    }
    if (!authed) {
      const claims = f.type === 'auth' && typeof f.token === 'string' ? verifyToken(secret, f.token) : undefined;
      if (!claims) return ws.close(4500);
      authed = true;
      return ws.send(`{"type":"ready","connectionId":"c","userId":${JSON.stringify(claims.sub)},"heartbeatMs":25000}`);
    }
    if (f.type === 'subscribe' && typeof f.channel === 'string') {
      const set = channels.get(f.channel) ?? new Set();
      channels.set(f.channel, set);
      set.add(ws);
      subs.add(f.channel);
      ws.send(`{"type":"subscribed","channel":${JSON.stringify(f.channel)},"epoch":"e","offset":${offset}}`);
    } else if (f.type === 'ping') {
      ws.send('{"type":"pong"}');
    }
  });
  ws.on('close', () => {
    for (const c of subs) channels.get(c)?.delete(ws);
  });
  ws.on('error', () => ws.terminate());
});

server.listen(Number(values.port), values.host ?? '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
