// Test doubles for the client: a manual clock and an in-memory WebSocket whose server side the test drives.
import type { RiverError } from './errors.js';
import type { Clock, RiverOptions, StateChange } from './options.js';
import { River } from './river.js';

export class FakeClock implements Clock {
  #now = 1_800_000_000_000;
  #timers: { id: number; at: number; fn: () => void }[] = [];
  #next = 1;

  now(): number {
    return this.#now;
  }
  /** Like browsers and Node: a delay above 2^31-1 ms (~24.8 days) overflows and fires after 1 ms. */
  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++;
    const delay = ms > 2 ** 31 - 1 ? 1 : Math.max(0, ms);
    this.#timers.push({ id, at: this.#now + delay, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }
  /** Pending timer delays from now, sorted. */
  pending(): number[] {
    return this.#timers.map((t) => t.at - this.#now).sort((a, b) => a - b);
  }
  /** Moves time forward by `ms`, running due timers in order and letting promises settle between them. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flush();
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
      await flush();
    }
    this.#now = target;
  }
}

export const flush = () => new Promise<void>((r) => setImmediate(r));

export class FakeSocket {
  static all: FakeSocket[] = [];
  static last(): FakeSocket {
    return FakeSocket.all[FakeSocket.all.length - 1]!;
  }
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  sent: Record<string, unknown>[] = [];
  closedWith: number | undefined;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code?: number): void {
    this.closedWith = code ?? 1005;
  }
  // ---- the server side ----
  open(): void {
    this.onopen?.();
  }
  receive(frame: object): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code: number): void {
    this.onclose?.({ code });
  }
  /** Opens and answers auth with ready. */
  accept(heartbeatMs = 25_000, userId = 'u1'): void {
    this.open();
    this.receive({ type: 'ready', connectionId: `c${FakeSocket.all.length}`, userId, heartbeatMs });
  }
  ofType(type: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f.type === type);
  }
}

/** An unsigned JWT-shaped token with the given claims (the client never verifies). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}.sig`;
}

/** A River over FakeSocket and `clock` (jitter fixed at the middle, no network events), recording its state changes and error events. */
export function fakeRiver(clock: FakeClock, extra: Partial<RiverOptions> = {}) {
  const river = new River({
    url: 'ws://river.test/v1/ws',
    token: 'tok',
    WebSocket: FakeSocket,
    clock,
    random: () => 0.5,
    network: null,
    ...extra,
  });
  const states: StateChange[] = [];
  const errors: RiverError[] = [];
  river.on('state', (s) => states.push(s));
  river.on('error', (e) => errors.push(e as RiverError));
  return { river, states, errors };
}
