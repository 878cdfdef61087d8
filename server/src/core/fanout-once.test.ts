/**
 * The fanout builds a message's WebSocket frame once per publish, whatever the number of
 * subscribers (issue 2: no per-subscriber serialization). `textFrame` is wrapped to count calls;
 * outbox.test.ts shows the one Buffer is then handed, by reference, to every socket.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestNode, type TestNode } from '../test-support.js';

const built = vi.hoisted(() => ({ texts: [] as string[] }));
vi.mock('./frames.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('./frames.js')>();
  return {
    ...real,
    textFrame: (text: string) => {
      built.texts.push(text);
      return real.textFrame(text);
    },
  };
});

describe('fanout serialization', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode();
  });
  afterAll(() => t.close());

  it('frames a message once per publish for 40 subscribers, and each receives it', async () => {
    const clients = await Promise.all(Array.from({ length: 40 }, () => t.client()));
    await Promise.all(clients.map((c) => c.subscribe('once')));
    built.texts.length = 0;
    await t.publish({ channel: 'once', event: 'counted', data: { n: 1 } });
    await t.publish({ channel: 'once', event: 'counted', data: { n: 2 } });
    for (const c of clients) {
      const got = await c.messages('once', 2);
      expect(got.map((m) => m.data)).toEqual([{ n: 1 }, { n: 2 }]);
    }
    expect(built.texts.filter((s) => s.includes('"counted"'))).toHaveLength(2);
  });
});
