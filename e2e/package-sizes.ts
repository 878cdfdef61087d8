/**
 * Prints what a user downloads: each publishable workspace's tarball (packed and unpacked size) and
 * the install size (`du -sb` of a fresh folder's node_modules) of `river`, `@river/client` and
 * `@river/node`, each installed alone from the tarballs as in e2e/packed.test.ts.
 * Run after `npm run build`: `node --import tsx e2e/package-sizes.ts` (needs the npm registry or its cache).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duBytes, installApp, packWorkspaces, type PackageName } from './harness/packed.js';

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const size = (n: number) => (n < 1024 * 1024 ? kb(n) : `${(n / 1024 / 1024).toFixed(1)} MB`);
const work = await mkdtemp(join(tmpdir(), 'river-sizes-'));
try {
  const tarballs = await packWorkspaces(join(work, 'tarballs'));
  console.log('| package | tarball | unpacked | files |\n|---|---|---|---|');
  for (const t of tarballs.values()) console.log(`| ${t.name} | ${kb(t.size)} | ${kb(t.unpackedSize)} | ${t.files.length} |`);
  console.log('\n| installed alone | node_modules (du -sb) | packages | install time |\n|---|---|---|---|');
  for (const name of ['river', '@river/client', '@river/node'] satisfies PackageName[]) {
    const t0 = Date.now();
    const dir = await installApp(tarballs, { [name]: 'tarball' }, 'river-size-');
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    const top = await readdir(join(dir, 'node_modules'), { withFileTypes: true });
    let count = 0;
    for (const e of top) {
      if (e.name.startsWith('.')) continue;
      count += e.name.startsWith('@') ? (await readdir(join(dir, 'node_modules', e.name))).length : 1;
    }
    console.log(`| ${name} | ${size(await duBytes(join(dir, 'node_modules')))} | ${count} top-level | ${seconds} s |`);
    await rm(dir, { recursive: true, force: true });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
