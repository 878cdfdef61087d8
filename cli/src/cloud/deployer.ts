/**
 * `Deployer` over @aws-cdk/toolkit-lib: the one file of the CLI that imports the toolkit. The CDK
 * app is @river/templates' `buildRiverApp`, synthesized in-process (no `cdk` subprocess, no
 * context lookups, the environment never mutated by the toolkit). Toolkit messages are translated
 * here into the small DeployHooks vocabulary; the toolkit's own printing is never used.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BootstrapEnvironments,
  DiffMethod,
  StackSelectionStrategy,
  Toolkit,
  ToolkitError,
  type IIoHost,
  type IoMessage,
  type IoRequest,
  type StackActivity,
} from '@aws-cdk/toolkit-lib';
import type { RiverConfig } from '@river/templates';
import { UserError } from '../errors.js';
import { classifyChangeSet, type ChangeSetSummary } from './approval.js';
import { readImageAssets } from './oci/image-assets.js';
import {
  DeployFailed,
  type DeployHooks,
  type DeployOptions,
  type DeployResult,
  type Deployer,
  type DeployQuestion,
  type StackDiff,
} from './cloud.js';
import { summarizeDiff } from './diff-summary.js';

const SILENT_HOOKS: DeployHooks = { onProgress: () => {}, confirm: async () => true };

/** CloudFormation's cancellation notes are not the reason a deployment failed. */
const CANCELLED = /Resource (creation|update) cancelled|cancelled$/i;

/** Translates toolkit messages into DeployHooks calls (exported for its unit test). */
export class HookIoHost implements IIoHost {
  /** The first resource failure seen during the current operation: the rollback reason. */
  firstFailure: string | undefined;
  stackName = '';

  constructor(private readonly hooks: DeployHooks) {}

  async notify(msg: IoMessage<unknown>): Promise<void> {
    switch (msg.code) {
      case 'CDK_TOOLKIT_I5502':
      case 'CDK_TOOLKIT_I7100': {
        const data = msg.data as Partial<StackActivity> | undefined;
        const ev = data?.event;
        if (ev?.ResourceStatus?.endsWith('_FAILED') && ev.ResourceStatusReason && !CANCELLED.test(ev.ResourceStatusReason)) {
          this.firstFailure ??= `${ev.LogicalResourceId ?? '?'} (${ev.ResourceType ?? '?'}) ${ev.ResourceStatus}: ${ev.ResourceStatusReason}`;
        }
        const progress = data?.progress;
        this.hooks.onProgress({
          stackName: ev?.StackName ?? this.stackName,
          ...(progress ? { completed: progress.completed } : {}),
          ...(progress?.total !== undefined ? { total: progress.total } : {}),
          text: ev ? `${ev.ResourceStatus ?? ''} ${ev.LogicalResourceId ?? ''}`.trim() : '',
        });
        return;
      }
      case 'CDK_TOOLKIT_I9100':
      case 'CDK_TOOLKIT_I5210':
      case 'CDK_TOOLKIT_I5220':
        this.hooks.onProgress({ stackName: this.stackName, text: firstLine(msg.message) });
        return;
      case 'CDK_ASSEMBLY_E1002': // a subprocess's stderr line, not a failure
        return;
      case 'CDK_TOOLKIT_E9600': {
        // The synthesis validation report: River's construct annotations (the plain-HTTP warning) arrive
        // here, at level error even when the report's conclusion is success. One line per finding.
        const report = msg.data as
          | { pluginReports?: Array<{ violations?: Array<{ description?: string; ruleName?: string; severity?: string }> }> }
          | undefined;
        const violations = (report?.pluginReports ?? []).flatMap((p) => p.violations ?? []);
        if (violations.length === 0) this.hooks.onInfo?.(firstLine(msg.message));
        for (const v of violations) {
          const text = v.description ?? v.ruleName ?? 'validation finding';
          this.hooks.onInfo?.(v.severity === undefined || v.severity === 'warning' ? text : `${text} (${v.severity})`);
        }
        return;
      }
      default:
        if (msg.level === 'warn' || msg.level === 'error') this.hooks.onInfo?.(firstLine(msg.message));
    }
  }

  async requestResponse<T>(msg: IoRequest<unknown, T>): Promise<T> {
    let question: DeployQuestion;
    if (msg.code === 'CDK_TOOLKIT_I5060') {
      question = classifyChangeSet(msg.data as ChangeSetSummary | undefined, msg.message);
    } else if (msg.code === 'CDK_TOOLKIT_I7010') {
      question = { kind: 'destroy', message: msg.message };
    } else if (typeof msg.defaultResponse === 'boolean') {
      question = { kind: 'other', message: msg.message };
    } else {
      return msg.defaultResponse;
    }
    return (await this.hooks.confirm(question)) as T;
  }
}

function firstLine(text: string): string {
  return (text.split('\n').find((l) => l.trim() !== '') ?? '').trim();
}

function findCause(err: unknown, name: string): Error | undefined {
  for (let e: unknown = err, i = 0; e && i < 8; e = (e as { cause?: unknown }).cause, i++) {
    if ((e as { name?: string }).name === name) return e as Error;
  }
  return undefined;
}

/** Toolkit failures a user can act on become UserErrors; the rest propagate (exit 2). */
export function translate(err: unknown, host: HookIoHost): unknown {
  const build = findCause(err, 'RiverBuildError') ?? findCause(err, 'RiverConfigError');
  if (build)
    return new UserError(
      build.message,
      'fix that, then run the command again (in a checkout, `npm run build` builds the publish Lambda bundle)',
      { code: 'build_failed', cause: err },
    );
  if (ToolkitError.isAuthenticationError(err)) {
    return new UserError(
      `AWS authentication failed: ${firstLine((err as Error).message)}`,
      'configure AWS credentials (`aws configure`, `aws sso login`, or AWS_PROFILE), then run the command again',
      {
        code: 'no_credentials',
        cause: err,
      },
    );
  }
  if (ToolkitError.isDeploymentError(err) || (ToolkitError.isToolkitError(err) && host.firstFailure)) {
    return new DeployFailed(host.stackName, host.firstFailure ?? firstLine((err as Error).message), { cause: err });
  }
  return err;
}

export class ToolkitDeployer implements Deployer {
  private toolkit(host: HookIoHost): Toolkit {
    return new Toolkit({ ioHost: host, emojis: false, color: false });
  }

  private async source(toolkit: Toolkit, config: RiverConfig, outDir: string | undefined, resolveEnv: boolean) {
    const { buildRiverApp } = await import('@river/templates');
    return toolkit.fromAssemblyBuilder(
      async (props) => {
        const { app } = buildRiverApp(config, { ...(props.outdir ? { outdir: props.outdir } : {}) });
        return app.synth();
      },
      {
        clobberEnv: false,
        lookups: false,
        resolveDefaultEnvironment: resolveEnv,
        ...(outDir ? { outdir: outDir, disposeOutdir: false } : {}),
      },
    );
  }

  async synth(
    config: RiverConfig,
    outDir: string,
    hooks: Pick<DeployHooks, 'onInfo'> = {},
  ): Promise<{ stackName: string; templates: string[] }> {
    const host = new HookIoHost({ ...SILENT_HOOKS, ...hooks });
    host.stackName = config.name;
    const toolkit = this.toolkit(host);
    try {
      const asm = await toolkit.synth(await this.source(toolkit, config, outDir, false));
      await asm.dispose();
    } catch (err) {
      throw translate(err, host);
    }
    const templates = (await readdir(outDir))
      .filter((f) => f.endsWith('.template.json'))
      .sort()
      .map((f) => join(outDir, f));
    return { stackName: config.name, templates };
  }

  async deploy(config: RiverConfig, opts: DeployOptions): Promise<DeployResult> {
    const host = new HookIoHost(opts);
    host.stackName = config.name;
    // cdk-assets reads the container builder from the environment (`CDK_DOCKER`), its documented interface.
    if (opts.containerBuilder !== undefined && opts.containerBuilder !== 'docker') process.env.CDK_DOCKER = opts.containerBuilder;
    const toolkit = this.toolkit(host);
    try {
      if (opts.bootstrap) {
        await toolkit.bootstrap(BootstrapEnvironments.fromList([`aws://${opts.bootstrap.account}/${opts.bootstrap.region}`]));
      }
      const cx = await this.source(toolkit, config, undefined, true);
      const deployOptions = {
        stacks: { strategy: StackSelectionStrategy.ALL_STACKS },
        deploymentMethod: { method: 'change-set' as const },
      };
      let result;
      if (opts.publishImages) {
        // Synthesize once, push the images without a container builder, then deploy that same assembly:
        // the toolkit finds the images published and skips their build (daemonless.ts says where).
        const asm = await toolkit.synth(cx);
        try {
          await opts.publishImages(await readImageAssets(asm.cloudAssembly.directory));
          result = await toolkit.deploy(asm, deployOptions);
        } finally {
          await asm.dispose();
        }
      } else {
        result = await toolkit.deploy(cx, deployOptions);
      }
      const stack = result.stacks[0];
      if (!stack) throw new Error('the toolkit deployed no stack');
      return { stackName: stack.stackName, outputs: { ...stack.outputs } };
    } catch (err) {
      throw translate(err, host);
    }
  }

  async destroy(config: RiverConfig, hooks: DeployHooks): Promise<void> {
    const host = new HookIoHost(hooks);
    host.stackName = config.name;
    const toolkit = this.toolkit(host);
    try {
      const cx = await this.source(toolkit, config, undefined, true);
      await toolkit.destroy(cx, { stacks: { strategy: StackSelectionStrategy.ALL_STACKS } });
    } catch (err) {
      throw translate(err, host);
    }
  }

  async diff(config: RiverConfig, hooks: Pick<DeployHooks, 'onInfo'> = {}): Promise<StackDiff> {
    const host = new HookIoHost({ ...SILENT_HOOKS, ...hooks });
    host.stackName = config.name;
    const toolkit = this.toolkit(host);
    try {
      const cx = await this.source(toolkit, config, undefined, true);
      // A change set says what CloudFormation would really replace; it is deleted again, never executed.
      const diffs = await toolkit.diff(cx, {
        stacks: { strategy: StackSelectionStrategy.ALL_STACKS },
        method: DiffMethod.ChangeSet({ fallbackToTemplate: true }),
      });
      const [stackName, diff] = Object.entries(diffs)[0] ?? [];
      if (stackName === undefined || diff === undefined) throw new Error('the toolkit compared no stack');
      return summarizeDiff(stackName, diff);
    } catch (err) {
      throw translate(err, host);
    }
  }
}
