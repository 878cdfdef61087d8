/** river publish: a missing API key and a wrong one are told apart, and a wrong one says where it came from. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, startRiver, type RiverNode } from '@river/server';
import { writeDevState } from '../state.js';
import { tempProject, testContext } from '../test-context.js';

const KEY = 'publish-key-test-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
let node: RiverNode;
let project: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  node = await startRiver(
    loadConfig({
      RIVER_PORT: '0',
      RIVER_HOST: '127.0.0.1',
      RIVER_JWT_SECRET: 'publish-key-secret-0123456789abcdefghijklmn',
      RIVER_API_KEY: KEY,
      RIVER_LOG_LEVEL: 'silent',
    }),
  );
});
afterAll(async () => {
  await node.close();
});
beforeEach(async () => {
  project = await tempProject();
});
afterEach(async () => {
  await project.cleanup();
});

const errorLines = (stderr: string[]) => stderr.filter((l) => !l.startsWith('using '));

describe('river publish and the API key', () => {
  it('no key anywhere: "no API key for this node", nothing sent', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['publish', 'dogs', 'e', '--url', node.urls.http])).toBe(1);
    expect(errorLines(t.io.stderr)).toEqual(['error: no API key for this node', 'hint: pass --key or set RIVER_API_KEY']);
  });

  it('--key "" (an unset variable) is a missing key, not a reason to use the dev node\'s key', async () => {
    await writeDevState(project.dir, { secret: 'other-dev-secret-0123456789abcdefghijklmnop', apiKey: 'the-dev-nodes-key' });
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['publish', 'dogs', 'e', '--url', node.urls.http, '--key', ''])).toBe(1);
    expect(errorLines(t.io.stderr)).toEqual(['error: --key is empty', expect.stringMatching(/^hint: pass the node's API key/)]);
  });

  it.each([
    [['--key', 'wrong'], {}, '--key'],
    [[], { RIVER_API_KEY: 'wrong' }, 'RIVER_API_KEY'],
  ] as const)('a wrong key (%j %j) is refused by the node, and the error names where it came from', async (flags, env, from) => {
    const t = testContext({ cwd: project.dir, env: { ...env } });
    expect(await t.run(['publish', 'dogs', 'e', '--url', node.urls.http, ...flags])).toBe(1);
    expect(errorLines(t.io.stderr)).toEqual([
      `error: ${node.urls.http} refused the API key from ${from} (401 unauthorized)`,
      "hint: pass --key or set RIVER_API_KEY to the node's key",
    ]);
  });

  it('the right key publishes', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['publish', 'dogs', 'e', '--url', node.urls.http, '--key', KEY])).toBe(0);
  });
});
