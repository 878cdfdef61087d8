/** river publish: a missing API key and a wrong one are told apart, and a wrong one says where it came from. */
import { describe, expect, it } from 'vitest';
import { writeDevState } from '../state.js';
import { testContext } from '../test-context.js';
import { testNode } from '../test-node.js';

const KEY = 'publish-key-test-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
const local = testNode({ key: KEY });

const errorLines = (stderr: string[]) => stderr.filter((l) => !l.startsWith('using '));

describe('river publish and the API key', () => {
  it('no key anywhere: "no API key for this node", nothing sent', async () => {
    const t = testContext({ cwd: local.project.dir });
    expect(await t.run(['publish', 'dogs', 'e', '--url', local.node.urls.http])).toBe(1);
    expect(errorLines(t.io.stderr)).toEqual(['error: no API key for this node', 'hint: pass --key or set RIVER_API_KEY']);
  });

  it('--key "" (an unset variable) is a missing key, not a reason to use the dev node\'s key', async () => {
    await writeDevState(local.project.dir, { secret: 'other-dev-secret-0123456789abcdefghijklmnop', apiKey: 'the-dev-nodes-key' });
    const t = testContext({ cwd: local.project.dir });
    expect(await t.run(['publish', 'dogs', 'e', '--url', local.node.urls.http, '--key', ''])).toBe(1);
    expect(errorLines(t.io.stderr)).toEqual(['error: --key is empty', expect.stringMatching(/^hint: pass the node's API key/)]);
  });

  it.each([
    [['--key', 'wrong'], {}, '--key'],
    [[], { RIVER_API_KEY: 'wrong' }, 'RIVER_API_KEY'],
  ] as const)('a wrong key (%j %j) is refused by the node, and the error names where it came from', async (flags, env, from) => {
    const t = testContext({ cwd: local.project.dir, env: { ...env } });
    expect(await t.run(['publish', 'dogs', 'e', '--url', local.node.urls.http, ...flags])).toBe(1);
    expect(errorLines(t.io.stderr)).toEqual([
      `error: ${local.node.urls.http} refused the API key from ${from} (401 unauthorized)`,
      "hint: pass --key or set RIVER_API_KEY to the node's key",
    ]);
  });

  it('the right key publishes', async () => {
    const t = testContext({ cwd: local.project.dir });
    expect(await t.run(['publish', 'dogs', 'e', '--url', local.node.urls.http, '--key', KEY])).toBe(0);
  });
});
