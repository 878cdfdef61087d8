/**
 * `river logs`: the service's CloudWatch logs since a moment, and with --follow a live tail
 * (StartLiveTail), falling back to FilterLogEvents polling where live tail is unavailable.
 */
import type { Command } from 'commander';
import { LiveTailUnavailable, type LogEvent } from '../cloud/cloud.js';
import type { Context } from '../context.js';
import { findDeployment, output } from '../project.js';
import { parseDuration } from '../tokens.js';
import { sleep } from '../sleep.js';

export const POLL_INTERVAL_MS = 2000;

export interface LogsOptions {
  follow?: boolean;
  since: string;
  filter?: string;
  json?: boolean;
}

export function registerLogs(program: Command, ctx: Context): void {
  program
    .command('logs')
    .description("print the River service's logs (CloudWatch Logs)")
    .option('-f, --follow', 'keep printing new lines until Ctrl+C (live tail)')
    .option('--since <duration>', 'start this long ago: 30s, 10m, 2h, 1d', '10m')
    .option('--filter <pattern>', 'CloudWatch Logs filter pattern, e.g. ERROR or "token_invalid"')
    .option('--json', 'print each event as a JSON line {"timestamp","stream","message"}')
    .action(async (opts: LogsOptions) => {
      await logs(ctx, opts);
    });
}

export async function logs(ctx: Context, opts: LogsOptions): Promise<void> {
  const since = parseDuration(opts.since, '--since');
  const d = await findDeployment(ctx);
  const group = output(d, 'LogGroupName');
  const print = (e: LogEvent) => {
    const message = e.message.replace(/\n$/, '');
    ctx.io.out(
      opts.json
        ? JSON.stringify({ timestamp: e.timestamp, stream: e.stream ?? null, message })
        : `${new Date(e.timestamp).toISOString()} ${message}`,
    );
  };
  const filter = opts.filter ? { filter: opts.filter } : {};

  // Events already printed, by id, for the polling seam (FilterLogEvents is inclusive of startTime).
  let lastTs = ctx.now() - since * 1000;
  let seen = new Set<string>();
  const page = async (): Promise<void> => {
    let nextToken: string | undefined;
    const startTime = lastTs;
    do {
      const res = await d.cloud.filterLogs(group, { startTime, ...filter, ...(nextToken ? { nextToken } : {}) });
      for (const e of res.events) {
        if (e.id !== undefined && seen.has(e.id)) continue;
        if (e.timestamp > lastTs) {
          lastTs = e.timestamp;
          seen = new Set();
        }
        if (e.id !== undefined) seen.add(e.id);
        print(e);
      }
      nextToken = res.nextToken;
    } while (nextToken && !ctx.signal.aborted);
  };

  await page();
  if (!opts.follow || ctx.signal.aborted) return;

  const arn = d.outputs.LogGroupArn;
  if (!arn)
    ctx.io.warn(
      `live tail is not available: the stack ${d.stackName} has no LogGroupArn output (run \`npx river deploy\` again); polling every ${POLL_INTERVAL_MS / 1000} s instead`,
    );
  else {
    try {
      await d.cloud.liveTail(arn, { ...filter, signal: ctx.signal, onEvent: print });
      return;
    } catch (err) {
      if (!(err instanceof LiveTailUnavailable)) throw err;
      ctx.io.warn(`${err.message}; polling every ${POLL_INTERVAL_MS / 1000} s instead`);
    }
  }
  while (!ctx.signal.aborted) {
    await page();
    await sleep(POLL_INTERVAL_MS, ctx.signal);
  }
}
