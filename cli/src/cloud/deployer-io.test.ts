/** The toolkit message translation: I5502 progress, the rollback reason, I5060/I7010 questions. */
import { ToolkitError } from '@aws-cdk/toolkit-lib';
import { describe, expect, it } from 'vitest';
import { DeployFailed, type DeployProgress, type DeployQuestion } from './cloud.js';
import { HookIoHost, translate } from './deployer.js';

function host(answer = true) {
  const progress: DeployProgress[] = [];
  const questions: DeployQuestion[] = [];
  const info: string[] = [];
  const h = new HookIoHost({
    onProgress: (p) => progress.push(p),
    confirm: async (q) => {
      questions.push(q);
      return answer;
    },
    onInfo: (l) => info.push(l),
  });
  h.stackName = 'river';
  return { h, progress, questions, info };
}

const activity = (completed: number, status: string, id: string, reason?: string) => ({
  time: new Date(),
  level: 'info' as const,
  action: 'deploy' as const,
  code: 'CDK_TOOLKIT_I5502' as const,
  message: `${status} ${id}`,
  data: {
    deployment: 'd1',
    event: {
      StackName: 'river',
      LogicalResourceId: id,
      ResourceType: 'AWS::ECS::Service',
      ResourceStatus: status,
      ...(reason ? { ResourceStatusReason: reason } : {}),
    },
    progress: { completed, total: 40, formatted: `[${completed}/40]` },
  },
});

describe('HookIoHost', () => {
  it('turns I5502 stack activity into completed/total progress and keeps the first real failure reason', async () => {
    const { h, progress } = host();
    await h.notify(activity(3, 'CREATE_IN_PROGRESS', 'Service'));
    await h.notify(activity(4, 'CREATE_FAILED', 'Cache', 'Resource creation cancelled'));
    await h.notify(activity(4, 'CREATE_FAILED', 'Service', 'Circuit breaker triggered: tasks failed to start'));
    await h.notify(activity(4, 'CREATE_FAILED', 'Other', 'later failure'));
    expect(progress[0]).toEqual({ stackName: 'river', completed: 3, total: 40, text: 'CREATE_IN_PROGRESS Service' });
    expect(h.firstFailure).toBe('Service (AWS::ECS::Service) CREATE_FAILED: Circuit breaker triggered: tasks failed to start');
    const failed = translate(new ToolkitError('DeploymentFailed', 'The stack named river failed creation'), h);
    expect(failed).toBeInstanceOf(DeployFailed);
    expect((failed as DeployFailed).reason).toBe(h.firstFailure);
  });

  it('asks about security-sensitive changes and destroys; other confirmations too; data requests get their default', async () => {
    const { h, questions } = host(false);
    const req = (code: string, data: unknown, defaultResponse: unknown) =>
      ({ time: new Date(), level: 'info', action: 'deploy', code, message: `question ${code}`, data, defaultResponse }) as never;
    expect(await h.requestResponse(req('CDK_TOOLKIT_I5060', { permissionChangeType: 'broadening', motivation: 'm' }, true))).toBe(false);
    expect(await h.requestResponse(req('CDK_TOOLKIT_I5060', { permissionChangeType: 'none', motivation: 'm' }, true))).toBe(false);
    expect(
      await h.requestResponse(
        req(
          'CDK_TOOLKIT_I5060',
          {
            permissionChangeType: 'none',
            destructiveChanges: [{ stackName: 'river', logicalId: 'JwtSecret', resourceType: 'AWS::SecretsManager::Secret' }],
          },
          true,
        ),
      ),
    ).toBe(false);
    expect(await h.requestResponse(req('CDK_TOOLKIT_I7010', { motivation: 'm' }, true))).toBe(false);
    expect(await h.requestResponse(req('CDK_TOOLKIT_I9210', {}, 'delete-all'))).toBe('delete-all');
    expect(questions.map((q) => q.kind)).toEqual(['security-changes', 'other', 'destructive-changes', 'destroy']);
    expect(questions[2]!.message).toContain('JwtSecret (AWS::SecretsManager::Secret)');
  });

  it('asks only about broadened permissions and replaced stateful resources, not a replaced task definition', async () => {
    const { h, questions } = host(true);
    const ask = (data: unknown) =>
      h.requestResponse({
        time: new Date(),
        level: 'info',
        action: 'deploy',
        code: 'CDK_TOOLKIT_I5060',
        message: 'diff',
        data,
        defaultResponse: true,
      } as never);
    const replaced = (logicalId: string, resourceType?: string) => ({
      stackName: 'river',
      logicalId,
      ...(resourceType ? { resourceType } : {}),
    });
    // A new image: the task definition is replaced, the service updated: routine.
    await ask({ permissionChangeType: 'none', destructiveChanges: [replaced('RiverTask', 'AWS::ECS::TaskDefinition')] });
    await ask({
      permissionChangeType: 'non-broadening',
      destructiveChanges: [replaced('ScalingPolicy', 'AWS::ApplicationAutoScaling::ScalingPolicy')],
    });
    for (const type of [
      'AWS::SecretsManager::Secret',
      'AWS::ElastiCache::ReplicationGroup',
      'AWS::ElastiCache::ServerlessCache',
      'AWS::Logs::LogGroup',
      'AWS::EC2::VPC',
      'AWS::EC2::Subnet',
      'AWS::ElasticLoadBalancingV2::LoadBalancer',
      'AWS::Route53::RecordSet',
      'AWS::ECR::Repository',
    ]) {
      await ask({
        permissionChangeType: 'none',
        destructiveChanges: [replaced('RiverTask', 'AWS::ECS::TaskDefinition'), replaced('Thing', type)],
      });
    }
    await ask({ permissionChangeType: 'none', destructiveChanges: [replaced('Unknown')] }); // no type known: ask
    await ask({ permissionChangeType: 'broadening', destructiveChanges: [] });
    expect(questions.map((q) => q.kind)).toEqual([
      'other',
      'other',
      ...Array(9).fill('destructive-changes'),
      'destructive-changes',
      'security-changes',
    ]);
    expect(questions[2]!.message).toContain('Thing (AWS::SecretsManager::Secret)');
    expect(questions[2]!.message).not.toContain('RiverTask');
  });

  it('turns the synthesis validation report (CDK_TOOLKIT_E9600) into one line per finding', async () => {
    const { h, info } = host();
    await h.notify({
      time: new Date(),
      level: 'error',
      action: 'synth',
      code: 'CDK_TOOLKIT_E9600',
      message: 'WARNING No "domain" … (Construct Annotations)\n   river/River\n   Acknowledge with …',
      data: {
        conclusion: 'success',
        pluginReports: [
          {
            pluginName: 'Construct Annotations',
            conclusion: 'success',
            violations: [
              {
                ruleName: '@river/templates:plainHttp',
                description: 'No "domain" in river.config.json: plain HTTP.',
                severity: 'warning',
                violatingConstructs: [],
              },
            ],
          },
        ],
      },
    } as never);
    expect(info).toEqual(['No "domain" in river.config.json: plain HTTP.']);
  });

  it('passes warnings on, and ignores subprocess stderr lines (CDK_ASSEMBLY_E1002)', async () => {
    const { h, info } = host();
    await h.notify({
      time: new Date(),
      level: 'warn',
      action: 'deploy',
      code: 'CDK_TOOLKIT_W0100',
      message: 'careful\nmore',
      data: undefined,
    });
    await h.notify({ time: new Date(), level: 'error', action: 'synth', code: 'CDK_ASSEMBLY_E1002', message: 'npm warn', data: undefined });
    expect(info).toEqual(['careful']);
  });
});
