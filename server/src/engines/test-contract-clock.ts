/**
 * Time and naming helpers of the engine contract suites (`bus.contract.ts`, `presence.contract.ts`):
 * the same test code runs on vitest fake timers (memory engines) and on the real clock (Redis).
 */
import { vi } from 'vitest';

const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const;

/** Time helpers shared by the contract suites: the same test code runs on fake and real clocks. */
export class ContractClock {
  constructor(
    readonly fake: boolean,
    readonly timeoutMs: number,
  ) {}

  install(): void {
    if (this.fake) vi.useFakeTimers({ toFake: [...FAKED] });
  }

  uninstall(): void {
    if (this.fake) vi.useRealTimers();
  }

  /** Lets `ms` of time pass (fake: instantly, firing the engine's timers). */
  async advance(ms: number): Promise<void> {
    if (this.fake) await vi.advanceTimersByTimeAsync(ms);
    else await new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** Retries `check` until it passes or `bound` ms of clock time have passed, then rethrows its error. */
  async eventually<T>(check: () => T | Promise<T>, bound = this.timeoutMs, step = 25): Promise<T> {
    let waited = 0;
    for (;;) {
      try {
        return await check();
      } catch (err) {
        if (waited >= bound) throw err;
      }
      await this.advance(step);
      waited += step;
    }
  }
}

let seq = 0;
/** A channel name unique to this run, so engines on a shared backend never see stale state. */
export function uniqueChannel(prefix = 'c'): string {
  seq += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq}`;
}
