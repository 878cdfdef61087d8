/** `river status`: the stack's state, the service's running/desired tasks, and /readyz through the load balancer. */
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { findDeployment } from '../project.js';
import { urlsFrom } from '../target.js';

export function registerStatus(program: Command, ctx: Context): void {
  program
    .command('status')
    .description('show the deployed stack state, running/desired tasks and endpoint health')
    .option('--json', 'print the status as one JSON line')
    .action(async (opts: { json?: boolean }) => {
      await status(ctx, opts);
    });
}

export async function status(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const d = await findDeployment(ctx);
  const stack = await d.cloud.stackStatus(d.stackName);
  if (!stack) throw new UserError(`the stack ${d.stackName} does not exist in ${d.region}`, 'deploy it with `npx river deploy`', { code: 'no_stack' });
  const cluster = d.outputs.ClusterName;
  const service = d.outputs.ServiceName;
  const tasks = cluster && service ? await d.cloud.serviceCounts(cluster, service) : undefined;
  const ws = d.outputs.WebSocketUrl;
  const health = ws ? await readyz(ctx, `${urlsFrom(ws, 'WebSocketUrl').httpUrl}/readyz`) : undefined;

  if (opts.json) {
    ctx.io.out(JSON.stringify({ stackName: d.stackName, region: d.region, stack, tasks: tasks ?? null, readyz: health ?? null }));
    return;
  }
  const out = (label: string, text: string) => ctx.io.out(`${label.padEnd(10)}${text}`);
  out('stack', `${d.stackName} (${d.region})  ${stack.status}${stack.reason ? `: ${stack.reason}` : ''}${stack.updatedAt ? `  since ${stack.updatedAt.toISOString()}` : ''}`);
  out('tasks', tasks ? `${tasks.running} running / ${tasks.desired} desired${tasks.pending ? `, ${tasks.pending} pending` : ''}${tasks.rolloutState ? `  (rollout ${tasks.rolloutState})` : ''}` : 'service not found');
  if (health) out('endpoint', `${health.url}  ${health.ok ? `${health.status} ready` : health.status ? `${health.status} not ready` : `unreachable (${health.error})`}`);
}

interface Health {
  url: string;
  ok: boolean;
  status?: number;
  error?: string;
}

async function readyz(ctx: Context, url: string): Promise<Health> {
  try {
    const res = await ctx.fetch(url, { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(5000)]) });
    await res.body?.cancel();
    return { url, ok: res.status === 200, status: res.status };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { url, ok: false, error: cause?.code ?? (err as Error).name };
  }
}
