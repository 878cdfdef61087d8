/**
 * Day-2 pieces of the stack, kept apart from the service and API constructs:
 *
 * - `grantEcrPull`: a prebuilt `image` in a private ECR repository needs pull permissions on the task
 *   execution role (`ContainerImage.fromRegistry` grants none; a public or other registry needs none);
 * - `enableAccessLogs`: optional ALB access logs (`accessLogs` in river.config.json) in an S3 bucket
 *   whose objects expire after `logRetentionDays`, emptied and deleted with the stack;
 * - `retainProviderLogs`: the CDK's own custom-resource provider Lambdas (the default security group
 *   restriction, the bucket emptying) log to a group of the stack's, with the configured retention,
 *   deleted on destroy (by default Lambda creates `/aws/lambda/…` on first run, kept forever).
 */
import { CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct, IConstruct } from 'constructs';
import type { RiverConfig } from './config.js';

/** ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPO[:TAG|@DIGEST] */
const ECR_IMAGE =
  /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([a-z0-9._/-]+?)(?::[\w.-]+|@sha256:[a-f0-9]{64})?$/;

/** The repository of a private ECR image URI, or undefined for any other registry. */
export function ecrRepositoryOf(image: string): { account: string; region: string; repository: string } | undefined {
  const m = ECR_IMAGE.exec(image);
  return m === null ? undefined : { account: m[1]!, region: m[2]!, repository: m[3]! };
}

export function grantEcrPull(taskDefinition: ecs.TaskDefinition, image: string | undefined): void {
  const repo = image === undefined ? undefined : ecrRepositoryOf(image);
  if (repo === undefined) return;
  const partition = Stack.of(taskDefinition).partition;
  taskDefinition.addToExecutionRolePolicy(
    new iam.PolicyStatement({
      actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
      resources: [`arn:${partition}:ecr:${repo.region}:${repo.account}:repository/${repo.repository}`],
    }),
  );
  // GetAuthorizationToken exists only on "*".
  taskDefinition.addToExecutionRolePolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
}

export function enableAccessLogs(scope: Construct, alb: elbv2.ApplicationLoadBalancer, config: RiverConfig): s3.Bucket {
  const bucket = new s3.Bucket(scope, 'AccessLogs', {
    // ALB access logs support only S3-managed keys.
    encryption: s3.BucketEncryption.S3_MANAGED,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    lifecycleRules: [
      { id: 'expire', expiration: Duration.days(config.logRetentionDays), abortIncompleteMultipartUploadAfter: Duration.days(1) },
    ],
    removalPolicy: RemovalPolicy.DESTROY,
    autoDeleteObjects: true,
  });
  alb.logAccessLogs(bucket, 'alb');
  return bucket;
}

/** Gives every CDK custom-resource provider Lambda of the stack a log group with `retentionDays`, removed on destroy. */
export function retainProviderLogs(stack: Stack, retentionDays: number): void {
  const providers = stack.node
    .findAll()
    .filter(
      (c: IConstruct): c is CfnResource =>
        c instanceof CfnResource && c.cfnResourceType === 'AWS::Lambda::Function' && !(c instanceof lambda.CfnFunction),
    );
  for (const fn of providers) {
    const scope = fn.node.scope as Construct;
    const group = new logs.LogGroup(scope, `${fn.node.id}Logs`, {
      retention: retentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    fn.addPropertyOverride('LoggingConfig', { LogGroup: group.logGroupName, LogFormat: 'Text' });
    fn.node.addDependency(group);
  }
}
