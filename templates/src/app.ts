import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import type { RiverConfig } from './config.js';
import { FEATURE_FLAGS } from './feature-flags.js';
import { RiverStack } from './stack.js';

export interface BuildRiverAppOptions {
  /** Cloud assembly directory (default: a fresh temporary directory chosen by the CDK). */
  outdir?: string;
  /** Repository root holding server/Dockerfile (default: this checkout). Unused when `config.image` is set. */
  sourceDir?: string;
  /** Folder with the bundled publish Lambda (index.mjs; default: templates/dist/lambda). */
  lambdaDir?: string;
}

export class RiverBuildError extends Error {
  readonly code = 'build_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RiverBuildError';
  }
}

/** templates/ (from src/ or dist/). */
const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_LAMBDA_DIR = join(PACKAGE_DIR, 'dist', 'lambda');
export const DEFAULT_SOURCE_DIR = resolve(PACKAGE_DIR, '..');

/** The CloudFormation stack name of a deployment: the config's `name` ("river" by default). */
export function stackNameOf(config: Pick<RiverConfig, 'name'>): string {
  return config.name;
}

/**
 * Builds the CDK app for one deployment. The stack is account-agnostic (no lookups; the account
 * comes from the deploying credentials) and pinned to `config.region`.
 */
export function buildRiverApp(config: RiverConfig, opts: BuildRiverAppOptions = {}): { app: App; stackName: string } {
  const lambdaDir = opts.lambdaDir ?? DEFAULT_LAMBDA_DIR;
  if (!existsSync(join(lambdaDir, 'index.mjs'))) {
    throw new RiverBuildError(`the publish Lambda bundle is missing (${join(lambdaDir, 'index.mjs')}): run \`npm run build -w @river/templates\``);
  }
  const sourceDir = opts.sourceDir ?? DEFAULT_SOURCE_DIR;
  if (config.image === undefined && !existsSync(join(sourceDir, 'server', 'Dockerfile'))) {
    throw new RiverBuildError(`server/Dockerfile not found under ${sourceDir}: set "image" in river.config.json to a prebuilt River image`);
  }
  const app = new App({
    ...(opts.outdir === undefined ? {} : { outdir: opts.outdir }),
    context: { ...FEATURE_FLAGS },
    analyticsReporting: false,
    stackTraces: false,
  });
  const stackName = stackNameOf(config);
  new RiverStack(app, stackName, { config, lambdaDir, sourceDir });
  return { app, stackName };
}
