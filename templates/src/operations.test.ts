/** The operations settings in the synthesized template (issue 16): ECR pull, publish caps, access logs, Container Insights, provider logs, cooldowns. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ecrRepositoryOf } from './operations.js';
import { SCALE_IN_COOLDOWN_SECONDS, SCALE_OUT_COOLDOWN_SECONDS } from './service.js';
import { ECR_IMAGE, IMAGE, only, resources, synth, type Synthesized } from './test-synth.js';

type Obj = Record<string, unknown>;
let plain: Synthesized;
let ops: Synthesized;
let zone: Synthesized;

beforeAll(async () => {
  plain = await synth('plain', { nag: false });
  ops = await synth('operations', { nag: false });
  zone = await synth('zone', { nag: false });
}, 240_000);

function statements(s: Synthesized, rolePrefix: string): Obj[] {
  return resources(s.json, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Roles).includes(rolePrefix))
    .flatMap(([, p]) => (p.PolicyDocument as { Statement: Obj[] }).Statement);
}
const actions = (st: Obj) => [st.Action].flat() as string[];

describe('a prebuilt image in a private ECR repository', () => {
  it('parses ECR image URIs, and nothing else', () => {
    expect(ecrRepositoryOf(ECR_IMAGE)).toEqual({ account: '123456789012', region: 'us-east-1', repository: 'team/river' });
    expect(ecrRepositoryOf(`123456789012.dkr.ecr.eu-west-1.amazonaws.com/river@sha256:${'a'.repeat(64)}`)).toMatchObject({
      repository: 'river',
    });
    expect(ecrRepositoryOf(IMAGE)).toBeUndefined();
    expect(ecrRepositoryOf('ghcr.io/acme/river:1')).toBeUndefined();
  });

  it('gives the task execution role pull permissions on that repository only', () => {
    const exec = statements(ops, 'TaskExecutionRole');
    const pull = exec.find((st) => actions(st).includes('ecr:BatchGetImage'));
    expect(pull).toBeDefined();
    expect(actions(pull!).sort()).toEqual(['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']);
    expect(JSON.stringify(pull!.Resource)).toContain(':ecr:us-east-1:123456789012:repository/team/river');
    expect(exec.some((st) => actions(st).includes('ecr:GetAuthorizationToken') && st.Resource === '*')).toBe(true);
    // A public image (zone variant) gets no ECR permission at all.
    expect(statements(zone, 'TaskExecutionRole').some((st) => actions(st).some((a) => a.startsWith('ecr:')))).toBe(false);
  });
});

describe('publish flood caps', () => {
  it("reserves the publish Lambda's concurrency (20 by default) and throttles the HTTP API as configured", () => {
    const fn = (s: Synthesized) => resources(s.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith('PublishFunction'))![1];
    expect(fn(plain).ReservedConcurrentExecutions).toBe(20);
    expect(fn(ops).ReservedConcurrentExecutions).toBe(50);
    expect(only(plain.json, 'AWS::ApiGatewayV2::Stage').DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 1000,
      ThrottlingBurstLimit: 2000,
    });
    expect(only(ops.json, 'AWS::ApiGatewayV2::Stage').DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 200,
      ThrottlingBurstLimit: 400,
    });
  });
});

describe('ALB access logs and Container Insights', () => {
  it('accessLogs: an encrypted, private bucket whose objects expire after logRetentionDays, deleted with the stack, receiving the ALB logs', () => {
    expect(resources(plain.json, 'AWS::S3::Bucket')).toEqual([]);
    const attrs = (s: Synthesized) =>
      Object.fromEntries(
        (only(s.json, 'AWS::ElasticLoadBalancingV2::LoadBalancer').LoadBalancerAttributes as Array<{ Key: string; Value: unknown }>).map(
          (a) => [a.Key, a.Value],
        ),
      );
    expect(attrs(plain)['access_logs.s3.enabled']).toBeUndefined();
    const [[bucketId, bucket]] = resources(ops.json, 'AWS::S3::Bucket') as [[string, Obj]];
    expect(bucket.LifecycleConfiguration).toEqual({ Rules: [expect.objectContaining({ Status: 'Enabled', ExpirationInDays: 14 })] });
    expect(bucket.PublicAccessBlockConfiguration).toMatchObject({ BlockPublicAcls: true, RestrictPublicBuckets: true });
    expect(JSON.stringify(bucket.BucketEncryption)).toContain('AES256');
    expect(ops.json.Resources[bucketId]).toMatchObject({ DeletionPolicy: 'Delete' });
    expect(resources(ops.json, 'Custom::S3AutoDeleteObjects')).toHaveLength(1);
    expect(attrs(ops)).toMatchObject({
      'access_logs.s3.enabled': 'true',
      'access_logs.s3.bucket': { Ref: bucketId },
      'access_logs.s3.prefix': 'alb',
    });
  });

  it('containerInsights: enabled on the cluster only when asked', () => {
    expect(only(plain.json, 'AWS::ECS::Cluster').ClusterSettings).toBeUndefined();
    expect(only(ops.json, 'AWS::ECS::Cluster').ClusterSettings).toEqual([{ Name: 'containerInsights', Value: 'enabled' }]);
  });
});

describe("the CDK's custom-resource provider Lambdas", () => {
  it.each([
    ['plain', () => plain, 1],
    ['operations', () => ops, 2],
  ] as const)('%s: each logs to a group of the stack with the retention, deleted on destroy', (_n, get, count) => {
    const s = get();
    const providers = resources(s.json, 'AWS::Lambda::Function').filter(([id]) => !id.startsWith('PublishFunction'));
    expect(providers).toHaveLength(count);
    for (const [id, p] of providers) {
      const ref = (p.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      const group = s.json.Resources[ref]!;
      expect(group).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        DeletionPolicy: 'Delete',
        Properties: { RetentionInDays: s.config.logRetentionDays },
      });
      expect([s.json.Resources[id]!.DependsOn].flat()).toContain(ref);
    }
  });
});

describe('scaling cooldowns', () => {
  it('match the docs: both policies scale out after 60 s and in 10 minutes apart', () => {
    const policies = resources(plain.json, 'AWS::ApplicationAutoScaling::ScalingPolicy').map(
      ([, p]) => p.TargetTrackingScalingPolicyConfiguration as Obj,
    );
    expect(policies).toHaveLength(2);
    for (const p of policies)
      expect(p).toMatchObject({ ScaleInCooldown: SCALE_IN_COOLDOWN_SECONDS, ScaleOutCooldown: SCALE_OUT_COOLDOWN_SECONDS });
    expect(SCALE_IN_COOLDOWN_SECONDS).toBe(600);
    const doc = readFileSync(new URL('../../docs/deploy-aws.md', import.meta.url), 'utf8');
    expect(doc).toContain('scale-in waits 10 minutes between steps');
  });
});
