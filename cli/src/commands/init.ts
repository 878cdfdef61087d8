/** `river init`: asks for (or takes flags for) the deployment settings and writes river.config.json. */
import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { proposeCapacity, type CapacityProposal } from '../capacity.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { Choice } from '../io.js';
import { CONFIG_FILE, templates, validateConfig } from '../project.js';
import { findConfigFile } from '../state.js';

export interface InitOptions {
  name?: string;
  region?: string;
  domain?: string;
  certificateArn?: string;
  hostedZone?: string;
  zoneName?: string;
  cpu?: string;
  memory?: string;
  minTasks?: string;
  maxTasks?: string;
  cache?: string;
  allowedOrigins?: string;
  connections?: string;
  messagesPerSecond?: string;
  yes?: boolean;
  force?: boolean;
}

export function registerInit(program: Command, ctx: Context): void {
  program
    .command('init')
    .description(`ask for the AWS deployment settings and write ${CONFIG_FILE}`)
    .option('--name <name>', 'deployment (and CloudFormation stack) name', 'river')
    .option('--region <region>', 'AWS region, e.g. us-east-1')
    .option('--domain <host>', 'custom domain for wss:// (e.g. rt.example.com); "" for none (plain ws:// on the load balancer)')
    .option('--certificate-arn <arn>', 'ACM certificate for the domain, in the same region')
    .option(
      '--hosted-zone <id>',
      'Route 53 hosted zone id holding the domain (a DNS-validated certificate is created when no ARN is given)',
    )
    .option('--zone-name <name>', "that hosted zone's name, e.g. example.com")
    .option('--cpu <units>', 'Fargate task CPU units: 256, 512, 1024, 2048, 4096')
    .option('--memory <mib>', 'Fargate task memory in MiB (valid values depend on --cpu)')
    .option('--min-tasks <n>', 'fewest running tasks')
    .option('--max-tasks <n>', 'most running tasks (autoscaling ceiling)')
    .option('--cache <mode>', 'ElastiCache mode: node (Valkey replication group) or serverless')
    .option(
      '--allowed-origins <list>',
      'comma-separated origins allowed to open WebSockets, e.g. https://app.example.com,https://*.example.com (default: any; not asked)',
    )
    .option('--connections <n>', 'expected peak connections: with --messages-per-second, sizes the deployment (docs/capacity.md)')
    .option('--messages-per-second <n>', 'expected peak messages delivered per second, over all connections')
    .option('-y, --yes', 'take the default for every question not answered by a flag (no terminal needed)')
    .option('--force', `overwrite an existing ${CONFIG_FILE}`)
    .addHelpText(
      'after',
      `\nWithout a terminal, pass every setting as a flag or add --yes.\nExample: npx river init --region eu-west-1 --domain rt.example.com --certificate-arn arn:aws:acm:… --yes`,
    )
    .action(async (opts: InitOptions) => {
      await init(ctx, opts);
    });
}

const CPU_CHOICES = [256, 512, 1024, 2048, 4096];

function int(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) {
    throw new UserError(`${flag} "${text}" is not a whole number`, `e.g. ${flag} 2`, { code: 'bad_flag' });
  }
  return n;
}

function parentZone(domain: string): string {
  const parts = domain.split('.');
  return parts.length > 2 ? parts.slice(1).join('.') : domain;
}

export async function init(ctx: Context, opts: InitOptions): Promise<void> {
  const { io } = ctx;
  // An existing river.config.json here or in a folder above is this project's: overwrite it (with
  // --force) rather than write a second one that commands run from the other folder would not see.
  const existing = findConfigFile(ctx.cwd);
  const path = existing ?? join(ctx.cwd, CONFIG_FILE);
  if (existing !== undefined && !opts.force) {
    const where = relative(ctx.cwd, existing);
    throw new UserError(
      `${where === CONFIG_FILE ? CONFIG_FILE : `${where} (this project's ${CONFIG_FILE})`} already exists`,
      'pass --force to overwrite it, or edit it by hand',
      { code: 'config_exists' },
    );
  }
  const { defaultRiverConfig, FARGATE_MEMORY, CONFIG_PATTERNS: P } = await templates();
  const d = defaultRiverConfig();
  const unanswered = (flag: string) =>
    new UserError(`river init needs ${flag} and there is no terminal to ask`, `pass ${flag}, or --yes to take the defaults`, {
      code: 'no_terminal',
    });
  type Check = (v: string) => true | string;

  /**
   * A flag's value, else the default under --yes, else a prompt (a terminal) or exit 1 naming the flag.
   * Every answer is checked where it is given: a prompt asks again (earlier answers are kept), a flag
   * or default that fails is exit 1 naming the flag, before anything else is asked.
   */
  const text = async (given: string | undefined, flag: string, message: string, def: string, validate?: Check) => {
    const fromFlag = given !== undefined ? given.trim() : opts.yes ? def : undefined;
    if (fromFlag !== undefined) {
      const verdict = validate?.(fromFlag) ?? true;
      if (verdict !== true)
        throw new UserError(
          `river init: ${flag} ${fromFlag === '' ? '(blank)' : `"${fromFlag}"`}: expected ${verdict}`,
          `pass a valid ${flag}`,
          { code: 'bad_flag' },
        );
      return fromFlag;
    }
    if (!io.isTTY) throw unanswered(flag);
    return (
      await io.prompt.input({ message, flag, default: def, ...(validate ? { validate: (v: string) => validate(v.trim()) } : {}) })
    ).trim();
  };
  const choose = async <T>(given: T | undefined, flag: string, message: string, choices: readonly Choice<T>[], def: T) => {
    if (given !== undefined) return given;
    if (opts.yes) return def;
    if (!io.isTTY) throw unanswered(flag);
    return io.prompt.select({ message, flag, choices, default: def });
  };
  const wholeNumber =
    (min: number, max: number): Check =>
    (v) => {
      const n = Number(v);
      return /^\d+$/.test(v) && n >= min && n <= max ? true : `a whole number from ${min} to ${max}`;
    };
  const checkRegion: Check = (v) => (P.region.test(v) ? true : 'an AWS region such as us-east-1');
  const checkDomain: Check = (v) =>
    v === '' || P.hostname.test(v) ? true : 'a lowercase DNS name such as rt.example.com, or blank for none';

  // The settings that are not asked are checked before the first question: no answer is lost to them.
  const origins = opts.allowedOrigins
    ?.split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  await validateConfig({ name: opts.name ?? d.name, ...(origins !== undefined ? { allowedOrigins: origins } : {}) }, 'river init');

  const proposal = sizing(opts);
  if (proposal !== undefined) {
    io.info('sizing (docs/capacity.md):');
    for (const line of proposal.lines) io.info(`  ${line}`);
    io.info(
      `proposed: ${proposal.tasks} tasks of ${proposal.taskCpu} CPU / ${proposal.taskMemory} MiB, cache ${proposal.cacheMode} ${proposal.cacheNodeType} × ${proposal.shards} shard(s), about $${Math.round(proposal.monthlyTotal)} a month`,
    );
  }

  const region = await text(opts.region, '--region', 'AWS region', d.region, checkRegion);
  const domain = await text(
    opts.domain,
    '--domain',
    'Custom domain for wss:// (blank: none, plain ws:// on the load balancer)',
    '',
    checkDomain,
  );
  let certificateArn = '';
  let hostedZoneId = '';
  let hostedZoneName = '';
  if (domain !== '') {
    const checkCertificate: Check = (v) => {
      if (v === '') return true;
      const m = P.certificateArn.exec(v);
      if (m === null) return 'an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID), or blank';
      return m[1] === region
        ? true
        : `a certificate in ${region}, the deployment region (the load balancer can only use those; this one is in ${m[1]})`;
    };
    certificateArn = await text(
      opts.certificateArn,
      '--certificate-arn',
      `ACM certificate ARN for ${domain} in ${region} (blank: create one, DNS-validated in a Route 53 zone)`,
      '',
      checkCertificate,
    );
    // Without a certificate the zone is required (the new certificate is validated in it); with one it is optional.
    const zoneRequired = certificateArn === '';
    const checkZoneId: Check = (v) => {
      if (v === '')
        return zoneRequired
          ? `a Route 53 hosted zone id: without a certificate ARN, River creates the certificate and validates it in ${domain}'s zone`
          : true;
      return P.zoneId.test(v) ? true : 'a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ';
    };
    const zoneMessage = zoneRequired
      ? `Route 53 hosted zone id for ${domain} (required without a certificate: River creates one and validates it there)`
      : `Route 53 hosted zone id for ${domain} (blank: none, you create the DNS record)`;
    hostedZoneId = await text(opts.hostedZone, '--hosted-zone', zoneMessage, '', checkZoneId);
    const checkZoneName: Check = (v) =>
      P.zoneName.test(v) && (domain === v.replace(/\.$/, '') || domain.endsWith(`.${v.replace(/\.$/, '')}`))
        ? true
        : `the zone's name: ${domain} or a parent of it, such as ${parentZone(domain)}`;
    if (hostedZoneId !== '')
      hostedZoneName = await text(
        opts.zoneName,
        '--zone-name',
        `Hosted zone name (${domain} or a parent of it)`,
        parentZone(domain),
        checkZoneName,
      );
  } else {
    for (const [flag, v] of [
      ['--certificate-arn', opts.certificateArn],
      ['--hosted-zone', opts.hostedZone],
      ['--zone-name', opts.zoneName],
    ] as const) {
      if (v) throw new UserError(`${flag} needs --domain`, 'pass --domain with it, or leave it out', { code: 'bad_flag' });
    }
  }
  const cpuGiven = opts.cpu === undefined ? undefined : int(opts.cpu, '--cpu');
  if (cpuGiven !== undefined && !CPU_CHOICES.includes(cpuGiven)) {
    throw new UserError(`river init: --cpu ${cpuGiven}: expected one of ${CPU_CHOICES.join(', ')}`, 'pass a valid --cpu', {
      code: 'bad_flag',
    });
  }
  const taskCpu = await choose(
    cpuGiven,
    '--cpu',
    'Fargate task CPU',
    CPU_CHOICES.map((c) => ({ name: `${c / 1024} vCPU (${c})`, value: c })),
    proposal?.taskCpu ?? d.taskCpu,
  );
  // Only the memory sizes Fargate allows with that CPU are offered; a flag outside them is refused here.
  const memories = FARGATE_MEMORY[taskCpu] ?? [];
  const memGiven = opts.memory === undefined ? undefined : int(opts.memory, '--memory');
  if (memGiven !== undefined && !memories.includes(memGiven)) {
    throw new UserError(
      `river init: "taskMemory" must be one of ${memories.join(', ')} for taskCpu ${taskCpu} (got ${memGiven})`,
      'pass a valid --memory',
      { code: 'bad_flag' },
    );
  }
  const taskMemory = await choose(
    memGiven,
    '--memory',
    'Fargate task memory',
    memories.map((m) => ({ name: `${m} MiB`, value: m })),
    [proposal?.taskMemory, d.taskMemory].find((m) => m !== undefined && memories.includes(m)) ?? memories[0] ?? d.taskMemory,
  );
  const minTasks = int(
    await text(
      opts.minTasks,
      '--min-tasks',
      'Fewest running tasks (2 or more survives a task or AZ failure)',
      String(proposal?.tasks ?? d.minTasks),
      wholeNumber(1, 1000),
    ),
    '--min-tasks',
  );
  const maxTasks = int(
    await text(
      opts.maxTasks,
      '--max-tasks',
      'Most running tasks',
      String(Math.max(d.maxTasks, minTasks, 2 * (proposal?.tasks ?? 0))),
      wholeNumber(minTasks, 1000),
    ),
    '--max-tasks',
  );
  const cacheChoices: Choice<string>[] = [
    { name: 'node: Valkey replication group (primary + replica), cheapest at steady load', value: 'node' },
    { name: 'serverless: ElastiCache Serverless, pay per use, no sizing', value: 'serverless' },
  ];
  const cacheMode = await choose(opts.cache, '--cache', 'Cache (the bus between nodes)', cacheChoices, proposal?.cacheMode ?? d.cache.mode);

  const raw: Record<string, unknown> = {
    name: opts.name ?? d.name,
    region,
    taskCpu,
    taskMemory,
    minTasks,
    maxTasks,
    cache: { ...d.cache, mode: cacheMode, ...(proposal ? { nodeType: proposal.cacheNodeType } : {}) },
  };
  if (domain) raw.domain = domain;
  if (certificateArn) raw.certificateArn = certificateArn;
  if (hostedZoneId) raw.hostedZoneId = hostedZoneId;
  if (hostedZoneName) raw.hostedZoneName = hostedZoneName;
  // Not asked: every origin is allowed unless this flag narrows it (RIVER_ALLOWED_ORIGINS on the tasks).
  if (origins !== undefined) raw.allowedOrigins = origins;
  const config = await validateConfig(raw, 'river init');
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
  io.info(
    `wrote ${CONFIG_FILE}: ${config.name} in ${config.region}, ${config.minTasks}-${config.maxTasks} tasks of ${config.taskCpu} CPU / ${config.taskMemory} MiB, cache ${config.cache.mode}`,
  );
  if (!config.domain)
    io.warn('no domain: clients connect with ws:// (unencrypted) to the load balancer; run `npx river init --force --domain …` for wss://');
  io.info('next: npx river deploy');
}

/** The capacity model's proposal for --connections and --messages-per-second (both, or neither). */
function sizing(opts: InitOptions): CapacityProposal | undefined {
  if (opts.connections === undefined && opts.messagesPerSecond === undefined) return undefined;
  if (opts.connections === undefined || opts.messagesPerSecond === undefined) {
    const missing = opts.connections === undefined ? '--connections' : '--messages-per-second';
    throw new UserError(`river init: sizing needs ${missing} too`, 'pass both --connections and --messages-per-second', {
      code: 'bad_flag',
    });
  }
  const connections = int(opts.connections, '--connections');
  if (connections < 1)
    throw new UserError('river init: --connections must be at least 1', 'e.g. --connections 10000', { code: 'bad_flag' });
  return proposeCapacity({ connections, messagesPerSecond: int(opts.messagesPerSecond, '--messages-per-second') });
}
