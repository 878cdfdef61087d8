/**
 * The one I/O interface every command writes and asks through (the toolkit-lib / wrangler habit):
 * data goes to stdout with `out`, everything meant for a human goes to stderr, prompts and
 * spinners degrade when there is no terminal. Commands never touch process.stdout or a prompt
 * library themselves, so tests run them in-process with a recording IO (test-io.ts).
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { UserError } from './errors.js';

export interface Choice<T> {
  name: string;
  value: T;
  description?: string;
}

export interface InputSpec {
  message: string;
  /** The flag that answers this question without a prompt, named in the no-terminal error. */
  flag: string;
  /** Taken without asking when there is no terminal. */
  default?: string;
  /** true, or the sentence saying what is wrong with the answer. */
  validate?: (value: string) => true | string;
}

export interface SelectSpec<T> {
  message: string;
  flag: string;
  choices: readonly Choice<T>[];
  default?: T;
}

export interface ConfirmSpec {
  message: string;
  /** The flag that answers yes without asking (usually --yes). */
  flag: string;
  /** Shown as the default on a terminal. */
  default?: boolean;
  /**
   * Without a terminal, take `default` instead of failing. Leave unset for anything destructive
   * or security-sensitive: then a missing terminal is a UserError naming `flag`.
   */
  safeWithoutTerminal?: boolean;
}

/** Asks on a terminal. The real one wraps @inquirer/prompts; tests script it. */
export interface PromptDriver {
  input(spec: InputSpec): Promise<string>;
  select<T>(spec: SelectSpec<T>): Promise<T>;
  confirm(spec: ConfirmSpec): Promise<boolean>;
}

export interface Prompts extends PromptDriver {}

export interface Spinner {
  /** New progress text (a spinner on a terminal, one plain line per change otherwise). */
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
  stop(): void;
}

export interface IO {
  /** One line of data on stdout (what scripts capture: a token, a JSON line). */
  out(line: string): void;
  /** Human-facing lines, all on stderr. */
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  /** Both stdin and stderr are terminals: prompts and spinners are allowed. */
  readonly isTTY: boolean;
  /** Colours, a no-op without a terminal. */
  readonly style: ChalkInstance;
  readonly prompt: Prompts;
  spinner(text: string): Spinner;
}

/**
 * The no-terminal rule of docs/cli.md#exit-codes on top of a driver: without a terminal a
 * question takes its default where that is safe, else fails with exit 1 naming the flag.
 */
export function guardedPrompts(driver: PromptDriver, isTTY: boolean): Prompts {
  const noTerminal = (message: string, flag: string): UserError =>
    new UserError(`"${message}" needs an answer and there is no terminal to ask`, `pass ${flag}`, {
      code: 'no_terminal',
    });
  return {
    async input(spec) {
      if (isTTY) return driver.input(spec);
      if (spec.default === undefined) throw noTerminal(spec.message, spec.flag);
      return spec.default;
    },
    async select<T>(spec: SelectSpec<T>): Promise<T> {
      if (isTTY) return driver.select(spec);
      if (spec.default === undefined) throw noTerminal(spec.message, spec.flag);
      return spec.default;
    },
    async confirm(spec) {
      if (isTTY) return driver.confirm(spec);
      if (spec.safeWithoutTerminal && spec.default !== undefined) return spec.default;
      throw noTerminal(spec.message, spec.flag);
    },
  };
}

/** A spinner for output that is not a terminal: one plain line per distinct text. */
export function plainSpinner(write: (line: string) => void, text: string): Spinner {
  let last = text;
  write(text);
  return {
    update(next) {
      if (next !== last) write(next);
      last = next;
    },
    succeed(done) {
      if (done !== undefined && done !== last) write(done);
      last = done ?? last;
    },
    fail(done) {
      if (done !== undefined) write(done);
    },
    stop() {},
  };
}

export function makeStyle(colour: boolean): ChalkInstance {
  return new Chalk({ level: colour ? 1 : 0 });
}
