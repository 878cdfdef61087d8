/** The AWS commands: init, deploy, synth, diff, status, logs, secret rotate, destroy. */
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { registerDeploy } from './deploy.js';
import { registerDiff } from './diff.js';
import { registerInit } from './init.js';
import { registerLogs } from './logs.js';
import { registerSecret } from './secret.js';
import { registerStatus } from './status.js';

export function registerCloudCommands(program: Command, ctx: Context): void {
  registerInit(program, ctx);
  registerDeploy(program, ctx);
  registerDiff(program, ctx);
  registerStatus(program, ctx);
  registerLogs(program, ctx);
  registerSecret(program, ctx);
}
