/**
 * Which server source files a publish and a subscribe pass through (server/src/README.md lists
 * them step by step), measured on a real node (memory engine; Redis engine when redis-server is
 * on the PATH, the path within the one node that publishes and delivers): V8's precise coverage
 * (node:inspector, function call counts) is reset right before the step and read right after it;
 * a file is on the path when any of its functions ran in between. Each step runs three times and
 * only the files seen every time count, so a timer firing during one run (the connection tick, the
 * memory engine's sweep) adds nothing. Test code (`*.test.ts`, test-support.ts) is left out.
 */
import { Session } from 'node:inspector/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../../e2e/harness/redis.js';
import { startTestNode, type TestClient, type TestNode } from '../test-support.js';

const ROOT = '/server/src/';

/** The server source files (relative to server/src) whose code ran during `step`. */
async function filesRun(session: Session, step: () => Promise<void>): Promise<Set<string>> {
  await session.post('Profiler.takePreciseCoverage'); // resets the counts
  await step();
  const { result } = await session.post('Profiler.takePreciseCoverage');
  const files = new Set<string>();
  for (const script of result) {
    const at = script.url.indexOf(ROOT);
    if (at === -1 || script.url.endsWith('.test.ts') || script.url.endsWith('/test-support.ts')) continue;
    if (script.functions.some((f) => f.ranges[0]!.count > 0)) files.add(script.url.slice(at + ROOT.length));
  }
  return files;
}

/** The files seen in every one of three runs of `step(run)`, sorted. */
async function path(session: Session, step: (run: number) => Promise<void>): Promise<string[]> {
  let seen: Set<string> | undefined;
  for (let run = 0; run < 3; run++) {
    const files = await filesRun(session, () => step(run));
    seen = seen === undefined ? files : new Set([...seen].filter((f) => files.has(f)));
  }
  return [...seen!].sort();
}

/** Both paths on a node started with `env`: [publish files, subscribe files]. */
async function measure(env: Record<string, string>): Promise<[string[], string[]]> {
  const session = new Session();
  const t: TestNode = await startTestNode(env);
  try {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
    const c: TestClient = await t.client();
    // Once through both paths first: what runs only the first time (lazy setup) is not on them.
    await c.subscribe('paths-warm');
    await t.publish({ channel: 'paths-warm', event: 'e', data: 0 });
    await c.messages('paths-warm', 1);
    await c.subscribe('paths-pub');
    const publish = await path(session, async (run) => {
      expect((await t.publish({ channel: 'paths-pub', event: 'e', data: run })).status).toBe(200);
      expect((await c.messages('paths-pub', 1))[0]!.data).toBe(run);
    });
    const subscribe = await path(session, async (run) => {
      expect((await c.subscribe(`paths-sub-${run}`)).type).toBe('subscribed');
    });
    return [publish, subscribe];
  } finally {
    await session.post('Profiler.stopPreciseCoverage').catch(() => undefined);
    session.disconnect();
    await t.close();
  }
}

const PUBLISH = [
  'core/channel.ts',
  'core/frames.ts',
  'core/outbox.ts',
  'engines/memory/memory-bus.ts',
  'http/http-api.ts',
  'http/http-server.ts',
];
const SUBSCRIBE = [
  'core/channel.ts',
  'core/connection.ts',
  'core/few.ts',
  'core/frames.ts',
  'core/outbox.ts',
  'engines/memory/memory-bus.ts',
];
const outsideEngines = (files: string[]) => files.filter((f) => !f.startsWith('engines/'));

describe('the publish and subscribe paths, memory engine', () => {
  let publish: string[];
  let subscribe: string[];
  beforeAll(async () => {
    [publish, subscribe] = await measure({});
  });

  it('an HTTP publish, from the request to the subscriber socket write, passes through 6 files', () => {
    expect(publish).toEqual(PUBLISH);
  });

  it("a client's subscribe to a new channel, from the frame to the socket write of `subscribed`, passes through 6 files", () => {
    expect(subscribe).toEqual(SUBSCRIBE);
  });
});

// The Redis engine's own files (redis-bus, -keys, -scripts, -subscriptions; -reads and -counts on a
// subscribe) are its business; the rest of both paths is the same as with the memory engine.
describe.skipIf(!redisAvailable())('the publish and subscribe paths, Redis engine', () => {
  let redis: RedisInstance;
  let publish: string[];
  let subscribe: string[];
  beforeAll(async () => {
    redis = await startRedis();
    [publish, subscribe] = await measure({ RIVER_REDIS_URL: redis.url, RIVER_REDIS_PREFIX: `paths${process.pid}` });
  });
  afterAll(() => redis?.stop());

  it('an HTTP publish passes through the same files outside the engine, and the Redis bus', () => {
    expect(outsideEngines(publish)).toEqual(outsideEngines(PUBLISH));
    expect(publish).toContain('engines/redis/redis-bus.ts');
    expect(publish.filter((f) => f.startsWith('engines/') && !f.startsWith('engines/redis/'))).toEqual([]);
  });

  it('a subscribe passes through the same files outside the engine, and the Redis bus', () => {
    expect(outsideEngines(subscribe)).toEqual(outsideEngines(SUBSCRIBE));
    expect(subscribe).toContain('engines/redis/redis-bus.ts');
    expect(subscribe.filter((f) => f.startsWith('engines/') && !f.startsWith('engines/redis/'))).toEqual([]);
  });
});
