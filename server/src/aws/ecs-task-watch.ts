/**
 * Drains the node as soon as ECS decides to stop its task, before the load balancer cuts it off.
 *
 * On a deploy or a scale-in, ECS sets the task's desired status to STOPPED, deregisters the task from
 * the target group, waits the target group's deregistration delay, and only then sends SIGTERM. The
 * ALB closes every connection still open when that delay ends, so a node that waited for SIGTERM
 * would lose its WebSockets without the `4000 server_restarting` close that spreads the reconnects
 * over `drainMs` (docs/protocol.md#9-draining-and-deploys). The task metadata endpoint (v4, which ECS announces in
 * ECS_CONTAINER_METADATA_URI_V4) shows the desired status as soon as ECS sets it: this watcher polls
 * `${uri}/task` and calls `onStopping` once, the first time it reads `"DesiredStatus": "STOPPED"`.
 *
 * Contract: at most one poll is in flight; each has its own timeout; a failed poll (refused, timed
 * out, not 2xx, not JSON) is logged at debug and the next one follows on schedule. The timers are
 * unref'd: the watcher never keeps a process alive. After `onStopping` or `stop()` it polls no more.
 */
import type { Logger } from 'pino';

/** How often the task metadata is read. The deregistration delay must cover this plus the drain. */
export const ECS_TASK_POLL_MS = 2000;
/** A read that has not answered by then is abandoned (the endpoint is link-local: it answers in ms). */
export const ECS_TASK_TIMEOUT_MS = 1000;

export interface EcsTaskWatchOptions {
  /** The value of ECS_CONTAINER_METADATA_URI_V4 (`http://169.254.170.2/v4/<id>`). */
  metadataUri: string;
  /** Called once, when ECS wants the task stopped: start the drain. */
  onStopping(): void;
  logger: Pick<Logger, 'debug' | 'info'>;
  /** Injected in tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  intervalMs?: number;
  timeoutMs?: number;
}

export interface EcsTaskWatch {
  /** Stops polling (idempotent). */
  stop(): void;
}

interface TaskMetadata {
  desiredStatus: string;
  knownStatus?: string;
}

/** The two fields we read from the `/task` answer, or undefined when it is not task metadata. */
function parseTask(body: unknown): TaskMetadata | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { DesiredStatus, KnownStatus } = body as Record<string, unknown>;
  if (typeof DesiredStatus !== 'string') return undefined;
  return typeof KnownStatus === 'string' ? { desiredStatus: DesiredStatus, knownStatus: KnownStatus } : { desiredStatus: DesiredStatus };
}

/** Starts polling at once (a task can be told to stop while it is still starting), then every `intervalMs`. */
export function watchEcsTask(opts: EcsTaskWatchOptions): EcsTaskWatch {
  const fetchImpl = opts.fetch ?? globalThis.fetch;
  const intervalMs = opts.intervalMs ?? ECS_TASK_POLL_MS;
  const timeoutMs = opts.timeoutMs ?? ECS_TASK_TIMEOUT_MS;
  const url = `${opts.metadataUri.replace(/\/+$/, '')}/task`;
  let done = false;
  let timer: NodeJS.Timeout | undefined;

  const schedule = () => {
    if (done) return;
    timer = setTimeout(() => void poll(), intervalMs);
    timer.unref();
  };

  const read = async (signal: AbortSignal): Promise<TaskMetadata> => {
    const res = await fetchImpl(url, { signal });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    const task = parseTask(await res.json());
    if (task === undefined) throw new Error('the answer has no DesiredStatus');
    return task;
  };

  const poll = async () => {
    const controller = new AbortController();
    let deadline: NodeJS.Timeout | undefined;
    // Raced as well as aborted: a poll ends on time even if a fetch ignores its signal.
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => {
        const err = new Error(`no answer within ${timeoutMs} ms`);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
      deadline.unref();
    });
    try {
      const task = await Promise.race([read(controller.signal), late]);
      if (task.desiredStatus === 'STOPPED' && !done) {
        done = true;
        opts.logger.info(task, 'ECS is stopping this task: draining before the load balancer closes its connections');
        opts.onStopping();
        return;
      }
    } catch (err) {
      opts.logger.debug({ err, url }, 'ECS task metadata not read (ignored)');
    } finally {
      clearTimeout(deadline);
    }
    schedule();
  };

  void poll();
  return {
    stop() {
      done = true;
      clearTimeout(timer);
    },
  };
}
