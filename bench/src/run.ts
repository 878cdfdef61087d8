/** Run bookkeeping shared by `npm run bench` and `river bench`: machine facts and the result file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunResult } from './report.js';

export function machine(): RunResult['machine'] {
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    kernel: os.release(),
    loadavg: os.loadavg(),
  };
}

/** Writes the run as JSON into `dir` (created if needed); returns the file path. */
export function writeResult(run: RunResult, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${run.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`);
  return file;
}
