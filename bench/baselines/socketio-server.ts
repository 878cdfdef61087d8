/**
 * The original River's engine, doing River's job: Socket.IO 4 over the WebSocket transport only,
 * clients authenticate with an HS256 JWT in the connect packet's auth, join a room (the channel) by
 * an acknowledged `join` event, and an HTTP endpoint with River's API shape emits to the room.
 * Joining a `presence-` room announces the member to the others and acks with the member list.
 *
 *   node --import tsx bench/baselines/socketio-server.ts --port 5003 --key KEY --secret SECRET
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Server } from 'socket.io';
import { verifyToken } from '../src/jwt.js';
import { publishApi } from './publish-api.js';

const { values } = parseArgs({
  options: { port: { type: 'string' }, key: { type: 'string' }, secret: { type: 'string' }, host: { type: 'string' } },
});
const secret = values.secret ?? '';

interface PublishBody {
  channel?: string;
  event?: string;
  data?: unknown;
}

const api = publishApi<PublishBody & { messages?: PublishBody[] }>(values.key!, (url, body) => {
  for (const m of url === '/v1/batch' ? (body.messages ?? []) : [body]) io.to(m.channel ?? '').emit(m.event ?? 'm', m.data);
  return true;
});
const httpServer = http.createServer((req, res) => {
  if (req.url?.startsWith('/socket.io/')) return; // Socket.IO answers these
  api(req, res);
});

const io = new Server(httpServer, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, httpCompression: false });

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  const claims = typeof token === 'string' ? verifyToken(secret, token) : undefined;
  if (!claims || typeof claims.sub !== 'string') return next(new Error('unauthorized'));
  (socket.data as { userId: string }).userId = claims.sub;
  next();
});

io.on('connection', (socket) => {
  socket.on('join', (room: unknown, ack?: (r: unknown) => void) => {
    if (typeof room !== 'string') return;
    void socket.join(room);
    const userId = (socket.data as { userId: string }).userId;
    if (room.startsWith('presence-')) {
      socket.to(room).emit('presence', { channel: room, action: 'join', member: { userId, info: {} } });
      const members: { userId: string; info: object }[] = [];
      for (const id of io.sockets.adapter.rooms.get(room) ?? []) {
        const s = io.sockets.sockets.get(id);
        if (s) members.push({ userId: (s.data as { userId: string }).userId, info: {} });
      }
      ack?.({ members });
    } else {
      ack?.({ ok: true });
    }
  });
});

httpServer.listen(Number(values.port), values.host ?? '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
