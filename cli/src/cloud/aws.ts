/**
 * `Cloud` over the AWS SDK v3 clients: the one file of the CLI that talks to AWS APIs directly.
 * Tests drive it through aws-sdk-client-mock; nothing here is reached without credentials.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, FilterLogEventsCommand, StartLiveTailCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { DescribeServicesCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import {
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { UserError } from '../errors.js';
import { describeAlarms, describeService, describeTargetHealth } from './aws-status.js';
import {
  LiveTailUnavailable,
  type AlarmState,
  type CallerIdentity,
  type Cloud,
  type FilterLogsOptions,
  type LiveTailOptions,
  type LogEvent,
  type RegistryLogin,
  type SecretVersionInfo,
  type ServiceCounts,
  type ServiceDetails,
  type StackStatus,
  type TargetHealth,
} from './cloud.js';

export interface AwsCloudOptions {
  region: string;
  /**
   * An endpoint override is in effect (AWS_ENDPOINT_URL…: an emulator such as moto). It serves every
   * operation on its one host, so the `streaming-` host prefix of StartLiveTail is not added (which
   * would send live tail to a host that does not exist).
   */
  customEndpoint?: boolean;
}

const CREDENTIALS_HINT =
  'configure AWS credentials (`aws configure`, `aws sso login`, or AWS_PROFILE / AWS_ACCESS_KEY_ID), then run the command again';

/** Error names that mean "no usable credentials", not "AWS is broken". */
const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'TokenRefreshRequired',
  'InvalidSignatureException',
  'AccessDenied',
  'AccessDeniedException',
]);

function nameOf(err: unknown): string {
  return (err as { name?: string }).name ?? '';
}

/** Translates a credentials failure of any call into the one-line UserError; anything else is rethrown. */
function credentialsOr(err: unknown): never {
  const name = nameOf(err);
  if (name === 'CredentialsProviderError' || name === 'TokenRefreshRequired') {
    throw new UserError('no AWS credentials found', CREDENTIALS_HINT, { code: 'no_credentials', cause: err });
  }
  if (CREDENTIAL_ERRORS.has(name) && name !== 'AccessDenied' && name !== 'AccessDeniedException') {
    throw new UserError(`the AWS credentials were refused (${name})`, CREDENTIALS_HINT, { code: 'bad_credentials', cause: err });
  }
  if (name === 'AccessDenied' || name === 'AccessDeniedException') {
    const message = (err as Error).message.split('\n')[0];
    throw new UserError(
      `AWS denied the request: ${message}`,
      'use credentials whose IAM policy allows it (see docs/deploy-aws.md, "Permissions")',
      { code: 'access_denied', cause: err },
    );
  }
  throw err;
}

/**
 * One AWS call: an error `absent` accepts means the resource is not there (`whenAbsent` answers,
 * or throws the user's error), a credentials failure is the one-line UserError, anything else is rethrown.
 */
async function call<T>(run: () => Promise<T>, absent?: (err: unknown) => boolean, whenAbsent?: (err: unknown) => T): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (absent?.(err) && whenAbsent) return whenAbsent(err);
    return credentialsOr(err);
  }
}

const named =
  (...names: string[]) =>
  (err: unknown): boolean =>
    names.includes(nameOf(err));

function secretMissing(id: string, err: unknown): never {
  throw new UserError(`the secret ${id} does not exist`, 'run `npx river deploy` again to refresh .river/outputs.json', {
    code: 'secret_missing',
    cause: err,
  });
}

/** "AccessDeniedException: User … is not authorized to perform: logs:StartLiveTail …": the error as AWS gave it, one line. */
function why(err: unknown): string {
  const name = nameOf(err);
  const message = ((err as Error | undefined)?.message ?? String(err)).split('\n')[0]!.trim();
  const e = err as { $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } } | undefined;
  const status = e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
  const text = name && name !== 'Error' && !message.startsWith(name) ? `${name}: ${message}` : message || name || 'unknown error';
  return status !== undefined && !text.includes(String(status)) ? `${text} (HTTP ${status})` : text;
}

export class AwsCloud implements Cloud {
  private readonly region: string;
  private readonly customEndpoint: boolean;
  private sts?: STSClient;
  private cfn?: CloudFormationClient;
  private ecs?: ECSClient;
  private sm?: SecretsManagerClient;
  private logs?: CloudWatchLogsClient;
  private elb?: ElasticLoadBalancingV2Client;
  private cw?: CloudWatchClient;

  constructor(opts: AwsCloudOptions) {
    this.region = opts.region;
    this.customEndpoint = opts.customEndpoint ?? false;
  }

  private config() {
    return { region: this.region };
  }

  async whoami(): Promise<CallerIdentity> {
    // One attempt keeps "no credentials" fast (exit 1 in about a second, no retries).
    this.sts ??= new STSClient({ ...this.config(), maxAttempts: 1 });
    try {
      const out = await this.sts.send(new GetCallerIdentityCommand({}));
      return { account: out.Account ?? '', arn: out.Arn ?? '' };
    } catch (err) {
      return credentialsOr(err);
    }
  }

  async stackStatus(stackName: string): Promise<StackStatus | undefined> {
    const stack = await this.describeStack(stackName);
    if (!stack) return undefined;
    const status: StackStatus = { status: stack.StackStatus ?? 'UNKNOWN' };
    if (stack.StackStatusReason) status.reason = stack.StackStatusReason;
    const updated = stack.LastUpdatedTime ?? stack.CreationTime;
    if (updated) status.updatedAt = updated;
    return status;
  }

  async stackOutputs(stackName: string): Promise<Record<string, string> | undefined> {
    const stack = await this.describeStack(stackName);
    if (!stack) return undefined;
    const outputs: Record<string, string> = {};
    for (const o of stack.Outputs ?? []) if (o.OutputKey && o.OutputValue !== undefined) outputs[o.OutputKey] = o.OutputValue;
    return outputs;
  }

  private async describeStack(stackName: string) {
    this.cfn ??= new CloudFormationClient(this.config());
    try {
      const out = await this.cfn.send(new DescribeStacksCommand({ StackName: stackName }));
      return out.Stacks?.[0];
    } catch (err) {
      if (nameOf(err) === 'ValidationError' && /does not exist/.test((err as Error).message)) return undefined;
      return credentialsOr(err);
    }
  }

  async serviceCounts(cluster: string, service: string): Promise<ServiceCounts | undefined> {
    this.ecs ??= new ECSClient(this.config());
    try {
      const out = await this.ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
      const s = out.services?.[0];
      if (!s) return undefined;
      const primary = s.deployments?.find((d) => d.status === 'PRIMARY');
      const counts: ServiceCounts = {
        status: s.status ?? 'UNKNOWN',
        running: s.runningCount ?? 0,
        desired: s.desiredCount ?? 0,
        pending: s.pendingCount ?? 0,
      };
      if (primary?.rolloutState) counts.rolloutState = primary.rolloutState;
      return counts;
    } catch (err) {
      if (nameOf(err) === 'ClusterNotFoundException') return undefined;
      return credentialsOr(err);
    }
  }

  async serviceDetails(cluster: string, service: string): Promise<ServiceDetails | undefined> {
    const ecs = (this.ecs ??= new ECSClient(this.config()));
    return call(
      () => describeService(ecs, cluster, service),
      named('ClusterNotFoundException'),
      () => undefined,
    );
  }

  async targetHealth(targetGroupArn: string): Promise<TargetHealth[]> {
    const elb = (this.elb ??= new ElasticLoadBalancingV2Client(this.config()));
    return call(
      () => describeTargetHealth(elb, targetGroupArn),
      named('TargetGroupNotFoundException'),
      () => [],
    );
  }

  async alarms(prefix: string): Promise<AlarmState[]> {
    const cw = (this.cw ??= new CloudWatchClient(this.config()));
    return call(() => describeAlarms(cw, prefix));
  }

  async getSecret(id: string): Promise<string> {
    this.sm ??= new SecretsManagerClient(this.config());
    try {
      const out = await this.sm.send(new GetSecretValueCommand({ SecretId: id }));
      if (out.SecretString === undefined) throw new Error(`secret ${id} has no string value`);
      return out.SecretString;
    } catch (err) {
      if (nameOf(err) === 'ResourceNotFoundException') secretMissing(id, err);
      return credentialsOr(err);
    }
  }

  async secretVersions(id: string): Promise<SecretVersionInfo[]> {
    this.sm ??= new SecretsManagerClient(this.config());
    const versions: SecretVersionInfo[] = [];
    try {
      let token: string | undefined;
      do {
        const out = await this.sm.send(new ListSecretVersionIdsCommand({ SecretId: id, ...(token ? { NextToken: token } : {}) }));
        for (const v of out.Versions ?? []) {
          if (!v.VersionId || !v.VersionStages?.length) continue;
          versions.push({ versionId: v.VersionId, stages: [...v.VersionStages], ...(v.CreatedDate ? { createdAt: v.CreatedDate } : {}) });
        }
        token = out.NextToken;
      } while (token);
    } catch (err) {
      if (nameOf(err) === 'ResourceNotFoundException') secretMissing(id, err);
      return credentialsOr(err);
    }
    return versions.sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
  }

  async stageSecret(id: string, value: string): Promise<string> {
    this.sm ??= new SecretsManagerClient(this.config());
    try {
      const out = await this.sm.send(new PutSecretValueCommand({ SecretId: id, SecretString: value, VersionStages: ['AWSPENDING'] }));
      if (!out.VersionId) throw new Error(`PutSecretValue on ${id} returned no version id`);
      return out.VersionId;
    } catch (err) {
      return credentialsOr(err);
    }
  }

  async promoteSecret(id: string, versionId: string, fromVersionId: string): Promise<void> {
    this.sm ??= new SecretsManagerClient(this.config());
    try {
      await this.sm.send(
        new UpdateSecretVersionStageCommand({
          SecretId: id,
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: versionId,
          RemoveFromVersionId: fromVersionId,
        }),
      );
      await this.sm.send(new UpdateSecretVersionStageCommand({ SecretId: id, VersionStage: 'AWSPENDING', RemoveFromVersionId: versionId }));
    } catch (err) {
      return credentialsOr(err);
    }
  }

  async runningTasks(cluster: string, service: string): Promise<string[]> {
    this.ecs ??= new ECSClient(this.config());
    const ids: string[] = [];
    try {
      let token: string | undefined;
      do {
        const out = await this.ecs.send(
          new ListTasksCommand({ cluster, serviceName: service, desiredStatus: 'RUNNING', ...(token ? { nextToken: token } : {}) }),
        );
        for (const arn of out.taskArns ?? []) ids.push(arn.slice(arn.lastIndexOf('/') + 1));
        token = out.nextToken;
      } while (token);
    } catch (err) {
      const name = nameOf(err);
      if (name === 'ClusterNotFoundException' || name === 'ServiceNotFoundException') return [];
      return credentialsOr(err);
    }
    return ids;
  }

  async liveTail(logGroupArn: string, opts: LiveTailOptions): Promise<void> {
    this.logs ??= new CloudWatchLogsClient({ ...this.config(), ...(this.customEndpoint ? { disableHostPrefix: true } : {}) });
    const arn = logGroupArn.replace(/:\*$/, ''); // StartLiveTail refuses the `:*` suffix
    while (!opts.signal.aborted) {
      let stream: AsyncIterable<unknown> | undefined;
      try {
        const out = await this.logs.send(
          new StartLiveTailCommand({ logGroupIdentifiers: [arn], ...(opts.filter ? { logEventFilterPattern: opts.filter } : {}) }),
          { abortSignal: opts.signal },
        );
        stream = out.responseStream;
      } catch (err) {
        if (opts.signal.aborted) return;
        const name = nameOf(err);
        if (name === 'CredentialsProviderError' || name === 'ExpiredTokenException' || name === 'UnrecognizedClientException')
          credentialsOr(err);
        throw new LiveTailUnavailable(`live tail is not available: ${why(err)}`, { cause: err });
      }
      if (!stream) throw new LiveTailUnavailable('live tail returned no stream');
      const iterator = stream[Symbol.asyncIterator]();
      const stopped = new Promise<'aborted'>((resolve) => {
        if (opts.signal.aborted) resolve('aborted');
        opts.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
      });
      try {
        for (;;) {
          // An abort must end the tail even while the stream is quiet.
          const next = await Promise.race([iterator.next(), stopped]);
          if (next === 'aborted') {
            void iterator.return?.().catch(() => undefined);
            return;
          }
          if (next.done) break;
          const e = next.value as {
            sessionUpdate?: { sessionResults?: { timestamp?: number; message?: string; logStreamName?: string }[] };
            SessionTimeoutException?: unknown;
            SessionStreamingException?: { message?: string };
          };
          for (const r of e.sessionUpdate?.sessionResults ?? []) {
            const ev: LogEvent = { timestamp: r.timestamp ?? 0, message: r.message ?? '' };
            if (r.logStreamName) ev.stream = r.logStreamName;
            opts.onEvent(ev);
          }
          if (e.SessionTimeoutException) break; // sessions end after 3 hours: start another
          if (e.SessionStreamingException)
            throw new LiveTailUnavailable(`live tail stopped: ${e.SessionStreamingException.message ?? 'streaming error'}`);
        }
      } catch (err) {
        if (opts.signal.aborted) return;
        if (err instanceof LiveTailUnavailable) throw err;
        throw new LiveTailUnavailable(`live tail stopped: ${why(err)}`, { cause: err });
      }
    }
  }

  async ecrLogin(opts: { region: string; roleArn?: string }): Promise<RegistryLogin> {
    try {
      let credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
      if (opts.roleArn) {
        const sts = new STSClient({ region: opts.region });
        const out = await sts.send(
          new AssumeRoleCommand({ RoleArn: opts.roleArn, RoleSessionName: 'river-image-publish', DurationSeconds: 3600 }),
        );
        const c = out.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`AssumeRole ${opts.roleArn} returned no credentials`);
        credentials = {
          accessKeyId: c.AccessKeyId,
          secretAccessKey: c.SecretAccessKey,
          ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
        };
      }
      const ecr = new ECRClient({ region: opts.region, ...(credentials ? { credentials } : {}) });
      const out = await ecr.send(new GetAuthorizationTokenCommand({}));
      const data = out.authorizationData?.[0];
      if (!data?.authorizationToken || !data.proxyEndpoint) throw new Error('ECR GetAuthorizationToken returned no token');
      const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const login: RegistryLogin = {
        registry: new URL(data.proxyEndpoint.includes('://') ? data.proxyEndpoint : `https://${data.proxyEndpoint}`).host,
        username: decoded.slice(0, colon),
        password: decoded.slice(colon + 1),
      };
      if (data.expiresAt) login.expiresAt = data.expiresAt;
      return login;
    } catch (err) {
      return credentialsOr(err);
    }
  }

  async filterLogs(logGroupName: string, opts: FilterLogsOptions): Promise<{ events: LogEvent[]; nextToken?: string }> {
    this.logs ??= new CloudWatchLogsClient({ ...this.config(), ...(this.customEndpoint ? { disableHostPrefix: true } : {}) });
    try {
      const out = await this.logs.send(
        new FilterLogEventsCommand({
          logGroupName,
          startTime: opts.startTime,
          ...(opts.filter ? { filterPattern: opts.filter } : {}),
          ...(opts.nextToken ? { nextToken: opts.nextToken } : {}),
        }),
      );
      const events = (out.events ?? []).map((e) => {
        const ev: LogEvent = { timestamp: e.timestamp ?? 0, message: e.message ?? '' };
        if (e.logStreamName) ev.stream = e.logStreamName;
        if (e.eventId) ev.id = e.eventId;
        return ev;
      });
      return out.nextToken ? { events, nextToken: out.nextToken } : { events };
    } catch (err) {
      if (nameOf(err) === 'ResourceNotFoundException') {
        throw new UserError(`the log group ${logGroupName} does not exist`, 'check the deployment with `npx river status`', {
          code: 'log_group_missing',
          cause: err,
        });
      }
      return credentialsOr(err);
    }
  }
}
