import { Annotations, Duration, RemovalPolicy, Stack, ArnFormat } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import type { RiverCache } from './cache.js';
import type { RiverConfig } from './config.js';
import type { RiverNetwork } from './network.js';
import type { RiverSecrets } from './secrets.js';

export const CONTAINER_PORT = 4400;
/** RIVER_DRAIN_MS given to the nodes: connections are closed with 4000 spread over this window. */
export const DRAIN_MS = 10_000;
/**
 * ALB target deregistration delay. On a deploy or scale-in ECS first deregisters the task and waits
 * for this delay (the ALB sends it no new connections meanwhile), then sends SIGTERM; the node then
 * drains for DRAIN_MS. 30 s = the drain plus margin; WebSockets still open when the delay ends are
 * closed by the ALB and their clients reconnect and recover from history (docs/deploy-aws.md).
 */
export const DEREGISTRATION_DELAY_SECONDS = 30;
/** SIGTERM → SIGKILL: covers the drain (10 s) with a wide margin for closing sockets under load. */
export const STOP_TIMEOUT_SECONDS = 120;
/**
 * ALB idle timeout. The ALB cuts a connection on which no byte moved for this long. A live River
 * connection carries a ping every heartbeatMs (25 s), so the timeout only matters for clients on a
 * long heartbeat (mobile apps may raise RIVER_HEARTBEAT_MS to minutes) and for quiet proxies between
 * client and ALB. Dead peers do not linger because of it: the node itself closes a connection that
 * misses a pong (4004) within 2 × heartbeat. So the only cost of a long timeout is none, and the
 * 60 s default of the original River was the one that hurt (it cut quiet connections): 3600 s.
 */
export const IDLE_TIMEOUT_SECONDS = 3600;
export const NOFILE = 65_536;
export const CPU_TARGET_PERCENT = 60;
/** Connections per task the scaling policy aims at, per 256 CPU units (an idle connection costs ~5 KB). */
export const CONNECTIONS_PER_256_CPU = 5000;

export interface RiverServiceProps {
  config: RiverConfig;
  network: RiverNetwork;
  secrets: RiverSecrets;
  cache: RiverCache;
  sourceDir: string;
}

export class RiverService extends Construct {
  readonly cluster: ecs.Cluster;
  readonly service: ecs.FargateService;
  readonly logGroup: logs.LogGroup;
  /** ARN of the log group without the trailing `:*` (what StartLiveTail wants). */
  readonly logGroupArn: string;
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly webSocketUrl: string;

  constructor(scope: Construct, id: string, props: RiverServiceProps) {
    super(scope, id);
    const { config, network, secrets, cache } = props;
    const vpc = network.vpc;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.logGroupArn = Stack.of(this).formatArn({
      service: 'logs', resource: 'log-group', resourceName: this.logGroup.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc });

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: config.taskCpu,
      memoryLimitMiB: config.taskMemory,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    const image = config.image !== undefined
      ? ecs.ContainerImage.fromRegistry(config.image)
      // Built for x86_64 whatever the deploying machine is, to match the task's CPU architecture.
      : ecs.ContainerImage.fromAsset(props.sourceDir, { file: 'server/Dockerfile', platform: Platform.LINUX_AMD64 });

    const environment: Record<string, string> = {
      RIVER_PORT: String(CONTAINER_PORT),
      RIVER_HOST: '0.0.0.0',
      // The node reads AWSCURRENT and AWSPREVIOUS itself and re-reads them every 5 minutes, so a
      // rotation reaches running tasks without a restart and without dropping a connection.
      RIVER_JWT_SECRET_ID: secrets.jwt.secretArn,
      RIVER_REDIS_URL: cache.url,
      RIVER_REDIS_CLUSTER: String(cache.cluster),
      RIVER_DRAIN_MS: String(DRAIN_MS),
      RIVER_LOG_LEVEL: 'info',
    };
    taskDefinition.addContainer('river', {
      image,
      essential: true,
      portMappings: [{ containerPort: CONTAINER_PORT, protocol: ecs.Protocol.TCP }],
      environment,
      secrets: {
        RIVER_API_KEY: ecs.Secret.fromSecretsManager(secrets.apiKey),
        RIVER_REDIS_PASSWORD: ecs.Secret.fromSecretsManager(secrets.cacheAuth),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'river' }),
      stopTimeout: Duration.seconds(STOP_TIMEOUT_SECONDS),
      ulimits: [{ name: ecs.UlimitName.NOFILE, softLimit: NOFILE, hardLimit: NOFILE }],
      linuxParameters: new ecs.LinuxParameters(this, 'Linux', { initProcessEnabled: true }),
    });
    secrets.jwt.grantRead(taskDefinition.taskRole);

    const taskSecurityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc,
      description: 'River tasks: inbound only from the load balancer',
      allowAllOutbound: true, // image pulls, logs, Secrets Manager
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition,
      // No desiredCount: CloudFormation then leaves the running count to autoscaling on every deploy.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      assignPublicIp: network.taskPublicIp,
      vpcSubnets: network.taskSubnets,
      securityGroups: [taskSecurityGroup],
      platformVersion: ecs.FargatePlatformVersion.LATEST,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      enableExecuteCommand: false,
    });
    cache.securityGroup.addIngressRule(taskSecurityGroup, cache.ports, 'River tasks to the cache');
    network.secretsEndpoint.connections.allowDefaultPortFrom(taskSecurityGroup, 'River tasks to Secrets Manager');

    this.alb = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      idleTimeout: Duration.seconds(IDLE_TIMEOUT_SECONDS),
      dropInvalidHeaderFields: true,
    });
    const targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc,
      port: CONTAINER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      deregistrationDelay: Duration.seconds(DEREGISTRATION_DELAY_SECONDS),
      healthCheck: {
        path: '/readyz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });
    // No stickiness: any node serves any client (the bus joins them); a reconnect may land anywhere.
    targetGroup.setAttribute('stickiness.enabled', 'false');
    this.service.attachToApplicationTargetGroup(targetGroup);

    if (config.domain !== undefined) {
      const zone = config.hostedZoneId !== undefined && config.hostedZoneName !== undefined
        ? route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: config.hostedZoneId, zoneName: config.hostedZoneName })
        : undefined;
      const certificate = config.certificateArn !== undefined
        ? acm.Certificate.fromCertificateArn(this, 'Certificate', config.certificateArn)
        : new acm.Certificate(this, 'Certificate', { domainName: config.domain, validation: acm.CertificateValidation.fromDns(zone) });
      this.blockMetrics(this.alb.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [certificate],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: true,
        defaultTargetGroups: [targetGroup],
      }));
      this.alb.addListener('Http', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: true,
        defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
      if (zone !== undefined) {
        new route53.ARecord(this, 'Alias', {
          zone,
          recordName: `${config.domain}.`,
          target: route53.RecordTarget.fromAlias(new targets.LoadBalancerTarget(this.alb)),
        });
      }
      this.webSocketUrl = `wss://${config.domain}/v1/ws`;
    } else {
      this.blockMetrics(this.alb.addListener('Http', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: true,
        defaultTargetGroups: [targetGroup],
      }));
      Annotations.of(this).addWarningV2('@river/templates:plainHttp',
        'No "domain" in river.config.json: the load balancer serves plain HTTP (ws://). Tokens travel unencrypted; set a domain and certificate for production.');
      this.webSocketUrl = `ws://${this.alb.loadBalancerDnsName}/v1/ws`;
    }

    this.addScaling(config, targetGroup);
  }

  /**
   * The node's Prometheus `/metrics` has no auth by default (PROTOCOL section 4) and names channels:
   * it is answered 404 at the public load balancer. Everything else goes to the nodes.
   */
  private blockMetrics(listener: elbv2.ApplicationListener): void {
    listener.addAction('NoMetrics', {
      priority: 10,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/metrics', '/metrics/*'])],
      action: elbv2.ListenerAction.fixedResponse(404, {
        contentType: 'application/json',
        messageBody: '{"error":{"code":"not_found","message":"not served on the public endpoint"}}',
      }),
    });
  }

  /**
   * Two target-tracking policies on the task count: average CPU, and WebSocket connections per
   * task. The connection metric needs no code in the node: the ALB's ActiveConnectionCount (Sum)
   * counts each WebSocket twice (client→ALB and ALB→task; the HTTP API is not behind this ALB), and
   * the target group's HealthyHostCount is the number of tasks serving, so
   * connections per task = ActiveConnectionCount / 2 / HealthyHostCount (CloudWatch metric math).
   */
  private addScaling(config: RiverConfig, targetGroup: elbv2.ApplicationTargetGroup): void {
    const scalable = new appscaling.ScalableTarget(this, 'Scaling', {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      resourceId: `service/${this.cluster.clusterName}/${this.service.serviceName}`,
      scalableDimension: 'ecs:service:DesiredCount',
      minCapacity: config.minTasks,
      maxCapacity: config.maxTasks,
    });
    scalable.scaleToTrackMetric('Cpu', {
      predefinedMetric: appscaling.PredefinedMetric.ECS_SERVICE_AVERAGE_CPU_UTILIZATION,
      targetValue: CPU_TARGET_PERCENT,
      scaleInCooldown: Duration.seconds(300),
      scaleOutCooldown: Duration.seconds(60),
    });
    const lb = { name: 'LoadBalancer', value: this.alb.loadBalancerFullName };
    new appscaling.CfnScalingPolicy(this, 'ConnectionsPolicy', {
      policyName: `${Stack.of(this).stackName}-connections-per-task`,
      policyType: 'TargetTrackingScaling',
      scalingTargetId: scalable.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: CONNECTIONS_PER_256_CPU * (config.taskCpu / 256),
        scaleInCooldown: 600, // scaling in closes a task's connections (they reconnect elsewhere): be slow
        scaleOutCooldown: 60,
        customizedMetricSpecification: {
          metrics: [
            {
              id: 'connections', returnData: false,
              metricStat: { stat: 'Sum', metric: { namespace: 'AWS/ApplicationELB', metricName: 'ActiveConnectionCount', dimensions: [lb] } },
            },
            {
              id: 'tasks', returnData: false,
              metricStat: {
                stat: 'Average',
                metric: {
                  namespace: 'AWS/ApplicationELB', metricName: 'HealthyHostCount',
                  dimensions: [lb, { name: 'TargetGroup', value: targetGroup.targetGroupFullName }],
                },
              },
            },
            { id: 'perTask', label: 'WebSocket connections per task', expression: 'connections / 2 / tasks', returnData: true },
          ],
        },
      },
    });
  }
}
