import net from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, token, type TestNode } from './test-support.js';

/** Sends a raw HTTP request and returns the status line. */
function rawUpgrade(port: number, headers: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`));
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n')) {
        resolve(got.split('\r\n', 1)[0]!);
        s.destroy();
      }
    });
    s.on('error', reject);
  });
}

describe('the WebSocket layer (RFC 6455, answered by River itself)', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode();
  });
  afterAll(() => t.close());

  it('answers the handshake with 101 and refuses a bad key or version with 400', async () => {
    const ok = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
    expect(await rawUpgrade(t.node.port, ok)).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await rawUpgrade(t.node.port, ok.replace('dGhlIHNhbXBsZSBub25jZQ==', 'short'))).toMatch(/^HTTP\/1.1 400 /);
    expect(await rawUpgrade(t.node.port, ok.replace('Version: 13', 'Version: 12'))).toMatch(/^HTTP\/1.1 400 /);
  });

  it('closes the socket when the client half-closes it without a close frame', async () => {
    const s = net.connect(t.node.port, '127.0.0.1');
    await new Promise((resolve) => s.once('connect', resolve));
    s.write('GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await new Promise((resolve) => s.once('data', resolve));
    const t0 = Date.now();
    const ended = new Promise((resolve) => s.once('end', resolve));
    s.end();
    await ended;
    expect(Date.now() - t0).toBeLessThan(1000); // not the auth timeout's close, 15 s later
  });

  it('echoes the first subprotocol the client offers', async () => {
    const ws = new WebSocket(t.node.urls.ws, ['river.v1', 'other']);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(ws.protocol).toBe('river.v1');
    ws.terminate();
  });

  it('answers WebSocket pings, takes fragmented messages, and echoes the client close code', async () => {
    const c = await t.connect();
    const pong = new Promise<string>((resolve) => c.ws.once('pong', (d) => resolve(d.toString())));
    c.ws.ping('hi');
    expect(await pong).toBe('hi');
    const auth = JSON.stringify({ type: 'auth', token: await token({ sub: 'frag' }) });
    c.ws.send(auth.slice(0, 10), { fin: false });
    c.ws.send(auth.slice(10), { fin: true });
    expect(await c.next('ready')).toMatchObject({ userId: 'frag' });
    c.ws.close(4100, 'bye');
    expect(await c.waitClose()).toEqual({ code: 4100, reason: 'bye' });
  });

  it('closes 1007 for a text frame that is not UTF-8', async () => {
    const c = await t.client();
    c.ws.send(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false });
    expect((await c.waitClose()).code).toBe(1007);
  });
});
