/**
 * The publish Lambda against a real redis-server with AUTH, beside a node on the same Redis: what
 * the deployed stack does (API Gateway → Lambda → ElastiCache ← ECS tasks), minus AWS.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../e2e/harness/redis.js';
import { secretsManagerReader } from './aws/aws-secret-source.js';
import { createLambdaHandler, type Handler, type HttpApiEvent } from './lambda.js';
import { API_KEY, startTestNode, token, type TestNode } from './test-support.js';

const KEY_ID = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:river-api-key-AbCdEf';
const PW_ID = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:river-cache-AbCdEf';
const PASSWORD = 'CacheAuthTok3nFromSecretsManager0123456789';

function event(method: string, path: string, body?: unknown, query = ''): HttpApiEvent {
  return {
    rawPath: path,
    rawQueryString: query,
    headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    requestContext: { http: { method } },
  };
}

describe.skipIf(!redisAvailable())('publish Lambda on Redis', () => {
  const sm = mockClient(SecretsManagerClient);
  let redis: RedisInstance;
  let node: TestNode;
  let handler: Handler;
  const call = async (method: string, path: string, body?: unknown, query?: string) => {
    const res = await handler(event(method, path, body, query));
    return { status: res.statusCode, body: JSON.parse(res.body) };
  };

  beforeAll(async () => {
    redis = await startRedis({ args: ['--requirepass', PASSWORD] });
    const prefix = `h4l${process.pid}`;
    node = await startTestNode({ RIVER_REDIS_URL: redis.url, RIVER_REDIS_PASSWORD: PASSWORD, RIVER_REDIS_PREFIX: prefix });
    sm.on(GetSecretValueCommand, { SecretId: KEY_ID, VersionStage: 'AWSCURRENT' }).resolves({ SecretString: API_KEY });
    sm.on(GetSecretValueCommand, { SecretId: PW_ID, VersionStage: 'AWSCURRENT' }).resolves({ SecretString: PASSWORD });
    handler = createLambdaHandler({
      env: {
        RIVER_API_KEY_SECRET_ID: KEY_ID,
        RIVER_REDIS_PASSWORD_SECRET_ID: PW_ID,
        RIVER_REDIS_URL: redis.url,
        RIVER_REDIS_PREFIX: prefix,
      },
      reader: secretsManagerReader(new SecretsManagerClient({ region: 'us-east-1' })),
    });
  });
  afterAll(async () => {
    await node?.close();
    await redis?.stop();
  });

  it('publishes to clients of the node, with the offsets and history the node sees', async () => {
    const client = await node.client();
    await client.subscribe('lambda-dogs');
    expect(await call('POST', '/v1/publish', { channel: 'lambda-dogs', event: 'new-post', data: { id: 1 } })).toEqual({
      status: 200,
      body: { channel: 'lambda-dogs', offset: 1 },
    });
    expect((await node.publish({ channel: 'lambda-dogs', event: 'new-post', data: { id: 2 } })).body).toEqual({
      channel: 'lambda-dogs',
      offset: 2,
    });
    const got = await client.messages('lambda-dogs', 2);
    expect(got.map((m) => [m.event, m.data, m.offset])).toEqual([
      ['new-post', { id: 1 }, 1],
      ['new-post', { id: 2 }, 2],
    ]);
    const history = await call('GET', '/v1/channels/lambda-dogs/history', undefined, 'since=0');
    expect(history.body.messages.map((m: { offset: number }) => m.offset)).toEqual([1, 2]);
    const batch = await call('POST', '/v1/batch', {
      messages: [
        { channel: 'lambda-dogs', event: 'e', data: 3 },
        { channel: 'lambda-cats', event: 'e', data: 1 },
      ],
    });
    expect(batch.body).toEqual({
      results: [
        { channel: 'lambda-dogs', offset: 3 },
        { channel: 'lambda-cats', offset: 1 },
      ],
    });
  });

  it('deduplicates by idempotency key across the node and the Lambda', async () => {
    const body = { channel: 'lambda-idem', event: 'e', data: 1, idempotencyKey: 'k-1' };
    expect((await call('POST', '/v1/publish', body)).body).toEqual({ channel: 'lambda-idem', offset: 1 });
    expect((await node.publish(body)).body).toEqual({ channel: 'lambda-idem', offset: 1 });
    expect((await call('POST', '/v1/publish', body)).body).toEqual({ channel: 'lambda-idem', offset: 1 });
  });

  it('reads presence and disconnects users on the node, without waiting on itself', async () => {
    const member = await node.connect();
    await member.auth(await token({ sub: 'lambda-user', info: { name: 'Ada' } }));
    await member.subscribe('presence-lambda-room');
    expect((await call('GET', '/v1/channels/presence-lambda-room/presence')).body).toEqual({
      channel: 'presence-lambda-room',
      members: [{ userId: 'lambda-user', info: { name: 'Ada' } }],
    });
    const t0 = Date.now();
    expect((await call('POST', '/v1/disconnect', { userId: 'lambda-user' })).body).toEqual({ disconnected: 1 });
    expect(Date.now() - t0).toBeLessThan(900); // the publish-only Lambda is not among the nodes a control command waits for
    expect((await member.waitClose()).code).toBe(4503);
  });

  it('refuses a wrong key and reports the bus down as 503 (nothing published)', async () => {
    const wrong = await handler({
      ...event('POST', '/v1/publish', { channel: 'a', event: 'e', data: 1 }),
      headers: { 'x-api-key': 'nope' },
    });
    expect(wrong.statusCode).toBe(401);
    await redis.stop();
    try {
      const down = await call('POST', '/v1/publish', { channel: 'lambda-down', event: 'e', data: 1 });
      expect(down).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
    } finally {
      await redis.restart();
    }
  });
});
