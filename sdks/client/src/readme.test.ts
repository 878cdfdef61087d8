// Runs the README's quickstart, as written, against a real River node: proof that it works.
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { loadConfig, startRiver, type RiverNode } from '@river/server';
import { River as Backend } from '@river/node';

const SECRET = 'client-readme-secret-0123456789-abcdefghijklmnop';
const API_KEY = 'client-readme-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
let node: RiverNode;
let tokens: Server;
let dir: string;

beforeAll(async () => {
  node = await startRiver(
    loadConfig({ RIVER_PORT: '0', RIVER_HOST: '127.0.0.1', RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: API_KEY, RIVER_LOG_LEVEL: 'silent' }),
  );
  const backend = new Backend({ url: node.urls.http, secret: SECRET });
  const handler = backend.tokenHandler(() => ({ sub: 'readme-user', publish: ['doc-*'], info: { name: 'Ada' } }));
  tokens = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => tokens.listen(0, '127.0.0.1', r));
  dir = await mkdtemp(join(tmpdir(), 'river-client-readme-'));
});

afterAll(async () => {
  tokens?.close();
  await node?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The first code block whose info string is `js quickstart`. */
async function quickstart(readme: string): Promise<string> {
  const text = await readFile(readme, 'utf8');
  const m = /```js quickstart\n([\s\S]*?)```/.exec(text);
  if (!m) throw new Error(`${readme} has no \`\`\`js quickstart block`);
  return m[1]!;
}

it('the README quickstart runs against a real node', async () => {
  const code = (await quickstart(fileURLToPath(new URL('../README.md', import.meta.url))))
    .replace(`'@river/client'`, JSON.stringify(pathToFileURL(fileURLToPath(new URL('./index.ts', import.meta.url))).href))
    .replace(`'ws'`, JSON.stringify(pathToFileURL(createRequire(import.meta.url).resolve('ws')).href));
  expect(code).toContain('if (!res.ok)'); // the quickstart shows the check a token function needs
  const file = join(dir, 'quickstart.mjs');
  await writeFile(file, code);
  process.env.RIVER_WS_URL = node.urls.ws;
  process.env.TOKEN_URL = `http://127.0.0.1:${(tokens.address() as { port: number }).port}/river-token`;
  const logs: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void logs.push(a.join(' ')));
  const publisher = new Backend({ url: node.urls.http, apiKey: API_KEY });
  let done = false;
  try {
    const run = import(/* @vite-ignore */ pathToFileURL(file).href).finally(() => (done = true));
    // Publish until the snippet has received a post and closed (it may subscribe after the first one).
    while (!done) {
      await publisher.publish('dogs', 'new-post', { title: 'Rex' });
      await Promise.race([run.catch(() => {}), new Promise((r) => setTimeout(r, 100))]);
    }
    await run;
  } finally {
    spy.mockRestore();
    delete process.env.RIVER_WS_URL;
    delete process.env.TOKEN_URL;
  }
  expect(logs).toContain('state: disconnected -> connecting (connect)');
  expect(logs).toContain('state: connecting -> connected (ready)');
  expect(logs).toContain('published at offset 1');
  expect(logs).toContain('members: readme-user'); // the initial list, with subscribed
  expect(logs.filter((l) => l.startsWith('joined:'))).toEqual([]); // no member-added for it
  expect(logs.find((l) => l.startsWith('new post:'))).toMatch(/^new post: \{"title":"Rex"\} offset \d+$/);
  expect(logs.at(-1)).toBe('state: connected -> disconnected (closed)');
});
