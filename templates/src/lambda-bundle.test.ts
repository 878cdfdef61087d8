/** The esbuild bundle the stack deploys works on its own: plain Node, a real redis-server, no sources. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../e2e/harness/redis.js';
import { testLambdaDir } from './test-synth.js';

const SCRIPT = `
const { handler } = await import(process.argv[1]);
const ev = (method, path, body) => ({ rawPath: path, rawQueryString: '', headers: { authorization: 'Bearer bundle-key-Xq7vN2pL9tR4yB6mK8hJ3gF5' },
  body: body === undefined ? undefined : JSON.stringify(body), requestContext: { http: { method } } });
const out = [];
out.push(await handler(ev('POST', '/v1/publish', { channel: 'bundle', event: 'e', data: { n: 1 } })));
out.push(await handler(ev('GET', '/v1/channels/bundle')));
process.stdout.write(JSON.stringify(out.map((r) => [r.statusCode, JSON.parse(r.body)])));
process.exit(0);
`;

describe.skipIf(!redisAvailable())('the bundled publish Lambda (dist/lambda/index.mjs)', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis({ args: ['--requirepass', 'bundlePassw0rd'] });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('publishes through Redis with AUTH from a plain node process', async () => {
    const file = join(await testLambdaDir(), 'index.mjs');
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', SCRIPT, pathToFileURL(file).href],
        {
          env: {
            PATH: process.env.PATH,
            RIVER_API_KEY: 'bundle-key-Xq7vN2pL9tR4yB6mK8hJ3gF5',
            RIVER_REDIS_URL: redis.url,
            RIVER_REDIS_PASSWORD: 'bundlePassw0rd',
            AWS_EC2_METADATA_DISABLED: 'true',
          },
          timeout: 30_000,
        },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      );
    });
    expect(JSON.parse(stdout)).toEqual([
      [200, { channel: 'bundle', offset: 1 }],
      [200, expect.objectContaining({ channel: 'bundle', offset: 1, subscribers: 0 })],
    ]);
  }, 60_000);
});
