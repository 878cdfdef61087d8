/**
 * The image build context @river/server ships (server/build-image.mjs): reproducible, so the image
 * asset hash depends on River's sources and dependencies only, never on when or where it was built.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImageContext, ENTRY } from '../../server/build-image.mjs';

describe('the image context build', () => {
  it('writes one self-contained bundle, byte-identical from one build to the next, with no path of the machine', async () => {
    const a = join(mkdtempSync(join(tmpdir(), 'river-ctx-a-')), 'app');
    const b = join(mkdtempSync(join(tmpdir(), 'river-ctx-b-')), 'deeper', 'app');
    const first = await buildImageContext(a);
    await new Promise((r) => setTimeout(r, 1100)); // a later second: a timestamp would show
    await buildImageContext(b);
    expect(readdirSync(a)).toEqual([ENTRY]);
    expect(readdirSync(b)).toEqual([ENTRY]);
    const bundle = readFileSync(join(a, ENTRY));
    expect(readFileSync(join(b, ENTRY)).equals(bundle)).toBe(true);
    const text = bundle.toString('utf8');
    for (const local of [process.cwd(), tmpdir(), '/home/', '/root/']) expect(text, local).not.toContain(local);
    // Everything the node imports is inside.
    for (const dep of ['ws', 'ioredis', 'jose', 'pino', 'prom-client', '@aws-sdk/client-secrets-manager']) {
      expect(first.inputs.some((i) => i.includes(`node_modules/${dep}/`)), dep).toBe(true);
    }
    expect(first.inputs.some((i) => i.includes('protocol/src/'))).toBe(true);
    // Left to run time: node's own modules, and ws's optional native helpers (it falls back to JavaScript).
    expect(first.external.filter((m) => !m.startsWith('node:') && !BUILTINS.has(m))).toEqual(['bufferutil', 'utf-8-validate']);
  });
});

const BUILTINS = new Set((await import('node:module')).builtinModules);
