/**
 * What the CLI needs from AWS, behind two small interfaces so commands never import an SDK:
 * `Cloud` (implemented over the AWS SDK v3 clients in aws.ts) and `Deployer` (implemented over
 * @aws-cdk/toolkit-lib in deployer.ts). Tests pass fakes, or the real `AwsCloud` over
 * aws-sdk-client-mock.
 */
import type { RiverConfig } from '@river/templates';
import type { ImageAsset } from './oci/image-assets.js';

export interface CallerIdentity {
  account: string;
  arn: string;
}

export interface StackStatus {
  /** CloudFormation's StackStatus, e.g. CREATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE. */
  status: string;
  reason?: string;
  updatedAt?: Date;
}

export interface ServiceCounts {
  status: string;
  running: number;
  desired: number;
  pending: number;
  /** The primary deployment's rollout state (COMPLETED, IN_PROGRESS, FAILED). */
  rolloutState?: string;
}

/** What `river status` shows about the ECS service beyond its counts (Cloud.serviceDetails). */
export interface ServiceDetails extends ServiceCounts {
  /** The service's task definition, `family:revision`. */
  taskDefinition?: string;
  /** The service's latest events, newest first (at most 5). */
  events: Array<{ at?: Date; message: string }>;
  /** Running tasks, then the most recently stopped ones (at most 5) with why they stopped. */
  tasks: TaskInfo[];
  /** The target groups the service registers its tasks in. */
  targetGroupArns: string[];
}

export interface TaskInfo {
  id: string;
  lastStatus: string;
  /** HEALTHY, UNHEALTHY, UNKNOWN (the container health check). */
  health?: string;
  /** `family:revision` */
  taskDefinition?: string;
  image?: string;
  imageDigest?: string;
  startedAt?: Date;
  stoppedAt?: Date;
  /** The task's or its container's stop reason (e.g. CannotPullContainerError: …). */
  stoppedReason?: string;
}

export interface TargetHealth {
  /** The target's id (an IP address for Fargate tasks) and port. */
  id: string;
  port?: number;
  /** initial, healthy, unhealthy, draining, unused, unavailable */
  state: string;
  reason?: string;
  description?: string;
}

export interface AlarmState {
  name: string;
  /** OK, ALARM, INSUFFICIENT_DATA */
  state: string;
  reason?: string;
  updatedAt?: Date;
}

export interface SecretVersionInfo {
  versionId: string;
  /** AWSCURRENT, AWSPENDING, AWSPREVIOUS, or a custom label. */
  stages: string[];
  createdAt?: Date;
}

export interface LogEvent {
  /** FilterLogEvents event id (absent for live tail events). */
  id?: string;
  timestamp: number;
  message: string;
  stream?: string;
}

export interface LiveTailOptions {
  filter?: string;
  /** Stops the tail; `liveTail` resolves once it is aborted. */
  signal: AbortSignal;
  onEvent(event: LogEvent): void;
}

export interface FilterLogsOptions {
  startTime: number;
  filter?: string;
  nextToken?: string;
}

/** Thrown by `Cloud.liveTail` when live tail cannot be used here (permission, region, SDK): poll instead. */
export class LiveTailUnavailable extends Error {
  readonly code = 'live_tail_unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LiveTailUnavailable';
  }
}

/** Credentials for an ECR registry (Basic auth: user AWS and the authorization token's password). */
export interface RegistryLogin {
  /** host (123456789012.dkr.ecr.us-east-1.amazonaws.com), or host:port for a test registry. */
  registry: string;
  username: string;
  password: string;
  expiresAt?: Date;
}

export interface Cloud {
  /** STS GetCallerIdentity. Throws a UserError (exit 1, hint) when no credentials are configured. */
  whoami(): Promise<CallerIdentity>;
  /** The stack's outputs, or undefined when the stack does not exist. */
  stackOutputs(stackName: string): Promise<Record<string, string> | undefined>;
  /** The stack's status, or undefined when it does not exist. */
  stackStatus(stackName: string): Promise<StackStatus | undefined>;
  /** ECS running/desired counts, or undefined when the service does not exist. */
  serviceCounts(cluster: string, service: string): Promise<ServiceCounts | undefined>;
  /** The service's task definition, events, running and recently stopped tasks; undefined when it does not exist. */
  serviceDetails(cluster: string, service: string): Promise<ServiceDetails | undefined>;
  /** The load balancer's view of each target of a target group (DescribeTargetHealth). */
  targetHealth(targetGroupArn: string): Promise<TargetHealth[]>;
  /** CloudWatch alarms whose names start with `prefix` (DescribeAlarms). */
  alarms(prefix: string): Promise<AlarmState[]>;
  /** The AWSCURRENT value of a Secrets Manager secret. */
  getSecret(id: string): Promise<string>;
  /** The secret's versions that carry a staging label (ListSecretVersionIds), newest first. */
  secretVersions(id: string): Promise<SecretVersionInfo[]>;
  /** PutSecretValue with VersionStages ["AWSPENDING"]: AWSCURRENT is unchanged. Returns the new version id. */
  stageSecret(id: string, value: string): Promise<string>;
  /**
   * UpdateSecretVersionStage: AWSCURRENT moves from `fromVersionId` to `versionId` (Secrets Manager moves
   * AWSPREVIOUS to `fromVersionId`), then AWSPENDING is taken off `versionId`.
   */
  promoteSecret(id: string, versionId: string, fromVersionId: string): Promise<void>;
  /** The ids of the service's RUNNING tasks (ListTasks), or [] when the service has none. */
  runningTasks(cluster: string, service: string): Promise<string[]>;
  /** CloudWatch Logs StartLiveTail on the log group ARN (without `:*`) until `opts.signal` aborts. */
  liveTail(logGroupArn: string, opts: LiveTailOptions): Promise<void>;
  /**
   * ECR GetAuthorizationToken in `region`, as `roleArn` when given (the CDK bootstrap's
   * image-publishing role, which cdk-assets also assumes to push).
   */
  ecrLogin(opts: { region: string; roleArn?: string }): Promise<RegistryLogin>;
  /** One page of FilterLogEvents. */
  filterLogs(logGroupName: string, opts: FilterLogsOptions): Promise<{ events: LogEvent[]; nextToken?: string }>;
}

export interface DeployProgress {
  stackName: string;
  /** Resources done so far and in all (toolkit message CDK_TOOLKIT_I5502). */
  completed?: number;
  total?: number;
  /** One line about the latest resource event. */
  text: string;
}

/** A question the toolkit asks before going on (security-sensitive changes, destroy). */
export interface DeployQuestion {
  /**
   * security-changes: IAM or security-group rules broadened; destructive-changes: a resource holding
   * state or an address replaced or deleted (a replaced secret would invalidate every token); both
   * need approval (or --yes). A routine change (a task definition replaced) is `other` (approval.ts).
   */
  kind: 'security-changes' | 'destructive-changes' | 'destroy' | 'other';
  message: string;
}

export interface DeployHooks {
  onProgress(progress: DeployProgress): void;
  /** Answer the toolkit's question; false stops the deployment. */
  confirm(question: DeployQuestion): Promise<boolean>;
  /** Warnings and notices from the toolkit, one line each. */
  onInfo?(line: string): void;
}

export interface DeployOptions extends DeployHooks {
  /** Bootstrap this environment first (the CLI checked that its CDKToolkit stack is missing or broken). */
  bootstrap?: { account: string; region: string };
  /**
   * The container builder that answered `<builder> info` (docker, finch, or CDK_DOCKER's value), for the
   * image asset; the deployer hands it to cdk-assets as CDK_DOCKER. Absent when config.image is set.
   */
  containerBuilder?: string;
  /**
   * The daemonless builder: called with the assembly's container image assets after synthesis (and
   * bootstrap) and before the toolkit publishes assets; it pushes each image to its ECR destination,
   * so the toolkit finds them published and never calls a container builder.
   */
  publishImages?(assets: ImageAsset[]): Promise<void>;
}

export interface DeployResult {
  stackName: string;
  outputs: Record<string, string>;
}

/** A deployment that CloudFormation rolled back or refused; `reason` is the first failed resource's reason. */
export class DeployFailed extends Error {
  readonly code = 'deploy_failed';
  readonly stackName: string;
  readonly reason: string;
  constructor(stackName: string, reason: string, options?: { cause?: unknown }) {
    super(`deployment of ${stackName} failed: ${reason}`, options);
    this.name = 'DeployFailed';
    this.stackName = stackName;
    this.reason = reason;
  }
}

/** One resource in `river diff`. */
export interface ResourceChange {
  logicalId: string;
  resourceType: string;
  /** may-replace: CloudFormation replaces it depending on a value known only at deploy time. */
  action: 'add' | 'modify' | 'replace' | 'may-replace' | 'remove';
  /** A replacement or removal of a resource holding state or an address (approval.ts). */
  stateful: boolean;
}

/** What the next deploy would change (`river diff`). */
export interface StackDiff {
  stackName: string;
  changes: ResourceChange[];
  security: {
    /** IAM permissions or security-group rules broadened (what `deploy` asks approval for). */
    broadening: boolean;
    /** IAM statements and managed policies added (+) or removed (-), one line each. */
    iam: string[];
    /** Security-group rules added (+) or removed (-), one line each. */
    securityGroups: string[];
  };
}

export interface Deployer {
  /**
   * Writes the cloud assembly (CloudFormation templates and assets) to `outDir`; returns the template
   * paths. The synthesis warnings (e.g. plain HTTP without a domain) go to `hooks.onInfo`, one line each.
   */
  synth(config: RiverConfig, outDir: string, hooks?: Pick<DeployHooks, 'onInfo'>): Promise<{ stackName: string; templates: string[] }>;
  /** Bootstraps the environment when needed, then deploys. Throws DeployFailed on a rollback. */
  deploy(config: RiverConfig, opts: DeployOptions): Promise<DeployResult>;
  destroy(config: RiverConfig, hooks: DeployHooks): Promise<void>;
  /** Synthesizes and compares with the deployed stack through a change set (its template where no change set can be made); changes nothing. */
  diff(config: RiverConfig, hooks?: Pick<DeployHooks, 'onInfo'>): Promise<StackDiff>;
}
