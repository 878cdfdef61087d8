/** The hints of AwsCloud point at documentation that exists. */
import { readFile } from 'node:fs/promises';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { AwsCloud } from './aws.js';

const doc = await readFile(new URL('../../../docs/deploy-aws.md', import.meta.url), 'utf8');

describe('AwsCloud hints', () => {
  it('an access denied names the "Permissions" section of docs/deploy-aws.md, which lists what the command needs', async () => {
    const cfn = mockClient(CloudFormationClient);
    try {
      cfn.on(DescribeStacksCommand).rejects(
        Object.assign(new Error('User: arn:aws:iam::123456789012:user/dev is not authorized to perform: cloudformation:DescribeStacks'), {
          name: 'AccessDenied',
        }),
      );
      const err = await new AwsCloud({ region: 'us-east-1' }).stackStatus('river').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      const hint = (err as UserError).hint;
      const [, file, section] = /see (docs\/[\w.-]+\.md), "([^"]+)"/.exec(hint) ?? [];
      expect(file).toBe('docs/deploy-aws.md');
      expect(doc).toMatch(new RegExp(`^## ${section}$`, 'm'));
      const body = doc.slice(doc.indexOf(`## ${section}`), doc.indexOf('\n## ', doc.indexOf(`## ${section}`) + 1));
      for (const action of [
        'sts:GetCallerIdentity',
        'cloudformation:DescribeStacks',
        'sts:AssumeRole',
        'ecs:DescribeServices',
        'logs:StartLiveTail',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
      ]) {
        expect(body, action).toContain(action);
      }
    } finally {
      cfn.restore();
    }
  });
});
