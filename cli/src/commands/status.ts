/**
 * `river status`: what runs and why it may not. The stack's state; the ECS service's running/desired
 * tasks, task definition revision and latest events; each task's status, image digest and (for
 * stopped ones) the reason (CannotPullContainerError, a failed health check); each target's health at
 * the load balancer; the state of the service's CloudWatch alarms (the scaling policies' alarms);
 * and /readyz through the load balancer. Text, or one JSON line with --json.
 */
import type { Command } from 'commander';
import type { AlarmState, TargetHealth, TaskInfo } from '../cloud/cloud.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { findDeployment } from '../project.js';
import { urlsFrom } from '../target.js';

export function registerStatus(program: Command, ctx: Context): void {
  program
    .command('status')
    .description(
      'show the stack state, tasks (image digest, task definition, stop reasons), service events, target health, alarms and endpoint health',
    )
    .option('--json', 'print the status as one JSON line')
    .action(async (opts: { json?: boolean }) => {
      await status(ctx, opts);
    });
}

/** The name prefix of the alarms Application Auto Scaling creates for the service's target-tracking policies. */
export function alarmPrefix(cluster: string, service: string): string {
  return `TargetTracking-service/${cluster}/${service}`;
}

export async function status(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const d = await findDeployment(ctx);
  const stack = await d.cloud.stackStatus(d.stackName);
  if (!stack)
    throw new UserError(`the stack ${d.stackName} does not exist in ${d.region}`, 'deploy it with `npx river deploy`', {
      code: 'no_stack',
    });
  const cluster = d.outputs.ClusterName;
  const service = d.outputs.ServiceName;
  const details = cluster && service ? await d.cloud.serviceDetails(cluster, service) : undefined;
  const ws = d.outputs.WebSocketUrl;
  const [targets, alarms, health] = await Promise.all([
    Promise.all((details?.targetGroupArns ?? []).map((arn) => d.cloud.targetHealth(arn))).then((lists) => lists.flat()),
    cluster && service ? d.cloud.alarms(alarmPrefix(cluster, service)) : Promise.resolve([]),
    ws ? readyz(ctx, `${urlsFrom(ws, 'WebSocketUrl').httpUrl}/readyz`) : Promise.resolve(undefined),
  ]);

  if (opts.json) {
    const tasks = details
      ? {
          status: details.status,
          running: details.running,
          desired: details.desired,
          pending: details.pending,
          ...(details.rolloutState ? { rolloutState: details.rolloutState } : {}),
        }
      : null;
    const service = details ? { taskDefinition: details.taskDefinition ?? null, events: details.events, tasks: details.tasks } : null;
    ctx.io.out(
      JSON.stringify({ stackName: d.stackName, region: d.region, stack, tasks, service, targets, alarms, readyz: health ?? null }),
    );
    return;
  }
  const out = (label: string, text: string) => ctx.io.out(`${label.padEnd(10)}${text}`);
  out(
    'stack',
    `${d.stackName} (${d.region})  ${stack.status}${stack.reason ? `: ${stack.reason}` : ''}${stack.updatedAt ? `  since ${iso(stack.updatedAt)}` : ''}`,
  );
  if (!details) out('tasks', 'service not found');
  else {
    out(
      'tasks',
      `${details.running} running / ${details.desired} desired${details.pending ? `, ${details.pending} pending` : ''}${details.rolloutState ? `  (rollout ${details.rolloutState})` : ''}${details.taskDefinition ? `  task definition ${details.taskDefinition}` : ''}`,
    );
    for (const t of details.tasks) out('task', taskLine(t));
  }
  for (const t of targets) out('target', targetLine(t));
  for (const a of alarms) out('alarm', alarmLine(a));
  for (const e of details?.events ?? []) out('event', `${e.at ? `${iso(e.at)}  ` : ''}${e.message}`);
  if (health)
    out(
      'endpoint',
      `${health.url}  ${health.ok ? `${health.status} ready` : health.status ? `${health.status} not ready` : `unreachable (${health.error})`}`,
    );
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function taskLine(t: TaskInfo): string {
  const parts = [t.id, t.lastStatus];
  if (t.health && t.health !== 'UNKNOWN') parts.push(t.health);
  if (t.taskDefinition) parts.push(t.taskDefinition);
  if (t.imageDigest) parts.push(t.imageDigest);
  else if (t.image) parts.push(t.image);
  if (t.stoppedAt) parts.push(`stopped ${iso(t.stoppedAt)}`);
  if (t.stoppedReason) parts.push(`: ${t.stoppedReason}`);
  return parts.join('  ').replace('  : ', ': ');
}

function targetLine(t: TargetHealth): string {
  const why = [t.reason, t.description].filter(Boolean).join(': ');
  return `${t.id}${t.port !== undefined ? `:${t.port}` : ''}  ${t.state}${why ? ` (${why})` : ''}`;
}

function alarmLine(a: AlarmState): string {
  return `${a.name}  ${a.state}${a.state === 'ALARM' && a.reason ? `: ${a.reason}` : ''}`;
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
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { url, ok: false, error: cause?.code ?? cause?.message ?? (err as Error).name };
  }
}
