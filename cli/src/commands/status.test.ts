/** river status against the real AwsCloud over aws-sdk-client-mock: what runs, and why it may not. */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AwsCloud } from '../cloud/aws.js';
import { writeDeployedState } from '../state.js';
import { OUTPUTS } from '../test-cloud.js';
import { tempProject, testContext } from '../test-context.js';

const cfn = mockClient(CloudFormationClient);
const ecs = mockClient(ECSClient);
const elb = mockClient(ElasticLoadBalancingV2Client);
const cw = mockClient(CloudWatchClient);

const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/river-tg/abc';
const TD = (rev: number) => `arn:aws:ecs:us-east-1:123456789012:task-definition/river-task:${rev}`;
const TASK = (id: string) => `arn:aws:ecs:us-east-1:123456789012:task/river-cluster/${id}`;
const DIGEST = 'sha256:1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988';

let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  for (const m of [cfn, ecs, elb, cw]) m.reset();
  project = await tempProject();
  await writeDeployedState(project.dir, { stackName: 'river', region: 'us-east-1', outputs: OUTPUTS });
});
afterEach(async () => {
  await project.cleanup();
});
const ctxFor = () => testContext({ cwd: project.dir, cloud: new AwsCloud({ region: 'us-east-1' }) });

/** A rollout stuck on an image that cannot be pulled: one old task running, new ones stopping. */
function failingRollout(): void {
  cfn.on(DescribeStacksCommand, { StackName: 'river' }).resolves({
    Stacks: [{ StackName: 'river', StackStatus: 'UPDATE_IN_PROGRESS', StackStatusReason: 'User Initiated', CreationTime: new Date(0) }],
  });
  ecs.on(DescribeServicesCommand, { cluster: OUTPUTS.ClusterName, services: [OUTPUTS.ServiceName] }).resolves({
    services: [
      {
        status: 'ACTIVE',
        runningCount: 1,
        desiredCount: 2,
        pendingCount: 1,
        taskDefinition: TD(8),
        deployments: [{ status: 'PRIMARY', rolloutState: 'IN_PROGRESS' }],
        loadBalancers: [{ targetGroupArn: TG, containerName: 'river', containerPort: 4400 }],
        events: [
          { createdAt: new Date('2026-12-07T01:02:00Z'), message: '(service river-service) has started 1 tasks: (task new2).' },
          { createdAt: new Date('2026-12-07T01:01:00Z'), message: '(service river-service) has started 1 tasks: (task new1).' },
        ],
      },
    ],
  });
  ecs.on(ListTasksCommand, { desiredStatus: 'RUNNING' }).resolves({ taskArns: [TASK('old1')] });
  ecs.on(ListTasksCommand, { desiredStatus: 'STOPPED' }).resolves({ taskArns: [TASK('new1')] });
  ecs.on(DescribeTasksCommand, { tasks: [TASK('old1')] }).resolves({
    tasks: [
      {
        taskArn: TASK('old1'),
        lastStatus: 'RUNNING',
        healthStatus: 'HEALTHY',
        taskDefinitionArn: TD(7),
        containers: [{ image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/river:7', imageDigest: DIGEST }],
      },
    ],
  });
  ecs.on(DescribeTasksCommand, { tasks: [TASK('new1')] }).resolves({
    tasks: [
      {
        taskArn: TASK('new1'),
        lastStatus: 'STOPPED',
        taskDefinitionArn: TD(8),
        stoppedAt: new Date('2026-12-07T01:01:30Z'),
        stoppedReason: 'Task failed to start',
        containers: [
          {
            image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/river:8',
            reason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s): not found',
          },
        ],
      },
    ],
  });
  elb.on(DescribeTargetHealthCommand, { TargetGroupArn: TG }).resolves({
    TargetHealthDescriptions: [
      { Target: { Id: '10.0.1.5', Port: 4400 }, TargetHealth: { State: 'healthy' } },
      {
        Target: { Id: '10.0.2.9', Port: 4400 },
        TargetHealth: {
          State: 'unhealthy',
          Reason: 'Target.ResponseCodeMismatch',
          Description: 'Health checks failed with these codes: [503]',
        },
      },
    ],
  });
  cw.on(DescribeAlarmsCommand, { AlarmNamePrefix: `TargetTracking-service/${OUTPUTS.ClusterName}/${OUTPUTS.ServiceName}` }).resolves({
    MetricAlarms: [
      {
        AlarmName: 'TargetTracking-service/river-cluster/river-service-AlarmHigh-1',
        StateValue: 'ALARM',
        StateReason: 'Threshold Crossed: 3 datapoints [81.2, 80.5, 79.9] were greater than the threshold (60.0).',
      },
      { AlarmName: 'TargetTracking-service/river-cluster/river-service-AlarmLow-1', StateValue: 'OK' },
    ],
  });
}

describe('river status', () => {
  it('explains a failing rollout: task definition, image digests, stop reasons, target health, alarms, events, /readyz', async () => {
    failingRollout();
    const seen: string[] = [];
    const t = ctxFor();
    t.ctx.fetch = (async (url: string) => {
      seen.push(url);
      return new Response('ok', { status: 200 });
    }) as typeof fetch;
    expect(await t.run(['status'])).toBe(0);
    expect(seen).toEqual(['https://rt.example.com/readyz']);
    expect(t.io.stdout).toEqual([
      'stack     river (us-east-1)  UPDATE_IN_PROGRESS: User Initiated  since 1970-01-01T00:00:00Z',
      'tasks     1 running / 2 desired, 1 pending  (rollout IN_PROGRESS)  task definition river-task:8',
      `task      old1  RUNNING  HEALTHY  river-task:7  ${DIGEST}`,
      'task      new1  STOPPED  river-task:8  123456789012.dkr.ecr.us-east-1.amazonaws.com/river:8  stopped 2026-12-07T01:01:30Z: Task failed to start; CannotPullContainerError: pull image manifest has been retried 5 time(s): not found',
      'target    10.0.1.5:4400  healthy',
      'target    10.0.2.9:4400  unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [503])',
      'alarm     TargetTracking-service/river-cluster/river-service-AlarmHigh-1  ALARM: Threshold Crossed: 3 datapoints [81.2, 80.5, 79.9] were greater than the threshold (60.0).',
      'alarm     TargetTracking-service/river-cluster/river-service-AlarmLow-1  OK',
      'event     2026-12-07T01:02:00Z  (service river-service) has started 1 tasks: (task new2).',
      'event     2026-12-07T01:01:00Z  (service river-service) has started 1 tasks: (task new1).',
      'endpoint  https://rt.example.com/readyz  200 ready',
    ]);
  });

  it('--json carries the same, one line', async () => {
    failingRollout();
    const t = ctxFor();
    t.ctx.fetch = (async () =>
      Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND' } }))) as typeof fetch;
    expect(await t.run(['status', '--json'])).toBe(0);
    expect(t.io.stdout).toHaveLength(1);
    expect(JSON.parse(t.io.stdout[0]!)).toMatchObject({
      stackName: 'river',
      stack: { status: 'UPDATE_IN_PROGRESS' },
      tasks: { running: 1, desired: 2, rolloutState: 'IN_PROGRESS' },
      service: {
        taskDefinition: 'river-task:8',
        events: [{ message: expect.stringContaining('new2') }, { message: expect.stringContaining('new1') }],
        tasks: [
          { id: 'old1', lastStatus: 'RUNNING', health: 'HEALTHY', taskDefinition: 'river-task:7', imageDigest: DIGEST },
          { id: 'new1', lastStatus: 'STOPPED', stoppedReason: expect.stringContaining('CannotPullContainerError') },
        ],
      },
      targets: [
        { id: '10.0.1.5', port: 4400, state: 'healthy' },
        { id: '10.0.2.9', state: 'unhealthy', reason: 'Target.ResponseCodeMismatch' },
      ],
      alarms: [{ state: 'ALARM' }, { state: 'OK' }],
      readyz: { url: 'https://rt.example.com/readyz', ok: false, error: 'ENOTFOUND' },
    });
  });

  it('a stack that does not exist is exit 1 with a hint', async () => {
    cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id river does not exist'), { name: 'ValidationError' }));
    const t = ctxFor();
    expect(await t.run(['status'])).toBe(1);
    expect(t.io.stderr).toEqual(['error: the stack river does not exist in us-east-1', 'hint: deploy it with `npx river deploy`']);
  });
});
