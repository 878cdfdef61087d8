/**
 * Writes the River image's build context: image/app/main.mjs, the node (src/main.ts) bundled with
 * esbuild into one ESM file with every dependency (ws, ioredis, pino, prom-client, the Secrets
 * Manager client, @river/protocol), beside image/Dockerfile. Run by `npm run build -w @river/server`;
 * the package ships image/ (package.json `files`), so `docker build node_modules/@river/server/image`
 * and River's CDK app build the image from an installed package.
 *
 * Deterministic: paths in the output are relative to this folder (no absolute path, no timestamp), so
 * building twice, or from two checkouts in different folders, gives byte-identical files, and the
 * image asset hash depends only on what the node runs.
 *
 * Not bundled: ws's optional native helpers (bufferutil, utf-8-validate). ws loads them in a
 * try/catch and falls back to JavaScript; the server only unmasks what clients send (auth,
 * subscribe, pong: 15 to ~500 bytes, below 32 bytes ws uses JavaScript anyway), where the native
 * helper saves about 1 µs per frame (measured), against ~8 µs of CPU per delivered message.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const SERVER_DIR = dirname(fileURLToPath(import.meta.url));
export const IMAGE_DIR = join(SERVER_DIR, 'image');
export const APP_DIR = join(IMAGE_DIR, 'app');
export const ENTRY = 'main.mjs';

/** Builds image/app/ (default) or `outdir`; resolves the bundle's path, the files read and the imports left external. */
export async function buildImageContext(outdir = APP_DIR) {
  const tmp = `${outdir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const result = await build({
    absWorkingDir: SERVER_DIR,
    entryPoints: ['src/main.ts'],
    outfile: join(tmp, ENTRY),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    // @river/protocol from its sources: the bundle does not depend on the protocol package being built.
    conditions: ['river-source'],
    external: ['bufferutil', 'utf-8-validate'],
    // CommonJS dependencies (ioredis, pino, ws) call require(): give the ESM bundle one.
    banner: {
      js: "import { createRequire as __riverCreateRequire } from 'node:module'; const require = __riverCreateRequire(import.meta.url);",
    },
    legalComments: 'eof',
    minifySyntax: true,
    minifyWhitespace: true,
    keepNames: true,
    logLevel: 'warning',
    metafile: true,
  });
  const written = await readdir(tmp);
  if (written.length !== 1 || written[0] !== ENTRY) throw new Error(`unexpected build output: ${written.join(', ')}`);
  // Swap the folder in whole: a reader (a synth hashing the context) never sees half of a build.
  const old = `${outdir}.old-${process.pid}`;
  await rename(outdir, old).catch((err) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rename(tmp, outdir);
  await rm(old, { recursive: true, force: true });
  // What the bundle still imports at run time: node builtins and the externals above.
  const external = new Set();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const i of output.imports) if (i.external) external.add(i.path);
  }
  return { file: join(outdir, ENTRY), inputs: Object.keys(result.metafile.inputs), external: [...external].sort() };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { file } = await buildImageContext(process.argv[2] === undefined ? undefined : resolve(process.argv[2]));
  process.stdout.write(`River image context built: ${file}\n`);
}
