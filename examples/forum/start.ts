/**
 * `npm run example`: starts a River dev node in this process (unless RIVER_URL points at one) and the
 * forum app, then prints the URL. Environment: RIVER_URL, RIVER_WS_URL, RIVER_API_KEY,
 * RIVER_JWT_SECRET, PORT (default 3000), FORUM_DATA (default .river/forum/posts.json),
 * FORUM_TOKEN_TTL (default 1h).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createForumApp } from './app.js';

const env = process.env;
let riverUrl = env.RIVER_URL;
let apiKey = env.RIVER_API_KEY;
let secret = env.RIVER_JWT_SECRET;
let stopRiver: (() => Promise<void>) | undefined;

if (!riverUrl) {
  apiKey ??= randomBytes(16).toString('hex');
  secret ??= randomBytes(32).toString('base64url');
  const { loadConfig, startRiver } = await import('@river/server');
  const node = await startRiver(
    loadConfig({ RIVER_PORT: env.RIVER_PORT ?? '4400', RIVER_HOST: '127.0.0.1', RIVER_JWT_SECRET: secret, RIVER_API_KEY: apiKey, RIVER_LOG_LEVEL: 'warn' }, { dev: true }),
  );
  riverUrl = node.urls.http;
  stopRiver = () => node.drain();
  console.log(`River dev node: ${node.urls.ws} (HTTP API ${node.urls.http})`);
} else if (!apiKey || !secret) {
  console.error('forum: RIVER_URL is set, so RIVER_API_KEY and RIVER_JWT_SECRET must be set too');
  process.exit(1);
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

const stop = () => {
  server.close();
  server.closeAllConnections();
  void (stopRiver?.() ?? Promise.resolve()).then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
