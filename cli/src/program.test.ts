import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Cloud } from './cloud/cloud.js';
import { buildProgram } from './program.js';
import { writeDeployedState } from './state.js';
import { tempProject, testContext } from './test-context.js';

let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  project = await tempProject();
});
afterEach(async () => {
  await project.cleanup();
});

describe('river (the command host)', () => {
  it('every command answers --help on stdout with exit 0', async () => {
    const names = buildProgram(testContext({ cwd: project.dir }).ctx).commands.map((c) => c.name());
    expect(names).toEqual(expect.arrayContaining(['dev', 'token', 'publish', 'listen']));
    for (const name of names) {
      const t = testContext({ cwd: project.dir });
      expect(await t.run([name, '--help'])).toBe(0);
      expect(t.io.stdoutText()).toContain(`Usage: river ${name}`);
      expect(t.io.stderr).toEqual([]);
    }
    const top = testContext({ cwd: project.dir });
    expect(await top.run(['--help'])).toBe(0);
    expect(top.io.stdoutText()).toMatch(/Exit codes: 0 success, 1 .*, 2 /);
  });

  it('an unknown command or flag is exit 1 with one error line and one hint line', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['lisen', 'dogs'])).toBe(1);
    expect(t.io.stderr).toEqual(["error: unknown command 'lisen'", 'hint: did you mean listen? See `river --help`']);
    const flag = testContext({ cwd: project.dir });
    expect(await flag.run(['token', '--sub', 'u', '--nope'])).toBe(1);
    expect(flag.io.stderr).toEqual(["error: unknown option '--nope'", 'hint: see `river token --help`']);
  });

  it('no command prints the usage and exits 1', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run([])).toBe(1);
    expect(t.io.stderrText()).toContain('Usage: river');
  });

  it('an unexpected failure is exit 2 with one line; the stack only with --verbose', async () => {
    await writeDeployedState(project.dir, {
      stackName: 'river',
      region: 'us-east-1',
      outputs: { JwtSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x' },
    });
    const cloud = { getSecret: async () => Promise.reject(new Error('socket hang up')) } as unknown as Cloud;
    const t = testContext({ cwd: project.dir, cloud });
    expect(await t.run(['token', '--sub', 'u1', '--deployed'])).toBe(2);
    expect(t.io.stderr).toEqual(['error: unexpected failure: socket hang up', expect.stringMatching(/^hint: run again with --verbose/)]);
    const v = testContext({ cwd: project.dir, cloud });
    expect(await v.run(['token', '--sub', 'u1', '--deployed', '--verbose'])).toBe(2);
    expect(v.io.stderr[0]).toBe('error: unexpected failure: socket hang up');
    expect(v.io.stderr[1]).toMatch(/^Error: socket hang up\n\s+at /);
  });

  it('--version prints the version', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['--version'])).toBe(0);
    expect(t.io.stdout).toEqual([expect.stringMatching(/^\d+\.\d+\.\d+/)]);
  });
});
