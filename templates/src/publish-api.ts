import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { RiverCache } from './cache.js';
import type { RiverConfig } from './config.js';
import type { RiverNetwork } from './network.js';
import type { RiverSecrets } from './secrets.js';

/** Node 24 (the constant exists in aws-cdk-lib 2.276; the fallback keeps older libraries working). */
const NODE_24: lambda.Runtime =
  (lambda.Runtime as unknown as Record<string, lambda.Runtime | undefined>).NODEJS_24_X ??
  new lambda.Runtime('nodejs24.x', lambda.RuntimeFamily.NODEJS, { supportsInlineCode: true });

/**
 * The publish path of the original design: API Gateway HTTP API → a Lambda running the node's own
 * HTTP API code (server/src/http-api.ts, bundled by esbuild into templates/dist/lambda at build
 * time) against the same Redis bus. It lives in the isolated subnets and reaches only the cache and
 * the Secrets Manager endpoint (its security group allows nothing else out).
 */
export class PublishApi extends Construct {
  readonly fn: lambda.Function;
  readonly api: apigw.HttpApi;
  /** https://ID.execute-api.REGION.amazonaws.com (no trailing slash). */
  readonly url: string;

  constructor(
    scope: Construct,
    id: string,
    props: {
      config: RiverConfig;
      network: RiverNetwork;
      secrets: RiverSecrets;
      cache: RiverCache;
      lambdaDir: string;
    },
  ) {
    super(scope, id);
    const { config, network, secrets, cache } = props;
    const retention = config.logRetentionDays as logs.RetentionDays;

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: network.vpc,
      description: 'River publish Lambda: out to the cache and Secrets Manager only',
      allowAllOutbound: false,
    });
    securityGroup.connections.allowTo(cache.securityGroup, cache.ports, 'publish Lambda to the cache');
    securityGroup.connections.allowTo(network.secretsEndpoint, ec2.Port.tcp(443), 'publish Lambda to Secrets Manager');

    const fnLogs = new logs.LogGroup(this, 'FunctionLogs', { retention, removalPolicy: RemovalPolicy.DESTROY });
    this.fn = new lambda.Function(this, 'Function', {
      description: `River (${config.name}) HTTP API: publish, history, presence, disconnect`,
      runtime: NODE_24,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(props.lambdaDir),
      memorySize: 512,
      timeout: Duration.seconds(10),
      vpc: network.vpc,
      vpcSubnets: network.isolatedSubnets,
      securityGroups: [securityGroup],
      logGroup: fnLogs,
      // Caps what an unauthenticated flood can run at once (the key is checked inside the function).
      ...(config.publishConcurrency > 0 ? { reservedConcurrentExecutions: config.publishConcurrency } : {}),
      environment: {
        RIVER_API_KEY_SECRET_ID: secrets.apiKey.secretArn,
        RIVER_REDIS_URL: cache.url,
        RIVER_REDIS_CLUSTER: String(cache.cluster),
        RIVER_REDIS_PASSWORD_SECRET_ID: secrets.cacheAuth.secretArn,
      },
    });
    secrets.apiKey.grantRead(this.fn);
    secrets.cacheAuth.grantRead(this.fn);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention, removalPolicy: RemovalPolicy.DESTROY });
    this.api = new apigw.HttpApi(this, 'HttpApi', {
      description: `River (${config.name}) HTTP API`,
      defaultIntegration: new HttpLambdaIntegration('Lambda', this.fn, { payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0 }),
      createDefaultStage: false,
    });
    new apigw.HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.publishRateLimit, burstLimit: config.publishBurstLimit },
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(accessLogs) },
    });
    this.url = `https://${this.api.apiId}.execute-api.${this.api.stack.region}.${this.api.stack.urlSuffix}`;
  }
}
