/**
 * A load-generator worker process (forked by pool.ts). It holds up to ~9,000 lean connections (the
 * per-process fd limit here is 20,000), opens them with bounded concurrency from several source
 * addresses, counts what they receive and answers the coordinator's commands over IPC. It exits when
 * the coordinator goes away or after a hard time limit, so a crashed benchmark leaves nothing behind.
 */
import { signToken } from '@river/node';
import { Counters, LeanConnection } from './lean-client.js';
import { Histogram } from './stats.js';
import type { WorkerCommand, WorkerReply, OpenResult, WorkerStats } from './worker-protocol.js';

const HARD_LIMIT_MS = Number(process.env.RIVER_BENCH_WORKER_LIMIT_MS ?? 20 * 60_000);
const counters = new Counters();
const groups = new Map<string, LeanConnection[]>();

setTimeout(() => process.exit(3), HARD_LIMIT_MS).unref();
process.on('disconnect', () => process.exit(0));

async function open(cmd: Extract<WorkerCommand, { cmd: 'open' }>): Promise<OpenResult> {
  const { spec } = cmd;
  const list = groups.get(spec.group) ?? [];
  groups.set(spec.group, list);
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstError = '';
  const started = performance.now();
  const handshakes = new Histogram();
  const one = async (): Promise<void> => {
    while (next < spec.count) {
      const i = next++;
      const n = spec.firstIndex + i;
      const token =
        'token' in spec.auth
          ? spec.auth.token
          : spec.auth.secret === ''
            ? ''
            : await signToken(spec.auth.secret, { sub: `${spec.auth.subPrefix}${n}` }, { expiresIn: 3600 });
      const conn = new LeanConnection(
        {
          ...spec.target,
          channel: spec.channel.replace('{i}', String(n)),
          token,
          ...(spec.localAddresses.length > 0 ? { localAddress: spec.localAddresses[n % spec.localAddresses.length]! } : {}),
        },
        counters,
      );
      const t0 = performance.now();
      try {
        await conn.ready;
        handshakes.record(performance.now() - t0);
        list.push(conn);
        ok++;
      } catch (err) {
        failed++;
        if (firstError === '') firstError = (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(spec.concurrency, spec.count)) }, one));
  return { ok, failed, firstError, elapsedMs: performance.now() - started, handshakes: handshakes.toJSON() };
}

function stats(): WorkerStats {
  return {
    messages: counters.messages,
    presence: counters.presence,
    other: counters.other,
    open: counters.open,
    dropped: counters.dropped,
    errors: counters.errors,
    lastError: counters.lastError,
    closes: counters.closes,
    hist: counters.hist.toJSON(),
    cpuMs: (() => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    })(),
  };
}

process.on('message', (msg: WorkerCommand) => {
  const reply = (r: Omit<WorkerReply, 'id'>) => process.send?.({ id: msg.id, ...r });
  switch (msg.cmd) {
    case 'open':
      open(msg).then(
        (result) => reply({ ok: true, result }),
        (err: Error) => reply({ ok: false, error: err.message }),
      );
      break;
    case 'reset':
      counters.reset();
      reply({ ok: true });
      break;
    case 'stats':
      reply({ ok: true, result: stats() });
      break;
    case 'pause':
      for (const c of groups.get(msg.group) ?? []) c.setPaused(msg.paused);
      reply({ ok: true });
      break;
    case 'close': {
      const names = msg.group === undefined ? [...groups.keys()] : [msg.group];
      let closed = 0;
      for (const name of names) {
        for (const c of groups.get(name) ?? []) {
          c.close();
          closed++;
        }
        groups.delete(name);
      }
      reply({ ok: true, result: { closed } });
      break;
    }
  }
});
