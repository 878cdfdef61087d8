import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AwsCloud } from '../cloud/aws.js';
import { DeployFailed } from '../cloud/cloud.js';
import { writeDeployedState } from '../state.js';
import { fakeCloud, fakeDeployer, OUTPUTS } from '../test-cloud.js';
import { tempProject, testContext } from '../test-context.js';

let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  project = await tempProject();
  await writeFile(join(project.dir, 'river.config.json'), JSON.stringify({ name: 'river', region: 'us-east-1' }));
});
afterEach(async () => {
  await project.cleanup();
});
const docker = async (cmd: string) => cmd === 'docker';

describe('river deploy', () => {
  it('deploys, shows progress, prints the endpoints and saves them to .river/outputs.json', async () => {
    const deployer = fakeDeployer();
    const t = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer, which: docker });
    expect(await t.run(['deploy'])).toBe(0);
    expect(t.io.stderr).toEqual(expect.arrayContaining(['deploying river 1/3  CREATE_IN_PROGRESS Vpc', 'deploying river 3/3  CREATE_COMPLETE river', 'deployed river']));
    expect(t.io.stdout).toEqual(expect.arrayContaining([`WebSocket URL  ${OUTPUTS.WebSocketUrl}`, `HTTP API URL   ${OUTPUTS.HttpApiUrl}`]));
    const saved = JSON.parse(await readFile(join(project.dir, '.river/outputs.json'), 'utf8')) as unknown;
    expect(saved).toEqual({ stackName: 'river', region: 'us-east-1', outputs: OUTPUTS });
    expect(deployer.deployed[0]).toMatchObject({ containerBuilder: 'docker' });
    expect(deployer.deployed[0]!.bootstrap).toBeUndefined();
  });

  it('bootstraps when the CDKToolkit stack is missing; uses finch when docker is absent; --json prints the outputs', async () => {
    const deployer = fakeDeployer();
    const t = testContext({ cwd: project.dir, cloud: fakeCloud({ stacks: {} }), deployer, which: async (c) => c === 'finch' });
    expect(await t.run(['deploy', '--json'])).toBe(0);
    expect(deployer.deployed[0]).toMatchObject({ bootstrap: { account: '123456789012', region: 'us-east-1' }, containerBuilder: 'finch' });
    expect(JSON.parse(t.io.stdout[0]!)).toEqual({ stackName: 'river', region: 'us-east-1', outputs: OUTPUTS });
  });

  it('a rollback is exit 1 with the failed resource and its reason', async () => {
    const deployer = fakeDeployer({
      deploy: async () => {
        throw new DeployFailed('river', 'Certificate (AWS::CertificateManager::Certificate) CREATE_FAILED: DNS validation timed out');
      },
    });
    const t = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer, which: docker });
    expect(await t.run(['deploy'])).toBe(1);
    expect(t.io.stderr.slice(-3)).toEqual([
      'deployment of river failed',
      'error: river was rolled back: Certificate (AWS::CertificateManager::Certificate) CREATE_FAILED: DNS validation timed out',
      expect.stringMatching(/^hint: fix the cause, then run `npx river deploy` again/),
    ]);
    expect(t.io.stderrText()).not.toMatch(/\n\s+at /);
  });

  it('an unexpected toolkit failure is exit 2', async () => {
    const deployer = fakeDeployer({ deploy: async () => Promise.reject(new Error('asset upload: socket hang up')) });
    const t = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer, which: docker });
    expect(await t.run(['deploy'])).toBe(2);
    expect(t.io.stderr).toContain('error: unexpected failure: asset upload: socket hang up');
  });

  it('security-sensitive changes: approved by --yes, refused without a terminal (exit 1 naming --yes), asked on a terminal', async () => {
    const asking = () =>
      fakeDeployer({
        deploy: async (config, opts) => {
          const ok = await opts.confirm({ kind: 'security-changes', message: 'IAM Statement Changes …' });
          if (!ok) throw new Error('DeployAborted: Deployment cancelled');
          return { stackName: config.name, outputs: { ...OUTPUTS } };
        },
      });
    const yes = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: asking(), which: docker });
    expect(await yes.run(['deploy', '--yes'])).toBe(0);

    const ci = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: asking(), which: docker });
    expect(await ci.run(['deploy'])).toBe(1);
    expect(ci.io.stderr.slice(-2)).toEqual([
      'error: this deployment changes IAM permissions or security groups and needs approval',
      'hint: review it with `npx river synth`, then run `npx river deploy --yes`',
    ]);

    const tty = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: asking(), which: docker, isTTY: true, answers: { '--yes': false } });
    expect(await tty.run(['deploy'])).toBe(1);
    expect(tty.io.asked).toEqual(['--yes']);
    expect(tty.io.stderrText()).toContain('IAM Statement Changes');
    expect(tty.io.stderr.at(-2)).toBe('error: deployment cancelled: nothing was changed');
  });

  it('destructive changes (a replaced resource) need the same approval; other changes go ahead', async () => {
    const asking = (kind: 'destructive-changes' | 'other') =>
      fakeDeployer({
        deploy: async (config, opts) => {
          if (!(await opts.confirm({ kind, message: 'JwtSecret replaced' }))) throw new Error('DeployAborted');
          return { stackName: config.name, outputs: { ...OUTPUTS } };
        },
      });
    const ci = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: asking('destructive-changes'), which: docker });
    expect(await ci.run(['deploy'])).toBe(1);
    expect(ci.io.stderr.at(-2)).toBe('error: this deployment replaces or deletes resources and needs approval');
    const other = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: asking('other'), which: docker });
    expect(await other.run(['deploy'])).toBe(0);
  });

  it('missing AWS credentials: exit 1, one line and a hint, no stack trace, before anything else', async () => {
    const sts = mockClient(STSClient);
    try {
      sts.on(GetCallerIdentityCommand).rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
      const deployer = fakeDeployer();
      const t = testContext({ cwd: project.dir, cloud: new AwsCloud({ region: 'us-east-1' }), deployer, which: docker });
      const started = Date.now();
      expect(await t.run(['deploy', '--yes'])).toBe(1);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(t.io.stderr).toEqual(['error: no AWS credentials found', expect.stringMatching(/^hint: configure AWS credentials \(`aws configure`/)]);
      expect(deployer.deployed).toEqual([]);
    } finally {
      sts.restore();
    }
  });

  it('no container builder and no image: exit 1 with a hint; an image in the config needs none', async () => {
    const t = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: fakeDeployer(), which: async () => false });
    expect(await t.run(['deploy'])).toBe(1);
    expect(t.io.stderr.slice(-2)).toEqual(['error: no container builder: neither docker nor finch is on PATH', expect.stringMatching(/^hint: install Docker or Finch .* "image"/)]);
    await writeFile(join(project.dir, 'river.config.json'), JSON.stringify({ image: 'public.ecr.aws/river/river:1' }));
    const withImage = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: fakeDeployer(), which: async () => false });
    expect(await withImage.run(['deploy'])).toBe(0);
  });

  it('no river.config.json, or an invalid one: exit 1 with a hint', async () => {
    const empty = await tempProject();
    try {
      const t = testContext({ cwd: empty.dir, cloud: fakeCloud(), deployer: fakeDeployer(), which: docker });
      expect(await t.run(['deploy'])).toBe(1);
      expect(t.io.stderr).toEqual([`error: no river.config.json in ${empty.dir}`, 'hint: run `npx river init` first (or cd to the directory that has it)']);
    } finally {
      await empty.cleanup();
    }
    await writeFile(join(project.dir, 'river.config.json'), JSON.stringify({ regoin: 'x' }));
    const bad = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: fakeDeployer(), which: docker });
    expect(await bad.run(['deploy'])).toBe(1);
    expect(bad.io.stderr[0]).toMatch(/^error: river\.config\.json: "regoin" is not a known setting/);
  });
});

describe('river synth', () => {
  it('prints the template paths', async () => {
    const t = testContext({ cwd: project.dir, deployer: fakeDeployer() });
    expect(await t.run(['synth', '--out', 'build'])).toBe(0);
    expect(t.io.stdout).toEqual(['build/river.template.json']);
  });
});

describe('river destroy', () => {
  it('refuses without --yes when there is no terminal: exit 1 naming --yes, no AWS call', async () => {
    const cloud = fakeCloud();
    const deployer = fakeDeployer();
    const t = testContext({ cwd: project.dir, cloud, deployer });
    expect(await t.run(['destroy'])).toBe(1);
    expect(t.io.stderr).toEqual(['error: river destroy deletes river and needs a confirmation, and there is no terminal to ask', 'hint: pass --yes to confirm']);
    expect(cloud.calls).toEqual([]);
    expect(deployer.destroyed).toBe(0);
  });

  it('asks on a terminal; --yes destroys and forgets .river/outputs.json', async () => {
    await writeDeployedState(project.dir, { stackName: 'river', region: 'us-east-1', outputs: OUTPUTS });
    const no = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: fakeDeployer(), isTTY: true, answers: { '--yes': false } });
    expect(await no.run(['destroy'])).toBe(1);
    expect(no.io.stderr.at(-2)).toBe('error: nothing was destroyed');
    const deployer = fakeDeployer();
    const yes = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer });
    expect(await yes.run(['destroy', '--yes'])).toBe(0);
    expect(deployer.destroyed).toBe(1);
    await expect(readFile(join(project.dir, '.river/outputs.json'))).rejects.toThrow();
  });
});
