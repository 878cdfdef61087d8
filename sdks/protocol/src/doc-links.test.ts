/**
 * Every place the code or the docs cite a section of the docs (`docs/protocol.md#7-codes` in a
 * comment, `[codes](protocol.md#7-codes)` in a page) names a heading that exists, and nothing cites
 * the old contract file (`PROTOCOL.md`, not in this repository).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', 'cdk.out', 'results', '.git', '.river', 'public']);

function walk(dir: string, exts: string[], out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, exts, out);
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of markdown.replace(/```[\s\S]*?```/g, '').split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

const sources = ['server/src', 'sdks', 'cli/src', 'templates/src', 'e2e', 'bench'].flatMap((d) => walk(path.join(root, d), ['.ts']));
const pages = [...walk(path.join(root, 'docs'), ['.md']), path.join(root, 'README.md'), ...walk(path.join(root, 'sdks'), ['README.md'])];
const anchorCache = new Map<string, Set<string>>();
const anchorsIn = (file: string) => {
  let a = anchorCache.get(file);
  if (a === undefined) anchorCache.set(file, (a = anchorsOf(readFileSync(file, 'utf8'))));
  return a;
};

interface Citation {
  from: string;
  doc: string;
  anchor: string;
}

function citations(): Citation[] {
  const out: Citation[] = [];
  for (const file of sources) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bdocs\/([\w-]+\.md)#([\w-]+)/g)) {
      out.push({ from: path.relative(root, file), doc: path.join(root, 'docs', m[1]!), anchor: m[2]! });
    }
  }
  for (const file of pages) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\]\(([\w./-]*\.md)?#([\w-]+)\)/g)) {
      out.push({ from: path.relative(root, file), doc: m[1] ? path.resolve(path.dirname(file), m[1]) : file, anchor: m[2]! });
    }
  }
  return out;
}

describe('doc links', () => {
  it('the anchor rule matches GitHub headings', () => {
    expect([...anchorsOf('## 3. Recovery: no message lost\n### Told: an `x`\n## A\n## A')]).toEqual([
      '3-recovery-no-message-lost',
      'told-an-x',
      'a',
      'a-1',
    ]);
  });

  it('every cited docs anchor exists', () => {
    const all = citations();
    expect(all.filter((c) => c.doc.endsWith('protocol.md')).length).toBeGreaterThan(20);
    const broken = all.filter((c) => !anchorsIn(c.doc).has(c.anchor)).map((c) => `${c.from}: ${path.relative(root, c.doc)}#${c.anchor}`);
    expect(broken).toEqual([]);
  });

  it('nothing cites PROTOCOL.md, which is not in this repository', () => {
    const self = fileURLToPath(import.meta.url);
    const citing = [...sources, ...pages]
      .filter((f) => f !== self && readFileSync(f, 'utf8').includes('PROTOCOL.md'))
      .map((f) => path.relative(root, f));
    expect(citing).toEqual([]);
  });
});
