// River as users get it: every publishable workspace packed with `npm pack`, installed from the
// tarballs into an app folder outside the repository (harness/packed.ts), and used there as a user
// would: the `river` bin (run with node directly, stopped by PID), a backend script with
// @river/node, a browser bundle of @river/client built with the app's own esbuild, `river init`
// and `river synth`. Needs the built dist/ (`npm run build`) and the npm registry (or a warm cache).
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createHmac } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { builtinModules } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, skipWithoutChromium } from './harness/browser.js';
import {
  appEnv,
  duBytes,
  installApp,
  linksInto,
  packedApp,
  PUBLISHABLE,
  REPO_DIR,
  removePackedApp,
  run,
  type PackedApp,
} from './harness/packed.js';

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Collects a stream's text; `waitFor` polls it until `test` matches (or fails after timeoutMs). */
function collect(child: ChildProcess) {
  const text = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (text.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text.stderr += d.toString()));
  return {
    text,
    async waitFor(stream: 'stdout' | 'stderr', test: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = text[stream].match(test);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`process exited ${child.exitCode} before ${test}:\n${text.stdout}\n${text.stderr}`);
        if (Date.now() > deadline) throw new Error(`no ${test} on ${stream} within ${timeoutMs} ms:\n${text.stdout}\n${text.stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** SIGTERM by PID, SIGKILL after graceMs; resolves on exit. */
async function stop(child: ChildProcess | undefined, graceMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(child.pid!, 'SIGTERM');
  const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Verifies an HS256 JWT over the secret's UTF-8 bytes (what River checks); resolves its payload. */
function verifyHs256(token: string, secret: string): Record<string, unknown> {
  const [header, payload, signature] = token.split('.');
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  if (signature !== expected) throw new Error('JWT signature does not verify with the dev secret');
  return JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Every file under `dir` whose text contains `needle` (the cloud assembly is small text and assets). */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    if ((await readFile(p)).includes(needle)) hits.push(p);
  }
  return hits;
}

/** Bare package names a compiled ES module imports: static `import`/`export … from` at a line's start, and `import('x')`. */
function importedPackages(code: string): Set<string> {
  const names = new Set<string>();
  const specs = [
    ...code.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm), // import … from 'x', export … from 'x'
    ...code.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm), // import 'x'
    ...code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g), // import('x')
  ].map((m) => m[1]!);
  for (const spec of specs) {
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
    names.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return names;
}

let app: PackedApp;

beforeAll(async () => {
  const t0 = Date.now();
  app = await packedApp();
  console.log(`packed and installed in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${app.dir}`);
}, 900_000);

afterAll(async () => {
  if (app) await removePackedApp(app);
}, 120_000);

describe('the tarballs', () => {
  it('every publishable workspace packs its build and nothing else', () => {
    expect([...app.tarballs.keys()].sort()).toEqual(PUBLISHABLE.map((p) => p.name).sort());
    for (const t of app.tarballs.values()) {
      console.log(`${t.name}: ${kb(t.size)} packed, ${kb(t.unpackedSize)} unpacked, ${t.files.length} files`);
      const stray = t.files.filter((f) => /(^|\/)test-[^/]*$|\.test\.|\.contract\.|(^|\/)src\/|\.tsbuildinfo$/.test(f));
      expect(stray, `${t.name} ships tests, test helpers or sources`).toEqual([]);
      // Source maps only where intended: the client's minified browser file, whose map inlines its sources.
      expect(
        t.files.filter((f) => f.endsWith('.map') && f !== 'dist/river.min.js.map'),
        `${t.name} ships source maps`,
      ).toEqual([]);
      expect(t.files).toContain('package.json');
      expect(t.files, `${t.name} has no README for its npm page`).toContain('README.md');
      expect(t.files.some((f) => f.startsWith('dist/') && f.endsWith('.js'))).toBe(true);
    }
    expect(app.tarballs.get('@river/templates')!.files).toContain('dist/lambda/index.mjs');
    expect(app.tarballs.get('river')!.files).toContain('bin/river.js');
  });

  it('every package declares what npm shows: description, license, Node >= 20', async () => {
    for (const { name } of PUBLISHABLE) {
      const pkg = JSON.parse(await readFile(join(app.dir, 'node_modules', name, 'package.json'), 'utf8')) as Record<string, unknown>;
      expect(pkg.description, name).toEqual(expect.any(String));
      expect(pkg.license, name).toBe('MIT');
      expect(pkg.engines, name).toEqual({ node: '>=20' });
      expect(pkg.private, name).toBeUndefined();
    }
    for (const dir of ['.', 'e2e', 'bench', 'examples/forum']) {
      const pkg = JSON.parse(await readFile(join(REPO_DIR, dir, 'package.json'), 'utf8')) as { private?: boolean };
      expect(pkg.private, `${dir}/package.json stays private`).toBe(true);
    }
  });

  it("every package's dependencies are exactly what its shipped code and declarations import", async () => {
    // The Lambda bundle carries what it imports inside it (it runs in AWS Lambda, not from node_modules);
    // bufferutil is ws's optional native accelerator, loaded by ws.
    const loadedByOthers: Record<string, string[]> = { '@river/server': ['bufferutil'] };
    for (const t of app.tarballs.values()) {
      const root = join(app.dir, 'node_modules', t.name);
      const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      const imported = new Set<string>();
      // Declarations count too: a type a .d.ts imports must install with the package, or TypeScript
      // users of it get "cannot find module".
      for (const f of t.files) {
        if (!/\.(m?js|d\.ts)$/.test(f) || (t.name === '@river/templates' && f === 'dist/lambda/index.mjs')) continue;
        for (const name of importedPackages(await readFile(join(root, f), 'utf8'))) imported.add(name);
      }
      for (const extra of loadedByOthers[t.name] ?? []) imported.add(extra);
      expect([...imported].sort(), `${t.name}: imports vs dependencies`).toEqual(Object.keys(pkg.dependencies ?? {}).sort());
    }
  });

  it('@river/client installs alone, with no dependency', async () => {
    const dir = await installApp(app.tarballs, { '@river/client': 'tarball' }, 'river-client-only-');
    try {
      const installed = (await readdir(join(dir, 'node_modules'))).filter((n) => !n.startsWith('.'));
      expect(installed).toEqual(['@river']);
      expect(await readdir(join(dir, 'node_modules', '@river'))).toEqual(['client']);
      console.log(`install size of @river/client alone: ${kb(await duBytes(join(dir, 'node_modules')))}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('the app that installed them', () => {
  it('has no symlink or file: link into the repository', async () => {
    expect(await linksInto(join(app.dir, 'node_modules'), REPO_DIR)).toEqual([]);
    const lock = await readFile(join(app.dir, 'package-lock.json'), 'utf8');
    expect(lock).not.toContain(REPO_DIR);
    expect(lock).not.toContain('"link": true');
    console.log(
      `install size of the app (river, @river/client, @river/node, esbuild): ${mb(await duBytes(join(app.dir, 'node_modules')))}`,
    );
  });

  it('river --help lists the commands', async () => {
    const r = await app.river(['--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: river');
    for (const cmd of ['init', 'dev', 'token', 'publish', 'listen', 'deploy', 'synth']) expect(r.stdout).toContain(`\n  ${cmd} `);
  });

  it('npx river --help runs the installed copy (no download)', async () => {
    const r = await run('npx', ['--no-install', 'river', '--help'], { cwd: app.dir, env: appEnv(), timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: river');
  });
});

describe('river dev in the app', () => {
  let dev: ChildProcess | undefined;
  let urls: { ws: string; http: string; apiKey: string };
  let devState: { secret: string; apiKey: string };
  let listen: ChildProcess | undefined;
  let listener: ReturnType<typeof collect>;
  let browser: Browser | undefined;
  let page: Server | undefined;

  beforeAll(async () => {
    dev = app.spawnRiver(['dev', '--port', '0'], { env: { RIVER_DRAIN_MS: '0' } });
    const out = collect(dev);
    const [, ws] = await out.waitFor('stdout', /WebSocket URL\s+(ws:\/\/\S+)/);
    const [, http] = await out.waitFor('stdout', /HTTP API URL\s+(http:\/\/\S+)/);
    const [, apiKey] = await out.waitFor('stdout', /API key\s+(\S+)/);
    urls = { ws: ws!, http: http!, apiKey: apiKey! };
    devState = JSON.parse(await readFile(join(app.dir, '.river', 'dev.json'), 'utf8')) as typeof devState;
    listen = app.spawnRiver(['listen', 'dogs']);
    listener = collect(listen);
    await listener.waitFor('stderr', /subscribed to dogs/);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => (page ? page.close(r) : r(undefined)));
    await stop(listen);
    await stop(dev);
  }, 60_000);

  it('prints its URLs, and the node answers on them', async () => {
    expect(urls.ws).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/ws$/);
    expect((await fetch(`${urls.http}/readyz`)).status).toBe(200);
    expect(urls.apiKey).toBe(devState.apiKey);
  });

  // Needs `.river/` found by walking up from the current folder (cli/src/state.ts, issue 12 point 6).
  it("river token --sub u1 from the app's src/ prints a JWT signed with the dev secret", async () => {
    const r = await app.river(['token', '--sub', 'u1'], { cwd: join(app.dir, 'src') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(verifyHs256(r.stdout.trim(), devState.secret)).toMatchObject({ sub: 'u1' });
  });

  it('river publish reaches river listen', async () => {
    const r = await app.river(['publish', 'dogs', 'new-post', '{"title":"hi"}']);
    expect(r.code, r.stderr).toBe(0);
    const [line] = await listener.waitFor('stdout', /^.*"event":"new-post".*$/m);
    expect(JSON.parse(line!)).toMatchObject({ channel: 'dogs', event: 'new-post', data: { title: 'hi' } });
  });

  it('a backend script with @river/node mints a token and publishes', async () => {
    await writeFile(
      join(app.dir, 'backend.mjs'),
      [
        "import { River } from '@river/node';",
        'const river = new River({ url: process.env.RIVER_URL, apiKey: process.env.RIVER_API_KEY, secret: process.env.RIVER_JWT_SECRET });',
        "const token = await river.createToken({ sub: 'backend-user', channels: ['dogs'] }, { expiresIn: '10m' });",
        "const ack = await river.publish('dogs', 'from-backend', { n: 1 });",
        'console.log(JSON.stringify({ token, offset: ack.offset }));',
        '',
      ].join('\n'),
    );
    const r = await app.node(['backend.mjs'], {
      env: { RIVER_URL: urls.http, RIVER_API_KEY: devState.apiKey, RIVER_JWT_SECRET: devState.secret },
    });
    expect(r.code, r.stderr).toBe(0);
    const { token, offset } = JSON.parse(r.stdout) as { token: string; offset: number };
    expect(offset).toBeGreaterThan(0);
    expect(verifyHs256(token, devState.secret)).toMatchObject({ sub: 'backend-user' });
    await listener.waitFor('stdout', /"event":"from-backend"/);
  });

  it('river bench says it needs the River repository (the load generator is not in the package): exit 1 with a hint', async () => {
    const r = await app.river(['bench', '--connections', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: river bench needs the load generator .*\nhint: /m);
  });

  it.skipIf(skipWithoutChromium())('a browser bundle of @river/client (built with esbuild in the app) receives a publish', async () => {
    await writeFile(
      join(app.dir, 'src', 'browser.js'),
      [
        "import { River } from '@river/client';",
        'const q = new URLSearchParams(location.search);',
        "const river = new River({ url: q.get('ws'), token: q.get('token') });",
        'window.received = [];',
        "const dogs = river.subscribe('dogs');",
        "dogs.on('subscribed', () => { document.body.dataset.subscribed = 'yes'; });",
        "dogs.on('from-cli', (data) => window.received.push(data));",
        '',
      ].join('\n'),
    );
    await writeFile(
      join(app.dir, 'build.mjs'),
      [
        "import { build } from 'esbuild';",
        "await build({ entryPoints: ['src/browser.js'], bundle: true, format: 'esm', outfile: 'public/app.js', logLevel: 'warning' });",
        '',
      ].join('\n'),
    );
    const built = await app.node(['build.mjs']);
    expect(built.code, built.stderr).toBe(0);
    const bundle = await readFile(join(app.dir, 'public', 'app.js'));
    page = createServer((req, res) => {
      if (req.url?.startsWith('/app.js')) res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/app.js"></script>');
    });
    await new Promise<void>((r) => page!.listen(0, '127.0.0.1', r));
    const token = (await app.river(['token', '--sub', 'browser-user'])).stdout.trim();
    browser = await launchBrowser();
    const tab = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    const q = new URLSearchParams({ ws: urls.ws, token });
    await tab.goto(`http://127.0.0.1:${(page.address() as AddressInfo).port}/?${q}`);
    await tab.waitForFunction(() => document.body.dataset.subscribed === 'yes', undefined, { timeout: 30_000 });
    const r = await app.river(['publish', 'dogs', 'from-cli', '{"to":"browser"}']);
    expect(r.code, r.stderr).toBe(0);
    await tab.waitForFunction(() => (window as unknown as { received: unknown[] }).received.length > 0, undefined, { timeout: 30_000 });
    expect(await tab.evaluate(() => (window as unknown as { received: unknown[] }).received)).toEqual([{ to: 'browser' }]);
    expect(errors).toEqual([]);
  });

  it('SIGTERM (by PID) drains river dev to exit 0, and its port closes', async () => {
    const exited = once(dev!, 'exit');
    process.kill(dev!.pid!, 'SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    await expect(fetch(`${urls.http}/readyz`)).rejects.toThrow();
  });
});

describe('river init and synth in the app', () => {
  /** `river synth` in the app into `out`: exit 0, and no file or link in the assembly points into the repository. */
  async function synthOutsideRepo(out: string): Promise<void> {
    const t0 = Date.now();
    const synth = await app.river(['synth', '--out', out], { timeoutMs: 600_000 });
    console.log(`river synth --out ${out} from the installed app: ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${synth.code}`);
    expect(synth.code, synth.stderr).toBe(0);
    expect(await filesContaining(join(app.dir, out), REPO_DIR)).toEqual([]);
    expect(await linksInto(join(app.dir, out), REPO_DIR)).toEqual([]);
  }

  beforeAll(async () => {
    const init = await app.river(['init', '--yes'], { env: { AWS_REGION: 'us-east-1' } });
    expect(init.code, init.stderr).toBe(0);
  }, 120_000);

  // Needs the image's build context inside the installed packages (issue 12 point 3).
  it('river init --yes, then river synth (the image built from the installed package)', async () => {
    await synthOutsideRepo('cdk.out');
  }, 900_000);

  it('with a prebuilt image in river.config.json, river synth', async () => {
    const file = join(app.dir, 'river.config.json');
    const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(file, `${JSON.stringify({ ...config, image: 'public.ecr.aws/example/river:0.1.0' }, null, 2)}\n`);
    try {
      await synthOutsideRepo('cdk-prebuilt.out');
    } finally {
      await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
    }
  }, 900_000);
});
