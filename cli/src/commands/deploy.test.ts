import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { AwsCloud } from '../cloud/aws.js';
import { DeployFailed, type Deployer } from '../cloud/cloud.js';
import { execProgram, type Exec, type ExecResult } from '../cloud/container-builder.js';
import { writeDeployedState } from '../state.js';
import { fakeCloud, fakeDeployer, OUTPUTS } from '../test-cloud.js';
import { tempProject, testContext } from '../test-context.js';

let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  project = await tempProject({ name: 'river', region: 'us-east-1' });
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
    expect(t.io.stderr).toEqual(
      expect.arrayContaining([
        'deploying river 1/3  CREATE_IN_PROGRESS Vpc',
        'deploying river 3/3  CREATE_COMPLETE river',
        'deployed river',
      ]),
    );
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

    const tty = testContext({
      cwd: project.dir,
      cloud: fakeCloud(),
      deployer: asking(),
      which: docker,
      isTTY: true,
      answers: { '--yes': false },
    });
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
      sts
        .on(GetCallerIdentityCommand)
        .rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
      const deployer = fakeDeployer();
      const t = testContext({ cwd: project.dir, cloud: new AwsCloud({ region: 'us-east-1' }), deployer, which: docker });
      const started = Date.now();
      expect(await t.run(['deploy', '--yes'])).toBe(1);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(t.io.stderr).toEqual([
        'error: no AWS credentials found',
        expect.stringMatching(/^hint: configure AWS credentials \(`aws configure`/),
      ]);
      expect(deployer.deployed).toEqual([]);
    } finally {
      sts.restore();
    }
  });

  it('--builder docker, no container builder and no image: exit 1 with a hint; an image in the config needs none', async () => {
    const t = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: fakeDeployer(), which: async () => false });
    expect(await t.run(['deploy', '--builder', 'docker'])).toBe(1);
    expect(t.io.stderr.slice(-2)).toEqual([
      'error: no container builder: neither docker nor finch is on PATH',
      expect.stringMatching(/^hint: install Docker or Finch .* "image"/),
    ]);
    await writeFile(join(project.dir, 'river.config.json'), JSON.stringify({ image: 'public.ecr.aws/river/river:1' }));
    const withImage = testContext({ cwd: project.dir, cloud: fakeCloud(), deployer: fakeDeployer(), which: async () => false });
    expect(await withImage.run(['deploy'])).toBe(0);
  });

  it('--builder docker, a container builder whose daemon does not answer: exit 1 with a hint, before any AWS call', async () => {
    const runs: string[] = [];
    const answering =
      (r: Partial<ExecResult>): Exec =>
      async (cmd, args) => {
        runs.push(`${cmd} ${args.join(' ')}`);
        return { exitCode: 1, timedOut: false, notFound: false, stderr: '', ...r };
      };
    const cases: Array<[Partial<ExecResult>, RegExp]> = [
      [
        { stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\nmore' },
        /^error: docker is installed but does not answer \(`docker info`: Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock\. Is the docker daemon running\?\)$/,
      ],
      [{ timedOut: true, exitCode: undefined }, /^error: docker does not answer: `docker info` took more than 5 s$/],
    ];
    for (const [answer, message] of cases) {
      const cloud = fakeCloud();
      const deployer = fakeDeployer();
      const t = testContext({ cwd: project.dir, cloud, deployer, which: docker, exec: answering(answer) });
      expect(await t.run(['deploy', '--yes', '--builder', 'docker'])).toBe(1);
      expect(t.io.stderr).toEqual([
        expect.stringMatching(message),
        expect.stringMatching(/^hint: start it \(Docker Desktop.*or set "image" in river\.config\.json/),
      ]);
      expect(cloud.calls).toEqual([]);
      expect(deployer.deployed).toEqual([]);
    }
    expect(runs).toEqual(['docker info', 'docker info']);
  });

  it('honours CDK_DOCKER (podman): checks that one, and hands it to the deployer', async () => {
    const runs: string[] = [];
    const exec: Exec = async (cmd, args) => {
      runs.push(`${cmd} ${args.join(' ')}`);
      return { exitCode: 0, timedOut: false, notFound: false, stderr: '' };
    };
    const deployer = fakeDeployer();
    const t = testContext({
      cwd: project.dir,
      cloud: fakeCloud(),
      deployer,
      which: async () => false,
      exec,
      env: { CDK_DOCKER: 'podman' },
    });
    expect(await t.run(['deploy'])).toBe(0);
    expect(runs).toEqual(['podman info']);
    expect(deployer.deployed[0]).toMatchObject({ containerBuilder: 'podman' });

    const missing = testContext({
      cwd: project.dir,
      cloud: fakeCloud(),
      deployer: fakeDeployer(),
      env: { CDK_DOCKER: 'podman' },
      exec: async () => ({ timedOut: false, notFound: true, stderr: '' }),
    });
    expect(await missing.run(['deploy', '--builder', 'docker'])).toBe(1);
    expect(missing.io.stderr).toEqual([
      'error: CDK_DOCKER is "podman", which is not installed (not on PATH)',
      'hint: set CDK_DOCKER to an installed builder (docker, finch, podman), or unset it',
    ]);
  });

  it('checks the builder by really running `<builder> info` (execa, with its timeout)', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'river-builder-'));
    const script = join(bin, 'docker');
    await writeFile(script, '#!/bin/sh\necho "Cannot connect to the Docker daemon. Is the docker daemon running?" >&2\nexit 1\n');
    await chmod(script, 0o755);
    const t = testContext({
      cwd: project.dir,
      cloud: fakeCloud(),
      deployer: fakeDeployer(),
      exec: execProgram,
      env: { CDK_DOCKER: script },
    });
    expect(await t.run(['deploy', '--builder', 'docker'])).toBe(1);
    expect(t.io.stderr[0]).toBe(
      `error: ${script} is installed but does not answer (\`${script} info\`: Cannot connect to the Docker daemon. Is the docker daemon running?)`,
    );
    // A builder that hangs, and whose own child keeps stderr open after it is killed: still back on time.
    const slow = join(bin, 'slow');
    const pidFile = join(bin, 'sleep.pid');
    await writeFile(slow, `#!/bin/sh\nsleep 30 &\necho $! > ${pidFile}\nwait\n`);
    await chmod(slow, 0o755);
    const started = Date.now();
    try {
      expect(await execProgram(slow, ['info'], { timeoutMs: 200 })).toMatchObject({ timedOut: true });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    expect(await execProgram(join(bin, 'absent'), ['info'], { timeoutMs: 1000 })).toMatchObject({ notFound: true });
    expect(await execProgram(process.execPath, ['-e', 'process.exit(0)'], { timeoutMs: 5000 })).toMatchObject({
      exitCode: 0,
      timedOut: false,
      notFound: false,
    });
  });

  it('no river.config.json, or an invalid one: exit 1 with a hint', async () => {
    const empty = await tempProject();
    try {
      const t = testContext({ cwd: empty.dir, cloud: fakeCloud(), deployer: fakeDeployer(), which: docker });
      expect(await t.run(['deploy'])).toBe(1);
      expect(t.io.stderr).toEqual([
        `error: no river.config.json in ${empty.dir} or a folder above it`,
        'hint: run `npx river init` first (or cd to the directory that has it)',
      ]);
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

  it('shows the synthesis warnings (plain HTTP without a domain) on stderr, the paths alone on stdout', async () => {
    const base = fakeDeployer();
    const deployer: Deployer = {
      ...base,
      async synth(config, outDir, hooks) {
        hooks?.onInfo?.('No "domain" in river.config.json: the load balancer serves plain HTTP (ws://).');
        return base.synth(config, outDir);
      },
    };
    const t = testContext({ cwd: project.dir, deployer });
    expect(await t.run(['synth', '--out', 'build'])).toBe(0);
    expect(t.io.stderr).toContain('warning: No "domain" in river.config.json: the load balancer serves plain HTTP (ws://).');
    expect(t.io.stdout).toEqual(['build/river.template.json']);
  });
});

describe('river destroy', () => {
  it('refuses without --yes when there is no terminal: exit 1 naming --yes, no AWS call', async () => {
    const cloud = fakeCloud();
    const deployer = fakeDeployer();
    const t = testContext({ cwd: project.dir, cloud, deployer });
    expect(await t.run(['destroy'])).toBe(1);
    expect(t.io.stderr).toEqual([
      'error: river destroy deletes river and needs a confirmation, and there is no terminal to ask',
      'hint: pass --yes to confirm',
    ]);
    expect(cloud.calls).toEqual([]);
    expect(deployer.destroyed).toBe(0);
  });

  it('asks on a terminal; --yes destroys and forgets .river/outputs.json', async () => {
    await writeDeployedState(project.dir, { stackName: 'river', region: 'us-east-1', outputs: OUTPUTS });
    const stacks = { river: { status: 'UPDATE_COMPLETE' } };
    const no = testContext({
      cwd: project.dir,
      cloud: fakeCloud({ stacks }),
      deployer: fakeDeployer(),
      isTTY: true,
      answers: { '--yes': false },
    });
    expect(await no.run(['destroy'])).toBe(1);
    expect(no.io.stderr).toContain('account 123456789012, region us-east-1, stack river (UPDATE_COMPLETE)');
    expect(no.io.stderr.at(-2)).toBe('error: nothing was destroyed');
    const deployer = fakeDeployer({ destroy: async () => void delete (stacks as Record<string, unknown>).river });
    const yes = testContext({ cwd: project.dir, cloud: fakeCloud({ stacks }), deployer });
    expect(await yes.run(['destroy', '--yes'])).toBe(0);
    expect(deployer.destroyed).toBe(1);
    expect(yes.io.stderr).toContain('destroyed river in account 123456789012, region us-east-1');
    await expect(readFile(join(project.dir, '.river/outputs.json'))).rejects.toThrow();
  });

  it('a stack still there after the toolkit returns (DELETE_FAILED) is exit 1, never "destroyed"', async () => {
    const stacks: Record<string, { status: string; reason?: string }> = { river: { status: 'UPDATE_COMPLETE' } };
    const deployer = fakeDeployer({
      destroy: async () =>
        void (stacks.river = { status: 'DELETE_FAILED', reason: 'The following resource(s) failed to delete: [CacheSubnets]' }),
    });
    const t = testContext({ cwd: project.dir, cloud: fakeCloud({ stacks }), deployer });
    expect(await t.run(['destroy', '--yes'])).toBe(1);
    expect(t.io.stderr).toContain(
      'error: the stack river in account 123456789012, region us-east-1 is still there (DELETE_FAILED: The following resource(s) failed to delete: [CacheSubnets])',
    );
    expect(t.io.stderr.join('\n')).not.toMatch(/destroyed river/);
  });

  it('with no stack where it looks (wrong region, already gone): exit 1 naming the account and region, nothing destroyed', async () => {
    for (const stacks of [{}, { river: { status: 'DELETE_COMPLETE' } }] as Record<string, { status: string }>[]) {
      const deployer = fakeDeployer();
      const t = testContext({ cwd: project.dir, cloud: fakeCloud({ stacks }), deployer });
      expect(await t.run(['destroy', '--yes'])).toBe(1);
      expect(t.io.stderr[0]).toBe('error: no stack river in account 123456789012, region us-east-1: nothing was destroyed');
      expect(t.io.stderr[1]).toMatch(/^hint: check "region"/);
      expect(t.io.stderr.join('\n')).not.toMatch(/destroyed river/);
      expect(deployer.destroyed).toBe(0);
    }
  });
});
