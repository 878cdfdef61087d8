/** Cloud.ecrLogin over the AWS SDK: aws-sdk-client-mock, and moto's STS and ECR. */
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { motoAvailable, motoEndpointForSuite } from '../../../e2e/harness/moto.js';
import { UserError } from '../errors.js';
import { AwsCloud } from './aws.js';

const ROLE = 'arn:aws:iam::123456789012:role/cdk-hnb659fds-image-publishing-role-123456789012-us-east-1';

describe('AwsCloud.ecrLogin (aws-sdk-client-mock)', () => {
  it('assumes the publishing role, then decodes the authorization token into Basic credentials for the registry host', async () => {
    const sts = mockClient(STSClient);
    const ecr = mockClient(ECRClient);
    try {
      sts
        .on(AssumeRoleCommand)
        .resolves({ Credentials: { AccessKeyId: 'ASIA1', SecretAccessKey: 's', SessionToken: 't', Expiration: new Date() } });
      ecr.on(GetAuthorizationTokenCommand).resolves({
        authorizationData: [
          {
            authorizationToken: Buffer.from('AWS:pa:ss').toString('base64'),
            proxyEndpoint: 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com',
            expiresAt: new Date(5000),
          },
        ],
      });
      const login = await new AwsCloud({ region: 'us-east-1' }).ecrLogin({ region: 'us-east-1', roleArn: ROLE });
      expect(login).toEqual({
        registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
        username: 'AWS',
        password: 'pa:ss',
        expiresAt: new Date(5000),
      });
      expect(sts.commandCalls(AssumeRoleCommand)[0]!.args[0].input).toMatchObject({ RoleArn: ROLE });
      expect(ecr.commandCalls(GetAuthorizationTokenCommand)).toHaveLength(1);
    } finally {
      sts.restore();
      ecr.restore();
    }
  });

  it('a refused AssumeRole is exit 1 (access_denied) with the permissions hint', async () => {
    const sts = mockClient(STSClient);
    try {
      sts.on(AssumeRoleCommand).rejects(
        Object.assign(new Error('User: arn:aws:iam::123456789012:user/dev is not authorized to perform: sts:AssumeRole'), {
          name: 'AccessDenied',
        }),
      );
      const err = await new AwsCloud({ region: 'us-east-1' }).ecrLogin({ region: 'us-east-1', roleArn: ROLE }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect(err).toMatchObject({ code: 'access_denied', message: expect.stringMatching(/^AWS denied the request: .*sts:AssumeRole/) });
    } finally {
      sts.restore();
    }
  });
});

describe.skipIf(!motoAvailable())('AwsCloud.ecrLogin against moto', () => {
  motoEndpointForSuite();

  it('STS AssumeRole then ECR GetAuthorizationToken give the account registry and its credentials', async () => {
    const login = await new AwsCloud({ region: 'us-east-1' }).ecrLogin({ region: 'us-east-1', roleArn: ROLE });
    expect(login.registry).toBe('123456789012.dkr.ecr.us-east-1.amazonaws.com');
    expect(login.username).toBe('AWS');
    expect(login.password).toBe('123456789012-auth-token');
  });
});
