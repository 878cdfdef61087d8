import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat on Linux (CLK_TCK, 100 on every mainstream kernel). */
const CLK_TCK = 100;

export interface ProcSample {
  /** user + system CPU time of the process so far, in ms. */
  cpuMs: number;
  userMs: number;
  systemMs: number;
  /** Resident set size, bytes. */
  rssBytes: number;
}

/** Reads a process's own CPU accounting and RSS from /proc: needs no change in the measured server. */
export function sampleProcess(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15
  const userMs = (Number(fields[11]) * 1000) / CLK_TCK;
  const systemMs = (Number(fields[12]) * 1000) / CLK_TCK;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return { cpuMs: userMs + systemMs, userMs, systemMs, rssBytes: m ? Number(m[1]) * 1024 : NaN };
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
