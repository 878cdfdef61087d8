// Runs the README's code blocks, as written, against a real River node: proof that they work.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { loadConfig, startRiver, type RiverNode } from '@river/server';

const SECRET = 'node-readme-secret-0123456789-abcdefghijklmnopq';
const API_KEY = 'node-readme-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
let node: RiverNode;
let dir: string;

beforeAll(async () => {
  node = await startRiver(
    loadConfig({ RIVER_PORT: '0', RIVER_HOST: '127.0.0.1', RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: API_KEY, RIVER_LOG_LEVEL: 'silent' }),
  );
  dir = await mkdtemp(join(tmpdir(), 'river-node-readme-'));
  process.env.RIVER_URL = node.urls.http;
  process.env.RIVER_API_KEY = API_KEY;
  process.env.RIVER_JWT_SECRET = SECRET;
});

afterAll(async () => {
  for (const k of ['RIVER_URL', 'RIVER_API_KEY', 'RIVER_JWT_SECRET', 'PORT']) delete process.env[k];
  await node?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Writes the README block tagged `js <tag>` as a module whose imports resolve from here, and imports it. */
async function runBlock(tag: string): Promise<Record<string, unknown>> {
  const readme = await readFile(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const m = new RegExp(`\`\`\`js ${tag}\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!m) throw new Error(`README.md has no \`\`\`js ${tag} block`);
  const code = m[1]!
    .replace(`'@river/node'`, JSON.stringify(pathToFileURL(fileURLToPath(new URL('./index.ts', import.meta.url))).href))
    .replace(`'express'`, JSON.stringify(pathToFileURL(createRequire(import.meta.url).resolve('express')).href));
  const file = join(dir, `${tag}.mjs`);
  await writeFile(file, code);
  return (await import(/* @vite-ignore */ pathToFileURL(file).href)) as Record<string, unknown>;
}

it('the quickstart runs against a real node', async () => {
  const logs: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void logs.push(a.map((x) => JSON.stringify(x)).join(' ')));
  try {
    await runBlock('quickstart');
  } finally {
    spy.mockRestore();
  }
  expect(logs).toEqual([
    JSON.stringify({ channel: 'dogs', offset: 1 }),
    JSON.stringify('1 new-post, 2 new-post'),
    '2 []',
    JSON.stringify({ disconnected: 0 }),
    '3',
  ]);
});

it('the token endpoint block serves verifiable tokens', async () => {
  process.env.PORT = '0';
  const { server } = (await runBlock('token-endpoint')) as { server: Server };
  try {
    await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
    const port = (server.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/river-token`, { headers: { 'x-user': 'u9' } });
    expect(res.status).toBe(200);
    const { payload } = await jwtVerify(await res.text(), new TextEncoder().encode(SECRET));
    expect(payload).toMatchObject({ sub: 'u9', channels: ['dogs', 'presence-*'] });
  } finally {
    server.close();
  }
});
