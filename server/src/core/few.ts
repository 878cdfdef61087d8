/**
 * A small collection kept as lean as its contents: `null` when empty, the member itself while there
 * is one, a `Set` from the second member on (and the lone member again when it shrinks back to one).
 *
 * For per-connection and per-channel state that usually holds one entry (a connection's
 * subscriptions, a channel's local subscribers, the nodes subscribed to a channel): a JavaScript
 * `Set` costs ~150 bytes even with one member, which is a lot per idle connection × 20,000.
 * Members must not themselves be `Set`s. Functions return the new value; the caller stores it.
 */
export type Few<T> = T | Set<T> | null;

export function fewSize<T>(f: Few<T>): number {
  return f === null ? 0 : f instanceof Set ? f.size : 1;
}

export function fewHas<T>(f: Few<T>, x: T): boolean {
  return f === null ? false : f instanceof Set ? f.has(x) : f === x;
}

export function fewAdd<T>(f: Few<T>, x: T): Few<T> {
  if (f === null) return x;
  if (f instanceof Set) return f.add(x);
  return f === x ? f : new Set([f, x]);
}

export function fewDelete<T>(f: Few<T>, x: T): Few<T> {
  if (f === null) return null;
  if (!(f instanceof Set)) return f === x ? null : f;
  f.delete(x);
  if (f.size > 1) return f;
  const rest = f.values().next();
  return rest.done === true ? null : rest.value;
}

/** The members, for iteration (a copy: the collection may change meanwhile). */
export function fewList<T>(f: Few<T>): T[] {
  return f === null ? [] : f instanceof Set ? [...f] : [f];
}
