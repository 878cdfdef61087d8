/** `river deploy`, `river synth` and `river destroy`: the CDK app of @river/templates through the Deployer. */
import { rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { checkContainerBuilder } from '../cloud/container-builder.js';
import { publishImagesDaemonless } from '../cloud/daemonless.js';
import { DockerfileError } from '../cloud/oci/dockerfile.js';
import { ImageAssetError, type ImageAsset } from '../cloud/oci/image-assets.js';
import { RegistryError } from '../cloud/oci/registry.js';
import { DeployFailed, type DeployHooks, type DeployProgress } from '../cloud/cloud.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { Spinner } from '../io.js';
import { readProjectConfig, templates } from '../project.js';
import { readDeployedState, stateDir, writeDeployedState } from '../state.js';

const BUILDERS = ['auto', 'docker', 'daemonless'] as const;
type Builder = (typeof BUILDERS)[number];

const DOCKER_HINT =
  'run `npx river deploy --builder docker` with a running Docker or Finch, or set "image" in river.config.json to a prebuilt image';

/** The daemonless builder's failures a user can act on become UserErrors; the rest propagate (exit 2). */
function imageError(err: unknown): unknown {
  if (err instanceof DockerfileError || err instanceof ImageAssetError) {
    return new UserError(`the daemonless builder cannot build this image: ${err.message}`, DOCKER_HINT, { code: err.code, cause: err });
  }
  if (err instanceof RegistryError && err.status === 429) {
    return new UserError(
      `the base image registry refused: too many requests (${err.message})`,
      'set "baseImage" in river.config.json to public.ecr.aws/docker/library/node:24-bookworm-slim (the same image without Docker Hub\'s pull limit), then deploy again',
      {
        code: 'registry_rate_limited',
        cause: err,
      },
    );
  }
  if (err instanceof RegistryError && (err.status === 401 || err.status === 403)) {
    return new UserError(
      `pushing the River image was refused: ${err.message}`,
      'use credentials that may assume the CDK bootstrap\'s image-publishing role (see docs/deploy-aws.md, "Deploying without Docker"), or ' +
        DOCKER_HINT,
      {
        code: 'access_denied',
        cause: err,
      },
    );
  }
  return err;
}

export function registerDeploy(program: Command, ctx: Context): void {
  program
    .command('deploy')
    .description('deploy River to AWS from river.config.json (CloudFormation via the CDK), then print and save the endpoints')
    .option(
      '-y, --yes',
      'approve broadened IAM or security-group rules and replaced stateful resources (secrets, cache, logs, network, load balancer, DNS) without asking; required for those without a terminal',
    )
    .option('--json', 'print the stack outputs as one JSON line')
    .addOption(
      new Option(
        '--builder <builder>',
        'how the River image is built: docker (Docker, Finch or CDK_DOCKER, a running daemon), daemonless (assembled on the Node base image and pushed to ECR over the registry API, no daemon), auto (docker when it answers, else daemonless)',
      )
        .choices(BUILDERS)
        .default('auto'),
    )
    .addHelpText(
      'after',
      '\nNeeds AWS credentials. Unless "image" is set in river.config.json, the River image is built with a running Docker or Finch\n(or the builder named by CDK_DOCKER), or without one (--builder daemonless; auto falls back to it).\nThe endpoints are saved to .river/outputs.json for `river token --deployed`, `publish`, `listen`, `status`, `logs`.',
    )
    .action(async (opts: { yes?: boolean; json?: boolean; builder?: Builder }) => {
      await deploy(ctx, opts);
    });
  program
    .command('synth')
    .description('write the CloudFormation templates (the cloud assembly) without deploying; no AWS call')
    .option('--out <dir>', 'output directory', 'cdk.out')
    .option('--json', 'print {"stackName","outDir","templates"} as one JSON line')
    .action(async (opts: { out: string; json?: boolean }) => {
      await synth(ctx, opts);
    });
  program
    .command('destroy')
    .description('delete the River stack and everything in it (secrets included), after a confirmation')
    .option('-y, --yes', 'do not ask; required without a terminal')
    .action(async (opts: { yes?: boolean }) => {
      await destroy(ctx, opts);
    });
}

function progressText(verb: string, stackName: string, p: DeployProgress): string {
  const count = p.total ? ` ${p.completed ?? 0}/${p.total}` : p.completed !== undefined ? ` ${p.completed}` : '';
  return `${verb} ${stackName}${count}${p.text ? `  ${p.text}` : ''}`;
}

export async function deploy(ctx: Context, opts: { yes?: boolean; json?: boolean; builder?: Builder }): Promise<void> {
  const { io } = ctx;
  const config = await readProjectConfig(ctx);
  const { stackNameOf, OUTPUT_KEYS } = await templates();
  const stackName = stackNameOf(config);
  // Before any AWS call: a builder that is missing or whose daemon is down would fail the deploy
  // minutes later, while publishing the image asset. auto falls back to the daemonless builder.
  const mode = opts.builder ?? 'auto';
  let containerBuilder: string | undefined;
  let daemonless = false;
  if (config.image === undefined) {
    if (mode === 'daemonless') daemonless = true;
    else if (mode === 'docker') containerBuilder = await checkContainerBuilder(ctx);
    else {
      try {
        containerBuilder = await checkContainerBuilder(ctx);
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        io.info(`${err.message}: building the image without a container builder (--builder daemonless)`);
        daemonless = true;
      }
    }
  }
  const cloud = await ctx.cloud(config.region);
  const who = await cloud.whoami();
  const toolkit = await cloud.stackStatus('CDKToolkit');
  const bootstrap = toolkit === undefined || ['ROLLBACK_COMPLETE', 'DELETE_COMPLETE'].includes(toolkit.status);
  io.info(`deploying ${stackName} to account ${who.account} in ${config.region}${bootstrap ? ' (bootstrapping the CDK there first)' : ''}`);

  const deployer = await ctx.deployer();
  let spinner: Spinner = io.spinner(`deploying ${stackName}…`);
  let lastText = `deploying ${stackName}…`;
  let refusal: UserError | undefined;
  const hooks: DeployHooks = {
    onProgress(p) {
      lastText = progressText('deploying', p.stackName || stackName, p);
      spinner.update(lastText);
    },
    onInfo(line) {
      io.warn(line);
    },
    async confirm(q) {
      const needsApproval = q.kind === 'security-changes' || q.kind === 'destructive-changes';
      if (!needsApproval || opts.yes) return true;
      const what = q.kind === 'security-changes' ? 'changes IAM permissions or security groups' : 'replaces or deletes resources';
      if (!io.isTTY) {
        refusal = new UserError(
          `this deployment ${what} and needs approval`,
          'review it with `npx river synth`, then run `npx river deploy --yes`',
          {
            code: 'needs_approval',
          },
        );
        return false;
      }
      spinner.stop();
      io.info(q.message);
      const ok = await io.prompt.confirm({
        message:
          q.kind === 'security-changes' ? 'Deploy these security-sensitive changes?' : 'Deploy, replacing or deleting these resources?',
        flag: '--yes',
        default: false,
      });
      if (!ok)
        refusal = new UserError('deployment cancelled: nothing was changed', 'run `npx river deploy` again and answer yes, or pass --yes', {
          code: 'cancelled',
        });
      spinner = io.spinner(lastText);
      return ok;
    },
  };
  let result;
  try {
    result = await deployer.deploy(config, {
      ...hooks,
      ...(bootstrap ? { bootstrap: { account: who.account, region: config.region } } : {}),
      ...(containerBuilder ? { containerBuilder } : {}),
      ...(daemonless
        ? {
            publishImages: async (assets: ImageAsset[]) => {
              try {
                const published = await publishImagesDaemonless(assets, {
                  cloud,
                  account: who.account,
                  region: config.region,
                  fetch: ctx.fetch,
                  onProgress: (line) => {
                    lastText = line;
                    spinner.update(line);
                  },
                });
                spinner.stop();
                for (const p of published)
                  io.info(p.digest ? `pushed ${p.ref} (${p.seconds.toFixed(1)} s)` : `image ${p.ref} already published`);
                lastText = `deploying ${stackName}…`;
                spinner = io.spinner(lastText);
              } catch (err) {
                throw imageError(err);
              }
            },
          }
        : {}),
    });
  } catch (err) {
    spinner.fail(`deployment of ${stackName} failed`);
    if (refusal) throw refusal;
    if (err instanceof DeployFailed) {
      throw new UserError(
        `${err.stackName} was rolled back: ${err.reason}`,
        'fix the cause, then run `npx river deploy` again (`npx river status` shows the stack)',
        {
          code: err.code,
          cause: err,
        },
      );
    }
    throw err;
  }
  spinner.succeed(`deployed ${result.stackName}`);
  const path = await writeDeployedState(ctx.cwd, { stackName: result.stackName, region: config.region, outputs: result.outputs });
  if (opts.json) {
    io.out(JSON.stringify({ stackName: result.stackName, region: config.region, outputs: result.outputs }));
    return;
  }
  const o = result.outputs;
  io.out(`WebSocket URL  ${o[OUTPUT_KEYS.WebSocketUrl] ?? '(missing)'}`);
  io.out(`HTTP API URL   ${o[OUTPUT_KEYS.HttpApiUrl] ?? '(missing)'}`);
  for (const [k, v] of Object.entries(o)) {
    if (k !== OUTPUT_KEYS.WebSocketUrl && k !== OUTPUT_KEYS.HttpApiUrl) io.out(`${k.padEnd(15)}${v}`);
  }
  io.info(`saved to ${relative(ctx.cwd, path)}; try: npx river token --deployed --sub u1, npx river status`);
}

export async function synth(ctx: Context, opts: { out: string; json?: boolean }): Promise<void> {
  const config = await readProjectConfig(ctx);
  const outDir = resolve(ctx.cwd, opts.out);
  const deployer = await ctx.deployer();
  const spinner = ctx.io.spinner(`synthesizing ${config.name}…`);
  let result;
  try {
    result = await deployer.synth(config, outDir, { onInfo: (line) => ctx.io.warn(line) });
  } catch (err) {
    spinner.fail('synthesis failed');
    throw err;
  }
  spinner.succeed(`synthesized ${result.stackName} into ${relative(ctx.cwd, outDir) || '.'}`);
  if (opts.json) ctx.io.out(JSON.stringify({ stackName: result.stackName, outDir, templates: result.templates }));
  else for (const t of result.templates) ctx.io.out(relative(ctx.cwd, t));
}

export async function destroy(ctx: Context, opts: { yes?: boolean }): Promise<void> {
  const { io } = ctx;
  const config = await readProjectConfig(ctx);
  const { stackNameOf } = await templates();
  const stackName = stackNameOf(config);
  const question = {
    message: `Delete the stack ${stackName} in ${config.region} with its secrets, cache and logs? Issued tokens stop working. This cannot be undone.`,
    flag: '--yes',
    default: false,
  };
  if (!opts.yes && !io.isTTY) {
    throw new UserError(
      `river destroy deletes ${stackName} and needs a confirmation, and there is no terminal to ask`,
      'pass --yes to confirm',
      { code: 'no_terminal' },
    );
  }
  const cloud = await ctx.cloud(config.region);
  const who = await cloud.whoami();
  // The toolkit "destroys" a stack that is not there without a word: look first, and say where.
  const found = await cloud.stackStatus(stackName);
  if (found === undefined || found.status === 'DELETE_COMPLETE') {
    throw new UserError(
      `no stack ${stackName} in account ${who.account}, region ${config.region}: nothing was destroyed`,
      'check "region" (and "name") in river.config.json and which AWS account your credentials use (AWS_PROFILE); `npx river status` looks in the same place',
      { code: 'no_stack' },
    );
  }
  if (!opts.yes) {
    io.info(`account ${who.account}, region ${config.region}, stack ${stackName} (${found.status})`);
    if (!(await io.prompt.confirm(question))) {
      throw new UserError('nothing was destroyed', 'run `npx river destroy` again and answer yes, or pass --yes', { code: 'cancelled' });
    }
  }
  const deployer = await ctx.deployer();
  const spinner = io.spinner(`destroying ${stackName}…`);
  try {
    await deployer.destroy(config, {
      onProgress: (p) => spinner.update(progressText('destroying', p.stackName || stackName, p)),
      onInfo: (line) => io.warn(line),
      confirm: async () => true, // asked above
    });
  } catch (err) {
    spinner.fail(`destroying ${stackName} failed`);
    throw err;
  }
  // Only what CloudFormation reports counts as destroyed.
  const left = await cloud.stackStatus(stackName);
  if (left !== undefined && left.status !== 'DELETE_COMPLETE') {
    spinner.fail(`${stackName} is still there`);
    throw new UserError(
      `the stack ${stackName} in account ${who.account}, region ${config.region} is still there (${left.status}${left.reason ? `: ${left.reason}` : ''})`,
      'see `npx river status` and the stack events in the CloudFormation console, then run `npx river destroy` again',
      { code: 'destroy_incomplete' },
    );
  }
  spinner.succeed(`destroyed ${stackName} in account ${who.account}, region ${config.region}`);
  const saved = await readDeployedState(ctx.cwd).catch(() => undefined);
  if (saved?.stackName === stackName) await rm(join(stateDir(ctx.cwd), 'outputs.json'), { force: true });
}
