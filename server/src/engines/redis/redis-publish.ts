/**
 * Publish batching of the Redis bus. The publishes of one event-loop turn go to Redis as one call
 * of the publish script (`redis-scripts.ts`) instead of one each: on one Redis all of them (any
 * channels), in Redis Cluster those of one channel (one slot). Each publish keeps its own offset,
 * idempotency check, history entry and live envelope, exactly as if it had been sent alone, and the
 * script handles them in call order, so one node's publishes reach Redis (and subscribers) in the
 * order they were made, across channels too. An error of one message (a reply error for its
 * channel's keys) fails that publish only; a failed call (connection lost, timeout) fails the
 * publishes it carried.
 *
 * The batch is sent at `setImmediate`: publishes made while the loop handles one batch of I/O (an
 * HTTP `/v1/batch`, the requests of one poll, the publishes resumed by one Redis reply) share a
 * call. `flush()` sends what is queued now; the bus calls it before its other commands so they
 * never overtake a publish made before them. In cluster mode, where a call carries one channel,
 * a channel has at most one call in flight: its later publishes wait for that call's answer and
 * then go together, so batches grow with load (its commands may then overtake a publish still
 * waiting: order across channels is not kept in cluster mode, where shards deliver independently
 * anyway; order within a channel is).
 */
import { ReplyError } from 'ioredis';
import type { PublishResult } from '../bus.js';
import type { RedisKeys } from './redis-keys.js';
import type { RedisClient } from './redis-connection.js';
import { newEpoch, runPublishScript } from './redis-scripts.js';

/** One publish, serialized: what the script needs, and its caller's promise. */
export interface QueuedPublish {
  channel: string;
  head: string;
  tail: string;
  envTail: string;
  idempotencyKey: string | undefined;
  resolve(r: PublishResult): void;
  reject(err: unknown): void;
}

export interface PublishBatcherOptions {
  client: RedisClient;
  keys: RedisKeys;
  /** Cluster mode: batches hold one channel each and use SPUBLISH. */
  cluster: boolean;
  historySize: number;
  historyTtlSeconds: number;
  idempotencyWindowMs: number;
  /** Whether commands may be sent now; when not, queued publishes fail with `unavailable()`. */
  ready: () => boolean;
  unavailable: () => Error;
  /** Maps a failed call to the error its publishes reject with. */
  asError: (err: unknown) => Error;
  /** Most messages per script call (a larger batch is split, in order). Default 256. */
  maxBatch?: number;
  /**
   * Most text per script call (UTF-16 units of the frames, roughly bytes), so one call does not
   * hold Redis long: a message larger than this goes alone. Default 1 MiB.
   */
  maxBatchBytes?: number;
}

export class PublishBatcher {
  private queue: QueuedPublish[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  /** Cluster mode: channels with a call in flight, and the publishes waiting for it. */
  private readonly waiting = new Map<string, QueuedPublish[]>();
  private readonly maxBatch: number;
  private readonly maxBatchBytes: number;

  constructor(private readonly opts: PublishBatcherOptions) {
    this.maxBatch = opts.maxBatch ?? 256;
    this.maxBatchBytes = opts.maxBatchBytes ?? 1024 * 1024;
  }

  add(p: QueuedPublish): void {
    this.queue.push(p);
    this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Sends everything queued now (in order), or fails it when commands cannot be sent. */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
    if (!this.opts.ready()) {
      const err = this.opts.unavailable();
      for (const p of queue) p.reject(err);
      return;
    }
    if (!this.opts.cluster) {
      for (const batch of this.chunks(queue)) this.send(batch);
      return;
    }
    const byChannel = new Map<string, QueuedPublish[]>();
    for (const p of queue) {
      const list = byChannel.get(p.channel);
      if (list === undefined) byChannel.set(p.channel, [p]);
      else list.push(p);
    }
    for (const [channel, list] of byChannel) {
      const waiting = this.waiting.get(channel);
      if (waiting !== undefined) waiting.push(...list);
      else this.sendChannel(channel, list);
    }
  }

  /**
   * Cluster mode: one call per channel in flight. Publishes of a channel whose call is in flight
   * wait for its answer and then go as one call: under load the batches grow with the round trip.
   */
  private sendChannel(channel: string, list: QueuedPublish[]): void {
    this.waiting.set(channel, []);
    const batches = this.chunks(list);
    let left = batches.length;
    const done = () => {
      if (--left > 0) return;
      const next = this.waiting.get(channel)!;
      this.waiting.delete(channel);
      if (next.length === 0) return;
      if (this.opts.ready()) this.sendChannel(channel, next);
      else {
        const err = this.opts.unavailable();
        for (const p of next) p.reject(err);
      }
    };
    for (const batch of batches) this.send(batch, done);
  }

  /** Splits a queue, in order, into calls of at most `maxBatch` messages and about `maxBatchBytes`. */
  private chunks(list: QueuedPublish[]): QueuedPublish[][] {
    const out: QueuedPublish[][] = [];
    let current: QueuedPublish[] = [];
    let bytes = 0;
    for (const p of list) {
      const size = p.head.length + p.tail.length + p.envTail.length;
      if (current.length > 0 && (current.length >= this.maxBatch || bytes + size > this.maxBatchBytes)) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(p);
      bytes += size;
    }
    if (current.length > 0) out.push(current);
    return out;
  }

  private send(batch: QueuedPublish[], done?: () => void): void {
    const { keys, historySize, historyTtlSeconds, idempotencyWindowMs } = this.opts;
    const index = new Map<string, number>();
    const channelKeys: string[] = [];
    const epochs: string[] = [];
    const lastOf: number[] = [];
    const idemKeys: string[] = [];
    const idemIndex: number[] = [];
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      let c = index.get(p.channel);
      if (c === undefined) {
        c = index.size + 1;
        index.set(p.channel, c);
        channelKeys.push(keys.meta(p.channel), keys.stream(p.channel));
        epochs.push(newEpoch());
      }
      lastOf[c] = i;
      if (p.idempotencyKey !== undefined && idempotencyWindowMs > 0) {
        idemKeys.push(keys.idempotency(p.channel, p.idempotencyKey));
        idemIndex.push(idemKeys.length);
      } else {
        idemIndex.push(0);
      }
    }
    const base = channelKeys.length;
    const args: (string | number)[] = [
      ...channelKeys,
      ...idemKeys,
      this.opts.cluster ? 'SPUBLISH' : 'PUBLISH',
      historySize,
      historyTtlSeconds,
      idempotencyWindowMs,
      epochs.length,
      ...epochs,
    ];
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const c = index.get(p.channel)!;
      const k = idemIndex[i]!;
      args.push(lastOf[c] === i ? -c : c, k === 0 ? 0 : base + k, p.head, p.tail, p.envTail);
    }
    runPublishScript(this.opts.client, base + idemKeys.length, args).then(
      (out) => {
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!;
          const offset = Number(out[3 * i]);
          if (offset < 0) {
            p.reject(new ReplyError(String(out[3 * i + 1])));
            continue;
          }
          const result: PublishResult = { channel: p.channel, epoch: String(out[3 * i + 1]), offset };
          if (out[3 * i + 2] === 1) result.duplicate = true;
          p.resolve(result);
        }
        done?.();
      },
      (err: unknown) => {
        const e = this.opts.asError(err);
        for (const p of batch) p.reject(e);
        done?.();
      },
    );
  }
}
