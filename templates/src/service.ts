import { ECS_TASK_POLL_MS, ECS_TASK_TIMEOUT_MS, EMF_INTERVAL_MS, EMF_METRICS } from '@river/server';
import { Annotations, Duration, RemovalPolicy, Stack, ArnFormat } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
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
import { enableAccessLogs, grantEcrPull } from './operations.js';
import type { RiverSecrets } from './secrets.js';

export const CONTAINER_PORT = 4400;
/** RIVER_DRAIN_MS given to the nodes: connections are closed with 4000 spread over this window. */
export const DRAIN_MS = 10_000;
/**
 * From ECS setting the task's desired status to STOPPED to the node starting its drain: at most one
 * poll interval of the node's task metadata watcher plus one poll's timeout (server/src/ecs-task-watch.ts).
 */
export const DRAIN_START_MS = ECS_TASK_POLL_MS + ECS_TASK_TIMEOUT_MS;
/** After the drain: the last close handshakes (the hub waits for them) and slack for a loaded node. */
export const DRAIN_MARGIN_MS = 17_000;
/**
 * ALB target deregistration delay = DRAIN_START_MS + DRAIN_MS + DRAIN_MARGIN_MS (3 + 10 + 17 = 30 s).
 * On a deploy or scale-in ECS sets the task's desired status to STOPPED and deregisters it (the ALB
 * sends it no new connections), waits this delay, and only then sends SIGTERM; the ALB closes every
 * connection still open when the delay ends. The node therefore drains when it sees STOPPED in its
 * task metadata, not at SIGTERM, and the delay must cover the whole drain (docs/deploy-aws.md,
 * "Deploys and scale-in").
 */
export const DEREGISTRATION_DELAY_SECONDS = (DRAIN_START_MS + DRAIN_MS + DRAIN_MARGIN_MS) / 1000;
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
/**
 * RIVER_HTTP_KEEP_ALIVE_MS: the node must keep an idle keep-alive connection open longer than the
 * ALB does (idle + 5 s), or it may close one the ALB is reusing for a request, which the ALB answers 502.
 */
export const HTTP_KEEP_ALIVE_MS = (IDLE_TIMEOUT_SECONDS + 5) * 1000;
/**
 * Target group health check on /readyz. A node answers 503 while its bus (the cache) is down, so
 * during an ElastiCache failover (typically 30-90 s) every node fails it at once: 10 failures 10 s
 * apart (100 s) before a task counts as unhealthy keeps a failover from getting the whole fleet
 * replaced (which would drop every connection and start every task cold against the new primary).
 * The cost: a node that stopped serving for good keeps receiving new connections for up to 100 s.
 * Draining needs no health check: deregistration stops new connections at once.
 */
export const HEALTH_CHECK = { intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 2, unhealthyThreshold: 10 } as const;
/**
 * ECS ignores failed ALB health checks of a new task for this long. The node is ready in seconds
 * (secret read, cache connected); the unhealthy threshold above already allows 100 s, so a short
 * grace suffices and a task that never becomes ready is replaced within 30 + 100 s.
 */
export const HEALTH_CHECK_GRACE_SECONDS = 30;
export const NOFILE = 65_536;
export const CPU_TARGET_PERCENT = 60;
/** Connections per task the scaling policy aims at, per 256 CPU units (an idle connection costs ~5 KB). */
export const CONNECTIONS_PER_256_CPU = 5000;
/** Both scaling policies (docs/deploy-aws.md, "Autoscaling"): out within a minute, in 10 minutes apart. */
export const SCALE_OUT_COOLDOWN_SECONDS = 60;
export const SCALE_IN_COOLDOWN_SECONDS = 600;
/** The node's own connection metric (CloudWatch EMF, server/src/emf-metrics.ts): one datapoint per task per minute. */
export function connectionsMetric(serviceName: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: EMF_METRICS.namespace,
    metricName: EMF_METRICS.connections,
    dimensionsMap: { [EMF_METRICS.dimension]: serviceName },
    statistic: cloudwatch.Stats.AVERAGE, // the average over the tasks = connections per task
    period: Duration.millis(EMF_INTERVAL_MS),
    unit: cloudwatch.Unit.COUNT,
  });
}

/**
 * The image built from @river/server's image/ folder, for x86_64 whatever the deploying machine is
 * (the task's CPU architecture; the Dockerfile has no RUN step, so no emulation is needed). Build
 * arguments only when set, so the asset hash of a default build depends on the context alone.
 */
function builtImage(config: RiverConfig, imageDir: string | undefined): ecs.ContainerImage {
  if (imageDir === undefined) throw new Error('RiverService: imageDir is required when config.image is not set');
  return ecs.ContainerImage.fromAsset(imageDir, {
    platform: Platform.LINUX_AMD64,
    ...(config.baseImage === undefined ? {} : { buildArgs: { BASE_IMAGE: config.baseImage } }),
  });
}

export interface RiverServiceProps {
  config: RiverConfig;
  network: RiverNetwork;
  secrets: RiverSecrets;
  cache: RiverCache;
  /** The image build context (Dockerfile + app/); required unless `config.image` is set. */
  imageDir?: string;
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
      service: 'logs',
      resource: 'log-group',
      resourceName: this.logGroup.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      ...(config.containerInsights ? { containerInsightsV2: ecs.ContainerInsights.ENABLED } : {}),
    });

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: config.taskCpu,
      memoryLimitMiB: config.taskMemory,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    const image = config.image !== undefined ? ecs.ContainerImage.fromRegistry(config.image) : builtImage(config, props.imageDir);

    const environment: Record<string, string> = {
      RIVER_PORT: String(CONTAINER_PORT),
      RIVER_HOST: '0.0.0.0',
      // The node reads AWSCURRENT, AWSPENDING and AWSPREVIOUS itself and re-reads them every 5 minutes,
      // so a rotation reaches running tasks without a restart and without dropping a connection.
      RIVER_JWT_SECRET_ID: secrets.jwt.secretArn,
      RIVER_REDIS_URL: cache.url,
      RIVER_REDIS_CLUSTER: String(cache.cluster),
      RIVER_DRAIN_MS: String(DRAIN_MS),
      RIVER_LOG_LEVEL: 'info',
      // The connection count for the scaling policy below, as CloudWatch EMF lines in the log stream.
      RIVER_EMF_METRICS: 'true',
      RIVER_SERVICE_NAME: config.name,
      RIVER_HTTP_KEEP_ALIVE_MS: String(HTTP_KEEP_ALIVE_MS),
      // ECS sets ECS_CONTAINER_METADATA_URI_V4 itself (Fargate 1.4+): the node watches its task with it.
    };
    if (config.allowedOrigins !== undefined) environment.RIVER_ALLOWED_ORIGINS = config.allowedOrigins.join(',');
    // docs/console.md: the debug console and the tap, behind the API key; off unless asked for.
    if (config.console) environment.RIVER_CONSOLE = 'on';
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
    grantEcrPull(taskDefinition, config.image);

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
      healthCheckGracePeriod: Duration.seconds(HEALTH_CHECK_GRACE_SECONDS),
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
    if (config.accessLogs) enableAccessLogs(this, this.alb, config);
    const targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc,
      port: CONTAINER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      deregistrationDelay: Duration.seconds(DEREGISTRATION_DELAY_SECONDS),
      healthCheck: {
        path: '/readyz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(HEALTH_CHECK.intervalSeconds),
        timeout: Duration.seconds(HEALTH_CHECK.timeoutSeconds),
        healthyThresholdCount: HEALTH_CHECK.healthyThreshold,
        unhealthyThresholdCount: HEALTH_CHECK.unhealthyThreshold,
      },
    });
    // No stickiness: any node serves any client (the bus joins them); a reconnect may land anywhere.
    targetGroup.setAttribute('stickiness.enabled', 'false');
    this.service.attachToApplicationTargetGroup(targetGroup);

    if (config.domain !== undefined) {
      const zone =
        config.hostedZoneId !== undefined && config.hostedZoneName !== undefined
          ? route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
              hostedZoneId: config.hostedZoneId,
              zoneName: config.hostedZoneName,
            })
          : undefined;
      const certificate =
        config.certificateArn !== undefined
          ? acm.Certificate.fromCertificateArn(this, 'Certificate', config.certificateArn)
          : new acm.Certificate(this, 'Certificate', { domainName: config.domain, validation: acm.CertificateValidation.fromDns(zone) });
      this.blockMetrics(
        this.alb.addListener('Https', {
          port: 443,
          protocol: elbv2.ApplicationProtocol.HTTPS,
          certificates: [certificate],
          sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
          open: true,
          defaultTargetGroups: [targetGroup],
        }),
      );
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
      this.blockMetrics(
        this.alb.addListener('Http', {
          port: 80,
          protocol: elbv2.ApplicationProtocol.HTTP,
          open: true,
          defaultTargetGroups: [targetGroup],
        }),
      );
      Annotations.of(this).addWarningV2(
        '@river/templates:plainHttp',
        'No "domain" in river.config.json: the load balancer serves plain HTTP (ws://). Tokens travel unencrypted; set a domain and certificate for production.',
      );
      this.webSocketUrl = `ws://${this.alb.loadBalancerDnsName}/v1/ws`;
    }

    this.addScaling(config);
  }

  /**
   * The node's Prometheus `/metrics` has no auth by default (PROTOCOL section 4) and names channels:
   * it is answered 404 at the public load balancer. Everything else goes to the nodes. These two
   * patterns cover every spelling the node serves metrics at: it routes on the raw path, exactly
   * (`/metrics`, with any query), and refuses dot segments (`/x/../metrics`, `/%2e/metrics`: 400);
   * `//host/metrics` is a path it does not serve (server/src/http/http-edges.test.ts).
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
   * Two target-tracking policies on the task count: average CPU, and WebSocket connections per task
   * from the node's own metric (RIVER_EMF_METRICS: each task writes its connection count once a
   * minute; the Average over the tasks is the count per task). The scalable target uses ECS's
   * Application Auto Scaling service-linked role (what `autoScaleTaskCount` passes): no IAM role of ours.
   */
  private addScaling(config: RiverConfig): void {
    const scaling = this.service.autoScaleTaskCount({ minCapacity: config.minTasks, maxCapacity: config.maxTasks });
    // Both policies: scaling in closes a task's connections (they reconnect elsewhere), so be slow.
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: CPU_TARGET_PERCENT,
      scaleInCooldown: Duration.seconds(SCALE_IN_COOLDOWN_SECONDS),
      scaleOutCooldown: Duration.seconds(SCALE_OUT_COOLDOWN_SECONDS),
    });
    scaling.scaleToTrackCustomMetric('Connections', {
      metric: connectionsMetric(config.name),
      targetValue: CONNECTIONS_PER_256_CPU * (config.taskCpu / 256),
      scaleInCooldown: Duration.seconds(SCALE_IN_COOLDOWN_SECONDS),
      scaleOutCooldown: Duration.seconds(SCALE_OUT_COOLDOWN_SECONDS),
    });
  }
}
