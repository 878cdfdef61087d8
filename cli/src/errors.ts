/**
 * The CLI's error classes and its exit-code table (docs/cli.md#exit-codes).
 * docs/cli.md is checked against EXIT_CODES by errors.test.ts.
 */

export const EXIT_CODES = {
  /** the command did what was asked */
  ok: 0,
  /** a user's mistake: bad flag, bad config, missing credentials, nothing to talk to */
  user: 1,
  /** an unexpected failure (a bug, or a cloud/network failure we cannot explain) */
  failure: 2,
  /** Ctrl+C (SIGINT): 128 + 2, as shells report it, and what npx / npm exec report whatever the program returns */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/**
 * A mistake the user can fix. Printed as one line (`message`) and one `hint:` line, exit 1,
 * never with a stack trace.
 */
export class UserError extends Error {
  readonly code: string;
  readonly hint: string;
  constructor(message: string, hint: string, options?: { code?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.hint = hint;
    this.code = options?.code ?? 'user_error';
  }
}

/** Thrown by commands that stop on purpose with a given exit code after printing their own output. */
export class ExitError extends Error {
  readonly code = 'exit';
  readonly exitCode: ExitCode;
  constructor(exitCode: ExitCode, message = `exit ${exitCode}`) {
    super(message);
    this.name = 'ExitError';
    this.exitCode = exitCode;
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** The first line of an error's message, for one-line reports. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}
