/**
 * Control commands for the Redis bus (`/v1/disconnect` reaching every node). Every started node
 * subscribes to the node-wide channel `P:{control}` and to its own reply channel. A sender
 * publishes `{id, reply, cmd}`; PUBLISH (SPUBLISH in cluster mode, where all nodes subscribe on the
 * control slot's shard) answers how many nodes received it, and the sender waits for that many
 * `<id>:<count>` replies, or the timeout, then resolves the sum. A query (`gather`, `{id, reply, q}`)
 * is answered `<id>:<JSON answer>` the same way and resolves the list of answers.
 */
import { randomBytes } from 'node:crypto';
import type { ControlCommand, QueryCommand } from '../bus.js';
import { asUnavailable } from './redis-connection.js';

interface Pending {
  sum: number;
  values: unknown[];
  answers: number;
  expected: number | undefined;
  done: (sum: number) => void;
}

export class RedisControl {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly channel: string,
    private readonly replyChannel: string,
    private readonly publish: (name: string, payload: string) => Promise<number>,
    private readonly timeoutMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  send(cmd: ControlCommand): Promise<number> {
    return this.ask({ cmd }).then((e) => e.sum);
  }

  /** Asks every node; resolves the answers that arrived within the timeout. */
  gather(q: QueryCommand): Promise<unknown[]> {
    return this.ask({ q }).then((e) => e.values);
  }

  private ask(body: { cmd: ControlCommand } | { q: QueryCommand }): Promise<Pending> {
    const id = randomBytes(8).toString('hex');
    return new Promise<Pending>((resolve, reject) => {
      const entry: Pending = {
        sum: 0,
        values: [],
        answers: 0,
        expected: undefined,
        done: () => {
          clearTimeout(timer);
          this.pending.delete(id);
          resolve(entry);
        },
      };
      const timer = setTimeout(() => entry.done(entry.sum), this.timeoutMs);
      this.pending.set(id, entry);
      this.publish(this.channel, JSON.stringify({ id, reply: this.replyChannel, ...body })).then(
        (receivers) => {
          entry.expected = receivers;
          if (entry.answers >= receivers) entry.done(entry.sum);
        },
        (err: unknown) => {
          clearTimeout(timer);
          this.pending.delete(id);
          reject(asUnavailable(err));
        },
      );
    });
  }

  /** A command from any node: run it and answer the sender. */
  onCommand(payload: string, run: (cmd: ControlCommand) => number, answer?: (q: QueryCommand) => unknown): void {
    let parsed: { id: string; reply: string; cmd?: ControlCommand; q?: QueryCommand };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.q !== undefined) {
      const { id, reply, q } = parsed;
      Promise.resolve()
        .then(() => answer?.(q))
        .then(
          (a) => JSON.stringify(a ?? null),
          (err: unknown) => {
            this.onError(err);
            return 'null';
          },
        )
        .then((text) => this.publish(reply, `${id}:${text}`))
        .catch((err: unknown) => this.onError(err));
      return;
    }
    if (parsed.cmd === undefined) return;
    const cmd = parsed.cmd;
    let n = 0;
    try {
      const r = run(cmd);
      n = Number.isFinite(r) ? r : 0;
    } catch (err) {
      this.onError(err);
    }
    this.publish(parsed.reply, `${parsed.id}:${n}`).catch((err: unknown) => this.onError(err));
  }

  /** An answer on this node's reply channel. */
  onReply(payload: string): void {
    // The id is hex: the first ':' ends it (a query's JSON answer may hold more).
    const sep = payload.indexOf(':');
    const entry = this.pending.get(payload.slice(0, sep));
    if (entry === undefined) return;
    const rest = payload.slice(sep + 1);
    if (rest.charCodeAt(0) === 0x7b /* { */ || rest.charCodeAt(0) === 0x5b /* [ */) {
      try {
        entry.values.push(JSON.parse(rest));
      } catch {
        // a garbled answer counts as an answer without a value
      }
    } else entry.sum += Number(rest) || 0;
    entry.answers += 1;
    if (entry.expected !== undefined && entry.answers >= entry.expected) entry.done(entry.sum);
  }

  /** Resolves every pending command with what it has. */
  settleAll(): void {
    for (const entry of [...this.pending.values()]) entry.done(entry.sum);
  }
}
