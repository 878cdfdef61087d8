/**
 * Where token, publish and listen find their node, key and secret: `.river/` looked up from the
 * current folder upwards, a dev.json whose node is gone, and a deployment read from the stack's
 * outputs when .river/outputs.json is absent (a fresh clone) or stale. Real node, fake cloud.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { findProjectDir, readDevState, writeDeployedState, writeDevState } from './state.js';
import { fakeCloud, OUTPUTS } from './test-cloud.js';
import { testContext } from './test-context.js';
import { testNode } from './test-node.js';

const SECRET = 'target-test-secret-0123456789abcdefghijklmnop';
const KEY = 'target-test-key-0123456789abcdefghijklmnopqrst';
const local = testNode({ secret: SECRET, key: KEY });

async function offsetOf(channel: string): Promise<number> {
  const res = await fetch(`${local.node.urls.http}/v1/channels/${channel}`, { headers: { authorization: `Bearer ${KEY}` } });
  return ((await res.json()) as { offset: number }).offset;
}

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('.river/ is found from a subfolder, as git finds .git', () => {
  it('token in src/ signs with the dev secret of the app root; publish there reaches the recorded node', async () => {
    await writeFile(join(local.project.dir, 'package.json'), '{"name":"app"}\n');
    await writeDevState(local.project.dir, {
      secret: SECRET,
      apiKey: KEY,
      url: local.node.urls.http,
      wsUrl: local.node.urls.ws,
      pid: process.pid,
    });
    const src = join(local.project.dir, 'src', 'components');
    await mkdir(src, { recursive: true });
    const t = testContext({ cwd: src });
    expect(await t.run(['token', '--sub', 'u1'])).toBe(0);
    const { payload } = await jwtVerify(t.io.stdout[0]!, new TextEncoder().encode(SECRET));
    expect(payload.sub).toBe('u1');

    const before = await offsetOf('walkup');
    const p = testContext({ cwd: src });
    expect(await p.run(['publish', 'walkup', 'e', '1'])).toBe(0);
    expect(p.io.stderr[0]).toBe(`using ${local.node.urls.http} (the river dev node (pid ${process.pid}))`);
    expect(await offsetOf('walkup')).toBe(before + 1);
  });

  it('a first .river/ goes to the app root (the nearest package.json), not to the subfolder', async () => {
    await writeFile(join(local.project.dir, 'package.json'), '{"name":"app"}\n');
    const src = join(local.project.dir, 'src');
    await mkdir(src);
    expect(findProjectDir(src)).toBe(local.project.dir);
    await writeDevState(src, { secret: SECRET, apiKey: KEY });
    expect(await readDevState(local.project.dir)).toMatchObject({ secret: SECRET });
  });

  it('river.config.json above the current folder is the project: init refuses to write a second one', async () => {
    await writeFile(join(local.project.dir, 'river.config.json'), '{}\n');
    const sub = join(local.project.dir, 'infra');
    await mkdir(sub);
    const t = testContext({ cwd: sub });
    expect(await t.run(['init', '--yes'])).toBe(1);
    expect(t.io.stderr).toEqual([
      "error: ../river.config.json (this project's river.config.json) already exists",
      'hint: pass --force to overwrite it, or edit it by hand',
    ]);
  });
});

describe('a .river/dev.json whose node is gone', () => {
  it.each([
    ['stopped (no pid)', async () => undefined, 'it was stopped'],
    ['killed (its pid has exited)', deadPid, 'its process \\d+ has exited'],
  ])('%s: publish and listen send nothing, even when another node now listens on that port', async (_name, pid, why) => {
    // Another node (the test's) listens where dev.json points: the old code published there with the dev key.
    const recorded = await pid();
    await writeDevState(local.project.dir, {
      secret: SECRET,
      apiKey: KEY,
      url: local.node.urls.http,
      ...(recorded === undefined ? {} : { pid: recorded }),
    });
    const before = await offsetOf('stale');
    for (const argv of [
      ['publish', 'stale', 'e', '1'],
      ['listen', 'stale'],
    ]) {
      const t = testContext({ cwd: local.project.dir });
      expect(await t.run(argv)).toBe(1);
      expect(t.io.stderr).toHaveLength(2);
      expect(t.io.stderr[0]).toMatch(
        new RegExp(
          `^error: the river dev node recorded in \\.river/dev\\.json \\(${local.node.urls.http.replace(/\./g, '\\.')}\\) is not running: ${why}$`,
        ),
      );
      expect(t.io.stderr[1]).toBe('hint: start it with `npx river dev`, or pass --url (or set RIVER_URL) to use another node');
    }
    expect(await offsetOf('stale')).toBe(before);
    // --url names the node to use; the dev key still signs what it needs.
    const t = testContext({ cwd: local.project.dir });
    expect(await t.run(['publish', 'stale', 'e', '1', '--url', local.node.urls.http])).toBe(0);
    expect(await offsetOf('stale')).toBe(before + 1);
  });

  it('a key from dev.json refused by another node: the hint says whose key it was', async () => {
    await writeDevState(local.project.dir, { secret: SECRET, apiKey: 'the-dev-nodes-key-not-this-ones-0123456789' });
    const t = testContext({ cwd: local.project.dir });
    expect(await t.run(['publish', 'dogs', 'e', '--url', local.node.urls.http])).toBe(1);
    expect(t.io.stderr[2]).toBe(
      `hint: the key used is the river dev node's (.river/dev.json), and ${local.node.urls.http} (--url) is another node: pass --key or set RIVER_API_KEY to its key`,
    );
  });
});

describe('the deployment without .river/outputs.json (a fresh clone, a CI job)', () => {
  /** A "deployment" whose HTTP API is the test node; its outputs come from CloudFormation only. */
  const deployedCloud = (extra: Parameters<typeof fakeCloud>[0] = {}) =>
    fakeCloud({
      stacks: { river: { status: 'CREATE_COMPLETE' } },
      stackOutputs: async (name) =>
        name === 'river' ? { ...OUTPUTS, HttpApiUrl: local.node.urls.http, WebSocketUrl: local.node.urls.ws } : undefined,
      getSecret: async (arn) => (arn === OUTPUTS.JwtSecretArn ? SECRET : KEY),
      ...extra,
    });

  beforeEach(async () => {
    await writeFile(join(local.project.dir, 'river.config.json'), JSON.stringify({ name: 'river', region: 'us-east-1' }));
  });

  it('publish, and token --deployed, read the stack outputs and secrets', async () => {
    const cloud = deployedCloud();
    const before = await offsetOf('fresh-clone');
    const p = testContext({ cwd: local.project.dir, cloud });
    expect(await p.run(['publish', 'fresh-clone', 'e', '{"a":1}'])).toBe(0);
    expect(p.io.stderr[0]).toBe(`using ${local.node.urls.http} (the deployment river in us-east-1)`);
    expect(await offsetOf('fresh-clone')).toBe(before + 1);
    expect(cloud.calls).toEqual(['stackOutputs', 'getSecret']);

    const t = testContext({ cwd: local.project.dir, cloud: deployedCloud() });
    expect(await t.run(['token', '--deployed', '--sub', 'ci'])).toBe(0);
    await jwtVerify(t.io.stdout[0]!, new TextEncoder().encode(SECRET));
  });

  it('--deployed wins over a running dev node and over RIVER_URL / RIVER_API_KEY', async () => {
    await writeDevState(local.project.dir, {
      secret: 'dev-secret-0123456789abcdefghijklmnopqrstu',
      apiKey: 'dev-key',
      url: 'http://127.0.0.1:9',
      pid: process.pid,
    });
    const before = await offsetOf('forced');
    const p = testContext({
      cwd: local.project.dir,
      cloud: deployedCloud(),
      env: { RIVER_URL: 'http://127.0.0.1:9', RIVER_API_KEY: 'env-key' },
    });
    expect(await p.run(['publish', 'forced', 'e', '--deployed'])).toBe(0);
    expect(await offsetOf('forced')).toBe(before + 1);
  });

  it('no stack: exit 1 naming the stack and region', async () => {
    const t = testContext({ cwd: local.project.dir, cloud: fakeCloud({ stacks: {} }) });
    expect(await t.run(['publish', 'dogs', 'e'])).toBe(1);
    expect(t.io.stderr).toEqual(['error: the stack river does not exist in us-east-1', 'hint: deploy it with `npx river deploy`']);
  });

  it('a stale .river/outputs.json (its secret is gone): the stack outputs are used, with a warning', async () => {
    const old = { ...OUTPUTS, JwtSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:old-jwt-XyZ' };
    await writeDeployedState(local.project.dir, { stackName: 'river', region: 'us-east-1', outputs: old });
    const gone = Object.assign(new Error("Secrets Manager can't find the specified secret."), { name: 'ResourceNotFoundException' });
    const cloud = deployedCloud({ getSecret: async (arn) => (arn === old.JwtSecretArn ? Promise.reject(gone) : SECRET) });
    const t = testContext({ cwd: local.project.dir, cloud });
    expect(await t.run(['token', '--deployed', '--sub', 'u1'])).toBe(0);
    await jwtVerify(t.io.stdout[0]!, new TextEncoder().encode(SECRET));
    expect(t.io.stderrText()).toContain(
      '.river/outputs.json is stale (its JwtSecretArn is gone); using the outputs of the stack river in us-east-1',
    );
  });

  it('a stale .river/outputs.json and no stack: exit 1 with a hint, never 2', async () => {
    await writeDeployedState(local.project.dir, { stackName: 'river', region: 'us-east-1', outputs: OUTPUTS });
    const deleted = Object.assign(new Error("You can't perform this operation on the secret because it was marked for deletion."), {
      name: 'InvalidRequestException',
    });
    const t = testContext({ cwd: local.project.dir, cloud: fakeCloud({ stacks: {}, getSecret: async () => Promise.reject(deleted) }) });
    expect(await t.run(['token', '--deployed', '--sub', 'u1'])).toBe(1);
    expect(t.io.stderr).toEqual([
      `error: .river/outputs.json is stale: the secret it names (${OUTPUTS.JwtSecretArn}) is gone`,
      'hint: run `npx river deploy`, or delete .river/outputs.json if the deployment was destroyed',
    ]);
  });
});
