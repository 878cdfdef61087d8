/** The IO of a real process: stdout/stderr streams, ora spinners and @inquirer/prompts on a terminal. */
import chalk from 'chalk';
import ora from 'ora';
import { guardedPrompts, makeStyle, plainSpinner, type IO, type PromptDriver, type Spinner } from './io.js';

export interface NodeIOStreams {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

const inquirerDriver: PromptDriver = {
  async input(spec) {
    const { input } = await import('@inquirer/prompts');
    return input({
      message: spec.message,
      ...(spec.default === undefined ? {} : { default: spec.default }),
      ...(spec.validate ? { validate: spec.validate } : {}),
    });
  },
  async select(spec) {
    const { select } = await import('@inquirer/prompts');
    return select({
      message: spec.message,
      choices: spec.choices.map((c) => ({ name: c.name, value: c.value, ...(c.description ? { description: c.description } : {}) })),
      ...(spec.default === undefined ? {} : { default: spec.default }),
    });
  },
  async confirm(spec) {
    const { confirm } = await import('@inquirer/prompts');
    return confirm({ message: spec.message, ...(spec.default === undefined ? {} : { default: spec.default }) });
  },
};

/** `colour: false` (NO_COLOR, --no-color) turns colours off even on a terminal, spinners' included. */
export function createNodeIO(streams: NodeIOStreams, options: { colour?: boolean } = {}): IO {
  const isTTY = Boolean(streams.stdin.isTTY && streams.stderr.isTTY);
  const colour = options.colour !== false && Boolean(streams.stderr.isTTY) && chalk.level > 0;
  const style = makeStyle(colour);
  const err = (line: string) => {
    streams.stderr.write(`${line}\n`);
  };
  return {
    out(line) {
      streams.stdout.write(`${line}\n`);
    },
    info: err,
    warn(line) {
      err(style.yellow(`warning: ${line}`));
    },
    error(line) {
      err(style.red(line));
    },
    isTTY,
    style,
    prompt: guardedPrompts(inquirerDriver, isTTY),
    spinner(text): Spinner {
      if (!isTTY) return plainSpinner(err, text);
      const s = ora({ text, stream: streams.stderr, ...(colour ? {} : { color: false as const }) }).start();
      return {
        update(next) {
          s.text = next;
        },
        succeed(done) {
          if (colour) s.succeed(done);
          else s.stopAndPersist({ symbol: '✔', ...(done === undefined ? {} : { text: done }) });
        },
        fail(done) {
          if (colour) s.fail(done);
          else s.stopAndPersist({ symbol: '✖', ...(done === undefined ? {} : { text: done }) });
        },
        stop() {
          s.stop();
        },
      };
    },
  };
}
