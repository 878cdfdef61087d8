/**
 * The container builder check of `river deploy`, before any AWS call: the builder cdk-assets will run
 * (CDK_DOCKER when set, as the CDK documents, else docker, else finch on PATH) must be installed and
 * its daemon must answer `<builder> info` within a few seconds. Otherwise the deploy would fail
 * minutes later, in the middle of asset publishing, with the builder's raw error.
 */
import { UserError } from '../errors.js';

export interface ExecResult {
  /** Absent when the program did not run to an exit (not found, killed). */
  exitCode?: number;
  timedOut: boolean;
  /** The program is not installed (ENOENT). */
  notFound: boolean;
  stderr: string;
}

/** Runs a program to its end without a shell and never throws for a failure (Context.exec). */
export type Exec = (command: string, args: readonly string[], opts: { timeoutMs: number }) => Promise<ExecResult>;

/** `docker info` answers in about a second when the daemon runs; a stopped daemon fails at once or hangs. */
export const BUILDER_INFO_TIMEOUT_MS = 5000;

const START_HINT =
  'start it (Docker Desktop; `sudo systemctl start docker`; `finch vm start`; `podman machine start`), or set "image" in river.config.json to a prebuilt image';

/** The builder for the image asset; throws a UserError (exit 1, one line and a hint) when there is none that answers. */
export async function checkContainerBuilder(deps: {
  env: Readonly<Record<string, string | undefined>>;
  which(command: string): Promise<boolean>;
  exec: Exec;
}): Promise<string> {
  const configured = deps.env.CDK_DOCKER?.trim();
  let builder: string;
  if (configured) builder = configured;
  else if (await deps.which('docker')) builder = 'docker';
  else if (await deps.which('finch')) builder = 'finch';
  else {
    throw new UserError(
      'no container builder: neither docker nor finch is on PATH',
      'install Docker or Finch (or set CDK_DOCKER to another builder, e.g. podman) to build the River image, or set "image" in river.config.json to a prebuilt one',
      {
        code: 'no_container_builder',
      },
    );
  }
  const r = await deps.exec(builder, ['info'], { timeoutMs: BUILDER_INFO_TIMEOUT_MS });
  if (r.notFound) {
    throw new UserError(
      `CDK_DOCKER is "${builder}", which is not installed (not on PATH)`,
      'set CDK_DOCKER to an installed builder (docker, finch, podman), or unset it',
      { code: 'no_container_builder' },
    );
  }
  if (r.timedOut) {
    throw new UserError(`${builder} does not answer: \`${builder} info\` took more than ${BUILDER_INFO_TIMEOUT_MS / 1000} s`, START_HINT, {
      code: 'container_builder_down',
    });
  }
  if (r.exitCode !== 0) {
    const why =
      r.stderr
        .split('\n')
        .map((l) => l.trim())
        .find((l) => l !== '') ?? `exit code ${r.exitCode ?? '?'}`;
    throw new UserError(`${builder} is installed but does not answer (\`${builder} info\`: ${why.slice(0, 200)})`, START_HINT, {
      code: 'container_builder_down',
    });
  }
  return builder;
}

/**
 * Exec over execa (loaded on first use): no shell, stdin and stdout ignored, stderr kept, killed at the
 * timeout. It also returns at the timeout when the program is gone but something it started still holds
 * its stderr open (execa would wait for the stream to end).
 */
export const execProgram: Exec = async (command, args, opts) => {
  const { execa } = await import('execa');
  const child = execa(command, [...args], { timeout: opts.timeoutMs, reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), opts.timeoutMs + 500);
  });
  try {
    const r = await Promise.race([child, late]);
    if (r === 'late') {
      child.kill('SIGKILL');
      child.stderr?.destroy();
      return { timedOut: true, notFound: false, stderr: '' };
    }
    const result: ExecResult = {
      timedOut: r.timedOut,
      notFound: r.code === 'ENOENT',
      stderr: typeof r.stderr === 'string' ? r.stderr : '',
    };
    if (r.exitCode !== undefined) result.exitCode = r.exitCode;
    return result;
  } finally {
    clearTimeout(timer);
  }
};
