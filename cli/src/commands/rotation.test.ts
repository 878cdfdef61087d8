/**
 * The whole `river secret rotate` sequence against real River nodes: each node reads the secret through
 * its real source (AwsSecretSource over the AWS SDK), the CLI through the real AwsCloud, both against
 * one fake Secrets Manager (a stateful aws-sdk-client-mock, staging labels as AWS moves them). ECS
 * ListTasks names the nodes as tasks; FilterLogEvents serves the lines the nodes really logged. Time is
 * a fake clock: each node re-reads the secret every 5 minutes at its own phase; tokens are checked by
 * authenticating real WebSocket clients. The timeline printed by the first test is in docs/deploy-aws.md.
 */
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import {
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { loadConfig, startRiver, type RiverNode } from '@river/server';
// Not exported by @river/server's index, which never loads the AWS SDK (node.ts loads this lazily).
import { AwsSecretSource, secretsManagerReader } from '../../../server/src/aws/aws-secret-source.js';
import { mockClient } from 'aws-sdk-client-mock';
import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AwsCloud } from '../cloud/aws.js';
import { writeDeployedState } from '../state.js';
import { OUTPUTS } from '../test-cloud.js';
import { tempProject, testContext } from '../test-context.js';
import { NODE_REFRESH_MS, ROTATION_GUARD_MS } from './secret.js';

const ARN = OUTPUTS.JwtSecretArn;
const FIRST = 'first-secret-0123456789-abcdefghijklmnopqrstuvwxyzABCDEFGH';
const T0 = Date.parse('2026-12-07T00:00:00Z');

/** Secrets Manager's staging labels: one version per label; moving AWSCURRENT puts AWSPREVIOUS on the version it left. */
class FakeSecretsManager {
  readonly versions: Array<{ id: string; value: string; stages: Set<string>; created: number }> = [];
  constructor(private readonly now: () => number) {}
  private holder(stage: string) {
    return this.versions.find((v) => v.stages.has(stage));
  }
  private label(stage: string, id: string): void {
    for (const v of this.versions) v.stages.delete(stage);
    this.versions.find((v) => v.id === id)!.stages.add(stage);
  }
  put(value: string, stages = ['AWSCURRENT']): string {
    const id = `v${this.versions.length + 1}`;
    const old = this.holder('AWSCURRENT');
    this.versions.push({ id, value, stages: new Set(), created: this.now() });
    for (const s of stages) this.label(s, id);
    if (stages.includes('AWSCURRENT') && old) this.label('AWSPREVIOUS', old.id);
    return id;
  }
  get(stage: string) {
    const v = this.holder(stage);
    if (!v) throw Object.assign(new Error(`no version at ${stage}`), { name: 'ResourceNotFoundException' });
    return { SecretString: v.value, VersionId: v.id };
  }
  update(stage: string, moveTo?: string, removeFrom?: string): void {
    const from = removeFrom ? this.versions.find((v) => v.id === removeFrom) : undefined;
    if (removeFrom && !from?.stages.has(stage))
      throw Object.assign(new Error(`${removeFrom} is not ${stage}`), { name: 'InvalidParameterException' });
    if (stage === 'AWSCURRENT' && moveTo && this.holder('AWSCURRENT')?.id !== removeFrom)
      throw Object.assign(new Error('RemoveFromVersionId required'), { name: 'InvalidParameterException' });
    from?.stages.delete(stage);
    if (moveTo) this.label(stage, moveTo);
    if (stage === 'AWSCURRENT' && moveTo && from) this.label('AWSPREVIOUS', from.id);
  }
  valueAt(stage: string): string | undefined {
    return this.holder(stage)?.value;
  }
}

const sm = mockClient(SecretsManagerClient);
const ecs = mockClient(ECSClient);
const cwl = mockClient(CloudWatchLogsClient);

interface SimNode {
  task: string;
  node: RiverNode;
  source: AwsSecretSource;
  /** When it next re-reads the secret (fake time); Infinity: stuck. */
  nextRefresh: number;
}

let now = T0;
let fake: FakeSecretsManager;
let nodes: SimNode[] = [];
let logLines: Array<{ timestamp: number; logStreamName: string; message: string; eventId: string }> = [];
let project: { dir: string; cleanup: () => Promise<void> };
let promotedAt: number[] = [];

beforeEach(async () => {
  now = T0;
  logLines = [];
  promotedAt = [];
  for (const m of [sm, ecs, cwl]) m.reset();
  fake = new FakeSecretsManager(() => now);
  fake.put(FIRST); // CloudFormation's first value
  sm.on(GetSecretValueCommand).callsFake((i: { VersionStage?: string }) => fake.get(i.VersionStage ?? 'AWSCURRENT'));
  sm.on(PutSecretValueCommand).callsFake((i: { SecretString: string; VersionStages?: string[] }) => ({
    VersionId: fake.put(i.SecretString, i.VersionStages),
  }));
  sm.on(UpdateSecretVersionStageCommand).callsFake(
    (i: { VersionStage: string; MoveToVersionId?: string; RemoveFromVersionId?: string }) => {
      fake.update(i.VersionStage, i.MoveToVersionId, i.RemoveFromVersionId);
      if (i.VersionStage === 'AWSCURRENT') promotedAt.push(now);
      return {};
    },
  );
  sm.on(ListSecretVersionIdsCommand).callsFake(() => ({
    Versions: fake.versions.map((v) => ({ VersionId: v.id, VersionStages: [...v.stages], CreatedDate: new Date(v.created) })),
  }));
  ecs
    .on(ListTasksCommand)
    .callsFake(() => ({ taskArns: nodes.map((n) => `arn:aws:ecs:us-east-1:123456789012:task/river-cluster/${n.task}`) }));
  cwl.on(FilterLogEventsCommand).callsFake((i: { startTime?: number; filterPattern?: string }) => {
    const term = (i.filterPattern ?? '').replace(/^"|"$/g, '');
    return { events: logLines.filter((e) => e.timestamp >= (i.startTime ?? 0) && e.message.includes(term)) };
  });
  project = await tempProject();
  await writeDeployedState(project.dir, { stackName: 'river', region: 'us-east-1', outputs: OUTPUTS });
});

afterEach(async () => {
  for (const n of nodes) {
    n.source.close();
    await n.node.close();
  }
  nodes = [];
  await project.cleanup();
});

/** A River task: its real secret source (the 5-minute timer replaced by the fake clock) and its log stream. */
async function startNode(task: string, phaseMs: number): Promise<SimNode> {
  const logger = {
    warn: () => {},
    info: (obj: object, msg: string) =>
      void logLines.push({
        timestamp: now,
        logStreamName: `river/river/${task}`,
        message: JSON.stringify({ level: 30, time: now, ...obj, msg }),
        eventId: String(logLines.length),
      }),
  };
  const reader = secretsManagerReader(new SecretsManagerClient({ region: 'us-east-1' }));
  const source = await AwsSecretSource.start({ secretId: ARN, reader, logger, refreshMs: 2 ** 30 });
  const config = loadConfig({
    RIVER_JWT_SECRET_ID: ARN,
    RIVER_API_KEY: 'rotation-test-api-key-Zq7Xw2Lp9Rt4Vb6Nm8Kc3Hj5',
    RIVER_PORT: '0',
    RIVER_HOST: '127.0.0.1',
    RIVER_LOG_LEVEL: 'silent',
  });
  const node = await startRiver(config, { secrets: source });
  const n = { task, node, source, nextRefresh: now + phaseMs };
  nodes.push(n);
  return n;
}

/** Moves the fake clock in 1-second steps, running each node's refresh when it is due. */
async function advance(ms: number): Promise<void> {
  const end = now + ms;
  while (now < end) {
    now = Math.min(end, now + 1000);
    for (const n of nodes) {
      while (n.nextRefresh <= now) {
        await n.source.refresh();
        n.nextRefresh += NODE_REFRESH_MS;
      }
    }
  }
}

async function mint(secret: string, sub = 'u1'): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt(Math.floor(now / 1000))
    .sign(new TextEncoder().encode(secret));
}

/** Authenticates a real WebSocket client: 'ready', or the close code. */
async function auth(n: SimNode, token: string): Promise<'ready' | number> {
  const ws = new WebSocket(n.node.urls.ws);
  try {
    return await new Promise<'ready' | number>((resolve, reject) => {
      ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type: string };
        if (frame.type === 'ready') resolve('ready');
      });
      ws.on('close', (code) => resolve(code));
      ws.on('error', reject);
    });
  } finally {
    ws.close();
  }
}

async function everyNode(token: string): Promise<Array<'ready' | number>> {
  return Promise.all(nodes.map((n) => auth(n, token)));
}

function run(argv: string[]) {
  const t = testContext({ cwd: project.dir, cloud: new AwsCloud({ region: 'us-east-1' }), now: () => now, sleep: (ms) => advance(ms) });
  return { t, done: t.run(argv) };
}

describe('river secret rotate against real nodes (fake Secrets Manager, fake clock)', () => {
  it('no token is refused: the new secret becomes current only once every node accepts it, the old one keeps working', async () => {
    for (const [i, phase] of [20_000, 150_000, 290_000].entries()) await startNode(`task${i}`, phase);
    const oldToken = await mint(FIRST);
    expect(await everyNode(oldToken)).toEqual(['ready', 'ready', 'ready']);

    const start = now;
    const { t, done } = run(['secret', 'rotate']);
    expect(await done).toBe(0);
    const newSecret = fake.valueAt('AWSCURRENT')!;
    expect(newSecret).not.toBe(FIRST);
    expect(fake.valueAt('AWSPREVIOUS')).toBe(FIRST);
    expect(fake.valueAt('AWSPENDING')).toBeUndefined();

    // Every node logged the pending version before the promotion; the promotion came after the last one.
    const loaded = nodes.map((n) => logLines.find((l) => l.logStreamName.endsWith(n.task) && l.message.includes('AWSPENDING'))!.timestamp);
    expect(loaded.map((ms) => ms - start)).toEqual([20_000, 150_000, 290_000]);
    expect(promotedAt).toHaveLength(1);
    expect(promotedAt[0]!).toBeGreaterThanOrEqual(Math.max(...loaded));
    expect(promotedAt[0]! - start).toBeLessThanOrEqual(NODE_REFRESH_MS + 10_000);

    // What backends and `river token --deployed` sign with now, and what they signed with before.
    expect(await everyNode(await mint(newSecret))).toEqual(['ready', 'ready', 'ready']);
    expect(await everyNode(oldToken)).toEqual(['ready', 'ready', 'ready']);
    await advance(NODE_REFRESH_MS); // every node has now re-read the promoted stages too
    expect(await everyNode(oldToken)).toEqual(['ready', 'ready', 'ready']);
    expect(t.io.stderrText()).toContain('all 3 running tasks accept the new secret');
    expect(t.io.stderrText()).not.toContain(newSecret);
    console.log(
      `rotation timeline (fake clock, refresh phases 20 s / 150 s / 290 s): staged at +0 s; nodes accept the new secret at +${loaded.map((ms) => (ms - start) / 1000).join(' s, +')} s; promoted (rotate returned) at +${(promotedAt[0]! - start) / 1000} s`,
    );
  });

  it('a second rotation inside the token lifetime is refused without --force; with it, the oldest tokens stop working', async () => {
    for (const [i, phase] of [5_000, 200_000].entries()) await startNode(`task${i}`, phase);
    const firstToken = await mint(FIRST);
    expect(await run(['secret', 'rotate']).done).toBe(0);
    const second = fake.valueAt('AWSCURRENT')!;
    const secondToken = await mint(second);
    await advance(60 * 60_000);

    const refused = run(['secret', 'rotate']);
    expect(await refused.done).toBe(1);
    expect(refused.t.io.stderr[0]).toMatch(
      /^error: the last rotation was at .*: tokens signed before it may be valid until .*, and this rotation makes them invalid$/,
    );
    expect(refused.t.io.stderr[1]).toMatch(/^hint: wait until .*, or pass --force/);
    expect(fake.versions).toHaveLength(2); // nothing staged
    expect(await everyNode(firstToken)).toEqual(['ready', 'ready']);

    const forced = run(['secret', 'rotate', '--force']);
    expect(await forced.done).toBe(0);
    expect(forced.t.io.stderrText()).toContain('(--force)');
    const forcedAt = promotedAt.at(-1)!;
    // Right after the forced promotion the first secret is still accepted; each node drops it at its next refresh.
    expect(await everyNode(firstToken)).toEqual(['ready', 'ready']);
    const droppedAt: Array<number | undefined> = nodes.map(() => undefined);
    while (droppedAt.some((t) => t === undefined) && now - forcedAt <= NODE_REFRESH_MS) {
      await advance(1000);
      nodes.forEach((n, i) => {
        if (droppedAt[i] === undefined && !n.source.secrets().includes(FIRST)) droppedAt[i] = now - forcedAt;
      });
    }
    expect(droppedAt.every((t) => t !== undefined && t <= NODE_REFRESH_MS)).toBe(true);
    console.log(
      `forced second rotation: tokens of the first secret refused by the nodes from +${droppedAt.map((t) => t! / 1000).join(' s, +')} s after the promotion (their next refresh)`,
    );
    expect(await everyNode(firstToken)).toEqual([4500, 4500]); // two rotations old: refused
    expect(await everyNode(secondToken)).toEqual(['ready', 'ready']); // previous: still accepted
    expect(await everyNode(await mint(fake.valueAt('AWSCURRENT')!))).toEqual(['ready', 'ready']);

    // After the guard window (24 h + 7 min since the last rotation) no --force is needed.
    await advance(ROTATION_GUARD_MS - (now - forcedAt) + 60_000 - NODE_REFRESH_MS);
    now += NODE_REFRESH_MS;
    expect(await run(['secret', 'rotate']).done).toBe(0);
  }, 60_000);

  it('a task that never loads the new secret: exit 1 after the wait, nothing promoted; the next run resumes the same version', async () => {
    await startNode('task0', 30_000);
    const stuck = await startNode('task1', 60_000);
    stuck.nextRefresh = Number.POSITIVE_INFINITY; // e.g. an image older than this CLI
    const first = run(['secret', 'rotate']);
    expect(await first.done).toBe(1);
    expect(first.t.io.stderrText()).toMatch(
      /error: tasks task1 did not load the new secret within 7 minutes; it stays AWSPENDING and tokens are unaffected/,
    );
    expect(promotedAt).toEqual([]);
    expect(fake.valueAt('AWSCURRENT')).toBe(FIRST);
    const pending = fake.versions.find((v) => v.stages.has('AWSPENDING'))!.id;

    stuck.nextRefresh = now + 10_000; // the task recovers
    const again = run(['secret', 'rotate']);
    expect(await again.done).toBe(0);
    expect(again.t.io.stderrText()).toContain(`resuming the rotation staged at`);
    expect(fake.versions).toHaveLength(2);
    expect(fake.versions.find((v) => v.stages.has('AWSCURRENT'))!.id).toBe(pending);
    expect(await everyNode(await mint(FIRST))).toEqual(['ready', 'ready']);
  }, 60_000);
});
