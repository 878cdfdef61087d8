// The published types: what `tsc` emits for the package (as `npm run build` does) exposes no
// internals, and both exports (`.` and `./min`) have types.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'river-client-dts-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('the emitted .d.ts files carry no internal members (_frame, _retry, _pos, _gen)', () => {
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', join(pkgDir, 'tsconfig.json'), '--emitDeclarationOnly', '--outDir', out], { stdio: 'pipe' });
  const dts = readdirSync(out).filter((f) => f.endsWith('.d.ts'));
  expect(dts).toContain('index.d.ts');
  const text = dts.map((f) => readFileSync(join(out, f), 'utf8')).join('\n');
  expect(text).toContain('get position(): StreamPosition | undefined;');
  expect(text).not.toMatch(/\b_(frame|retry|pos|gen)\b/);
});

it('both package exports have types', () => {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
  expect(pkg.exports['.']!.types).toBe('./dist/index.d.ts');
  expect(pkg.exports['./min']!.types).toBe('./dist/index.d.ts');
  expect(Object.keys(pkg.exports['./min']!)[0]).toBe('types'); // "types" must come first to be used
});
