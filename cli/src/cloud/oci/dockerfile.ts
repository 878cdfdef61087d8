/**
 * The restricted Dockerfile River's image context uses (no RUN), parsed into what the daemonless
 * assembler needs: ARG (with defaults, overridden by build args), FROM, ENV, WORKDIR, one COPY of a
 * context directory, USER, EXPOSE, STOPSIGNAL, HEALTHCHECK and CMD. Any other instruction is an
 * error naming it and its line: such a Dockerfile needs a real builder (`--builder docker`).
 */

export class DockerfileError extends Error {
  readonly code = 'dockerfile_unsupported';
  constructor(message: string) {
    super(message);
    this.name = 'DockerfileError';
  }
}

export interface Healthcheck {
  /** ["CMD", ...exec form] or ["CMD-SHELL", "cmd"], as in an image config's Healthcheck.Test. */
  test: string[];
  /** Nanoseconds, as in the image config. Absent: the runtime's default. */
  intervalNs?: number;
  timeoutNs?: number;
  startPeriodNs?: number;
  startIntervalNs?: number;
  retries?: number;
}

export interface ImageSpec {
  /** The FROM reference after ARG substitution. */
  base: string;
  /** ENV in order; a later key replaces an earlier one. */
  env: Array<[string, string]>;
  workdir?: string;
  /** The one COPY: a directory of the context (relative, no `..`) and where it goes in the image. */
  copy: { src: string; dest: string };
  user?: string;
  /** "4400/tcp" form. */
  exposedPorts: string[];
  stopSignal?: string;
  healthcheck?: Healthcheck;
  cmd?: string[];
  /** One line per instruction, for the image config's history. */
  history: string[];
}

interface Line {
  n: number;
  instruction: string;
  args: string;
}

/** Joins continuation lines (a trailing backslash) and drops comments and blank lines. */
function logicalLines(text: string): Line[] {
  const out: Line[] = [];
  const raw = text.split(/\r?\n/);
  let buf = '';
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const line = raw[i]!;
    const trimmed = line.trim();
    if (buf === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (buf !== '' && trimmed.startsWith('#')) continue; // comment lines inside a continuation
    if (buf === '') start = i + 1;
    if (trimmed.endsWith('\\')) {
      buf += `${trimmed.slice(0, -1)} `;
      continue;
    }
    buf += trimmed;
    const m = /^(\S+)\s*(.*)$/s.exec(buf.trim());
    if (m) out.push({ n: start, instruction: m[1]!.toUpperCase(), args: m[2]!.trim() });
    buf = '';
  }
  if (buf.trim() !== '') throw new DockerfileError(`Dockerfile line ${start}: the file ends inside a continued line`);
  return out;
}

function substitute(value: string, args: Map<string, string>, n: number): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_m, braced: string | undefined, dflt: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      const v = args.get(name);
      if (v !== undefined && v !== '') return v;
      if (dflt !== undefined) return dflt;
      throw new DockerfileError(
        `Dockerfile line ${n}: $${name} has no value (declare it with ARG ${name}=... or pass it as a build argument)`,
      );
    },
  );
}

function execForm(args: string, n: number, what: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw new DockerfileError(`Dockerfile line ${n}: ${what} is not valid JSON exec form: ${args.slice(0, 80)}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((p) => typeof p === 'string')) {
    throw new DockerfileError(`Dockerfile line ${n}: ${what} must be a non-empty JSON array of strings`);
  }
  return parsed as string[];
}

/** Go duration strings as Docker accepts them (`15s`, `1m30s`, `500ms`) in nanoseconds. */
export function parseDuration(text: string, n: number): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (text === '' || pos !== text.length) throw new DockerfileError(`Dockerfile line ${n}: "${text}" is not a duration (e.g. 15s, 1m30s)`);
  return Math.round(total);
}

/** ENV K=V [K2="v 2" ...] or the legacy ENV K V. */
function parseEnv(args: string, n: number, vars: Map<string, string>): Array<[string, string]> {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*=/.test(args)) {
    const m = /^(\S+)\s+(.*)$/s.exec(args);
    if (!m) throw new DockerfileError(`Dockerfile line ${n}: ENV needs KEY=VALUE`);
    return [[m[1]!, substitute(m[2]!, vars, n)]];
  }
  const out: Array<[string, string]> = [];
  const re = /\s*([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/y;
  let pos = 0;
  while (pos < args.length) {
    re.lastIndex = pos;
    const m = re.exec(args);
    if (!m) throw new DockerfileError(`Dockerfile line ${n}: cannot read ENV ${args.slice(pos).trim().slice(0, 40)}`);
    let v = m[2]!;
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (v.startsWith("'")) v = v.slice(1, -1);
    out.push([m[1]!, substitute(v, vars, n)]);
    pos = re.lastIndex;
    while (args[pos] === ' ' || args[pos] === '\t') pos++;
  }
  return out;
}

function parseHealthcheck(args: string, n: number): Healthcheck | undefined {
  let rest = args;
  const hc: Omit<Healthcheck, 'test'> = {};
  for (let m = /^--([a-z-]+)=(\S+)\s*/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s*/.exec(rest)) {
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'interval') hc.intervalNs = parseDuration(value, n);
    else if (key === 'timeout') hc.timeoutNs = parseDuration(value, n);
    else if (key === 'start-period') hc.startPeriodNs = parseDuration(value, n);
    else if (key === 'start-interval') hc.startIntervalNs = parseDuration(value, n);
    else if (key === 'retries') hc.retries = Number(value);
    else throw new DockerfileError(`Dockerfile line ${n}: HEALTHCHECK option --${key} is not supported`);
    rest = rest.slice(m[0].length);
  }
  if (/^NONE$/i.test(rest)) return undefined;
  const cm = /^CMD\s+(.*)$/is.exec(rest);
  if (!cm) throw new DockerfileError(`Dockerfile line ${n}: HEALTHCHECK needs CMD (or NONE)`);
  const exec = execForm(cm[1]!.trim(), n, 'HEALTHCHECK CMD');
  return { test: exec ? ['CMD', ...exec] : ['CMD-SHELL', cm[1]!.trim()], ...hc };
}

/** Parses the Dockerfile text; `buildArgs` override ARG defaults (BASE_IMAGE). */
export function parseDockerfile(text: string, buildArgs: Readonly<Record<string, string>> = {}): ImageSpec {
  const vars = new Map<string, string>();
  let base: string | undefined;
  const spec: Omit<ImageSpec, 'base' | 'copy'> & { copy?: ImageSpec['copy'] } = { env: [], exposedPorts: [], history: [] };
  for (const { n, instruction, args } of logicalLines(text)) {
    if (instruction !== 'ARG' && instruction !== 'FROM' && base === undefined) {
      throw new DockerfileError(`Dockerfile line ${n}: ${instruction} before FROM`);
    }
    switch (instruction) {
      case 'ARG': {
        const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(args);
        if (!m) throw new DockerfileError(`Dockerfile line ${n}: ARG needs NAME or NAME=default`);
        const name = m[1]!;
        let dflt = m[2];
        if (dflt !== undefined && /^(["']).*\1$/.test(dflt)) dflt = dflt.slice(1, -1);
        const value = buildArgs[name] ?? dflt;
        if (value !== undefined) vars.set(name, value);
        break;
      }
      case 'FROM': {
        if (base !== undefined) throw new DockerfileError(`Dockerfile line ${n}: a second FROM (multi-stage builds need --builder docker)`);
        const parts = args.split(/\s+/);
        if (parts.some((p) => p.startsWith('--')) || parts.length > 1) {
          throw new DockerfileError(`Dockerfile line ${n}: FROM with options or a stage name is not supported: FROM ${args}`);
        }
        base = substitute(parts[0]!, vars, n);
        break;
      }
      case 'ENV':
        for (const [k, v] of parseEnv(args, n, vars)) {
          spec.env = spec.env.filter(([key]) => key !== k);
          spec.env.push([k, v]);
          vars.set(k, v);
        }
        break;
      case 'WORKDIR':
        spec.workdir = substitute(args, vars, n);
        if (!spec.workdir.startsWith('/')) throw new DockerfileError(`Dockerfile line ${n}: WORKDIR must be an absolute path`);
        break;
      case 'COPY': {
        if (spec.copy) throw new DockerfileError(`Dockerfile line ${n}: a second COPY (one COPY of the app directory is supported)`);
        const parts = (execForm(args, n, 'COPY') ?? args.split(/\s+/)).map((p) => substitute(p, vars, n));
        if (parts.some((p) => p.startsWith('--')))
          throw new DockerfileError(`Dockerfile line ${n}: COPY options are not supported: COPY ${args}`);
        if (parts.length !== 2) throw new DockerfileError(`Dockerfile line ${n}: COPY needs one source directory and one destination`);
        const src = parts[0]!.replace(/^\.\//, '').replace(/\/+$/, '');
        const dest = parts[1]!;
        if (src === '' || src === '.' || src.startsWith('/') || src.split('/').includes('..') || /[*?[]/.test(src)) {
          throw new DockerfileError(`Dockerfile line ${n}: COPY source must be a directory inside the context, got "${parts[0]}"`);
        }
        if (!dest.startsWith('/')) throw new DockerfileError(`Dockerfile line ${n}: COPY destination must be absolute, got "${dest}"`);
        spec.copy = { src, dest: dest.replace(/\/+$/, '') || '/' };
        break;
      }
      case 'USER':
        spec.user = substitute(args, vars, n);
        break;
      case 'EXPOSE':
        for (const p of args.split(/\s+/)) {
          const port = substitute(p, vars, n);
          if (!/^\d+(\/(tcp|udp|sctp))?$/.test(port)) throw new DockerfileError(`Dockerfile line ${n}: EXPOSE ${port} is not a port`);
          spec.exposedPorts.push(port.includes('/') ? port : `${port}/tcp`);
        }
        break;
      case 'STOPSIGNAL':
        spec.stopSignal = substitute(args, vars, n);
        break;
      case 'HEALTHCHECK': {
        const hc = parseHealthcheck(args, n);
        if (hc) spec.healthcheck = hc;
        else delete spec.healthcheck;
        break;
      }
      case 'CMD':
        spec.cmd = execForm(args, n, 'CMD') ?? ['/bin/sh', '-c', args];
        break;
      default:
        throw new DockerfileError(
          `Dockerfile line ${n}: ${instruction} is not supported without a container builder (supported: ARG FROM ENV WORKDIR COPY USER EXPOSE STOPSIGNAL HEALTHCHECK CMD)`,
        );
    }
    if (instruction !== 'ARG' && instruction !== 'FROM') spec.history.push(`${instruction} ${args}`);
  }
  if (base === undefined) throw new DockerfileError('Dockerfile has no FROM');
  if (!spec.copy) throw new DockerfileError('Dockerfile has no COPY: nothing to put in the image');
  return { ...spec, base, copy: spec.copy };
}
