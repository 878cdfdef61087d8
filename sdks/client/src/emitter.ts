type Listener = (...args: never[]) => void;

/**
 * A small event emitter. A listener that throws, or returns a promise that rejects, never breaks the
 * emitter or escapes to the caller (no unhandled rejection): the error goes to `onError`. Adding the same listener twice keeps one (no pile-up).
 */
export class Emitter {
  #listeners = new Map<string, Set<Listener>>();
  constructor(private readonly onError: (error: unknown, event: string) => void) {}

  on(event: string, fn: Listener): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  off(event?: string, fn?: Listener): void {
    if (event === undefined) this.#listeners.clear();
    else if (fn === undefined) this.#listeners.delete(event);
    else this.#listeners.get(event)?.delete(fn);
  }

  has(event: string): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit(event: string, ...args: unknown[]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        const out = (fn as (...a: unknown[]) => unknown)(...args);
        // An async listener's rejection goes the same way as a throw, instead of an unhandled rejection.
        if (out && typeof (out as PromiseLike<unknown>).then === 'function') {
          (out as PromiseLike<unknown>).then(undefined, (error: unknown) => this.onError(error, event));
        }
      } catch (error) {
        this.onError(error, event);
      }
    }
  }
}
