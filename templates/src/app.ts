import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import type { RiverConfig } from './config.js';
import { FEATURE_FLAGS } from './feature-flags.js';
import { RiverStack } from './stack.js';

export interface BuildRiverAppOptions {
  /** Cloud assembly directory (default: a fresh temporary directory chosen by the CDK). */
  outdir?: string;
  /**
   * The image's build context: a folder with Dockerfile and app/ (default: `image/` of the
   * @river/server package this package resolves, see `serverImageDir`). Unused when `config.image` is set.
   */
  imageDir?: string;
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

/**
 * The River image's build context shipped in @river/server (`image/`: Dockerfile and the bundled
 * node in app/), found by module resolution from this package: through the workspace link in a
 * checkout, in node_modules in an app. Undefined when @river/server cannot be resolved.
 */
export function serverImageDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@river/server/package.json')), 'image');
  } catch {
    return undefined;
  }
}

const BUILD_HINT =
  'run `npm run build -w @river/server` in a River checkout, reinstall @river/server, or set "image" in river.config.json to a prebuilt River image';

/** Throws RiverBuildError unless `dir` holds a built image context (Dockerfile and a non-empty app/). */
function checkImageDir(dir: string | undefined): string {
  if (dir === undefined)
    throw new RiverBuildError(
      `the River image build context was not found (@river/server is not installed beside @river/templates): ${BUILD_HINT}`,
    );
  if (!existsSync(join(dir, 'Dockerfile')))
    throw new RiverBuildError(`the River image build context is missing its Dockerfile (${join(dir, 'Dockerfile')}): ${BUILD_HINT}`);
  const app = join(dir, 'app');
  if (!existsSync(app) || readdirSync(app).length === 0) {
    throw new RiverBuildError(`the River image build context is not built (${app} is missing or empty): ${BUILD_HINT}`);
  }
  return dir;
}

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
    throw new RiverBuildError(
      `the publish Lambda bundle is missing (${join(lambdaDir, 'index.mjs')}): run \`npm run build -w @river/templates\``,
    );
  }
  const imageDir = config.image === undefined ? checkImageDir(opts.imageDir ?? serverImageDir()) : undefined;
  const app = new App({
    ...(opts.outdir === undefined ? {} : { outdir: opts.outdir }),
    context: { ...FEATURE_FLAGS },
    analyticsReporting: false,
    stackTraces: false,
  });
  const stackName = stackNameOf(config);
  new RiverStack(app, stackName, { config, lambdaDir, ...(imageDir === undefined ? {} : { imageDir }) });
  return { app, stackName };
}
