/**
 * `npm run example`: starts a River dev node in this process (unless RIVER_URL points at one) and the
 * forum app, then prints the URL. The dev node's secret and API key are those of `river dev`, kept in
 * `.river/dev.json` (created once, then reused), and its address is recorded there, so `npx river
 * token|listen|publish` reach it. Environment: RIVER_URL, RIVER_WS_URL, RIVER_API_KEY,
 * RIVER_JWT_SECRET (default: from .river/dev.json), RIVER_PORT (default 4400), RIVER_DRAIN_MS
 * (default 1000), PORT (default 3000), HOST, FORUM_DATA (default .river/forum/posts.json),
 * FORUM_TOKEN_TTL (default 1h). A taken port is one line saying which and what to do (exit 1): the
 * River port is used as is when `river dev` runs there (per .river/dev.json), and the forum's own
 * default port gives way to a free one.
 */
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { createForumApp } from './app.js';
import { readDevState } from 'river';
import { devStatePath, startDevNode } from './dev-node.js';
import { isPortTaken, listenOn } from './ports.js';

const env = process.env;
const cwd = process.cwd();
let riverUrl = env.RIVER_URL;
let apiKey = env.RIVER_API_KEY?.split(',')[0]?.trim();
let secret = env.RIVER_JWT_SECRET;
let stopRiver: (() => Promise<void>) | undefined;

/** A mistake the user can fix: one line saying what, lines saying how, exit 1 (no stack trace). */
async function fail(message: string, hints: string[]): Promise<never> {
  console.error(`forum: ${message}`);
  for (const h of hints) console.error(`  ${h}`);
  await stopRiver?.().catch(() => undefined);
  process.exit(1);
}

if (!riverUrl) {
  try {
    const dev = await startDevNode(cwd, env);
    riverUrl = dev.node.urls.http;
    apiKey = dev.apiKey;
    secret = dev.secret;
    stopRiver = () => dev.stop();
    if (dev.created) console.log(`created ${devStatePath(cwd)} with a dev JWT secret and API key (git-ignored, shared with \`river dev\`)`);
    console.log(`River dev node: ${dev.node.urls.ws} (HTTP API ${dev.node.urls.http}); try \`npx river listen dogs\``);
  } catch (err) {
    if (!isPortTaken(err)) throw err;
    const port = Number(env.RIVER_PORT ?? 4400);
    // Most often `npx river dev` runs there: .river/dev.json has its address, pid, key and secret.
    const state = await readDevState(cwd).catch(() => undefined);
    const alive = (pid: number | undefined) => {
      if (pid === undefined) return false;
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    if (state?.url && new URL(state.url).port === String(port) && alive(state.pid) && !state.fromEnv?.length) {
      riverUrl = state.url;
      apiKey = state.apiKey;
      secret = state.secret;
      console.log(`River: port ${port} is taken by the running \`river dev\` (pid ${state.pid}, ${devStatePath(cwd)}): using it`);
    } else {
      await fail(`port ${port} on 127.0.0.1 (RIVER_PORT) is taken, so the example cannot start its River dev node there`, [
        "RIVER_PORT=0 npm run example          # the example's own River node on a free port",
        `RIVER_URL=http://127.0.0.1:${port} npm run example   # use the River node running there, e.g. \`npx river dev\` (key and secret: RIVER_API_KEY and RIVER_JWT_SECRET, or ${devStatePath(cwd)})`,
      ]);
    }
  }
} else if (!apiKey || !secret) {
  // Against `river dev` in another terminal: its key and secret are in .river/dev.json.
  const state = await readDevState(cwd);
  apiKey ||= state?.apiKey;
  secret ||= state?.secret;
  if (!apiKey || !secret) {
    await fail(`RIVER_URL is set, so RIVER_API_KEY and RIVER_JWT_SECRET must be set too (or ${devStatePath(cwd)} must hold them)`, []);
  }
}

const { app } = await createForumApp({
  riverUrl: riverUrl!,
  apiKey: apiKey!,
  secret: secret!,
  dataFile: resolve(env.FORUM_DATA ?? '.river/forum/posts.json'),
  ...(env.RIVER_WS_URL ? { riverWsUrl: env.RIVER_WS_URL } : {}),
  ...(env.FORUM_TOKEN_TTL ? { tokenTtl: /^\d+$/.test(env.FORUM_TOKEN_TTL) ? Number(env.FORUM_TOKEN_TTL) : env.FORUM_TOKEN_TTL } : {}),
});
const server = createServer(app);
const host = env.HOST ?? '127.0.0.1';
const wanted = Number(env.PORT ?? 3000);
try {
  // The default port gives way to a free one; a PORT the user chose does not.
  const { port, fellBack } = await listenOn(server, wanted, host, env.PORT === undefined);
  if (fellBack) console.log(`port ${wanted} is taken: the forum listens on ${port} instead (PORT=… to choose)`);
  console.log(`Forum: http://127.0.0.1:${port}/f/dogs  (open it in two windows)`);
} catch (err) {
  if (!isPortTaken(err)) throw err;
  await fail(`port ${wanted} on ${host} (PORT) is taken`, [
    'PORT=0 npm run example   # any free port',
    'or leave PORT unset: the forum then takes a free port when 3000 is taken',
  ]);
}

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  void (stopRiver?.() ?? Promise.resolve()).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`forum: stopping River failed: ${(err as Error).message}`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
