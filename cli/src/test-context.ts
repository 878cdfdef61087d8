/** Builds a Context for in-process command tests: a recording IO, a temp project dir, no AWS. Not part of the build. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Cloud, Deployer } from './cloud/cloud.js';
import type { Exec } from './cloud/container-builder.js';
import type { Context, Env } from './context.js';
import type { ExitCode } from './errors.js';
import { run } from './program.js';
import { fakeIO, type FakeIO, type FakeIOOptions } from './test-io.js';

export interface TestContextOptions extends FakeIOOptions {
  cwd: string;
  env?: Env;
  cloud?: Cloud;
  deployer?: Deployer;
  which?: (command: string) => Promise<boolean>;
  /** Default: every program answers with exit code 0 (a running Docker daemon). */
  exec?: Exec;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface TestRun {
  ctx: Context;
  io: FakeIO;
  /** Like Ctrl+C. */
  abort(): void;
  /** Runs `river ARGV…` in-process. */
  run(argv: string[]): Promise<ExitCode>;
}

export function testContext(opts: TestContextOptions): TestRun {
  const io = fakeIO(opts);
  const controller = new AbortController();
  const ctx: Context = {
    io,
    env: opts.env ?? {},
    cwd: opts.cwd,
    signal: controller.signal,
    now: opts.now ?? (() => Date.now()),
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
    logger: () => pino({ level: 'silent' }),
    server: () => import('@river/server'),
    cloud: async () => {
      if (!opts.cloud) throw new Error('test: no cloud given');
      return opts.cloud;
    },
    deployer: async () => {
      if (!opts.deployer) throw new Error('test: no deployer given');
      return opts.deployer;
    },
    which: opts.which ?? (async () => false),
    exec: opts.exec ?? (async () => ({ exitCode: 0, timedOut: false, notFound: false, stderr: '' })),
    fetch: globalThis.fetch,
  };
  return { ctx, io, abort: () => controller.abort(), run: (argv) => run(argv, ctx) };
}

/** A fresh project directory, with `config` as its river.config.json when given; remove it with the returned function. */
export async function tempProject(config?: object): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'river-cli-'));
  if (config) await writeFile(join(dir, 'river.config.json'), JSON.stringify(config));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
