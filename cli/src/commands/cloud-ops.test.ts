/** logs, secret rotate and token --deployed (status: status.test.ts), run in-process against the real AwsCloud over aws-sdk-client-mock. */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, FilterLogEventsCommand, StartLiveTailCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import {
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AwsCloud } from '../cloud/aws.js';
import { writeDeployedState } from '../state.js';
import { OUTPUTS } from '../test-cloud.js';
import { tempProject, testContext, waitFor } from '../test-context.js';

const sm = mockClient(SecretsManagerClient);
const logsMock = mockClient(CloudWatchLogsClient);
const cfn = mockClient(CloudFormationClient);
const ecs = mockClient(ECSClient);

let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  for (const m of [sm, logsMock, cfn, ecs]) m.reset();
  project = await tempProject();
  await writeDeployedState(project.dir, { stackName: 'river', region: 'us-east-1', outputs: OUTPUTS });
});
afterEach(async () => {
  await project.cleanup();
});
const ctxFor = (extra: Parameters<typeof testContext>[0] extends infer O ? Partial<O> : never = {}) =>
  testContext({ cwd: project.dir, cloud: new AwsCloud({ region: 'us-east-1' }), ...extra });

describe('river secret rotate', () => {
  it('stages one new 32-byte secret as AWSPENDING, waits for the tasks, then moves AWSCURRENT to it', async () => {
    sm.on(ListSecretVersionIdsCommand).resolves({
      Versions: [{ VersionId: 'v1', VersionStages: ['AWSCURRENT'], CreatedDate: new Date('2026-01-01T00:00:00Z') }],
    });
    sm.on(PutSecretValueCommand).resolves({ VersionId: 'v2' });
    sm.on(UpdateSecretVersionStageCommand).resolves({});
    ecs.on(ListTasksCommand).resolves({ taskArns: ['arn:aws:ecs:us-east-1:123456789012:task/river-cluster/abc123'] });
    logsMock.on(FilterLogEventsCommand).resolves({
      events: [
        {
          logStreamName: 'river/river/abc123',
          message: '{"msg":"JWT secrets loaded","jwtSecretVersions":["AWSCURRENT:v1","AWSPENDING:v2"]}',
          timestamp: 1,
        },
      ],
    });
    const t = ctxFor();
    expect(await t.run(['secret', 'rotate'])).toBe(0);
    const calls = sm.commandCalls(PutSecretValueCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.SecretId).toBe(OUTPUTS.JwtSecretArn);
    expect(input.VersionStages).toEqual(['AWSPENDING']);
    expect(Buffer.from(input.SecretString!, 'base64url')).toHaveLength(32);
    expect(input.SecretString).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(logsMock.commandCalls(FilterLogEventsCommand)[0]!.args[0].input).toMatchObject({
      logGroupName: OUTPUTS.LogGroupName,
      filterPattern: '"v2"',
    });
    expect(sm.commandCalls(UpdateSecretVersionStageCommand).map((c) => c.args[0].input)).toEqual([
      { SecretId: OUTPUTS.JwtSecretArn, VersionStage: 'AWSCURRENT', MoveToVersionId: 'v2', RemoveFromVersionId: 'v1' },
      { SecretId: OUTPUTS.JwtSecretArn, VersionStage: 'AWSPENDING', RemoveFromVersionId: 'v2' },
    ]);
    expect(t.io.stdout).toEqual([]);
    expect(t.io.stderrText()).not.toContain(input.SecretString!);
  });
});

describe('river token --deployed', () => {
  it("refuses a lifetime past the deployment's maximum (24h), before any AWS call", async () => {
    const t = ctxFor();
    expect(await t.run(['token', '--deployed', '--sub', 'u1', '--ttl', '25h'])).toBe(1);
    expect(t.io.stderr).toEqual([
      "error: --ttl 25h is longer than a deployment's maximum token lifetime (24h)",
      'hint: pass --ttl 24h or less: tokens signed with a rotated-out secret must expire before the next rotation',
    ]);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    const ok = ctxFor();
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'deployed-secret-0123456789abcdefghijklmnopqrstuvwxyz' });
    expect(await ok.run(['token', '--deployed', '--sub', 'u1', '--ttl', '24h'])).toBe(0);
  });

  it('signs with the AWSCURRENT value of the deployed JWT secret', async () => {
    const secret = 'deployed-secret-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN';
    sm.on(GetSecretValueCommand, { SecretId: OUTPUTS.JwtSecretArn }).resolves({ SecretString: secret });
    const t = ctxFor({ env: { RIVER_JWT_SECRET: 'the-env-secret-is-not-used-with-deployed-0123456789' } });
    expect(await t.run(['token', '--deployed', '--sub', 'u9', '--channels', 'dogs'])).toBe(0);
    const { payload } = await jwtVerify(t.io.stdout[0]!, new TextEncoder().encode(secret));
    expect(payload).toMatchObject({ sub: 'u9', channels: ['dogs'] });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('without a recorded deployment: exit 1 with a hint', async () => {
    const empty = await tempProject();
    try {
      const t = testContext({ cwd: empty.dir, cloud: new AwsCloud({ region: 'us-east-1' }) });
      expect(await t.run(['token', '--deployed', '--sub', 'u1'])).toBe(1);
      expect(t.io.stderr).toEqual([
        'error: no River deployment recorded here',
        expect.stringMatching(/^hint: run `npx river init` and `npx river deploy` first/),
      ]);
    } finally {
      await empty.cleanup();
    }
  });
});

describe('river logs', () => {
  it('prints the events since --since, then follows with live tail (ARN without :*) until Ctrl+C', async () => {
    const now = Date.UTC(2026, 10, 28, 4, 0, 0);
    logsMock
      .on(FilterLogEventsCommand)
      .resolvesOnce({ events: [{ eventId: '1', timestamp: now - 60_000, message: 'listening\n', logStreamName: 's' }], nextToken: 'n' })
      .resolvesOnce({ events: [{ eventId: '2', timestamp: now - 30_000, message: 'ready' }] });
    async function* stream() {
      yield { sessionStart: {} };
      yield { sessionUpdate: { sessionResults: [{ timestamp: now + 1000, message: 'live line', logStreamName: 's' }] } };
      await new Promise((r) => setTimeout(r, 60_000));
    }
    logsMock.on(StartLiveTailCommand).resolves({ responseStream: stream() } as never);
    const t = ctxFor({ now: () => now });
    const exit = t.run(['logs', '--follow', '--since', '5m', '--filter', 'ERROR']);
    await waitFor(() => t.io.stdout.length >= 3, 'three log lines');
    t.abort();
    expect(await exit).toBe(0);
    expect(t.io.stdout).toEqual([
      `${new Date(now - 60_000).toISOString()} listening`,
      `${new Date(now - 30_000).toISOString()} ready`,
      `${new Date(now + 1000).toISOString()} live line`,
    ]);
    const filter = logsMock.commandCalls(FilterLogEventsCommand)[0]!.args[0].input;
    expect(filter).toMatchObject({ logGroupName: OUTPUTS.LogGroupName, startTime: now - 300_000, filterPattern: 'ERROR' });
    expect(logsMock.commandCalls(FilterLogEventsCommand)[1]!.args[0].input.nextToken).toBe('n');
    const tail = logsMock.commandCalls(StartLiveTailCommand)[0]!.args[0].input;
    expect(tail.logGroupIdentifiers).toEqual([OUTPUTS.LogGroupArn]);
    expect(tail.logEventFilterPattern).toBe('ERROR');
  });

  it('falls back to FilterLogEvents polling when live tail is refused, without printing an event twice', async () => {
    const now = Date.UTC(2026, 10, 28, 4, 0, 0);
    logsMock
      .on(FilterLogEventsCommand)
      .resolvesOnce({ events: [{ eventId: 'a', timestamp: now - 1000, message: 'old' }] })
      .resolves({
        events: [
          { eventId: 'a', timestamp: now - 1000, message: 'old' },
          { eventId: 'b', timestamp: now + 500, message: 'new' },
        ],
      });
    logsMock
      .on(StartLiveTailCommand)
      .rejects(Object.assign(new Error('not authorized to perform logs:StartLiveTail'), { name: 'AccessDeniedException' }));
    const t = ctxFor({ now: () => now });
    const exit = t.run(['logs', '-f', '--json']);
    await waitFor(() => t.io.stdout.length >= 2, 'the polled line');
    t.abort();
    expect(await exit).toBe(0);
    expect(t.io.stdout.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(['old', 'new']);
    expect(t.io.stderr).toContain(
      'warning: live tail is not available: AccessDeniedException: not authorized to perform logs:StartLiveTail; polling every 2 s instead',
    );
    const second = logsMock.commandCalls(FilterLogEventsCommand)[1]!.args[0].input;
    expect(second.startTime).toBe(now - 1000);
  });

  it('a bad --since is exit 1 with a hint', async () => {
    const t = ctxFor();
    expect(await t.run(['logs', '--since', 'yesterday'])).toBe(1);
    expect(t.io.stderr[0]).toBe('error: --since "yesterday" is not a duration');
  });
});
