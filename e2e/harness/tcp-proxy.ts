/**
 * A TCP proxy (node:net) in front of River, so a test can cut the network between browsers and River
 * and restore it. `sever('reset')` destroys every connection and refuses new ones at once (like a
 * rebooted router); `sever('blackhole')` keeps sockets open but drops all bytes, so nothing closes and
 * only the client's liveness check notices (like a dead Wi-Fi). `restore()` forwards again; sockets
 * held during a blackhole are destroyed then (their bytes are gone).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type SeverMode = 'reset' | 'blackhole';

export interface TcpProxy {
  readonly port: number;
  /** Connections currently forwarded. */
  readonly open: number;
  /** Connections accepted since start. */
  readonly accepted: number;
  sever(mode?: SeverMode): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const held = new Set<Socket>();
  let mode: SeverMode | undefined;
  let accepted = 0;

  const server: Server = createServer((client) => {
    accepted++;
    client.on('error', () => {});
    if (mode === 'reset') return void client.destroy();
    if (mode === 'blackhole') {
      held.add(client);
      client.on('data', () => {}); // swallow
      client.on('close', () => held.delete(client));
      return;
    }
    const upstream = createConnection({ port: targetPort, host: targetHost });
    upstream.on('error', () => {});
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (d) => {
        if (!mode && !to.destroyed) to.write(d);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      pairs.delete(pair);
      if (mode === 'blackhole') return; // a dead network delivers no FIN either
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    port,
    get open() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    sever(m: SeverMode = 'reset') {
      mode = m;
      if (m === 'reset') {
        for (const [a, b] of pairs) {
          a.resetAndDestroy();
          b.destroy();
        }
        pairs.clear();
      }
    },
    restore() {
      mode = undefined;
      for (const s of held) s.destroy();
      held.clear();
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      for (const s of held) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
