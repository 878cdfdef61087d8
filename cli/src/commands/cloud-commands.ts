/** The AWS commands (init, deploy, synth, status, logs, secret, destroy): registered in part B. */
import type { Command } from 'commander';
import type { Context } from '../context.js';

export function registerCloudCommands(_program: Command, _ctx: Context): void {}
