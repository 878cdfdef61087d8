/**
 * Everything a command may use from the outside world, handed in by main.ts (a real process) or
 * by a test (fakes). Commands read no globals: not process.env, not process.stdout, not the clock.
 */
import type { Logger } from 'pino';
import type { Cloud, Deployer } from './cloud/cloud.js';
import type { Exec } from './cloud/container-builder.js';
import type { IO } from './io.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** The parts of @river/server that `river dev` runs, loaded only when it runs. */
export type ServerModule = Pick<typeof import('@river/server'), 'loadConfig' | 'startRiver' | 'ConfigError'>;

export interface Context {
  io: IO;
  env: Env;
  /** The project directory: .river/ and river.config.json live here. */
  cwd: string;
  /** Aborted when the user asks the process to stop (SIGINT, SIGTERM). Long-running commands end on it. */
  signal: AbortSignal;
  now(): number;
  /** Waits `ms` or until `signal` aborts (never rejects). Absent: a real timer (cli/src/sleep.ts); tests pass a fake clock's. */
  sleep?(ms: number, signal: AbortSignal): Promise<void>;
  /** A logger for an in-process River node (pino on stderr in a process, silent in tests). */
  logger(level: string): Logger;
  server(): Promise<ServerModule>;
  cloud(region: string): Promise<Cloud>;
  deployer(): Promise<Deployer>;
  /** Whether an executable is on PATH (the container builder check). */
  which(command: string): Promise<boolean>;
  /** Runs a program to its end with a timeout (`docker info`: does the container builder answer?). */
  exec: Exec;
  fetch: typeof fetch;
}
