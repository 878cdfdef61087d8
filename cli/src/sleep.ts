/** Waits `ms`, or less when `signal` aborts; never rejects. Commands call `sleepFor(ctx)` so tests can pass a fake clock. */
import type { Context } from './context.js';

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export function sleepFor(ctx: Pick<Context, 'sleep' | 'signal'>): (ms: number) => Promise<void> {
  return (ms) => (ctx.sleep ?? sleep)(ms, ctx.signal);
}
