/**
 * `npm run example`: starts a River dev node in this process (unless RIVER_URL points at one) and the
 * forum app, then prints the URL. The dev node's secret and API key are those of `river dev`, kept in
 * `.river/dev.json` (created once, then reused), and its address is recorded there, so `npx river
 * token|listen|publish` reach it. Environment: RIVER_URL, RIVER_WS_URL, RIVER_API_KEY,
 * RIVER_JWT_SECRET (default: from .river/dev.json), RIVER_PORT (default 4400), RIVER_DRAIN_MS
 * (default 1000), PORT (default 3000), HOST, FORUM_DATA (default .river/forum/posts.json),
 * FORUM_TOKEN_TTL (default 1h).
 */
import { resolve } from 'node:path';
import { createForumApp } from './app.js';
import { readDevState } from 'river';
import { devStatePath, startDevNode } from './dev-node.js';

const env = process.env;
const cwd = process.cwd();
let riverUrl = env.RIVER_URL;
let apiKey = env.RIVER_API_KEY?.split(',')[0]?.trim();
let secret = env.RIVER_JWT_SECRET;
let stopRiver: (() => Promise<void>) | undefined;

if (!riverUrl) {
  const dev = await startDevNode(cwd, env);
  riverUrl = dev.node.urls.http;
  apiKey = dev.apiKey;
  secret = dev.secret;
  stopRiver = () => dev.stop();
  if (dev.created) console.log(`created ${devStatePath(cwd)} with a dev JWT secret and API key (git-ignored, shared with \`river dev\`)`);
  console.log(`River dev node: ${dev.node.urls.ws} (HTTP API ${dev.node.urls.http}); try \`npx river listen dogs\``);
} else if (!apiKey || !secret) {
  // Against `river dev` in another terminal: its key and secret are in .river/dev.json.
  const state = await readDevState(cwd);
  apiKey ||= state?.apiKey;
  secret ||= state?.secret;
  if (!apiKey || !secret) {
    console.error(`forum: RIVER_URL is set, so RIVER_API_KEY and RIVER_JWT_SECRET must be set too (or ${devStatePath(cwd)} must hold them)`);
    process.exit(1);
  }
}

const { app } = await createForumApp({
  riverUrl,
  apiKey: apiKey!,
  secret: secret!,
  dataFile: resolve(env.FORUM_DATA ?? '.river/forum/posts.json'),
  ...(env.RIVER_WS_URL ? { riverWsUrl: env.RIVER_WS_URL } : {}),
  ...(env.FORUM_TOKEN_TTL ? { tokenTtl: /^\d+$/.test(env.FORUM_TOKEN_TTL) ? Number(env.FORUM_TOKEN_TTL) : env.FORUM_TOKEN_TTL } : {}),
});
const server = app.listen(Number(env.PORT ?? 3000), env.HOST ?? '127.0.0.1', () => {
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : env.PORT;
  console.log(`Forum: http://127.0.0.1:${port}/f/dogs  (open it in two windows)`);
});

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
