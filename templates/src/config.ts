/**
 * river.config.json: what `river init` writes and `river deploy` reads. Parsed once, here, into a
 * typed `RiverConfig`; every field has a default, so `{}` is a valid file. Unknown fields are
 * refused (a typo must not silently deploy the default).
 */

export type CacheMode = 'node' | 'serverless';
export type CacheEngine = 'valkey' | 'redis';

export interface RiverCacheConfig {
  /** `node`: an ElastiCache replication group (primary + replica, Multi-AZ). `serverless`: ElastiCache Serverless. */
  mode: CacheMode;
  engine: CacheEngine;
  /** Node type for `mode: "node"` (ignored for serverless). */
  nodeType: string;
}

export interface RiverConfig {
  /** Deployment name; the CloudFormation stack is named after it. */
  name: string;
  region: string;
  /** Custom domain (e.g. rt.example.com). Without it the ALB serves plain HTTP on its own DNS name. */
  domain?: string;
  /** ACM certificate for `domain`, in `region`. Absent with a hosted zone: a DNS-validated certificate is created. */
  certificateArn?: string;
  /** Route 53 hosted zone holding `domain` (both id and name, never looked up). */
  hostedZoneId?: string;
  hostedZoneName?: string;
  /** Fargate task CPU units and memory (MiB). */
  taskCpu: number;
  taskMemory: number;
  minTasks: number;
  maxTasks: number;
  cache: RiverCacheConfig;
  /** NAT gateways (0: tasks in public subnets with a public IP, reachable only from the ALB). */
  natGateways: number;
  /** Prebuilt container image URI; absent: built at deploy time from the image/ folder of the installed @river/server. */
  image?: string;
  /**
   * Base of that build (its BASE_IMAGE build argument; default `node:24-bookworm-slim` from Docker Hub),
   * e.g. a copy of it in a registry mirror. Must have Node 24 at /usr/local/bin/node and a `node` user.
   */
  baseImage?: string;
  logRetentionDays: number;
  /**
   * Origins allowed to open WebSockets (RIVER_ALLOWED_ORIGINS on the tasks): `https://app.example.com`,
   * `https://*.example.com`, `http://localhost:3000`. Absent: every origin (`*`).
   */
  allowedOrigins?: string[];
  /**
   * Reserved concurrency of the publish Lambda: at most this many run at once, whatever reaches the
   * HTTP API (the API key is checked inside the Lambda). 0: none reserved (accounts whose Lambda
   * concurrency quota is below 120, such as new ones, cannot reserve any).
   */
  publishConcurrency: number;
  /** HTTP API throttle for the whole API: steady requests per second, and burst. */
  publishRateLimit: number;
  publishBurstLimit: number;
  /** ALB access logs in an S3 bucket of the stack (objects expire after `logRetentionDays`). */
  accessLogs: boolean;
  /** ECS Container Insights on the cluster (per-task CPU, memory, network; billed per metric). */
  containerInsights: boolean;
  /** The debug console at /console and the tap, behind the API key (RIVER_CONSOLE=on). */
  console: boolean;
}

export class RiverConfigError extends Error {
  readonly code = 'config_invalid';
  /** The offending field, dotted (`cache.mode`). */
  readonly field: string;
  constructor(field: string, rule: string, options?: { cause?: unknown }) {
    super(`river.config.json: "${field}" ${rule}`, options);
    this.name = 'RiverConfigError';
    this.field = field;
  }
}

export function defaultRiverConfig(): RiverConfig {
  return {
    name: 'river',
    region: 'us-east-1',
    taskCpu: 256,
    taskMemory: 512,
    minTasks: 2,
    maxTasks: 10,
    cache: { mode: 'node', engine: 'valkey', nodeType: 'cache.t4g.micro' },
    natGateways: 0,
    logRetentionDays: 30,
    publishConcurrency: 20,
    publishRateLimit: 1000,
    publishBurstLimit: 2000,
    accessLogs: false,
    containerInsights: false,
    console: false,
  };
}

/** Fargate's valid memory (MiB) for each CPU value. */
export const FARGATE_MEMORY: Readonly<Record<number, readonly number[]>> = {
  256: [512, 1024, 2048],
  512: range(1024, 4096, 1024),
  1024: range(2048, 8192, 1024),
  2048: range(4096, 16384, 1024),
  4096: range(8192, 30720, 1024),
  8192: range(16384, 61440, 4096),
  16384: range(32768, 122880, 8192),
};

/** The retention periods CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const KEYS = new Set([
  '$schema',
  'name',
  'region',
  'domain',
  'certificateArn',
  'hostedZoneId',
  'hostedZoneName',
  'taskCpu',
  'taskMemory',
  'minTasks',
  'maxTasks',
  'cache',
  'natGateways',
  'image',
  'baseImage',
  'logRetentionDays',
  'allowedOrigins',
  'console',
]);
const CACHE_KEYS = new Set(['mode', 'engine', 'nodeType']);
/** Operations settings (issue 16): publish flood caps, access logs, Container Insights. */
const OPERATIONS_KEYS = ['publishConcurrency', 'publishRateLimit', 'publishBurstLimit', 'accessLogs', 'containerInsights'] as const;
for (const key of OPERATIONS_KEYS) KEYS.add(key);

const NAME = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
const ZONE_NAME = new RegExp(`${HOSTNAME.source.slice(0, -1)}\\.?$`);
const CERT_ARN = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate\/[A-Za-z0-9-]+$/;
const ZONE_ID = /^Z[A-Z0-9]{1,31}$/;
const NODE_TYPE = /^cache\.[a-z0-9]+\.[a-z0-9]+$/;
const IMAGE = /^[^\s]+$/;
/** An Origin (scheme://host[:port], no path) where `*` in the host matches any run of characters; or `*` alone. */
const ORIGIN = /^(\*|https?:\/\/[a-z0-9*]([a-z0-9*.-]{0,251}[a-z0-9*])?(:\d{1,5})?)$/;
const MAX_ORIGINS = 50;

/** Validates a parsed river.config.json; missing fields take their defaults. Throws `RiverConfigError`. */
export function parseRiverConfig(raw: unknown): RiverConfig {
  if (!isObject(raw)) throw new RiverConfigError('(root)', 'must be a JSON object');
  for (const key of Object.keys(raw)) {
    if (!KEYS.has(key)) throw new RiverConfigError(key, `is not a known setting (known: ${[...KEYS].slice(1).join(', ')})`);
  }
  const d = defaultRiverConfig();
  const config: RiverConfig = {
    name: str(
      raw,
      'name',
      d.name,
      NAME,
      'must be 1 to 32 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen',
    ),
    region: str(raw, 'region', d.region, REGION, 'must be an AWS region name such as "us-east-1"'),
    taskCpu: oneOf(raw, 'taskCpu', d.taskCpu, Object.keys(FARGATE_MEMORY).map(Number)),
    taskMemory: int(raw, 'taskMemory', d.taskMemory, 512, 122880),
    minTasks: int(raw, 'minTasks', d.minTasks, 1, 1000),
    maxTasks: int(raw, 'maxTasks', d.maxTasks, 1, 1000),
    cache: cache(raw.cache, d.cache),
    natGateways: int(raw, 'natGateways', d.natGateways, 0, 2),
    logRetentionDays: oneOf(raw, 'logRetentionDays', d.logRetentionDays, LOG_RETENTION_DAYS),
    publishConcurrency: int(raw, 'publishConcurrency', d.publishConcurrency, 0, 1000),
    publishRateLimit: int(raw, 'publishRateLimit', d.publishRateLimit, 1, 100_000),
    publishBurstLimit: int(raw, 'publishBurstLimit', d.publishBurstLimit, 1, 5000),
    accessLogs: bool(raw, 'accessLogs', d.accessLogs),
    containerInsights: bool(raw, 'containerInsights', d.containerInsights),
    console: bool(raw, 'console', d.console),
  };
  const domain = optStr(raw, 'domain', HOSTNAME, 'must be a lowercase DNS name such as "rt.example.com"');
  const certificateArn = optStr(
    raw,
    'certificateArn',
    CERT_ARN,
    'must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)',
  );
  const hostedZoneId = optStr(raw, 'hostedZoneId', ZONE_ID, 'must be a Route 53 hosted zone id such as "Z0123456789ABCDEFGHIJ"');
  const hostedZoneName = optStr(raw, 'hostedZoneName', ZONE_NAME, 'must be a lowercase DNS name such as "example.com"');
  const image = optStr(raw, 'image', IMAGE, 'must be a container image URI without spaces');
  const baseImage = optStr(raw, 'baseImage', IMAGE, 'must be a container image reference without spaces');
  if (domain !== undefined) config.domain = domain;
  if (certificateArn !== undefined) config.certificateArn = certificateArn;
  if (hostedZoneId !== undefined) config.hostedZoneId = hostedZoneId;
  if (hostedZoneName !== undefined) config.hostedZoneName = hostedZoneName.replace(/\.$/, '');
  if (image !== undefined) config.image = image;
  if (baseImage !== undefined) config.baseImage = baseImage;
  const allowedOrigins = origins(raw.allowedOrigins);
  if (allowedOrigins !== undefined) config.allowedOrigins = allowedOrigins;
  checkRelations(config);
  return config;
}

function checkRelations(c: RiverConfig): void {
  if (c.image !== undefined && c.baseImage !== undefined) {
    throw new RiverConfigError('baseImage', 'has no effect with "image" (a prebuilt image is not built): remove one of them');
  }
  const memory = FARGATE_MEMORY[c.taskCpu] ?? [];
  if (!memory.includes(c.taskMemory)) {
    throw new RiverConfigError('taskMemory', `must be one of ${memory.join(', ')} for taskCpu ${c.taskCpu} (got ${c.taskMemory})`);
  }
  if (c.maxTasks < c.minTasks) {
    throw new RiverConfigError('maxTasks', `must be at least minTasks (${c.minTasks}) (got ${c.maxTasks})`);
  }
  if ((c.hostedZoneId === undefined) !== (c.hostedZoneName === undefined)) {
    const missing = c.hostedZoneId === undefined ? 'hostedZoneId' : 'hostedZoneName';
    throw new RiverConfigError(missing, 'is required when the other of hostedZoneId/hostedZoneName is set (no lookups: give both)');
  }
  if (c.domain === undefined) {
    for (const field of ['certificateArn', 'hostedZoneId'] as const) {
      if (c[field] !== undefined) throw new RiverConfigError(field, 'needs "domain" to be set');
    }
    return;
  }
  if (c.hostedZoneName !== undefined && c.domain !== c.hostedZoneName && !c.domain.endsWith(`.${c.hostedZoneName}`)) {
    throw new RiverConfigError('hostedZoneName', `must be "${c.domain}" or a parent of it (got "${c.hostedZoneName}")`);
  }
  if (c.certificateArn === undefined && c.hostedZoneId === undefined) {
    throw new RiverConfigError(
      'certificateArn',
      'is required with "domain" unless hostedZoneId and hostedZoneName are given (then a DNS-validated certificate is created)',
    );
  }
  const certRegion = c.certificateArn === undefined ? undefined : CERT_ARN.exec(c.certificateArn)?.[1];
  if (certRegion !== undefined && certRegion !== c.region) {
    throw new RiverConfigError(
      'certificateArn',
      `must be a certificate in the deployment region ${c.region} (the ALB can only use those; got ${certRegion})`,
    );
  }
}

function cache(raw: unknown, d: RiverCacheConfig): RiverCacheConfig {
  if (raw === undefined) return { ...d };
  if (!isObject(raw)) throw new RiverConfigError('cache', 'must be an object { mode, engine, nodeType }');
  for (const key of Object.keys(raw)) {
    if (!CACHE_KEYS.has(key)) throw new RiverConfigError(`cache.${key}`, 'is not a known setting (known: mode, engine, nodeType)');
  }
  return {
    mode: oneOf(raw, 'mode', d.mode, ['node', 'serverless'] as const, 'cache.'),
    engine: oneOf(raw, 'engine', d.engine, ['valkey', 'redis'] as const, 'cache.'),
    nodeType: str(raw, 'nodeType', d.nodeType, NODE_TYPE, 'must be an ElastiCache node type such as "cache.t4g.micro"', 'cache.'),
  };
}

function origins(raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const rule = `must be a list of 1 to ${MAX_ORIGINS} origins such as ["https://app.example.com", "https://*.example.com"]`;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_ORIGINS)
    throw new RiverConfigError('allowedOrigins', `${rule} (got ${show(raw)})`);
  for (const o of raw) {
    if (typeof o !== 'string' || !ORIGIN.test(o)) {
      throw new RiverConfigError('allowedOrigins', `${rule}: scheme and host, lowercase, no path or trailing slash (got ${show(o)})`);
    }
  }
  return [...new Set(raw as string[])];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function str(o: Record<string, unknown>, key: string, def: string, re: RegExp, rule: string, prefix = ''): string {
  const v = o[key];
  if (v === undefined) return def;
  if (typeof v !== 'string' || !re.test(v)) throw new RiverConfigError(prefix + key, `${rule} (got ${show(v)})`);
  return v;
}

function optStr(o: Record<string, unknown>, key: string, re: RegExp, rule: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !re.test(v)) throw new RiverConfigError(key, `${rule} (got ${show(v)})`);
  return v;
}

function int(o: Record<string, unknown>, key: string, def: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RiverConfigError(key, `must be an integer from ${min} to ${max} (got ${show(v)})`);
  }
  return v;
}

function bool(o: Record<string, unknown>, key: string, def: boolean): boolean {
  const v = o[key];
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new RiverConfigError(key, `must be true or false (got ${show(v)})`);
  return v;
}

function oneOf<T extends string | number>(o: Record<string, unknown>, key: string, def: T, allowed: readonly T[], prefix = ''): T {
  const v = o[key];
  if (v === undefined) return def;
  if (!allowed.includes(v as T)) {
    throw new RiverConfigError(prefix + key, `must be one of ${allowed.map((a) => show(a)).join(', ')} (got ${show(v)})`);
  }
  return v as T;
}

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** The patterns river.config.json fields are checked against, for `river init` to check each answer at its prompt. */
export const CONFIG_PATTERNS = {
  region: REGION,
  hostname: HOSTNAME,
  zoneName: ZONE_NAME,
  certificateArn: CERT_ARN,
  zoneId: ZONE_ID,
} as const;
