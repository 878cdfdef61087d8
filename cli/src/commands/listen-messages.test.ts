/** What `river listen` says when a scripted node closes the connection: the reason once, and the backoff docs/cli.md states. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { testContext, tempProject, waitFor } from '../test-context.js';

const env = { RIVER_JWT_SECRET: 'listen-messages-secret-0123456789abcdefghij' };
let wss: WebSocketServer;
let url: string;
let project: { dir: string; cleanup: () => Promise<void> };
/** How the scripted node closes each connection once it has sent `ready`. */
let closeWith: { code: number; reason: string };

beforeEach(async () => {
  project = await tempProject();
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) =>
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as { type: string };
      if (f.type !== 'auth') return;
      ws.send(JSON.stringify({ type: 'ready', connectionId: 'c1', userId: 'cli-listener', heartbeatMs: 25000 }));
      setTimeout(() => ws.close(closeWith.code, closeWith.reason), 20);
    }),
  );
  await new Promise((r) => wss.once('listening', r));
  url = `http://127.0.0.1:${(wss.address() as { port: number }).port}`;
});
afterEach(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise((r) => wss.close(r));
  await project.cleanup();
});

describe('river listen close messages', () => {
  it('a reason that only repeats the code name is not printed twice', async () => {
    closeWith = { code: 4503, reason: 'user_disconnected' };
    const t = testContext({ cwd: project.dir, env });
    expect(await t.run(['listen', 'dogs', '--url', url])).toBe(1);
    expect(t.io.stderr).toContain('error: the node closed the connection (4503 user_disconnected)');
  });

  it('a reason that says more is kept', async () => {
    closeWith = { code: 4502, reason: 'binary frames are not accepted' };
    const t = testContext({ cwd: project.dir, env });
    expect(await t.run(['listen', 'dogs', '--url', url])).toBe(1);
    expect(t.io.stderr).toContain('error: the node closed the connection (4502 protocol_error: binary frames are not accepted)');
  });

  it('a close that backs off says so in the terms of docs/cli.md: at least 0.5 s, the range doubling per attempt', async () => {
    closeWith = { code: 4004, reason: 'heartbeat_timeout' };
    const t = testContext({ cwd: project.dir, env });
    const exit = t.run(['listen', 'dogs', '--url', url]);
    const delays = await waitFor(
      () => {
        const d = t.io.stderr.map((l) => /^reconnecting in (\d+\.\d) s…$/.exec(l)?.[1]).filter((x) => x !== undefined);
        return d.length >= 2 && d.map(Number);
      },
      'two reconnects',
      15_000,
    );
    t.abort();
    expect(await exit).toBe(0);
    expect(t.io.stderr).toContain('warning: the node closed the connection (4004 heartbeat_timeout)');
    expect(delays[0]).toBeGreaterThanOrEqual(0.5);
    expect(delays[0]).toBeLessThanOrEqual(1.0);
    expect(delays[1]).toBeGreaterThanOrEqual(0.5);
    expect(delays[1]).toBeLessThanOrEqual(1.5);
  });
});
