/**
 * The AWS calls behind `river status` (ECS, Elastic Load Balancing, CloudWatch), as functions over
 * SDK clients that `AwsCloud` owns. Errors propagate; aws.ts translates credential failures.
 */
import { type CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, DescribeTasksCommand, ListTasksCommand, type ECSClient, type Task } from '@aws-sdk/client-ecs';
import { DescribeTargetHealthCommand, type ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { AlarmState, ServiceDetails, TargetHealth, TaskInfo } from './cloud.js';

const MAX_EVENTS = 5;
const MAX_STOPPED = 5;

/** `arn:…:task-definition/river-task:7` → `river-task:7` */
function familyRevision(arn: string | undefined): string | undefined {
  return arn === undefined ? undefined : arn.slice(arn.lastIndexOf('/') + 1);
}

function taskInfo(t: Task): TaskInfo {
  const container = t.containers?.[0];
  const info: TaskInfo = { id: (t.taskArn ?? '').slice((t.taskArn ?? '').lastIndexOf('/') + 1), lastStatus: t.lastStatus ?? 'UNKNOWN' };
  if (t.healthStatus) info.health = t.healthStatus;
  const td = familyRevision(t.taskDefinitionArn);
  if (td) info.taskDefinition = td;
  if (container?.image) info.image = container.image;
  if (container?.imageDigest) info.imageDigest = container.imageDigest;
  if (t.startedAt) info.startedAt = t.startedAt;
  if (t.stoppedAt) info.stoppedAt = t.stoppedAt;
  const reasons = [t.stoppedReason, ...(t.containers ?? []).map((c) => c.reason)].filter((r): r is string => Boolean(r));
  if (reasons.length > 0) info.stoppedReason = [...new Set(reasons)].join('; ');
  return info;
}

async function tasksOf(
  ecs: ECSClient,
  cluster: string,
  service: string,
  desiredStatus: 'RUNNING' | 'STOPPED',
  limit: number,
): Promise<TaskInfo[]> {
  const arns = (await ecs.send(new ListTasksCommand({ cluster, serviceName: service, desiredStatus, maxResults: 100 }))).taskArns ?? [];
  if (arns.length === 0) return [];
  const out = await ecs.send(new DescribeTasksCommand({ cluster, tasks: arns.slice(0, 100) }));
  const tasks = (out.tasks ?? []).map(taskInfo);
  if (desiredStatus === 'STOPPED') tasks.sort((a, b) => (b.stoppedAt?.getTime() ?? 0) - (a.stoppedAt?.getTime() ?? 0));
  return tasks.slice(0, limit);
}

export async function describeService(ecs: ECSClient, cluster: string, service: string): Promise<ServiceDetails | undefined> {
  const out = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
  const s = out.services?.[0];
  if (!s || s.status === 'INACTIVE') return undefined;
  const primary = s.deployments?.find((d) => d.status === 'PRIMARY');
  const [running, stopped] = await Promise.all([
    tasksOf(ecs, cluster, service, 'RUNNING', 100),
    tasksOf(ecs, cluster, service, 'STOPPED', MAX_STOPPED),
  ]);
  const details: ServiceDetails = {
    status: s.status ?? 'UNKNOWN',
    running: s.runningCount ?? 0,
    desired: s.desiredCount ?? 0,
    pending: s.pendingCount ?? 0,
    events: (s.events ?? []).slice(0, MAX_EVENTS).map((e) => ({ ...(e.createdAt ? { at: e.createdAt } : {}), message: e.message ?? '' })),
    tasks: [...running, ...stopped],
    targetGroupArns: (s.loadBalancers ?? []).flatMap((lb) => (lb.targetGroupArn ? [lb.targetGroupArn] : [])),
  };
  if (primary?.rolloutState) details.rolloutState = primary.rolloutState;
  const td = familyRevision(s.taskDefinition);
  if (td) details.taskDefinition = td;
  return details;
}

export async function describeTargetHealth(elb: ElasticLoadBalancingV2Client, targetGroupArn: string): Promise<TargetHealth[]> {
  const out = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return (out.TargetHealthDescriptions ?? []).map((d) => {
    const t: TargetHealth = { id: d.Target?.Id ?? '?', state: d.TargetHealth?.State ?? 'unknown' };
    if (d.Target?.Port !== undefined) t.port = d.Target.Port;
    if (d.TargetHealth?.Reason) t.reason = d.TargetHealth.Reason;
    if (d.TargetHealth?.Description) t.description = d.TargetHealth.Description;
    return t;
  });
}

export async function describeAlarms(cw: CloudWatchClient, prefix: string): Promise<AlarmState[]> {
  const alarms: AlarmState[] = [];
  let token: string | undefined;
  do {
    const out = await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: prefix, ...(token ? { NextToken: token } : {}) }));
    for (const a of out.MetricAlarms ?? []) {
      const alarm: AlarmState = { name: a.AlarmName ?? '?', state: a.StateValue ?? 'UNKNOWN' };
      if (a.StateReason) alarm.reason = a.StateReason;
      if (a.StateUpdatedTimestamp) alarm.updatedAt = a.StateUpdatedTimestamp;
      alarms.push(alarm);
    }
    token = out.NextToken;
  } while (token);
  return alarms;
}
