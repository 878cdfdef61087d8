// The size the README states is the size of the minified bundle (as build.mjs makes it), gzipped.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

it('the README states dist/river.min.js min+gzip within 0.1 KB (KiB)', async () => {
  const out = await build({
    entryPoints: [`${pkgDir}src/index.ts`],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['river-source'],
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const gz = gzipSync(out.outputFiles[0]!.contents, { level: 9 }).length;
  const stated = /\*\*([\d.]+) KB\*\* min\+gzip/.exec(readFileSync(`${pkgDir}README.md`, 'utf8'));
  expect(stated, 'README: "**N.N KB** min+gzip"').not.toBeNull();
  expect(Math.abs(Number(stated![1]) - gz / 1024), `${gz} B is ${(gz / 1024).toFixed(2)} KB`).toBeLessThanOrEqual(0.1);
});
