/**
 * The process entry of `river` (bin/river and cli/bin/river.js import this). The only module that
 * reads process.env, process.argv and the real streams; everything else gets a Context.
 */
import { pino } from 'pino';
import type { Context } from './context.js';
import { createNodeIO } from './node-io.js';
import { run } from './program.js';
import { onPath } from './which.js';

const controller = new AbortController();
let signals = 0;
const onSignal = () => {
  signals += 1;
  if (signals > 1) process.exit(130); // a second Ctrl+C does not wait for the drain
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
const ctx: Context = {
  io: createNodeIO({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }),
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

const code = await run(process.argv.slice(2), ctx);
process.exitCode = code;
// Lingering handles (keep-alive sockets, SDK clients) must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
