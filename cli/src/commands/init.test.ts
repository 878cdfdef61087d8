import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultRiverConfig } from '@river/templates';
import { tempProject, testContext } from '../test-context.js';

let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  project = await tempProject();
});
afterEach(async () => {
  await project.cleanup();
});
const written = async () => JSON.parse(await readFile(join(project.dir, 'river.config.json'), 'utf8')) as Record<string, unknown>;
const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-111122223333';
/** A command line, as a shell splits it (no quoting needed here). */
const argv = (...parts: string[]) => parts.join(' ').split(' ');
/** A user's answers at the prompts of the terminal tests (a domain with its certificate). */
const ANSWERS = {
  '--region': 'eu-west-1',
  '--domain': 'rt.example.com',
  '--certificate-arn': CERT,
  '--hosted-zone': '',
  '--cpu': 1024,
  '--memory': 2048,
  '--min-tasks': '2',
  '--max-tasks': '4',
  '--cache': 'node',
};

describe('river init', () => {
  it('takes every answer from flags, without a terminal', async () => {
    const t = testContext({ cwd: project.dir });
    const code = await t.run(
      argv(
        `init --region eu-west-1 --domain rt.example.com --certificate-arn ${CERT}`,
        '--hosted-zone Z0123456789ABCDEFGHIJ --zone-name example.com',
        '--cpu 512 --memory 1024 --min-tasks 3 --max-tasks 6 --cache serverless',
      ),
    );
    expect(t.io.stderr.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(code).toBe(0);
    // The flags' answers over the defaults, which templates/src/config.test.ts pins.
    expect(await written()).toEqual({
      ...defaultRiverConfig(),
      region: 'eu-west-1',
      domain: 'rt.example.com',
      certificateArn: CERT,
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      hostedZoneName: 'example.com',
      taskCpu: 512,
      taskMemory: 1024,
      minTasks: 3,
      maxTasks: 6,
      cache: { mode: 'serverless', engine: 'valkey', nodeType: 'cache.t4g.micro' },
    });
    expect(t.io.stderrText()).toContain('next: npx river deploy');
  });

  it('--connections and --messages-per-second size the deployment, show the arithmetic and the monthly cost', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['init', '--yes', '--connections', '100000', '--messages-per-second', '20000'])).toBe(0);
    expect(await written()).toMatchObject({
      taskCpu: 1024,
      taskMemory: 2048,
      minTasks: 7,
      maxTasks: 14,
      cache: { mode: 'node', engine: 'valkey', nodeType: 'cache.m7g.large' },
    });
    const out = t.io.stderrText();
    expect(out).toContain('tasks: max(1 for CPU, 6 for connections) + 1 spare = 7');
    expect(out).toMatch(/Fargate, 7 × 1 vCPU \/ 2 GB: 7 × \(1 × \$0\.04048 \+ 2 × \$0\.004445\)\/h × 730 h = \$252\.28/);
    expect(out).toContain('proposed: 7 tasks of 1024 CPU / 2048 MiB, cache node cache.m7g.large × 1 shard(s), about $1439 a month');
    // A flag still wins over the proposal.
    const mine = testContext({ cwd: project.dir });
    expect(
      await mine.run(['init', '--yes', '--force', '--connections', '100000', '--messages-per-second', '20000', '--min-tasks', '9']),
    ).toBe(0);
    expect(await written()).toMatchObject({ minTasks: 9, maxTasks: 14, taskCpu: 1024 });
    const half = testContext({ cwd: project.dir });
    expect(await half.run(['init', '--yes', '--force', '--connections', '100000'])).toBe(1);
    expect(half.io.stderr[0]).toBe('error: river init: sizing needs --messages-per-second too');
    for (const [flag, value] of [
      ['--connections', 'lots'],
      ['--connections', '0'],
      ['--messages-per-second', '-5'],
    ]) {
      const bad = testContext({ cwd: project.dir });
      const argv = ['init', '--yes', '--force', '--connections', '1000', '--messages-per-second', '100', flag!, value!];
      expect(await bad.run(argv), `${flag} ${value}`).toBe(1);
      expect(bad.io.stderr[0], `${flag} ${value}`).toMatch(new RegExp(`^error: .*${flag}`));
      expect(bad.io.stderr[1]).toMatch(/^hint: /);
    }
  });

  it('--yes takes the defaults without a terminal, and warns that there is no TLS without a domain', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['init', '--yes'])).toBe(0);
    expect(await written()).toEqual(defaultRiverConfig());
    expect(t.io.stderrText()).toMatch(/warning: no domain/);
  });

  it('asks on a terminal (scripted prompts), defaults offered for the rest', async () => {
    const t = testContext({
      cwd: project.dir,
      isTTY: true,
      answers: ANSWERS,
    });
    expect(await t.run(['init'])).toBe(0);
    expect(t.io.asked).toEqual([
      '--region',
      '--domain',
      '--certificate-arn',
      '--hosted-zone',
      '--cpu',
      '--memory',
      '--min-tasks',
      '--max-tasks',
      '--cache',
    ]);
    expect(await written()).toMatchObject({
      region: 'eu-west-1',
      domain: 'rt.example.com',
      certificateArn: CERT,
      taskCpu: 1024,
      taskMemory: 2048,
      maxTasks: 4,
    });
    expect(await written()).not.toHaveProperty('hostedZoneId');
  });

  it('--allowed-origins writes allowedOrigins (not asked); an invalid origin is exit 1 naming the flag', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['init', '--yes', '--allowed-origins', 'https://app.example.com, https://*.example.com'])).toBe(0);
    expect((await written()).allowedOrigins).toEqual(['https://app.example.com', 'https://*.example.com']);
    expect(await t.run(['init', '--yes', '--force'])).toBe(0);
    expect(await written()).not.toHaveProperty('allowedOrigins');
    const bad = testContext({ cwd: project.dir });
    expect(await bad.run(['init', '--yes', '--force', '--allowed-origins', 'app.example.com'])).toBe(1);
    expect(bad.io.stderr).toEqual([
      expect.stringMatching(/^error: river init: "allowedOrigins" must be a list of 1 to 50 origins .*\(got "app\.example\.com"\)$/),
      'hint: pass a valid --allowed-origins',
    ]);
    // On a terminal too, before the first question (no answer given in vain).
    const tty = testContext({ cwd: project.dir, isTTY: true, answers: {} });
    expect(await tty.run(['init', '--force', '--allowed-origins', 'app.example.com'])).toBe(1);
    expect(tty.io.asked).toEqual([]);
  });

  it('without a terminal, a missing answer is exit 1 naming the flag', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['init', '--region', 'us-east-1'])).toBe(1);
    expect(t.io.stderr).toEqual([
      'error: river init needs --domain and there is no terminal to ask',
      'hint: pass --domain, or --yes to take the defaults',
    ]);
  });

  it('an invalid answer is exit 1 naming the field and its flag; nothing is written', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['init', '--yes', '--cpu', '256', '--memory', '4096'])).toBe(1);
    expect(t.io.stderr[0]).toMatch(/^error: river init: "taskMemory" must be one of 512, 1024, 2048 for taskCpu 256/);
    expect(t.io.stderr[1]).toBe('hint: pass a valid --memory');
    const min = testContext({ cwd: project.dir });
    expect(await min.run(['init', '--yes', '--min-tasks', '5', '--max-tasks', '2'])).toBe(1);
    expect(min.io.stderr[1]).toBe('hint: pass a valid --max-tasks');
    const cert = testContext({ cwd: project.dir });
    expect(await cert.run(['init', '--yes', '--certificate-arn', CERT])).toBe(1);
    expect(cert.io.stderr).toEqual(['error: --certificate-arn needs --domain', 'hint: pass --domain with it, or leave it out']);
    await expect(readFile(join(project.dir, 'river.config.json'))).rejects.toThrow();
  });

  it('checks each answer at its prompt and asks again, keeping the earlier answers', async () => {
    const inOtherRegion = 'arn:aws:acm:us-east-1:123456789012:certificate/abc-123';
    const t = testContext({
      cwd: project.dir,
      isTTY: true,
      answers: {
        '--region': ['eu-west-one', 'eu-west-1'],
        '--domain': ['RT.example.com!', 'rt.example.com'],
        '--certificate-arn': [inOtherRegion, 'arn:aws:iam::1:role/x', CERT],
        '--hosted-zone': '',
        '--cpu': 512,
        '--memory': 2048,
        '--min-tasks': ['0', '3'],
        '--max-tasks': ['2', '6'],
        '--cache': 'node',
      },
    });
    expect(await t.run(['init'])).toBe(0);
    expect(t.io.rejected).toEqual([
      { flag: '--region', value: 'eu-west-one', verdict: 'an AWS region such as us-east-1' },
      { flag: '--domain', value: 'RT.example.com!', verdict: 'a lowercase DNS name such as rt.example.com, or blank for none' },
      {
        flag: '--certificate-arn',
        value: inOtherRegion,
        verdict: 'a certificate in eu-west-1, the deployment region (the load balancer can only use those; this one is in us-east-1)',
      },
      {
        flag: '--certificate-arn',
        value: 'arn:aws:iam::1:role/x',
        verdict: 'an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID), or blank',
      },
      { flag: '--min-tasks', value: '0', verdict: 'a whole number from 1 to 1000' },
      { flag: '--max-tasks', value: '2', verdict: 'a whole number from 3 to 1000' },
    ]);
    expect(t.io.messages['--hosted-zone']).toBe('Route 53 hosted zone id for rt.example.com (blank: none, you create the DNS record)');
    expect(await written()).toMatchObject({
      region: 'eu-west-1',
      domain: 'rt.example.com',
      certificateArn: CERT,
      taskCpu: 512,
      taskMemory: 2048,
      minTasks: 3,
      maxTasks: 6,
    });
  });

  it('without a certificate the zone is required, and its prompt says so; the zone name must hold the domain', async () => {
    const t = testContext({
      cwd: project.dir,
      isTTY: true,
      answers: {
        ...ANSWERS,
        '--certificate-arn': '',
        '--hosted-zone': ['', 'Z0123456789ABCDEFGHIJ'],
        '--zone-name': ['other.com', 'example.com'],
        '--cpu': 256,
        '--memory': 512,
      },
    });
    expect(await t.run(['init'])).toBe(0);
    expect(t.io.messages['--hosted-zone']).toBe(
      'Route 53 hosted zone id for rt.example.com (required without a certificate: River creates one and validates it there)',
    );
    expect(t.io.rejected.map((r) => r.flag)).toEqual(['--hosted-zone', '--zone-name']);
    expect(t.io.rejected[0]!.verdict).toMatch(/^a Route 53 hosted zone id: without a certificate ARN/);
    expect(t.io.rejected[1]!.verdict).toBe("the zone's name: rt.example.com or a parent of it, such as example.com");
    expect(await written()).toMatchObject({
      domain: 'rt.example.com',
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      hostedZoneName: 'example.com',
    });
    expect(await written()).not.toHaveProperty('certificateArn');
  });

  it('a flag that fails its check is exit 1 naming it, before anything else is asked', async () => {
    const t = testContext({ cwd: project.dir, isTTY: true, answers: {} });
    expect(
      await t.run(
        argv('init --region eu-west-1 --domain rt.example.com --certificate-arn arn:aws:acm:us-east-1:123456789012:certificate/abc'),
      ),
    ).toBe(1);
    expect(t.io.stderr[0]).toBe(
      'error: river init: --certificate-arn "arn:aws:acm:us-east-1:123456789012:certificate/abc": expected a certificate in eu-west-1, the deployment region (the load balancer can only use those; this one is in us-east-1)',
    );
    expect(t.io.stderr[1]).toBe('hint: pass a valid --certificate-arn');
    expect(t.io.asked).toEqual([]);
    const noZone = testContext({ cwd: project.dir });
    expect(await noZone.run(['init', '--yes', '--domain', 'rt.example.com'])).toBe(1);
    expect(noZone.io.stderr[0]).toMatch(
      /^error: river init: --hosted-zone \(blank\): expected a Route 53 hosted zone id: without a certificate ARN/,
    );
    await expect(readFile(join(project.dir, 'river.config.json'))).rejects.toThrow();
  });

  it('refuses to overwrite river.config.json without --force', async () => {
    await writeFile(join(project.dir, 'river.config.json'), '{"name":"mine"}\n');
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['init', '--yes'])).toBe(1);
    expect(t.io.stderr).toEqual(['error: river.config.json already exists', 'hint: pass --force to overwrite it, or edit it by hand']);
    expect(await written()).toEqual({ name: 'mine' });
    const forced = testContext({ cwd: project.dir });
    expect(await forced.run(['init', '--yes', '--force', '--name', 'rt'])).toBe(0);
    expect(await written()).toMatchObject({ name: 'rt' });
  });
});
