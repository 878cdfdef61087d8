/** A recording IO for in-process command tests. Not part of the build. */
import { guardedPrompts, makeStyle, plainSpinner, type ConfirmSpec, type InputSpec, type IO, type SelectSpec } from './io.js';

export interface FakeIOOptions {
  isTTY?: boolean;
  /** Scripted answers keyed by the question's flag (e.g. '--region'); asked questions are recorded. */
  answers?: Record<string, string | boolean | number>;
}

export interface FakeIO extends IO {
  /** stdout lines */
  readonly stdout: string[];
  /** stderr lines (info, warn, error, spinner lines), in order */
  readonly stderr: string[];
  /** flags of the questions asked on the (fake) terminal, in order */
  readonly asked: string[];
  readonly stdoutText: () => string;
  readonly stderrText: () => string;
}

export function fakeIO(options: FakeIOOptions = {}): FakeIO {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const asked: string[] = [];
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
