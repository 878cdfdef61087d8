import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestNode, token, type TestClient, type TestNode } from '../test-support.js';
import { AwsSecretSource, DEFAULT_REFRESH_MS, regionOf, secretsManagerReader, SecretUnavailableError } from './aws-secret-source.js';

const ID = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:river-jwt-AbCdEf';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

function notFound(): Error {
  const e = new Error("Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS");
  e.name = 'ResourceNotFoundException';
  return e;
}

describe('AwsSecretSource', () => {
  const sm = mockClient(SecretsManagerClient);
  const client = new SecretsManagerClient({ region: 'eu-west-1' });
  const warnings: string[] = [];
  const logger = { warn: (_o: object, msg: string) => void warnings.push(msg) };
  let source: AwsSecretSource | undefined;

  beforeEach(() => {
    sm.reset();
    warnings.length = 0;
  });
  afterEach(() => {
    source?.close();
    source = undefined;
    vi.useRealTimers();
  });

  function stages(current: string | Error, previous: string | Error): void {
    const reply = (v: string | Error) => (v instanceof Error ? { rejects: v } : { resolves: { SecretString: v } });
    const cur = reply(current);
    const prev = reply(previous);
    const onCur = sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: 'AWSCURRENT' });
    if ('rejects' in cur) onCur.rejects(cur.rejects);
    else onCur.resolves(cur.resolves);
    const onPrev = sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: 'AWSPREVIOUS' });
    if ('rejects' in prev) onPrev.rejects(prev.rejects);
    else onPrev.resolves(prev.resolves);
    sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: 'AWSPENDING' }).rejects(notFound());
  }

  it('reads AWSCURRENT and AWSPREVIOUS, current first', async () => {
    stages(B, A);
    source = await AwsSecretSource.start({ secretId: ID, reader: secretsManagerReader(client), logger });
    expect(source.secrets()).toEqual([B, A]);
    const calls = sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input);
    expect(calls).toEqual(
      expect.arrayContaining([
        { SecretId: ID, VersionStage: 'AWSCURRENT' },
        { SecretId: ID, VersionStage: 'AWSPREVIOUS' },
      ]),
    );
  });

  it('has only the current secret before the first rotation (no AWSPREVIOUS version)', async () => {
    stages(A, notFound());
    source = await AwsSecretSource.start({ secretId: ID, reader: secretsManagerReader(client), logger });
    expect(source.secrets()).toEqual([A]);
  });

  it('picks up a rotation on the 5-minute refresh, keeping the old secret as previous', async () => {
    vi.useFakeTimers();
    stages(A, notFound());
    source = await AwsSecretSource.start({ secretId: ID, reader: secretsManagerReader(client), logger });
    expect(source.secrets()).toEqual([A]);
    sm.reset();
    stages(B, A); // river secret rotate: PutSecretValue moved the stages
    await vi.advanceTimersByTimeAsync(DEFAULT_REFRESH_MS - 1000);
    expect(source.secrets()).toEqual([A]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(source.secrets()).toEqual([B, A]);
    sm.reset();
    stages(C, B);
    await vi.advanceTimersByTimeAsync(DEFAULT_REFRESH_MS);
    expect(source.secrets()).toEqual([C, B]); // A is no longer accepted after the second rotation
    expect(warnings).toEqual([]);
  });

  it('keeps the last good values when a refresh fails, and warns', async () => {
    vi.useFakeTimers();
    stages(B, A);
    source = await AwsSecretSource.start({ secretId: ID, reader: secretsManagerReader(client), logger });
    sm.reset();
    stages(new Error('throttled'), new Error('throttled'));
    await vi.advanceTimersByTimeAsync(DEFAULT_REFRESH_MS);
    expect(source.secrets()).toEqual([B, A]);
    expect(warnings).toEqual(['JWT secret refresh failed; keeping the last values read']);
    sm.reset();
    stages(C, B);
    await vi.advanceTimersByTimeAsync(DEFAULT_REFRESH_MS);
    expect(source.secrets()).toEqual([C, B]);
  });

  it('fails startup when the first read fails', async () => {
    stages(new Error('AccessDeniedException: not authorized'), notFound());
    await expect(AwsSecretSource.start({ secretId: ID, reader: secretsManagerReader(client), logger })).rejects.toThrow(
      SecretUnavailableError,
    );
    await expect(AwsSecretSource.start({ secretId: ID, reader: secretsManagerReader(client), logger })).rejects.toMatchObject({
      code: 'secret_unavailable',
      message: expect.stringContaining('not authorized'),
    });
  });

  it('refuses a current value shorter than 32 bytes, and ignores a short previous one', async () => {
    stages('short', notFound());
    await expect(AwsSecretSource.start({ secretId: ID, reader: secretsManagerReader(client) })).rejects.toThrow(/shorter than 32 bytes/);
    sm.reset();
    stages(A, 'short');
    source = await AwsSecretSource.start({ secretId: ID, reader: secretsManagerReader(client) });
    expect(source.secrets()).toEqual([A]);
  });

  it('accepts the AWSPENDING value of a rotation under way, and logs the version ids it loaded when they change', async () => {
    vi.useFakeTimers();
    const infos: Array<{ obj: object; msg: string }> = [];
    const log = { ...logger, info: (obj: object, msg: string) => void infos.push({ obj, msg }) };
    const at = (stage: string, value: string, versionId: string) =>
      sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: stage }).resolves({ SecretString: value, VersionId: versionId });
    at('AWSCURRENT', A, 'v1');
    sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: 'AWSPENDING' }).rejects(notFound());
    sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: 'AWSPREVIOUS' }).rejects(notFound());
    source = await AwsSecretSource.start({ secretId: ID, reader: secretsManagerReader(client), logger: log });
    expect(infos).toEqual([{ obj: { secretId: ID, jwtSecretVersions: ['AWSCURRENT:v1'] }, msg: 'JWT secrets loaded' }]);
    await vi.advanceTimersByTimeAsync(DEFAULT_REFRESH_MS);
    expect(infos).toHaveLength(1); // nothing changed: nothing logged
    at('AWSPENDING', B, 'v2'); // river secret rotate, step 1
    await vi.advanceTimersByTimeAsync(DEFAULT_REFRESH_MS);
    expect(source.secrets()).toEqual([A, B]);
    expect(infos[1]).toEqual({ obj: { secretId: ID, jwtSecretVersions: ['AWSCURRENT:v1', 'AWSPENDING:v2'] }, msg: 'JWT secrets loaded' });
    sm.reset();
    at('AWSCURRENT', B, 'v2'); // step 3: promoted
    at('AWSPREVIOUS', A, 'v1');
    sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: 'AWSPENDING' }).rejects(notFound());
    await vi.advanceTimersByTimeAsync(DEFAULT_REFRESH_MS);
    expect(source.secrets()).toEqual([B, A]);
    expect(infos[2]!.obj).toEqual({ secretId: ID, jwtSecretVersions: ['AWSCURRENT:v2', 'AWSPREVIOUS:v1'] });
  });

  it('takes the region from the secret ARN', () => {
    expect(regionOf(ID)).toEqual({ region: 'eu-west-1' });
    expect(regionOf('river/jwt')).toBeUndefined();
  });
});

describe('a node on AwsSecretSource (river secret rotate)', () => {
  const sm = mockClient(SecretsManagerClient);
  const reader = secretsManagerReader(new SecretsManagerClient({ region: 'eu-west-1' }));
  let node: TestNode | undefined;
  let source: AwsSecretSource | undefined;
  afterEach(async () => {
    source?.close();
    await node?.close();
    node = undefined;
  });

  function stage(current: string, previous?: string): void {
    sm.reset();
    sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: 'AWSCURRENT' }).resolves({ SecretString: current });
    sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: 'AWSPENDING' }).rejects(notFound());
    const prev = sm.on(GetSecretValueCommand, { SecretId: ID, VersionStage: 'AWSPREVIOUS' });
    if (previous === undefined) prev.rejects(notFound());
    else prev.resolves({ SecretString: previous });
  }
  async function authWith(secret: string): Promise<TestClient> {
    const c = await node!.connect();
    c.send({ type: 'auth', token: await token({ sub: 'u1' }, { secret }) });
    return c;
  }

  it('accepts tokens of the previous secret until the next rotation, and drops no connection', async () => {
    stage(A);
    source = await AwsSecretSource.start({ secretId: ID, reader });
    node = await startTestNode({ RIVER_JWT_SECRET_ID: ID }, { secrets: source });
    const before = await authWith(A);
    await before.next('ready');

    stage(B, A); // river secret rotate
    await source.refresh(); // what the 5-minute timer does
    const oldToken = await authWith(A);
    await oldToken.next('ready'); // minted before the rotation: still accepted
    const newToken = await authWith(B);
    await newToken.next('ready');

    stage(C, B); // the next rotation
    await source.refresh();
    const stale = await authWith(A);
    expect((await stale.waitClose()).code).toBe(4500); // token_invalid: two rotations old
    expect((await before.subscribe('dogs')).type).toBe('subscribed'); // connections made before both rotations stay up
    expect(before.closeInfo).toBeUndefined();
  });
});
