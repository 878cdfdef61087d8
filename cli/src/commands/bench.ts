/**
 * `river bench --url … --key …`: size a deployment with the same load generator as `npm run bench`
 * (@river/bench): N subscribers on a fresh channel, a single-message step, a batch-of-10 step, rate
 * steps until delivery falls behind, and the accept rate. Prints the tables (stderr) and, with
 * --json, the whole result as one JSON line (stdout).
 */
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { apiKeyFor, locate, secretFor } from '../target.js';

export interface BenchOptions {
  url?: string;
  key?: string;
  secret?: string;
  token?: string;
  connections?: string;
  maxRate?: string;
  pid?: string;
  json?: boolean;
}

/** The part of @river/bench this command uses (loaded only when the command runs). */
interface BenchModule {
  runRemoteBench(opts: {
    url: string;
    wsUrl?: string;
    apiKey: string;
    secret?: string;
    token?: string;
    pid?: number;
    connections?: number;
    maxRate?: number;
    log?: (line: string) => void;
  }): Promise<{ run: unknown; tables: string; checks: string[] }>;
}

export function registerBench(program: Command, ctx: Context): void {
  program
    .command('bench')
    .description('load-test a River node: fanout throughput and latency, batches, accept rate (the generator of `npm run bench`)')
    .option('--url <url>', "the node's HTTP base URL (default: RIVER_URL, the dev node, then the deployment)")
    .option('--key <key>', 'API key (default: RIVER_API_KEY, then the dev or deployed key)')
    .option('--secret <secret>', 'JWT secret to mint one token per connection (default: RIVER_JWT_SECRET, then the dev or deployed secret)')
    .option('--token <jwt>', 'use this client token for every connection instead of minting')
    .option('--connections <n>', 'subscribers to open', '1000')
    .option('--max-rate <n>', 'highest publish rate (messages/s) of the rate steps; 0 skips them', '64')
    .option('--pid <pid>', "the node's process id, when it runs on this machine: adds its CPU per message")
    .option('--json', 'print the whole result as one JSON line on stdout')
    .addHelpText(
      'after',
      '\nExample: npx river bench --url http://127.0.0.1:4400 --connections 5000\nEach worker process holds at most 9,000 sockets; raise `ulimit -n` for large runs.',
    )
    .action(async (opts: BenchOptions) => {
      await bench(ctx, opts);
    });
}

function count(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UserError(
      `${flag} must be a whole number from ${min} to ${max}, got "${text}"`,
      `e.g. ${flag} ${Math.max(min, Math.min(max, 1000))}`,
      { code: 'bad_flag' },
    );
  }
  return n;
}

/** Loads @river/bench (a workspace of the River repository, not a dependency of the published CLI). */
export async function loadBench(spec = '@river/bench'): Promise<BenchModule> {
  try {
    return (await import(spec)) as BenchModule;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new UserError(
      'river bench needs the load generator (@river/bench), which ships with the River repository, not with the CLI package',
      'run it from a clone of River: npm install && npx river bench --url …',
      { code: 'bench_missing' },
    );
  }
}

export async function bench(ctx: Context, opts: BenchOptions): Promise<void> {
  const connections = count(opts.connections, '--connections', 1, 200_000);
  const maxRate = count(opts.maxRate, '--max-rate', 0, 100_000);
  const pid = count(opts.pid, '--pid', 1, 2 ** 31);
  const located = await locate(ctx, opts.url);
  const apiKey = await apiKeyFor(ctx, located, opts.key);
  const secret = opts.token ? undefined : (opts.secret ?? (await secretFor(ctx, located)));
  const mod = await loadBench();
  const { tables, checks, run } = await mod.runRemoteBench({
    url: located.target.httpUrl,
    wsUrl: located.target.wsUrl,
    apiKey,
    ...(secret !== undefined ? { secret } : {}),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    ...(pid !== undefined ? { pid } : {}),
    ...(connections !== undefined ? { connections } : {}),
    ...(maxRate !== undefined ? { maxRate } : {}),
    log: (line) => ctx.io.info(line),
  });
  ctx.io.info('');
  for (const line of tables.split('\n')) ctx.io.info(line);
  if (checks.length > 0) for (const c of checks) ctx.io.info(`- ${c}`);
  if (opts.json) ctx.io.out(JSON.stringify(run));
}
