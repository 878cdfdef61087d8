import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ECS_TASK_POLL_MS, watchEcsTask, type EcsTaskWatch } from './ecs-task-watch.js';
import { API_KEY, SECRET, TestClient, token, waitFor } from '../test-support.js';

const URI = 'http://169.254.170.2/v4/abc-123';

function recordingLogger() {
  const debug: unknown[] = [];
  const info: unknown[] = [];
  return { debug: (obj: unknown) => void debug.push(obj), info: (obj: unknown) => void info.push(obj), debugged: debug, infoed: info };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

let watch: EcsTaskWatch | undefined;
afterEach(() => {
  watch?.stop();
  watch = undefined;
  vi.useRealTimers();
});

describe('watchEcsTask (fake clock, injected fetch)', () => {
  it('polls ${uri}/task every 2 s and calls onStopping once when DesiredStatus turns STOPPED, then stops polling', async () => {
    vi.useFakeTimers();
    let desired = 'RUNNING';
    const urls: string[] = [];
    const fetch = vi.fn(async (url: string | URL | Request) => {
      urls.push(String(url));
      return json({ DesiredStatus: desired, KnownStatus: 'RUNNING', TaskARN: 'arn:aws:ecs:…' });
    });
    const onStopping = vi.fn();
    watch = watchEcsTask({ metadataUri: `${URI}/`, onStopping, logger: recordingLogger(), fetch: fetch as typeof globalThis.fetch });
    await vi.advanceTimersByTimeAsync(0);
    expect(urls).toEqual([`${URI}/task`]); // at once, then on the interval
    await vi.advanceTimersByTimeAsync(ECS_TASK_POLL_MS * 3);
    expect(fetch).toHaveBeenCalledTimes(4);
    expect(onStopping).not.toHaveBeenCalled();
    desired = 'STOPPED';
    await vi.advanceTimersByTimeAsync(ECS_TASK_POLL_MS);
    expect(onStopping).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(ECS_TASK_POLL_MS * 10);
    expect(fetch).toHaveBeenCalledTimes(5);
    expect(onStopping).toHaveBeenCalledTimes(1);
  });

  it('ignores failures (refused, HTTP 500, not JSON, no DesiredStatus, no answer in time), logging them at debug', async () => {
    vi.useFakeTimers();
    const answers: Array<() => Promise<Response>> = [
      async () => Promise.reject(new TypeError('fetch failed')),
      async () => json({ error: 'x' }, 500),
      async () => new Response('<html>', { status: 200 }),
      async () => json({ KnownStatus: 'RUNNING' }),
      () => new Promise<Response>(() => undefined), // hangs: the per-poll timeout abandons it
      async () => json({ DesiredStatus: 'STOPPED' }),
    ];
    let n = 0;
    const signals: AbortSignal[] = [];
    const fetch = vi.fn((_url: string | URL | Request, init?: RequestInit) => {
      if (init?.signal) signals.push(init.signal);
      return answers[Math.min(n++, answers.length - 1)]!();
    });
    const logger = recordingLogger();
    const onStopping = vi.fn();
    watch = watchEcsTask({ metadataUri: URI, onStopping, logger, fetch: fetch as typeof globalThis.fetch, timeoutMs: 500 });
    await vi.advanceTimersByTimeAsync(ECS_TASK_POLL_MS * 3 + 1);
    expect(onStopping).not.toHaveBeenCalled();
    expect(logger.debugged).toHaveLength(4);
    // The hanging poll: aborted after 500 ms, the next one follows on the interval.
    await vi.advanceTimersByTimeAsync(ECS_TASK_POLL_MS);
    expect(signals[4]!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(signals[4]!.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(ECS_TASK_POLL_MS);
    expect(onStopping).toHaveBeenCalledTimes(1);
    expect(fetch).toHaveBeenCalledTimes(6);
  });

  it('stop() ends the polling', async () => {
    vi.useFakeTimers();
    const fetch = vi.fn(async () => json({ DesiredStatus: 'RUNNING' }));
    watch = watchEcsTask({ metadataUri: URI, onStopping: () => {}, logger: recordingLogger(), fetch: fetch as typeof globalThis.fetch });
    await vi.advanceTimersByTimeAsync(ECS_TASK_POLL_MS);
    watch.stop();
    await vi.advanceTimersByTimeAsync(ECS_TASK_POLL_MS * 5);
    expect(fetch).toHaveBeenCalledTimes(2);
  });
});

/** A stand-in for the ECS task metadata endpoint v4 on 127.0.0.1:0. */
async function metadataEndpoint(): Promise<{ uri: string; desired: { value: string }; requests: string[]; close(): Promise<void> }> {
  const desired = { value: 'RUNNING' };
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url !== '/v4/task-1/task') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        Cluster: 'river',
        TaskARN: 'arn:aws:ecs:us-east-1:123456789012:task/river/1',
        DesiredStatus: desired.value,
        KnownStatus: 'RUNNING',
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/v4/task-1`,
    desired,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('watchEcsTask against a real HTTP metadata endpoint', () => {
  it('reads /task over HTTP and reports STOPPED', async () => {
    const endpoint = await metadataEndpoint();
    try {
      const onStopping = vi.fn();
      watch = watchEcsTask({ metadataUri: endpoint.uri, onStopping, logger: recordingLogger(), intervalMs: 20 });
      await waitFor(() => endpoint.requests.length >= 3, 'three polls');
      expect(onStopping).not.toHaveBeenCalled();
      endpoint.desired.value = 'STOPPED';
      await waitFor(() => onStopping.mock.calls.length === 1, 'onStopping');
      expect(new Set(endpoint.requests)).toEqual(new Set(['/v4/task-1/task']));
    } finally {
      await endpoint.close();
    }
  });
});

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

describe('the process entry on ECS (main.ts with ECS_CONTAINER_METADATA_URI_V4)', () => {
  it('drains without a signal when ECS sets DesiredStatus STOPPED: readyz 503, 4000 closes, exit 0', async () => {
    const endpoint = await metadataEndpoint();
    const child = spawn(process.execPath, ['--conditions=river-source', '--import', 'tsx', MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        RIVER_JWT_SECRET: SECRET,
        RIVER_API_KEY: API_KEY,
        RIVER_PORT: '0',
        RIVER_HOST: '127.0.0.1',
        RIVER_DRAIN_MS: '3000',
        ECS_CONTAINER_METADATA_URI_V4: endpoint.uri,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const line = await waitFor(() => stdout.split('\n').find((l) => l.includes('"listening"')), 'the listening line', 15_000);
      const { port } = JSON.parse(line) as { port: number };
      const clients = [];
      for (const sub of ['u1', 'u2']) {
        const c = await TestClient.connect(`ws://127.0.0.1:${port}/v1/ws`);
        await c.auth(await token({ sub }));
        clients.push(c);
      }
      await waitFor(() => endpoint.requests.length >= 1, 'a metadata poll');
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);

      endpoint.desired.value = 'STOPPED'; // no SIGTERM: ECS sends it only after the deregistration delay
      // Two connections over a 3 s drain: one closed at once, the other 1.5 s later; readyz says 503 between.
      const first = await Promise.race(clients.map((c) => c.closed));
      expect(first).toEqual({ code: 4000, reason: 'server_restarting' });
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
      for (const c of clients) expect(await c.closed).toEqual({ code: 4000, reason: 'server_restarting' });
      expect(await exited).toBe(0);
      expect(stdout).toContain('ECS is stopping this task');
    } finally {
      child.kill('SIGKILL');
      await endpoint.close();
    }
  }, 30_000);
});
