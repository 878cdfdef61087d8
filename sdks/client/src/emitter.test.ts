import { describe, expect, it } from 'vitest';
import { Emitter } from './emitter.js';
import { flush } from './test-fakes.js';

describe('Emitter', () => {
  it('routes a throw and an async listener rejection to onError, and still runs the other listeners', async () => {
    const errors: [string, string][] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const em = new Emitter((e, event) => errors.push([(e as Error).message, event]));
      const seen: number[] = [];
      em.on('x', () => {
        throw new Error('sync bug');
      });
      em.on('x', async () => {
        throw new Error('async bug');
      });
      // biome-ignore lint/suspicious/noThenProperty: a thenable listener is the case under test
      em.on('x', () => ({ then: (_ok: unknown, fail: (e: Error) => void) => fail(new Error('thenable bug')) }));
      em.on('x', (n: number) => seen.push(n));
      expect(() => em.emit('x', 1)).not.toThrow();
      expect(seen).toEqual([1]);
      await flush();
      await flush();
      expect(errors.sort()).toEqual([
        ['async bug', 'x'],
        ['sync bug', 'x'],
        ['thenable bug', 'x'],
      ]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
