/**
 * Bundles the publish Lambda (server/src/lambda.ts and everything it imports, AWS SDK included, so
 * the function never depends on the SDK version of the runtime) into one ESM file with esbuild.
 * `npm run build -w @river/templates` writes templates/dist/lambda/index.mjs; the stack deploys that
 * folder with `Code.fromAsset`. Paths in the output are relative to the repository root, so the
 * bundle (and the asset hash) is the same on every machine.
 */
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_DIR = resolve(PACKAGE_DIR, '..');

/** Writes `<outdir>/index.mjs` (default templates/dist/lambda); resolves the file's path. */
export async function bundleLambda(outdir: string = join(PACKAGE_DIR, 'dist', 'lambda')): Promise<string> {
  await mkdir(outdir, { recursive: true });
  const out = join(outdir, 'index.mjs');
  const tmp = join(outdir, `.index.${process.pid}.${Date.now()}.mjs`);
  await build({
    absWorkingDir: REPO_DIR,
    entryPoints: ['server/src/lambda.ts'],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    conditions: ['river-source'],
    // CommonJS dependencies (ioredis) call require(): give the ESM bundle one.
    banner: {
      js: "import { createRequire as __riverCreateRequire } from 'node:module'; const require = __riverCreateRequire(import.meta.url);",
    },
    legalComments: 'none',
    minifySyntax: true,
    logLevel: 'warning',
  });
  await rename(tmp, out); // atomic: a concurrent reader sees the old or the new bundle, never half of one
  return out;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await bundleLambda(process.argv[2]);
  process.stdout.write(`publish Lambda bundled: ${out}\n`);
}
