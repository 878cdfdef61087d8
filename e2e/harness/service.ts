/**
 * The multi-node service of the cluster e2e files: three River nodes on one Redis (or one Redis
 * Cluster) behind haproxy, started before the file's tests and stopped after them, and clients that
 * are closed after each test. Registers its own vitest hooks; call it inside the file's describe.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startCluster, type RiverCluster, type RiverProcess } from './cluster.js';
import { ClusterClient, mintToken } from './cluster-client.js';
import { startHaproxy, type HaproxyInstance } from './haproxy.js';

export interface ServiceOptions<R> {
  /** The JWT secret the nodes are given in `env`: clients' tokens are signed with it. */
  secret: string;
  startRedis(): Promise<R>;
  /** The nodes' environment, on that Redis. */
  env(redis: R): Record<string, string>;
}

export interface ClientOpts {
  reconnect?: boolean;
  /** The token's `info` claim (presence). */
  info?: Record<string, unknown>;
}

export interface Service<R> {
  readonly redis: R;
  readonly cluster: RiverCluster;
  readonly lb: HaproxyInstance;
  /** The nodes' environment, to start another node like them. */
  readonly env: Record<string, string>;
  node(i: number): RiverProcess;
  /** A client subscribed to `channels`; when it cannot subscribe, the error carries what the nodes logged. */
  client(url: string, sub: string, channels: string[], opts?: ClientOpts): Promise<ClusterClient>;
}

export function threeNodeService<R extends { stop(): Promise<void> }>(opts: ServiceOptions<R>): Service<R> {
  let redis: R | undefined;
  let cluster: RiverCluster | undefined;
  let lb: HaproxyInstance | undefined;
  let env: Record<string, string> = {};
  const clients: ClusterClient[] = [];
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the service's ${what} starts in beforeAll`);
    return value;
  };
  beforeAll(async () => {
    redis = await opts.startRedis();
    env = opts.env(redis);
    cluster = await startCluster(3, env);
    lb = await startHaproxy(cluster.nodes.map((n) => n.port));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await lb?.stop();
    await cluster?.stop();
    await redis?.stop();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  return {
    get redis() {
      return started(redis, 'Redis');
    },
    get cluster() {
      return started(cluster, 'cluster');
    },
    get lb() {
      return started(lb, 'haproxy');
    },
    get env() {
      return env;
    },
    node: (i) => started(cluster, 'cluster').nodes[i]!,
    async client(url, sub, channels, { reconnect, info } = {}) {
      const token = await mintToken(opts.secret, { sub, ...(info ? { info } : {}) });
      const c = new ClusterClient({ url, token, channels, ...(reconnect !== undefined ? { reconnect } : {}) });
      clients.push(c);
      try {
        await c.start();
      } catch (err) {
        // What the nodes logged says why (a refused subscribe, a Redis error).
        const logs = (cluster?.nodes ?? []).map((n) => `--- ${n.name}\n${n.output()}`).join('\n');
        throw new Error(`${(err as Error).message}\n${logs}`);
      }
      return c;
    },
  };
}
