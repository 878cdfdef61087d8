/**
 * Day-2 operations as an operator runs them: the built `river` command (bin/river, a real process)
 * against moto (the AWS emulator), in a project folder with only river.config.json, so every
 * command finds the stack through CloudFormation. moto cannot create River's full template, so the
 * test creates what the commands read with the SDK: a stub stack carrying River's outputs (and the
 * log group), the secrets, the ECS cluster, task definition, service and two Fargate tasks, log lines.
 * `diff` and `destroy --yes` run the real CDK toolkit (a full synth, ~500 MB, 10–30 s each).
 * Skipped without moto_server outside CI; fails in CI (harness/moto.ts).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateClusterCommand, CreateServiceCommand, ECSClient, RegisterTaskDefinitionCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { motoAvailable, motoEnv, startMoto, type MotoInstance } from './harness/moto.js';
import { freePort } from './harness/redis.js';

const BIN = fileURLToPath(new URL('../bin/river', import.meta.url));
const FIRST = 'first-jwt-secret-0123456789-abcdefghijklmnopqrstuvwxyzABCDEFG';
const LOG_GROUP = '/river/river';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function river(cwd: string, env: Record<string, string>, args: string[], onStderr?: (text: string) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr);
    });
    // A command that hangs is stopped by its PID before the test's own timeout.
    const timer = setTimeout(() => process.kill(child.pid!, 'SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

describe.skipIf(!motoAvailable())('river day-2 commands against moto', () => {
  let moto: MotoInstance;
  let dir: string;
  let env: Record<string, string>;
  let jwtArn: string;
  let tasks: string[];
  let outputs: Record<string, string>;
  let closedPort: number;
  const clients = () => {
    const cfg = { region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
    return {
      sm: new SecretsManagerClient(cfg),
      ecs: new ECSClient(cfg),
      logs: new CloudWatchLogsClient(cfg),
      cfn: new CloudFormationClient(cfg),
    };
  };

  beforeAll(async () => {
    moto = await startMoto();
    closedPort = await freePort();
    env = motoEnv(moto);
    dir = await mkdtemp(join(tmpdir(), 'river-ops-'));
    await writeFile(join(dir, 'river.config.json'), JSON.stringify({ name: 'river', region: 'us-east-1' }));
    const { sm, ecs, logs, cfn } = clients();
    jwtArn = (await sm.send(new CreateSecretCommand({ Name: 'river-jwt', SecretString: FIRST }))).ARN!;
    const keyArn = (await sm.send(new CreateSecretCommand({ Name: 'river-key', SecretString: 'api-key-0123456789' }))).ARN!;
    await ecs.send(new CreateClusterCommand({ clusterName: 'river-cluster' }));
    const td = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'river',
        containerDefinitions: [{ name: 'river', image: 'public.ecr.aws/river/river:1', memory: 512 }],
      }),
    );
    const tdArn = td.taskDefinition!.taskDefinitionArn!;
    await ecs.send(
      new CreateServiceCommand({
        cluster: 'river-cluster',
        serviceName: 'river-service',
        taskDefinition: tdArn,
        desiredCount: 2,
        launchType: 'FARGATE',
      }),
    );
    const run = await ecs.send(
      new RunTaskCommand({ cluster: 'river-cluster', taskDefinition: tdArn, count: 2, launchType: 'FARGATE', startedBy: 'ecs-svc/1' }),
    );
    tasks = (run.tasks ?? []).map((t) => t.taskArn!.split('/').at(-1)!);
    expect(tasks).toHaveLength(2);
    outputs = {
      WebSocketUrl: `ws://127.0.0.1:${closedPort}/v1/ws`, // nothing listens there: status reports it unreachable
      HttpApiUrl: `http://127.0.0.1:${closedPort}`,
      JwtSecretArn: jwtArn,
      ApiKeySecretArn: keyArn,
      ClusterName: 'river-cluster',
      ServiceName: 'river-service',
      LogGroupName: LOG_GROUP,
      LogGroupArn: `arn:aws:logs:us-east-1:123456789012:log-group:${LOG_GROUP}`,
    };
    const template = {
      Resources: { Logs: { Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: LOG_GROUP } } },
      Outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { Value: v }])),
    };
    await cfn.send(new CreateStackCommand({ StackName: 'river', TemplateBody: JSON.stringify(template) }));
    for (
      let i = 0;
      (await cfn.send(new DescribeStacksCommand({ StackName: 'river' }))).Stacks?.[0]?.StackStatus !== 'CREATE_COMPLETE';
      i++
    ) {
      if (i > 50) throw new Error('the stub stack did not complete');
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const task of tasks) {
      const stream = `river/river/${task}`;
      await logs.send(new CreateLogStreamCommand({ logGroupName: LOG_GROUP, logStreamName: stream }));
      await logs.send(
        new PutLogEventsCommand({
          logGroupName: LOG_GROUP,
          logStreamName: stream,
          logEvents: [{ timestamp: Date.now(), message: `{"level":30,"msg":"listening","task":"${task}"}` }],
        }),
      );
    }
  }, 180_000);

  afterAll(async () => {
    await moto?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('status: the stack, the tasks and the endpoint, in text and --json', async () => {
    const text = await river(dir, env, ['status']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^stack\s+river \(us-east-1\)\s+CREATE_COMPLETE/m);
    expect(text.stdout).toMatch(/^tasks\s+\d+ running \/ 2 desired.*task definition river:1$/m);
    for (const task of tasks) expect(text.stdout).toMatch(new RegExp(`^task\\s+${task}\\s+[A-Z]+\\s+river:1`, 'm'));
    expect(text.stdout).toContain(`endpoint  http://127.0.0.1:${closedPort}/readyz  unreachable (ECONNREFUSED)`);
    const json = await river(dir, env, ['status', '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { stackName: string; region: string; stack: { status: string }; tasks: { desired: number } };
    expect(parsed).toMatchObject({
      stackName: 'river',
      region: 'us-east-1',
      stack: { status: 'CREATE_COMPLETE' },
      tasks: { desired: 2 },
      service: { taskDefinition: 'river:1' },
      alarms: [],
    });
  });

  it("logs: the nodes' lines of the last hour, --json one object per line", async () => {
    const r = await river(dir, env, ['logs', '--since', '1h', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { stream: string; message: string });
    expect(lines.map((l) => l.stream).sort()).toEqual(tasks.map((t) => `river/river/${t}`).sort());
    expect(lines.every((l) => l.message.includes('"msg":"listening"'))).toBe(true);
  });

  it('logs --follow: says why live tail is unavailable (the error moto returns), then polls until Ctrl+C', async () => {
    let seen = '';
    const child = spawn(process.execPath, [BIN, 'logs', '--follow', '--since', '1h'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (seen += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Stopped by its PID whatever happens below (SIGINT is the test itself; SIGKILL only after a failure).
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    });
    const { logs } = clients();
    const deadline = Date.now() + 90_000;
    while (!/polling every 2 s instead/.test(seen) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(seen).toMatch(/^warning: live tail is not available: \S.*; polling every 2 s instead$/m);
    expect(seen).not.toMatch(/not available: (Error|undefined)?;/);
    expect(seen).not.toContain('ENOTFOUND'); // no DNS lookup of a prefixed host: moto's own answer
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: LOG_GROUP,
        logStreamName: `river/river/${tasks[0]}`,
        logEvents: [{ timestamp: Date.now(), message: 'a line written while following' }],
      }),
    );
    while (!stdout.includes('a line written while following') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    process.kill(child.pid!, 'SIGINT');
    // Ctrl+C is exit status 130 (docs/cli.md#exit-codes), under node as under npx.
    expect(await exited).toBe(130);
    expect(stdout.split('\n').filter((l) => l.includes('a line written while following'))).toHaveLength(1);
  }, 180_000);

  it('token --deployed signs with AWSCURRENT; secret rotate stages, waits for both tasks, promotes; a second rotation needs --force', async () => {
    // `token --deployed` reads .river/outputs.json (what `river deploy` writes): record it as a deploy would.
    await mkdir(join(dir, '.river'), { recursive: true });
    await writeFile(join(dir, '.river', 'outputs.json'), JSON.stringify({ stackName: 'river', region: 'us-east-1', outputs }));
    const before = await river(dir, env, ['token', '--deployed', '--sub', 'u1']);
    expect(before.code, before.stderr).toBe(0);
    await jwtVerify(before.stdout.trim(), new TextEncoder().encode(FIRST));

    const { sm, logs } = clients();
    const started = Date.now();
    let pendingId: string | undefined;
    // The nodes' side: once the CLI staged a version, each task logs that it loaded it (as River does).
    const nodes = (async () => {
      for (;;) {
        const versions = (await sm.send(new ListSecretVersionIdsCommand({ SecretId: jwtArn }))).Versions ?? [];
        pendingId = versions.find((v) => v.VersionStages?.includes('AWSPENDING'))?.VersionId;
        if (pendingId) break;
        if (Date.now() - started > 90_000) throw new Error('the CLI staged no AWSPENDING version');
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await sm.send(new GetSecretValueCommand({ SecretId: jwtArn }))).SecretString).toBe(FIRST); // not promoted yet
      for (const task of tasks) {
        const message = JSON.stringify({
          level: 30,
          msg: 'JWT secrets loaded',
          jwtSecretVersions: [`AWSCURRENT:x`, `AWSPENDING:${pendingId}`],
        });
        await logs.send(
          new PutLogEventsCommand({
            logGroupName: LOG_GROUP,
            logStreamName: `river/river/${task}`,
            logEvents: [{ timestamp: Date.now(), message }],
          }),
        );
      }
    })();
    const rotate = await river(dir, env, ['secret', 'rotate']);
    await nodes;
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stderr).toContain('all 2 running tasks accept the new secret');
    const versions = (await sm.send(new ListSecretVersionIdsCommand({ SecretId: jwtArn }))).Versions ?? [];
    const current = versions.find((v) => v.VersionStages?.includes('AWSCURRENT'));
    expect(current?.VersionId).toBe(pendingId);
    expect(current?.VersionStages).toEqual(['AWSCURRENT']); // AWSPENDING taken off
    expect((await sm.send(new GetSecretValueCommand({ SecretId: jwtArn, VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe(FIRST);

    const after = await river(dir, env, ['token', '--deployed', '--sub', 'u1']);
    expect(after.code).toBe(0);
    const secret = (await sm.send(new GetSecretValueCommand({ SecretId: jwtArn }))).SecretString!;
    await jwtVerify(after.stdout.trim(), new TextEncoder().encode(secret));
    expect(rotate.stderr + rotate.stdout).not.toContain(secret);

    const again = await river(dir, env, ['secret', 'rotate']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /^error: the last rotation was at .* and this rotation makes them invalid\nhint: wait until .*, or pass --force/m,
    );
    expect(
      ((await sm.send(new ListSecretVersionIdsCommand({ SecretId: jwtArn }))).Versions ?? []).some((v) =>
        v.VersionStages?.includes('AWSPENDING'),
      ),
    ).toBe(false);
  }, 180_000);

  it('diff: the real toolkit against the stub stack (template comparison where moto makes no change set), deploying nothing', async () => {
    const r = await river(dir, env, ['diff', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as {
      stackExists: boolean;
      changes: Array<{ logicalId: string; resourceType: string; action: string; stateful: boolean }>;
      security: { broadening: boolean; iam: string[] };
    };
    expect(d.stackExists).toBe(true);
    // The stub's log group is not in River's template: its removal is marked stateful.
    expect(d.changes).toContainEqual({ logicalId: 'Logs', resourceType: 'AWS::Logs::LogGroup', action: 'remove', stateful: true });
    expect(d.changes.some((c) => c.resourceType === 'AWS::ECS::Service' && c.action === 'add')).toBe(true);
    expect(d.security.broadening).toBe(true);
    expect(d.security.iam.some((l) => l.includes('secretsmanager:GetSecretValue'))).toBe(true);
    expect(r.stderr).not.toMatch(/This deployment will make/);
    expect(r.stderr).not.toContain('NodeVersionSupportWarning');
    const { cfn } = clients();
    expect((await cfn.send(new DescribeStacksCommand({ StackName: 'river' }))).Stacks?.[0]?.StackStatus).toBe('CREATE_COMPLETE');
  }, 120_000);

  it('destroy with no stack where it looks: names the account and region, exit 1', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'river-ops-'));
    try {
      await writeFile(join(elsewhere, 'river.config.json'), JSON.stringify({ name: 'river', region: 'eu-west-3' }));
      const r = await river(elsewhere, { ...env, AWS_REGION: 'eu-west-3' }, ['destroy', '--yes']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('error: no stack river in account 123456789012, region eu-west-3: nothing was destroyed');
      expect(r.stderr).toMatch(/^hint: check "region"/m);
      expect(r.stderr).not.toMatch(/destroyed river in/);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('destroy --yes deletes the stack and names where; run again, the stack is gone: exit 1', async () => {
    const r = await river(dir, env, ['destroy', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('destroyed river in account 123456789012, region us-east-1');
    const { cfn } = clients();
    const left = await cfn.send(new DescribeStacksCommand({ StackName: 'river' })).then(
      (o) => o.Stacks?.[0]?.StackStatus,
      () => undefined,
    );
    expect([undefined, 'DELETE_COMPLETE']).toContain(left);
    const again = await river(dir, env, ['destroy', '--yes']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('error: no stack river in account 123456789012, region us-east-1: nothing was destroyed');
  }, 120_000);
});
