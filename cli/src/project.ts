/**
 * The deployment this directory describes: river.config.json (validated by @river/templates) and
 * the outputs of the deployed stack (.river/outputs.json, else asked from CloudFormation).
 * @river/templates pulls in aws-cdk-lib, so it is imported only by the commands that need it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RiverConfig } from '@river/templates';
import type { Cloud } from './cloud/cloud.js';
import type { Context } from './context.js';
import { UserError } from './errors.js';
import { CONFIG_FILE, findConfigFile, readDeployedState } from './state.js';

export { CONFIG_FILE };

/** The flag of `river init` that sets each river.config.json field (for hints). */
export const FIELD_FLAGS: Readonly<Record<string, string>> = {
  name: '--name',
  region: '--region',
  domain: '--domain',
  certificateArn: '--certificate-arn',
  hostedZoneId: '--hosted-zone',
  hostedZoneName: '--zone-name',
  taskCpu: '--cpu',
  taskMemory: '--memory',
  minTasks: '--min-tasks',
  maxTasks: '--max-tasks',
  'cache.mode': '--cache',
  allowedOrigins: '--allowed-origins',
};

export function templates() {
  return import('@river/templates');
}

/** Validates raw settings; a RiverConfigError becomes a UserError naming the field (and its init flag). */
export async function validateConfig(raw: unknown, source: string): Promise<RiverConfig> {
  const { parseRiverConfig, RiverConfigError } = await templates();
  try {
    return parseRiverConfig(raw);
  } catch (err) {
    if (err instanceof RiverConfigError) {
      const flag = FIELD_FLAGS[err.field];
      const message = err.message.replace(/^river\.config\.json: /, '');
      throw new UserError(`${source}: ${message}`, flag ? `pass a valid ${flag}` : `fix "${err.field}" in ${CONFIG_FILE}`, {
        code: err.code,
        cause: err,
      });
    }
    throw err;
  }
}

export async function readProjectConfig(ctx: Context): Promise<RiverConfig> {
  const path = findConfigFile(ctx.cwd) ?? join(ctx.cwd, CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(
        `no ${CONFIG_FILE} in ${ctx.cwd} or a folder above it`,
        'run `npx river init` first (or cd to the directory that has it)',
        { code: 'no_config' },
      );
    }
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${CONFIG_FILE} is not valid JSON`, `fix it, or write a new one with \`npx river init --force\``, {
      code: 'config_invalid',
      cause: err,
    });
  }
  const { parseRiverConfig, RiverConfigError } = await templates();
  try {
    return parseRiverConfig(raw);
  } catch (err) {
    if (err instanceof RiverConfigError) {
      throw new UserError(err.message, `fix "${err.field}" in ${CONFIG_FILE}, or write a new one with \`npx river init --force\``, {
        code: err.code,
        cause: err,
      });
    }
    throw err;
  }
}

export interface Deployment {
  stackName: string;
  region: string;
  outputs: Record<string, string>;
  cloud: Cloud;
}

/** The deployed stack: from .river/outputs.json, else river.config.json + CloudFormation. */
export async function findDeployment(ctx: Context, opts: { ignoreSavedOutputs?: boolean } = {}): Promise<Deployment> {
  const saved = opts.ignoreSavedOutputs ? undefined : await readDeployedState(ctx.cwd);
  if (saved) return { ...saved, cloud: await ctx.cloud(saved.region) };
  const config = await readProjectConfig(ctx).catch((err: unknown) => {
    if (err instanceof UserError && err.code === 'no_config') {
      throw new UserError('no River deployment recorded here', 'run `npx river init` and `npx river deploy` first', {
        code: 'no_deployment',
      });
    }
    throw err;
  });
  const { stackNameOf } = await templates();
  const stackName = stackNameOf(config);
  const cloud = await ctx.cloud(config.region);
  const outputs = await cloud.stackOutputs(stackName);
  if (!outputs) {
    throw new UserError(`the stack ${stackName} does not exist in ${config.region}`, 'deploy it with `npx river deploy`', {
      code: 'no_stack',
    });
  }
  return { stackName, region: config.region, outputs, cloud };
}

export function output(d: Pick<Deployment, 'outputs' | 'stackName'>, key: string): string {
  const v = d.outputs[key];
  if (v === undefined) {
    throw new UserError(
      `the stack ${d.stackName} has no ${key} output`,
      'run `npx river deploy` again (it updates the stack and .river/outputs.json)',
      { code: 'output_missing' },
    );
  }
  return v;
}
