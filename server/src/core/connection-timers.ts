/**
 * The node-wide tick of the hub (`hub.ts`): one interval timer for every connection, none per
 * socket. Each tick closes the connections past their auth deadline (4001) or their token's `exp`
 * (4002), and runs the heartbeat: rounds on a fixed cadence of `heartbeatMs`, each pinging every open
 * connection once and closing those that did not answer the previous round's ping (4004).
 *
 * The tick runs every tenth of the shorter of `authTimeoutMs` and `heartbeatMs` (5 ms to 1 s), so an
 * unauthenticated connection is closed within authTimeoutMs + tick, and a silent one within about
 * 2 × heartbeatMs + tick of its last frame.
 */
import { CLOSE_CODES } from '@river/protocol';
import type { Config } from '../config.js';
import { OPEN, type Connection } from './connection.js';
import type { Outbox } from './outbox.js';
import { PING_FRAME, textFrame } from './frames.js';

const PING = textFrame(PING_FRAME);
/** Longest window a heartbeat round's pings are spread over. */
const HEARTBEAT_SPREAD_MS = 10_000;

export class ConnectionTimers {
  /** Connections not yet authenticated, with their auth deadline (ms; kept here, not on every connection). */
  private readonly unauthenticated = new Map<Connection, number>();
  private readonly expiring = new Set<Connection>();
  private timer: NodeJS.Timeout | undefined;
  private tickMs = 1000;
  private nextPingAt: number;
  /** The heartbeat round in progress (its pings are spread over part of the heartbeat). */
  private pingRound: { iter: Iterator<Connection>; size: number; start: number; done: number } | null = null;

  /**
   * `sockets`: the hub's connections whose socket is open (a round pings those present when it
   * starts). `onRound` runs at the start of every heartbeat round (the presence tracker's touch).
   */
  constructor(
    private readonly config: Pick<Config, 'authTimeoutMs' | 'heartbeatMs'>,
    private readonly now: () => number,
    private readonly sockets: ReadonlySet<Connection>,
    private readonly outbox: Outbox,
    private readonly onRound: () => void,
  ) {
    this.nextPingAt = now() + config.heartbeatMs;
  }

  start(): void {
    const { authTimeoutMs, heartbeatMs } = this.config;
    // A tenth of the shorter interval (at most 1 s): a silent connection is closed within about
    // 2 × heartbeatMs + tickMs of its last frame, an unauthenticated one within authTimeoutMs + tickMs.
    const tickMs = Math.max(5, Math.min(1000, Math.floor(Math.min(authTimeoutMs, heartbeatMs) / 10)));
    this.tickMs = tickMs;
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A new connection: it must authenticate within `authTimeoutMs`. */
  accepted(conn: Connection): void {
    this.unauthenticated.set(conn, this.now() + this.config.authTimeoutMs);
  }

  /** Authenticated (or refreshed): no auth deadline; closed at its token's `exp` if it has one. */
  authenticated(conn: Connection): void {
    this.unauthenticated.delete(conn);
    if (conn.exp > 0) this.expiring.add(conn);
    else this.expiring.delete(conn);
  }

  released(conn: Connection): void {
    this.unauthenticated.delete(conn);
    this.expiring.delete(conn);
  }

  private tick(): void {
    const now = this.now();
    for (const [conn, deadline] of this.unauthenticated) {
      if (now >= deadline) conn.close(CLOSE_CODES.auth_timeout, 'auth_timeout');
    }
    for (const conn of this.expiring) {
      if (conn.exp * 1000 <= now) conn.close(CLOSE_CODES.token_expired, 'token_expired');
    }
    if (now >= this.nextPingAt) {
      // Rounds on a fixed cadence (a late tick does not push every later round back), unless the
      // process stalled for a whole interval.
      this.nextPingAt += this.config.heartbeatMs;
      if (this.nextPingAt <= now) this.nextPingAt = now + this.config.heartbeatMs;
      this.pingRound = { iter: this.sockets.values(), size: this.sockets.size, start: now, done: 0 };
      this.onRound();
    }
    if (this.pingRound !== null) this.heartbeat(now);
  }

  /**
   * Pings the connections of the current round, spread over the first half of the heartbeat (at
   * most HEARTBEAT_SPREAD_MS): 20k pings and 20k pongs at once stall every fanout for half a second.
   * A connection is checked one round (heartbeatMs) after its ping, give or take the spread, so it
   * always has at least half a heartbeat to answer. Few connections are all pinged at the round's start.
   */
  private heartbeat(now: number): void {
    const round = this.pingRound!;
    const spread = Math.min(this.config.heartbeatMs / 2, HEARTBEAT_SPREAD_MS);
    const due = Math.ceil((round.size * (now - round.start + this.tickMs)) / spread);
    while (round.done < due) {
      const next = round.iter.next();
      if (next.done === true) {
        this.pingRound = null;
        return;
      }
      round.done++;
      const conn = next.value;
      if (conn.state !== OPEN) continue;
      if (!conn.alive) {
        conn.close(CLOSE_CODES.heartbeat_timeout, 'heartbeat_timeout');
        continue;
      }
      conn.alive = false;
      this.outbox.push(conn, PING);
    }
  }
}
