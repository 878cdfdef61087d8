// The package's manifest against its code: every runtime dependency is imported by the shipped
// sources and every package they import is a dependency; what the README's code blocks import is
// declared too (their test runs them).
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const dir = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

/** Bare package names imported by `code` (`import … from 'x'`, `import 'x'`, `import('x')`). */
function importedPackages(code: string): Set<string> {
  const names = new Set<string>();
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"./][^'"]*)['"]/g)) {
    const spec = m[1]!;
    if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
    names.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return names;
}

it('dependencies are exactly the packages the shipped sources import', () => {
  const sources = readdirSync(join(dir, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('test-'));
  const imported = new Set(sources.flatMap((f) => [...importedPackages(readFileSync(join(dir, 'src', f), 'utf8'))]));
  expect([...imported].sort()).toEqual(Object.keys(pkg.dependencies ?? {}).sort());
});

it("the README's code blocks import only declared packages", () => {
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js[^\n]*\n([\s\S]*?)```/g)].map((m) => m[1]!).join('\n');
  const declared = new Set(['@river/node', ...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]);
  const imported = [...importedPackages(blocks)];
  expect(imported).toContain('express');
  expect(imported.filter((p) => !declared.has(p))).toEqual([]);
});
