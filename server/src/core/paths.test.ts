/**
 * Which server source files a publish and a subscribe pass through (server/src/README.md lists
 * them step by step), measured on a real node with the memory engine: V8's precise coverage
 * (node:inspector, function call counts) is reset right before the step and read right after it;
 * a file is on the path when any of its functions ran in between. Each step runs three times and
 * only the files seen every time count, so a timer firing during one run (the connection tick, the
 * memory engine's sweep) adds nothing. Test code (`*.test.ts`, test-support.ts) is left out.
 */
import { Session } from 'node:inspector/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe('the publish and subscribe paths', () => {
  let t: TestNode;
  let c: TestClient;
  const session = new Session();

  beforeAll(async () => {
    t = await startTestNode();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
    c = await t.client();
    // Once through both paths first: what runs only the first time (lazy setup) is not on them.
    await c.subscribe('paths-warm');
    await t.publish({ channel: 'paths-warm', event: 'e', data: 0 });
    await c.messages('paths-warm', 1);
  });

  afterAll(async () => {
    await session.post('Profiler.stopPreciseCoverage');
    session.disconnect();
    await t.close();
  });

  it('an HTTP publish, from the request to the subscriber socket write, passes through 6 files', async () => {
    await c.subscribe('paths-pub');
    const files = await path(session, async (run) => {
      expect((await t.publish({ channel: 'paths-pub', event: 'e', data: run })).status).toBe(200);
      expect((await c.messages('paths-pub', 1))[0]!.data).toBe(run);
    });
    expect(files).toEqual([
      'core/channel.ts',
      'core/frames.ts',
      'core/outbox.ts',
      'engines/memory/memory-bus.ts',
      'http/http-api.ts',
      'http/http-server.ts',
    ]);
  });

  it("a client's subscribe to a new channel, from the frame to the socket write of `subscribed`, passes through 6 files", async () => {
    const files = await path(session, async (run) => {
      expect((await c.subscribe(`paths-sub-${run}`)).type).toBe('subscribed');
    });
    expect(files).toEqual([
      'core/channel.ts',
      'core/connection.ts',
      'core/few.ts',
      'core/frames.ts',
      'core/outbox.ts',
      'engines/memory/memory-bus.ts',
    ]);
  });
});
