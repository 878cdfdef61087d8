import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { RiverCache } from './cache.js';
import type { RiverConfig } from './config.js';
import { RiverNetwork } from './network.js';
import { acknowledgeNagFindings } from './nag.js';
import { retainProviderLogs } from './operations.js';
import { OUTPUT_KEYS, type OutputKey } from './outputs.js';
import { PublishApi } from './publish-api.js';
import { RiverSecrets } from './secrets.js';
import { RiverService } from './service.js';

export interface RiverStackProps extends StackProps {
  config: RiverConfig;
  lambdaDir: string;
  /** The image build context (absent when `config.image` names a prebuilt image). */
  imageDir?: string;
}

/** One River deployment: network, secrets, cache, the ECS service behind its ALB, the publish API. */
export class RiverStack extends Stack {
  constructor(scope: Construct, id: string, props: RiverStackProps) {
    const { config } = props;
    super(scope, id, {
      // Pinned to the configured region; the account stays unresolved (the deploying credentials'), so
      // synthesis needs no AWS call and no context lookup (the AZs render as Fn::GetAZs).
      env: { region: config.region },
      description: `River real-time service (${config.name}): WebSockets on ECS Fargate, publish API on Lambda`,
    });
    const network = new RiverNetwork(this, 'Network', { natGateways: config.natGateways });
    const secrets = new RiverSecrets(this, 'Secrets', { name: config.name });
    const cache = new RiverCache(this, 'Cache', {
      name: config.name,
      cache: config.cache,
      vpc: network.vpc,
      subnets: network.isolatedSubnets,
      authToken: secrets.cacheAuth,
    });
    const service = new RiverService(this, 'River', {
      config,
      network,
      secrets,
      cache,
      ...(props.imageDir === undefined ? {} : { imageDir: props.imageDir }),
    });
    const publish = new PublishApi(this, 'Publish', { config, network, secrets, cache, lambdaDir: props.lambdaDir });

    const outputs: Record<OutputKey, [string, string]> = {
      WebSocketUrl: [service.webSocketUrl, 'WebSocket endpoint for browsers (River client SDK url)'],
      HttpApiUrl: [publish.url, 'HTTP API base URL for the app backend (publish, history, presence)'],
      JwtSecretArn: [secrets.jwt.secretArn, 'Secrets Manager secret holding the HS256 token secret'],
      ApiKeySecretArn: [secrets.apiKey.secretArn, 'Secrets Manager secret holding the HTTP API key'],
      CacheAuthSecretArn: [secrets.cacheAuth.secretArn, 'Secrets Manager secret holding the cache AUTH token'],
      ClusterName: [service.cluster.clusterName, 'ECS cluster'],
      ServiceName: [service.service.serviceName, 'ECS service'],
      LogGroupName: [service.logGroup.logGroupName, 'CloudWatch Logs group of the River nodes'],
      LogGroupArn: [service.logGroupArn, 'CloudWatch Logs group ARN (without :*)'],
    };
    for (const [key, [value, description]] of Object.entries(outputs)) {
      new CfnOutput(this, OUTPUT_KEYS[key as OutputKey], { value, description });
    }
    new CfnOutput(this, 'LoadBalancerDnsName', {
      value: service.alb.loadBalancerDnsName,
      description: 'ALB DNS name (point a CNAME at it when River does not manage the DNS record)',
    });
    retainProviderLogs(this, config.logRetentionDays);
    acknowledgeNagFindings(this);
  }
}
