import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { tempProject, testContext } from '../test-context.js';
import { loadBench } from './bench.js';

// Only the user-mistake paths: a real load run belongs to `npm run bench`, not to the test suite.
let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  project = await tempProject();
});
afterEach(async () => {
  await project.cleanup();
});

describe('river bench', () => {
  it('refuses a connection count out of range with exit 1 and a hint', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['bench', '--url', 'http://127.0.0.1:4400', '--key', 'k', '--secret', 's', '--connections', '0'])).toBe(1);
    expect(t.io.stderr.join('\n')).toContain('--connections must be a whole number from 1 to 200000');
    expect(t.io.stderr.some((l) => l.startsWith('hint:'))).toBe(true);
  });

  it('needs a JWT secret (or --token) to open connections, and says where to get one', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['bench', '--url', 'http://127.0.0.1:4400', '--key', 'k'])).toBe(1);
    expect(t.io.stderr.join('\n')).toContain('no JWT secret');
    expect(t.io.stdout).toEqual([]);
  });

  it('without a node to talk to, says how to start one', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['bench'])).toBe(1);
    expect(t.io.stderr.join('\n')).toContain('npx river dev');
  });

  it('says where the generator comes from when @river/bench is not installed', async () => {
    const err = await loadBench('@river/bench-not-installed').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe('bench_missing');
    expect((err as UserError).hint).toContain('clone of River');
  });

  it('loads the workspace generator in this repository', async () => {
    expect(typeof (await loadBench()).runRemoteBench).toBe('function');
  });
});
