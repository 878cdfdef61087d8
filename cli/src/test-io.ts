/** A recording IO for in-process command tests. Not part of the build. */
import { guardedPrompts, makeStyle, plainSpinner, type ConfirmSpec, type InputSpec, type IO, type SelectSpec } from './io.js';

export interface FakeIOOptions {
  isTTY?: boolean;
  /**
   * Scripted answers keyed by the question's flag (e.g. '--region'); asked questions are recorded. A list
   * is typed in turn, like a user retrying: each answer the prompt's validation refuses goes to `rejected`.
   */
  answers?: Record<string, string | boolean | number | string[]>;
}

export interface FakeIO extends IO {
  /** stdout lines */
  readonly stdout: string[];
  /** stderr lines (info, warn, error, spinner lines), in order */
  readonly stderr: string[];
  /** flags of the questions asked on the (fake) terminal, in order */
  readonly asked: string[];
  /** the text of each question asked, by flag */
  readonly messages: Record<string, string>;
  /** answers a prompt's validation refused, with what it said */
  readonly rejected: Array<{ flag: string; value: string; verdict: string }>;
  readonly stdoutText: () => string;
  readonly stderrText: () => string;
}

export function fakeIO(options: FakeIOOptions = {}): FakeIO {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const asked: string[] = [];
  const rejected: Array<{ flag: string; value: string; verdict: string }> = [];
  const messages: Record<string, string> = {};
  const isTTY = options.isTTY ?? false;
  const answers = options.answers ?? {};
  const answer = (spec: InputSpec | SelectSpec<unknown> | ConfirmSpec): unknown => {
    asked.push(spec.flag);
    if (spec.flag in answers) return answers[spec.flag];
    if (spec.default !== undefined) return spec.default;
    throw new Error(`test-io: no scripted answer for ${spec.flag} ("${spec.message}")`);
  };
  const driver = {
    async input(spec: InputSpec) {
      messages[spec.flag] = spec.message;
      const scripted = answers[spec.flag];
      if (Array.isArray(scripted)) {
        asked.push(spec.flag);
        for (const value of scripted) {
          const verdict = spec.validate?.(value) ?? true;
          if (verdict === true) return value;
          rejected.push({ flag: spec.flag, value, verdict });
        }
        throw new Error(`test-io: no scripted answer for ${spec.flag} passes its validation`);
      }
      const value = String(answer(spec));
      const verdict = spec.validate?.(value) ?? true;
      if (verdict !== true) throw new Error(`test-io: scripted answer for ${spec.flag} is invalid: ${verdict}`);
      return value;
    },
    async select<T>(spec: SelectSpec<T>) {
      const value = answer(spec);
      const choice = spec.choices.find((c) => c.value === value || String(c.value) === String(value));
      if (!choice) throw new Error(`test-io: ${String(value)} is not a choice for ${spec.flag}`);
      return choice.value;
    },
    async confirm(spec: ConfirmSpec) {
      return Boolean(answer(spec));
    },
  };
  const err = (line: string) => {
    stderr.push(line);
  };
  return {
    stdout,
    stderr,
    asked,
    rejected,
    messages,
    stdoutText: () => stdout.join('\n'),
    stderrText: () => stderr.join('\n'),
    out: (line) => {
      stdout.push(line);
    },
    info: err,
    warn: (line) => err(`warning: ${line}`),
    error: err,
    isTTY,
    style: makeStyle(false),
    prompt: guardedPrompts(driver, isTTY),
    spinner: (text) => plainSpinner(err, text),
  };
}
