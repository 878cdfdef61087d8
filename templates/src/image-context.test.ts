/**
 * The image build context @river/server ships (server/build-image.mjs): reproducible, so the image
 * asset hash depends on River's sources and dependencies only, never on when or where it was built.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImageContext, ENTRY, IMAGE_DIR } from '../../server/build-image.mjs';

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
    for (const dep of ['ws', 'ioredis', 'pino', 'prom-client', '@aws-sdk/client-secrets-manager']) {
      expect(
        first.inputs.some((i) => i.includes(`node_modules/${dep}/`)),
        dep,
      ).toBe(true);
    }
    expect(first.inputs.some((i) => i.includes('protocol/src/'))).toBe(true);
    // Tokens are verified with node:crypto (server/src/auth.ts): no JOSE library in the image.
    expect(first.inputs.some((i) => i.includes('node_modules/jose/'))).toBe(false);
    // Left to run time: node's own modules, and ws's optional native helpers (it falls back to JavaScript).
    expect(first.external.filter((m) => !m.startsWith('node:') && !BUILTINS.has(m))).toEqual(['bufferutil', 'utf-8-validate']);
  });
});

describe('the image Dockerfile', () => {
  // The contract a daemonless assembler relies on: one instruction per line, no continuation, only
  // these instructions, no RUN (nothing executes at build time), the command in exec form.
  it('keeps to the instructions a daemonless assembler can apply: no RUN, one COPY of app/, exec-form CMD of the bundle', () => {
    const lines = readFileSync(join(IMAGE_DIR, 'Dockerfile'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const l of lines) expect(l, l).not.toMatch(/\\$/);
    const ops = lines.map((l) => l.split(/\s+/, 1)[0]!);
    for (const op of ops)
      expect(['ARG', 'FROM', 'ENV', 'WORKDIR', 'COPY', 'USER', 'EXPOSE', 'STOPSIGNAL', 'HEALTHCHECK', 'CMD']).toContain(op);
    expect(lines.slice(0, 2)).toEqual(['ARG BASE_IMAGE=node:24-bookworm-slim', 'FROM ${BASE_IMAGE}']);
    expect(lines.filter((l) => l.startsWith('COPY '))).toEqual(['COPY app/ /app/']);
    expect(lines).toEqual(
      expect.arrayContaining(['WORKDIR /app', 'USER node', 'EXPOSE 4400', 'STOPSIGNAL SIGTERM', `CMD ["node", "/app/${ENTRY}"]`]),
    );
    const healthcheck = lines.find((l) => l.startsWith('HEALTHCHECK '));
    if (healthcheck !== undefined)
      expect(JSON.parse(healthcheck.slice(healthcheck.indexOf(' CMD ') + 5))).toEqual(expect.arrayContaining(['node']));
    expect(ops.filter((op) => op === 'CMD')).toHaveLength(1);
  });
});

const BUILTINS = new Set((await import('node:module')).builtinModules);
