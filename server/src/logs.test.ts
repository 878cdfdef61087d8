/** Debug and summary log lines (docs/configuration.md#logs), read from pino writing to a stream in-process. */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startTestNode, token, waitFor } from './test-support.js';

const KEY = randomBytes(32).toString('base64url');

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level }, stream), lines, raw, find: (msg: string) => lines.filter((l) => l.msg === msg) };
}

describe('logs', () => {
  it('at debug: one line per connect (with the auth result), subscribe, publish, unsubscribe and close, without token or data', async () => {
    const log = capture('debug');
    const t = await startTestNode({ RIVER_API_KEY: KEY }, { logger: log.logger });
    const secretData = `payload-${randomBytes(8).toString('hex')}`;
    try {
      const refused = await t.connect();
      const badToken = `${await token({ sub: 'mallory' })}x`;
      refused.send({ type: 'auth', token: badToken });
      expect((await refused.waitClose()).code).toBe(4500);

      const c = await t.client({ sub: 'dana' });
      await c.subscribe('dogs');
      const res = await t.http(
        'POST',
        '/v1/publish',
        { channel: 'dogs', event: 'new-post', data: { secretData } },
        { authorization: `Bearer ${KEY}` },
      );
      expect(res.status).toBe(200);
      await c.next('message');
      expect((await c.request({ type: 'unsubscribe', channel: 'dogs' })).type).toBe('unsubscribed');
      c.ws.close(1000, 'bye');
      await waitFor(() => log.find('close').some((l) => l.userId === 'dana'), 'the close line');

      const connects = log.find('connect');
      expect(connects).toEqual([
        expect.objectContaining({ level: 20, result: 'refused', reason: expect.any(String) }),
        expect.objectContaining({ level: 20, result: 'ok', userId: 'dana' }),
      ]);
      expect(log.find('subscribe')).toEqual([expect.objectContaining({ userId: 'dana', channel: 'dogs' })]);
      expect(log.find('publish')).toEqual([
        expect.objectContaining({ channel: 'dogs', event: 'new-post', bytes: JSON.stringify({ secretData }).length, offset: 1 }),
      ]);
      expect(log.find('unsubscribe')).toEqual([expect.objectContaining({ userId: 'dana', channel: 'dogs' })]);
      expect(log.find('close')).toContainEqual(expect.objectContaining({ userId: 'dana', code: 1000, reason: 'bye', by: 'client' }));
      expect(log.find('close')).toContainEqual(expect.objectContaining({ code: 4500, reason: 'token_invalid', by: 'server' }));
      const all = log.raw.join('\n');
      expect(all).not.toContain(secretData);
      expect(all).not.toContain(badToken.slice(0, 40));
      expect(all).not.toContain(KEY);
    } finally {
      await t.close();
    }
  });

  it('at info: no per-connection lines, and a periodic one-line summary', async () => {
    const log = capture('info');
    const t = await startTestNode({ RIVER_API_KEY: KEY }, { logger: log.logger, summaryIntervalMs: 100 });
    try {
      const c = await t.client({ sub: 'erin' });
      await c.subscribe('cats');
      await t.http('POST', '/v1/publish', { channel: 'cats', event: 'e', data: 1 }, { authorization: `Bearer ${KEY}` });
      await c.next('message');
      const line = await waitFor(() => log.find('summary').find((l) => l.published === 1), 'a summary with the publish', 8000);
      expect(line).toMatchObject({ level: 30, connections: 1, subscriptions: 1, channels: 1, delivered: 1 });
      expect(log.find('connect')).toEqual([]);
      expect(log.find('publish')).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
