import { fullDiff } from '@aws-cdk/cloudformation-diff';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { summarizeDiff } from '../cloud/diff-summary.js';
import { fakeCloud, fakeDeployer } from '../test-cloud.js';
import { tempProject, testContext } from '../test-context.js';

const before = {
  Resources: {
    TaskSg: { Type: 'AWS::EC2::SecurityGroup', Properties: { GroupDescription: 'tasks', SecurityGroupIngress: [] } },
    ExecRole: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: { Statement: [] } } },
    JwtSecret: { Type: 'AWS::SecretsManager::Secret', Properties: { Name: 'river-jwt' } },
    TaskDef: { Type: 'AWS::ECS::TaskDefinition', Properties: { Family: 'river', Cpu: '512' } },
    Old: { Type: 'AWS::SNS::Topic', Properties: {} },
  },
};
const after = {
  Resources: {
    TaskSg: {
      Type: 'AWS::EC2::SecurityGroup',
      Properties: {
        GroupDescription: 'tasks',
        SecurityGroupIngress: [{ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 4400, ToPort: 4400 }],
      },
    },
    ExecRole: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: { Statement: [] } } },
    EcrPull: {
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyName: 'pull',
        Roles: [{ Ref: 'ExecRole' }],
        PolicyDocument: {
          Statement: [{ Effect: 'Allow', Action: 'ecr:BatchGetImage', Resource: 'arn:aws:ecr:us-east-1:123456789012:repository/river' }],
        },
      },
    },
    JwtSecret: { Type: 'AWS::SecretsManager::Secret', Properties: { Name: 'river-jwt-2' } },
    TaskDef: { Type: 'AWS::ECS::TaskDefinition', Properties: { Family: 'river', Cpu: '1024' } },
  },
};

describe('summarizeDiff (a real TemplateDiff)', () => {
  it('lists additions, modifications, replacements (stateful marked) and removals, and the IAM and security-group changes', () => {
    const s = summarizeDiff('river', fullDiff(before, after));
    expect(s.changes).toEqual(
      expect.arrayContaining([
        { logicalId: 'EcrPull', resourceType: 'AWS::IAM::Policy', action: 'add', stateful: false },
        { logicalId: 'TaskSg', resourceType: 'AWS::EC2::SecurityGroup', action: 'modify', stateful: false },
        { logicalId: 'JwtSecret', resourceType: 'AWS::SecretsManager::Secret', action: 'replace', stateful: true },
        { logicalId: 'TaskDef', resourceType: 'AWS::ECS::TaskDefinition', action: 'replace', stateful: false },
        { logicalId: 'Old', resourceType: 'AWS::SNS::Topic', action: 'remove', stateful: false },
      ]),
    );
    expect(s.changes).toHaveLength(5);
    expect(s.security.broadening).toBe(true);
    expect(s.security.iam).toEqual([
      '+ Allow ecr:BatchGetImage on arn:aws:ecr:us-east-1:123456789012:repository/river for AWS:${ExecRole}',
    ]);
    expect(s.security.securityGroups).toEqual(['+ ${TaskSg.GroupId} ingress TCP 4400 from Everyone (IPv4)']);
  });

  it('an unchanged template is no change, nothing broadened', () => {
    const s = summarizeDiff('river', fullDiff(after, after));
    expect(s).toEqual({ stackName: 'river', changes: [], security: { broadening: false, iam: [], securityGroups: [] } });
  });
});

describe('river diff', () => {
  let project: { dir: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    project = await tempProject({ name: 'river', region: 'us-east-1' });
  });
  afterEach(async () => {
    await project.cleanup();
  });
  const deployer = () => fakeDeployer({ diff: async () => summarizeDiff('river', fullDiff(before, after)) });

  it('prints the counts, one line per resource with its mark, and the IAM and security-group changes; deploys nothing', async () => {
    const d = deployer();
    const t = testContext({ cwd: project.dir, cloud: fakeCloud({ stacks: { river: { status: 'UPDATE_COMPLETE' } } }), deployer: d });
    expect(await t.run(['diff'])).toBe(0);
    expect(t.io.stdout[0]).toBe('river in account 123456789012, region us-east-1: 1 to add, 1 to modify, 2 to replace, 1 to remove');
    expect(t.io.stdout).toEqual(
      expect.arrayContaining([
        '  + AWS::IAM::Policy             EcrPull',
        '  ~ AWS::EC2::SecurityGroup      TaskSg',
        '  ! AWS::SecretsManager::Secret  JwtSecret  replaced (STATEFUL: its data or address is lost)',
        '  ! AWS::ECS::TaskDefinition     TaskDef  replaced',
        '  - AWS::SNS::Topic              Old  removed',
        'IAM changes (BROADENS permissions: deploy asks approval):',
        '  + Allow ecr:BatchGetImage on arn:aws:ecr:us-east-1:123456789012:repository/river for AWS:${ExecRole}',
        'Security-group changes (BROADENS access: deploy asks approval):',
        '  + ${TaskSg.GroupId} ingress TCP 4400 from Everyone (IPv4)',
      ]),
    );
    expect(t.io.stderrText()).toContain('warning: a resource holding state or an address is replaced or removed');
    expect(d.deployed).toEqual([]);
    expect(d.destroyed).toBe(0);
  });

  it('--json: one line; without a stack it says the first deploy creates everything', async () => {
    const t = testContext({ cwd: project.dir, cloud: fakeCloud({ stacks: {} }), deployer: deployer() });
    expect(await t.run(['diff', '--json'])).toBe(0);
    expect(t.io.stdout).toHaveLength(1);
    expect(JSON.parse(t.io.stdout[0]!)).toMatchObject({
      stackName: 'river',
      account: '123456789012',
      region: 'us-east-1',
      stackExists: false,
      changes: expect.arrayContaining([
        { logicalId: 'JwtSecret', resourceType: 'AWS::SecretsManager::Secret', action: 'replace', stateful: true },
      ]),
      security: { broadening: true },
    });
    const text = testContext({ cwd: project.dir, cloud: fakeCloud({ stacks: {} }), deployer: deployer() });
    expect(await text.run(['diff'])).toBe(0);
    expect(text.io.stderr).toContain('no stack river there yet: the first `npx river deploy` creates everything below');
  });
});
