/**
 * The process entry of `river` (bin/river and cli/bin/river.js import this). The only module that
 * reads process.env, process.argv and the real streams; everything else gets a Context.
 */
import { pino } from 'pino';
import type { Context } from './context.js';
import { EXIT_CODES } from './errors.js';
import { createNodeIO } from './node-io.js';
import { run } from './program.js';
import { onPath } from './which.js';

const controller = new AbortController();
let signals = 0;
let firstSignal: NodeJS.Signals | undefined;
const onSignal = (signal: NodeJS.Signals) => {
  signals += 1;
  firstSignal ??= signal;
  if (signals > 1) process.exit(EXIT_CODES.interrupted); // a second Ctrl+C does not wait for the drain
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// `river listen | head -1`: a closed stdout is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});

// The AWS SDK's multi-line "Node 20 support ends in 2027" warning would bury the one-line errors
// of section 8; docs/cli.md says the same thing once.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const env = process.env;
const argv = process.argv.slice(2);
// https://no-color.org: NO_COLOR set and not empty, or --no-color anywhere on the line.
const colour = !env.NO_COLOR && !argv.includes('--no-color');
if (!colour) env.NO_COLOR ||= '1'; // for the prompts (loaded later) and child processes too
const ctx: Context = {
  io: createNodeIO({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }, { colour }),
  env,
  cwd: process.cwd(),
  signal: controller.signal,
  now: () => Date.now(),
  logger: (level) => pino({ level, base: { service: 'river' } }, pino.destination(2)),
  server: () => import('@river/server'),
  cloud: async (region) => {
    const { AwsCloud } = await import('./cloud/aws.js');
    return new AwsCloud({ region, customEndpoint: Boolean(env.AWS_ENDPOINT_URL || env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS) });
  },
  deployer: async () => {
    const { ToolkitDeployer } = await import('./cloud/deployer.js');
    return new ToolkitDeployer();
  },
  which: (command) => onPath(command, env.PATH),
  exec: async (command, args, opts) => (await import('./cloud/container-builder.js')).execProgram(command, args, opts),
  fetch: globalThis.fetch,
};

// Ctrl+C ends every command with 130, after `dev` and `listen` have shut down cleanly: under npx
// (npm exec) the exit status is 130 whatever this process returns, so `node bin/river` says the same.
// SIGTERM keeps the command's own code (0 after a clean shutdown of dev or listen).
const returned = await run(argv, ctx);
const code = firstSignal === 'SIGINT' ? EXIT_CODES.interrupted : returned;
process.exitCode = code;
// Lingering handles (keep-alive sockets, SDK clients) must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
