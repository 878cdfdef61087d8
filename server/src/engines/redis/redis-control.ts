/**
 * Control commands for the Redis bus (`/v1/disconnect` reaching every node). Every started node
 * subscribes to the node-wide channel `P:{control}` and to its own reply channel. A sender
 * publishes `{id, reply, cmd}`; PUBLISH (SPUBLISH in cluster mode, where all nodes subscribe on the
 * control slot's shard) answers how many nodes received it, and the sender waits for that many
 * `<id>:<count>` replies, or the timeout, then resolves the sum.
 */
import { randomBytes } from 'node:crypto';
import type { ControlCommand } from '../bus.js';
import { asUnavailable } from './redis-connection.js';

interface Pending {
  sum: number;
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
    const id = randomBytes(8).toString('hex');
    return new Promise<number>((resolve, reject) => {
      const entry: Pending = {
        sum: 0,
        answers: 0,
        expected: undefined,
        done: (sum) => {
          clearTimeout(timer);
          this.pending.delete(id);
          resolve(sum);
        },
      };
      const timer = setTimeout(() => entry.done(entry.sum), this.timeoutMs);
      this.pending.set(id, entry);
      this.publish(this.channel, JSON.stringify({ id, reply: this.replyChannel, cmd })).then(
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
  onCommand(payload: string, run: (cmd: ControlCommand) => number): void {
    let parsed: { id: string; reply: string; cmd: ControlCommand };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      return;
    }
    let n = 0;
    try {
      const r = run(parsed.cmd);
      n = Number.isFinite(r) ? r : 0;
    } catch (err) {
      this.onError(err);
    }
    this.publish(parsed.reply, `${parsed.id}:${n}`).catch((err: unknown) => this.onError(err));
  }

  /** An answer on this node's reply channel. */
  onReply(payload: string): void {
    const sep = payload.lastIndexOf(':');
    const entry = this.pending.get(payload.slice(0, sep));
    if (entry === undefined) return;
    entry.sum += Number(payload.slice(sep + 1)) || 0;
    entry.answers += 1;
    if (entry.expected !== undefined && entry.answers >= entry.expected) entry.done(entry.sum);
  }

  /** Resolves every pending command with what it has. */
  settleAll(): void {
    for (const entry of [...this.pending.values()]) entry.done(entry.sum);
  }
}
