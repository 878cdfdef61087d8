/**
 * The `river` command: a thin commander host over the command modules. `run` never exits the
 * process; it returns the exit code (docs/cli.md#exit-codes), so tests run it in-process.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { Context } from './context.js';
import { EXIT_CODES, ExitError, UserError, type ExitCode } from './errors.js';
import type { IO } from './io.js';
import { registerDev } from './commands/dev.js';
import { registerToken } from './commands/token.js';
import { registerPublish } from './commands/publish.js';
import { registerListen } from './commands/listen.js';
import { registerEnv } from './commands/env.js';
import { registerBench } from './commands/bench.js';
import { registerCloudCommands } from './commands/cloud-commands.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(ctx: Context): Command {
  const program = new Command('river');
  program
    .description('River: real-time channels for web apps. Run a node locally, mint tokens, publish, listen, deploy to AWS.')
    .version(version(), '-V, --version', 'print the version')
    .option('--verbose', 'print stack traces and debug logs')
    .option('--no-color', 'no colours, even on a terminal (also NO_COLOR=1)')
    .configureOutput({
      writeOut: (s) => ctx.io.out(s.replace(/\n$/, '')),
      writeErr: (s) => ctx.io.info(s.replace(/\n$/, '')),
      outputError: () => {
        // printed by report() as one error line and one hint line
      },
    })
    .exitOverride()
    .showSuggestionAfterError(true)
    .helpCommand(false)
    .addHelpText(
      'after',
      '\nExit codes: 0 success, 1 a mistake you can fix (the hint says how), 2 an unexpected failure (rerun with --verbose), 130 interrupted (Ctrl+C).',
    );
  registerDev(program, ctx);
  registerToken(program, ctx);
  registerPublish(program, ctx);
  registerListen(program, ctx);
  registerEnv(program, ctx);
  registerBench(program, ctx);
  registerCloudCommands(program, ctx);
  return program;
}

/** Runs `river ARGV…` (argv without `node` and the script) and returns the exit code. */
export async function run(argv: readonly string[], ctx: Context): Promise<ExitCode> {
  const program = buildProgram(ctx);
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (err) {
    if (ctx.signal.aborted && err instanceof Error && err.name === 'AbortError') {
      ctx.io.error('error: interrupted');
      ctx.io.info('hint: run the command again to finish what it was doing');
      return EXIT_CODES.user;
    }
    return report(err, ctx.io, verbose, program, argv);
  }
}

function report(err: unknown, io: IO, verbose: boolean, program: Command, argv: readonly string[]): ExitCode {
  if (err instanceof ExitError) return err.exitCode;
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_CODES.ok;
    if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') {
      return err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.user;
    }
    const [first = err.message, ...rest] = err.message.split('\n').filter((l) => l.trim() !== '');
    const suggestion = rest.find((l) => l.startsWith('(Did you mean'));
    const sub = argv.find((a) => program.commands.some((c) => c.name() === a));
    const help = sub ? `river ${sub} --help` : 'river --help';
    io.error(first.startsWith('error:') ? first : `error: ${first}`);
    io.info(`hint: ${suggestion ? `${suggestion.slice(1, -1).replace(/^Did/, 'did')} See \`${help}\`` : `see \`${help}\``}`);
    return EXIT_CODES.user;
  }
  if (err instanceof Error && err.name === 'ExitPromptError') {
    io.error('error: cancelled');
    io.info('hint: run the command again, or answer with flags (see --help)');
    return EXIT_CODES.user;
  }
  if (err instanceof UserError) {
    io.error(`error: ${err.message}`);
    io.info(`hint: ${err.hint}`);
    if (verbose && err.cause !== undefined) io.info(stackOf(err.cause));
    return EXIT_CODES.user;
  }
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  io.error(`error: unexpected failure: ${message}`);
  if (verbose) io.info(stackOf(err));
  else io.info('hint: run again with --verbose for the stack trace, and report it if it persists');
  return EXIT_CODES.failure;
}

function stackOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let text = err.stack ?? String(err);
  if (err.cause !== undefined) text += `\ncaused by: ${stackOf(err.cause)}`;
  return text;
}
