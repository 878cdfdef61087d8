/**
 * Prometheus metrics of one node. Each node owns its own Registry (never prom-client's global
 * one), so many nodes can live in one process (tests, the CLI).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type CloseReason =
  | 'server_restarting'
  | 'auth_timeout'
  | 'token_expired'
  | 'slow_consumer'
  | 'heartbeat_timeout'
  | 'rate_limited'
  | 'token_invalid'
  | 'protocol_error'
  | 'user_disconnected';

export class Metrics {
  readonly registry = new Registry();
  readonly connections: Gauge;
  readonly subscriptions: Gauge;
  readonly channels: Gauge;
  readonly published: Counter<'source'>;
  readonly delivered: Counter;
  readonly closes: Counter<'reason'>;
  readonly fanoutLatency: Histogram;
  readonly httpRequests: Counter<'route' | 'status'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.connections = new Gauge({ name: 'river_connections', help: 'Open WebSocket connections (authenticated or not).', registers });
    this.subscriptions = new Gauge({ name: 'river_subscriptions', help: 'Live channel subscriptions of local connections.', registers });
    this.channels = new Gauge({ name: 'river_channels', help: 'Channels with at least one local subscriber.', registers });
    this.published = new Counter({
      name: 'river_messages_published_total',
      help: 'Messages published through this node (source: http or client).',
      labelNames: ['source'],
      registers,
    });
    this.delivered = new Counter({
      name: 'river_messages_delivered_total',
      help: 'Message frames queued to local subscribers.',
      registers,
    });
    this.closes = new Counter({
      name: 'river_closes_total',
      help: 'Connections closed by the server, by close reason (slow_consumer, rate_limited, …).',
      labelNames: ['reason'],
      registers,
    });
    this.fanoutLatency = new Histogram({
      name: 'river_publish_fanout_latency_seconds',
      help: 'Time from publish (bus timestamp) to the message being queued to local subscribers.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'river_http_requests_total',
      help: 'HTTP API requests by route and status.',
      labelNames: ['route', 'status'],
      registers,
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'river_' });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
