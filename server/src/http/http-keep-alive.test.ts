/**
 * RIVER_HTTP_KEEP_ALIVE_MS reaches the HTTP server: node:http announces its keepAliveTimeout in the
 * `Keep-Alive: timeout=N` header of every keep-alive answer, which is what a proxy can observe.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../test-support.js';

let t: TestNode | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function keepAliveHeader(url: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/healthz`, { headers: { connection: 'keep-alive' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers['keep-alive'] as string | undefined));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP keep-alive timeout', () => {
  it("is Node's 5 s by default", async () => {
    t = await startTestNode();
    expect(await keepAliveHeader(t.node.urls.http)).toBe('timeout=5');
  });

  it('follows RIVER_HTTP_KEEP_ALIVE_MS (the template sets it above the ALB idle timeout)', async () => {
    t = await startTestNode({ RIVER_HTTP_KEEP_ALIVE_MS: '3605000' });
    expect(await keepAliveHeader(t.node.urls.http)).toBe('timeout=3605');
  });
});
