export { run, buildProgram } from './program.js';
export type { Context, Env, ServerModule } from './context.js';
export type { IO, Prompts, PromptDriver, Spinner, InputSpec, SelectSpec, ConfirmSpec, Choice } from './io.js';
export { guardedPrompts, plainSpinner } from './io.js';
export { EXIT_CODES, UserError, ExitError, type ExitCode } from './errors.js';
export { readDevState, loadOrCreateDevState, writeDevState, type DevState, type DevEnvVar } from './state.js';
export type {
  Cloud,
  Deployer,
  DeployHooks,
  DeployProgress,
  DeployQuestion,
  DeployResult,
  CallerIdentity,
  StackStatus,
  ServiceCounts,
  LogEvent,
} from './cloud/cloud.js';
export { DeployFailed, LiveTailUnavailable } from './cloud/cloud.js';
