/**
 * Test helper: synthesizes the variants of issue 6 once per test file (synthesis costs seconds and
 * ~500 MB), with the cdk-nag AwsSolutions pack attached, into a temporary directory.
 */
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildImageContext, IMAGE_DIR } from '../../server/build-image.mjs';
import { buildRiverApp } from './app.js';
import { parseRiverConfig, type RiverConfig } from './config.js';
import { bundleLambda } from './lambda-bundle.js';

export const DOMAIN = 'rt.example.com';
export const CERT_ARN = 'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
export const IMAGE = 'public.ecr.aws/example/river:1.2.3';
export const ECR_IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/river:1.2.3';

/**
 * Each setting of the issue both ways: domain on/off, imported/new certificate, replication group/serverless,
 * Valkey/Redis OSS (both modes), NAT on/off.
 */
export const VARIANTS = {
  /** The defaults: no domain (plain HTTP), replication group, no NAT, image built from @river/server's image/ folder. */
  plain: {},
  /** Domain with an imported certificate (no DNS managed), serverless cache, one NAT gateway. */
  imported: { name: 'rt-imported', domain: DOMAIN, certificateArn: CERT_ARN, cache: { mode: 'serverless' }, natGateways: 1 },
  /** Domain in a hosted zone: new DNS-validated certificate and alias record; Redis OSS; two NATs; prebuilt image. */
  zone: {
    name: 'rt-zone',
    domain: DOMAIN,
    hostedZoneId: 'Z0123456789ABCDEFGHIJ',
    hostedZoneName: 'example.com',
    cache: { engine: 'redis' },
    natGateways: 2,
    image: IMAGE,
    logRetentionDays: 90,
    taskCpu: 512,
    taskMemory: 1024,
    minTasks: 3,
    maxTasks: 20,
  },
  /** Redis OSS serverless (cluster protocol, RBAC user of the redis engine), an origin allow-list, prebuilt image. */
  redisServerless: {
    name: 'rt-redis-sl',
    cache: { mode: 'serverless', engine: 'redis' },
    image: IMAGE,
    allowedOrigins: ['https://app.example.com', 'https://*.example.com'],
  },
  /** Operations settings: a private ECR image, ALB access logs, Container Insights, publish caps, the console. */
  operations: {
    name: 'rt-ops',
    image: ECR_IMAGE,
    console: true,
    accessLogs: true,
    containerInsights: true,
    publishConcurrency: 50,
    publishRateLimit: 200,
    publishBurstLimit: 400,
    logRetentionDays: 14,
  },
} as const;
export type VariantName = keyof typeof VARIANTS;

export interface Synthesized {
  config: RiverConfig;
  stackName: string;
  /** The template as CloudFormation JSON text, and parsed. */
  text: string;
  json: TemplateJson;
  /** The assembly directory. */
  dir: string;
  /** Warnings and errors the stack recorded (message text). */
  warnings: string[];
  /** Set when the AwsSolutions pack reported a finding that is not acknowledged. */
  nagFailure?: string;
  /** Context lookups the assembly still needs (must be none). */
  missing: unknown;
}

export interface TemplateJson {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: unknown }>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
  [key: string]: unknown;
}

let lambdaDir: Promise<string> | undefined;
let imageDir: Promise<string> | undefined;

/**
 * The image build context as @river/server ships it (server/image/Dockerfile and app/ bundled from
 * the current sources), built once per test file into a temporary folder: the tests do not depend on
 * `npm run build` having run, and never write into the checkout.
 */
export function testImageDir(): Promise<string> {
  imageDir ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'river-image-'));
    copyFileSync(join(IMAGE_DIR, 'Dockerfile'), join(dir, 'Dockerfile'));
    await buildImageContext(join(dir, 'app'));
    return dir;
  })();
  return imageDir;
}

/** A copy of a build context in a new temporary folder (as another user's install of the same package). */
export function copyImageDir(from: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'river-install-')), 'node_modules', '@river', 'server', 'image');
  mkdirSync(dir, { recursive: true });
  cpSync(from, dir, { recursive: true });
  return dir;
}

/** Bundles the publish Lambda once per test file into a temporary folder. */
export function testLambdaDir(): Promise<string> {
  lambdaDir ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'river-lambda-'));
    await bundleLambda(dir);
    return dir;
  })();
  return lambdaDir;
}

export interface SynthOptions {
  nag?: boolean;
  /** The image build context (default: testImageDir()). */
  imageDir?: string;
  /** Settings laid over the variant's river.config.json. */
  override?: Record<string, unknown>;
}

export async function synth(name: VariantName, opts: SynthOptions = {}): Promise<Synthesized> {
  const config = parseRiverConfig({ ...VARIANTS[name], ...opts.override });
  const dir = mkdtempSync(join(tmpdir(), `river-synth-${name}-`));
  const build = async (withNag: boolean) => {
    const lambda = await testLambdaDir();
    const image = opts.imageDir ?? (await testImageDir());
    // A deprecated aws-cdk-lib API throws instead of printing "[WARNING] … is deprecated" during `river synth`.
    const deprecated = process.env.JSII_DEPRECATED;
    process.env.JSII_DEPRECATED = 'fail';
    try {
      const { app, stackName } = buildRiverApp(config, {
        outdir: dir,
        lambdaDir: lambda,
        imageDir: image,
      });
      if (withNag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      return { assembly: app.synth(), stackName };
    } finally {
      if (deprecated === undefined) delete process.env.JSII_DEPRECATED;
      else process.env.JSII_DEPRECATED = deprecated;
    }
  };
  let nagFailure: string | undefined;
  let built;
  try {
    built = await build(opts.nag !== false);
  } catch (err) {
    // A deprecation fails the synthesis itself (it warns only once per process: a retry would pass).
    if (opts.nag === false || (err as Error).name === 'DeprecationError') throw err;
    nagFailure = `${String(err)}\n${readReport(dir)}`;
    built = await build(false);
  }
  const stack = built.assembly.getStackByName(built.stackName);
  const text = readFileSync(join(dir, stack.templateFile), 'utf8');
  const result: Synthesized = {
    config,
    stackName: built.stackName,
    text,
    json: JSON.parse(text) as TemplateJson,
    dir,
    warnings: stack.messages.filter((m) => m.level !== 'info').map((m) => String(m.entry.data)),
    missing: built.assembly.manifest.missing,
  };
  if (nagFailure !== undefined) result.nagFailure = nagFailure;
  return result;
}

function readReport(dir: string): string {
  try {
    const report = JSON.parse(readFileSync(join(dir, 'validation-report.json'), 'utf8')) as {
      pluginReports?: Array<{ violations?: Array<{ ruleName: string; violatingConstructs?: Array<{ constructPath: string }> }> }>;
    };
    return (report.pluginReports ?? [])
      .flatMap((p) => p.violations ?? [])
      .map((v) => `${v.ruleName} at ${(v.violatingConstructs ?? []).map((c) => c.constructPath).join(', ')}`)
      .join('\n');
  } catch {
    return '(no validation report)';
  }
}

/** Resources of one type, by logical id. */
export function resources(t: TemplateJson, type: string): Array<[string, Record<string, unknown>]> {
  return Object.entries(t.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

/** The only resource of a type. */
export function only(t: TemplateJson, type: string): Record<string, unknown> {
  const found = resources(t, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]![1];
}

/** Every string anywhere in a JSON value. */
export function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}
