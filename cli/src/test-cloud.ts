/** A scripted Cloud and Deployer for command tests. Not part of the build. */
import type { RiverConfig } from '@river/templates';
import type { Cloud, Deployer, DeployHooks, DeployOptions, DeployResult, LogEvent, StackDiff, StackStatus } from './cloud/cloud.js';

export const OUTPUTS = {
  WebSocketUrl: 'wss://rt.example.com/v1/ws',
  HttpApiUrl: 'https://abc123.execute-api.us-east-1.amazonaws.com',
  JwtSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:river-jwt-AbCdEf',
  ApiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:river-key-AbCdEf',
  ClusterName: 'river-cluster',
  ServiceName: 'river-service',
  LogGroupName: '/river/river',
  LogGroupArn: 'arn:aws:logs:us-east-1:123456789012:log-group:/river/river',
};

export function fakeCloud(overrides: Partial<Cloud> & { stacks?: Record<string, StackStatus> } = {}): Cloud & { calls: string[] } {
  const calls: string[] = [];
  const stacks = overrides.stacks ?? { CDKToolkit: { status: 'CREATE_COMPLETE' } };
  const base: Cloud = {
    whoami: async () => ({ account: '123456789012', arn: 'arn:aws:iam::123456789012:user/dev' }),
    stackStatus: async (name) => stacks[name],
    stackOutputs: async (name) => (stacks[name] ? { ...OUTPUTS } : undefined),
    serviceCounts: async () => ({ status: 'ACTIVE', running: 2, desired: 2, pending: 0, rolloutState: 'COMPLETED' }),
    serviceDetails: async () => ({
      status: 'ACTIVE',
      running: 2,
      desired: 2,
      pending: 0,
      rolloutState: 'COMPLETED',
      taskDefinition: 'river:1',
      events: [],
      tasks: [],
      targetGroupArns: [],
    }),
    targetHealth: async () => [],
    alarms: async () => [],
    getSecret: async () => 'a-deployed-secret-of-sixty-four-characters-0123456789abcdefghijkl',
    secretVersions: async () => [{ versionId: 'v1', stages: ['AWSCURRENT'], createdAt: new Date('2026-01-01T00:00:00Z') }],
    stageSecret: async () => 'v2',
    promoteSecret: async () => {},
    runningTasks: async () => [],
    liveTail: async () => {},
    filterLogs: async () => ({ events: [] as LogEvent[] }),
    ecrLogin: async (opts) => ({ registry: `123456789012.dkr.ecr.${opts.region}.amazonaws.com`, username: 'AWS', password: 'ecr-token' }),
  };
  const merged = { ...base, ...overrides } as Cloud;
  const recorded = {} as Cloud;
  for (const key of Object.keys(base) as (keyof Cloud)[]) {
    (recorded as unknown as Record<string, unknown>)[key] = (...args: unknown[]) => {
      calls.push(key);
      return (merged[key] as (...a: unknown[]) => unknown)(...args);
    };
  }
  return Object.assign(recorded, { calls });
}

export interface FakeDeployerScript {
  /** What deploy does with the hooks before resolving (progress, questions). */
  deploy?: (config: RiverConfig, opts: DeployOptions) => Promise<DeployResult>;
  destroy?: (config: RiverConfig, hooks: DeployHooks) => Promise<void>;
  diff?: (config: RiverConfig) => Promise<StackDiff>;
}

export function fakeDeployer(script: FakeDeployerScript = {}): Deployer & { deployed: DeployOptions[]; destroyed: number } {
  const deployed: DeployOptions[] = [];
  const self = {
    deployed,
    destroyed: 0,
    async synth(config: RiverConfig, outDir: string) {
      return { stackName: config.name, templates: [`${outDir}/${config.name}.template.json`] };
    },
    async deploy(config: RiverConfig, opts: DeployOptions): Promise<DeployResult> {
      deployed.push(opts);
      if (script.deploy) return script.deploy(config, opts);
      opts.onProgress({ stackName: config.name, completed: 1, total: 3, text: 'CREATE_IN_PROGRESS Vpc' });
      opts.onProgress({ stackName: config.name, completed: 3, total: 3, text: 'CREATE_COMPLETE river' });
      return { stackName: config.name, outputs: { ...OUTPUTS } };
    },
    async destroy(config: RiverConfig, hooks: DeployHooks) {
      self.destroyed += 1;
      if (script.destroy) return script.destroy(config, hooks);
    },
    async diff(config: RiverConfig): Promise<StackDiff> {
      if (script.diff) return script.diff(config);
      return { stackName: config.name, changes: [], security: { broadening: false, iam: [], securityGroups: [] } };
    },
  };
  return self;
}
