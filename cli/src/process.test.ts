/**
 * `river` as a real process, where signals and terminals are real: Ctrl+C gives the same exit code
 * under `node bin/river` and under npx, and NO_COLOR / --no-color turn colours off on a terminal.
 * Needs `npm run build` (cli/dist), like bin.test.ts; the colour test needs `script` (util-linux).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, startRiver, type RiverNode } from '@river/server';
import { tempProject, waitFor } from './test-context.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const built = existsSync(`${root}cli/dist/main.js`);
if (!built && process.env.CI) throw new Error('cli/dist is missing: run `npm run build` before the tests');
const SECRET = 'process-signals-secret-0123456789abcdefghijk';

describe.skipIf(!built)('river as a process: Ctrl+C', () => {
  let node: RiverNode;
  let project: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    node = await startRiver(
      loadConfig({
        RIVER_PORT: '0',
        RIVER_HOST: '127.0.0.1',
        RIVER_JWT_SECRET: SECRET,
        RIVER_API_KEY: 'process-test-key-Xq7vN2pL9tR4yB6mK8hJ3gF5',
        RIVER_LOG_LEVEL: 'silent',
      }),
    );
    project = await tempProject();
  });
  afterAll(async () => {
    await node?.close();
    await project?.cleanup();
  });

  /** Starts `listen dogs` in its own process group (as a terminal's foreground job) and waits until it is subscribed. */
  async function listening(command: string, args: string[], cwd: string): Promise<ChildProcess> {
    const child = spawn(command, [...args, 'listen', 'dogs', '--url', node.urls.http], {
      cwd,
      env: { ...process.env, RIVER_JWT_SECRET: SECRET, NO_UPDATE_NOTIFIER: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => err.includes('subscribed to dogs') || child.exitCode !== null, 'the subscription', 30_000);
    expect(err).toContain('subscribed to dogs');
    return child;
  }

  /** Ctrl+C in a terminal: SIGINT to the whole foreground process group. Returns the exit status a
   *  shell reports: the exit code, or 128 + the signal's number for a process killed by a signal
   *  (npm re-raises the signal on itself once its child has exited). */
  async function ctrlC(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<number> {
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    process.kill(-child.pid!, signal);
    const [code, killedBy] = await exited;
    return code ?? 128 + constants.signals[killedBy!];
  }

  it('node bin/river listen: Ctrl+C is exit 130', async () => {
    const child = await listening(process.execPath, [`${root}bin/river`], project.dir);
    expect(await ctrlC(child)).toBe(130);
  });

  it('npx river listen: Ctrl+C is exit status 130 too (npm exec dies of the SIGINT whatever the program returns)', async () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const child = await listening(npm, ['exec', '--no', '--', 'river'], root);
    expect(await ctrlC(child)).toBe(130);
  }, 60_000);

  it('SIGTERM ends listen cleanly: exit 0', async () => {
    const child = await listening(process.execPath, [`${root}bin/river`], project.dir);
    expect(await ctrlC(child, 'SIGTERM')).toBe(0);
  });
});

const hasScript = existsSync('/usr/bin/script');
if (!hasScript && built && process.env.CI) throw new Error('`script` is missing: apt-get install bsdutils (util-linux)');
describe.skipIf(!built || !hasScript)('river on a terminal: colours', () => {
  /** Runs `node bin/river ARGS` under a pseudo-terminal (util-linux `script`); returns what it printed. */
  async function onTerminal(args: string[], env: Record<string, string> = {}): Promise<string> {
    const cmd = [process.execPath, `${root}bin/river`, ...args].map((a) => `'${a}'`).join(' ');
    const run = promisify(execFile);
    const result = await run('script', ['-qec', cmd, '/dev/null'], {
      env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '', ...env },
    }).catch((e: { stdout: string }) => e);
    return result.stdout;
  }
  const args = ['token', '--sub', 'u1', '--ttl', 'x'];

  it('a terminal gets a red error line', async () => {
    const out = await onTerminal(args);
    expect(out).toContain('error: --ttl "x" is not a duration');
    expect(out).toContain('\u001b[31m');
  });

  it('NO_COLOR=1 and --no-color: the same lines, no escape codes', async () => {
    for (const out of [
      await onTerminal(args, { NO_COLOR: '1' }),
      await onTerminal([...args, '--no-color']),
      await onTerminal(['--no-color', ...args]),
    ]) {
      expect(out).toContain('error: --ttl "x" is not a duration');
      expect(out).not.toContain('\u001b[');
    }
  });
});
