/** AwsCloud over aws-sdk-client-mock: what each call answers when AWS says the resource is not there, and when the credentials fail. */
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand, ListSecretVersionIdsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { AwsCloud } from './aws.js';

const ecs = mockClient(ECSClient);
const elb = mockClient(ElasticLoadBalancingV2Client);
const cw = mockClient(CloudWatchClient);
const sm = mockClient(SecretsManagerClient);
afterEach(() => {
  for (const m of [ecs, elb, cw, sm]) m.reset();
});

const awsError = (name: string, message = name) => Object.assign(new Error(message), { name });
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof UserError ? e.code : `not a UserError: ${String(e)}`),
  );

describe('AwsCloud when the resource is not there', () => {
  it('a missing cluster is no service, a missing target group no targets, a missing secret secret_missing', async () => {
    const cloud = new AwsCloud({ region: 'us-east-1' });
    ecs.on(DescribeServicesCommand).rejects(awsError('ClusterNotFoundException'));
    elb.on(DescribeTargetHealthCommand).rejects(awsError('TargetGroupNotFoundException'));
    sm.on(GetSecretValueCommand).rejects(awsError('ResourceNotFoundException'));
    sm.on(ListSecretVersionIdsCommand).rejects(awsError('ResourceNotFoundException'));
    expect(await cloud.serviceDetails('c', 's')).toBeUndefined();
    expect(await cloud.targetHealth('arn:tg')).toEqual([]);
    expect(await codeOf(cloud.getSecret('river/jwt'))).toBe('secret_missing');
    expect(await codeOf(cloud.secretVersions('river/jwt'))).toBe('secret_missing');
  });

  it('refused credentials are bad_credentials on every call; another error is rethrown as it is', async () => {
    const cloud = new AwsCloud({ region: 'us-east-1' });
    ecs.on(DescribeServicesCommand).rejects(awsError('UnrecognizedClientException'));
    elb.on(DescribeTargetHealthCommand).rejects(awsError('ExpiredTokenException'));
    cw.on(DescribeAlarmsCommand).rejects(awsError('InvalidSignatureException'));
    expect(await codeOf(cloud.serviceDetails('c', 's'))).toBe('bad_credentials');
    expect(await codeOf(cloud.targetHealth('arn:tg'))).toBe('bad_credentials');
    expect(await codeOf(cloud.alarms('p'))).toBe('bad_credentials');
    cw.on(DescribeAlarmsCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    expect(await codeOf(cloud.alarms('p'))).toBe('not a UserError: ThrottlingException: Rate exceeded');
  });
});
