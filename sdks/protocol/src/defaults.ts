/** Server defaults (docs/configuration.md), shared by the server, the SDKs and the docs check. */
export const DEFAULTS = {
  port: 4400,
  host: '0.0.0.0',
  historySize: 100,
  historyTtlSeconds: 300,
  authTimeoutMs: 15_000,
  heartbeatMs: 25_000,
  drainMs: 10_000,
  maxMessageBytes: 65_536,
  maxSubscriptions: 100,
  maxBufferedBytes: 1_048_576,
  maxFramesPerSecond: 50,
  /** Extra room over maxMessageBytes for an HTTP body's envelope. */
  httpBodySlackBytes: 4096,
  /** Idempotency keys are remembered this long. */
  idempotencyWindowMs: 5 * 60_000,
  /** Most channels in one `channels` publish, most messages in one batch, most history items per page. */
  maxChannelsPerPublish: 100,
  maxBatch: 100,
  maxHistoryLimit: 100,
  /** Presence `info` claim limit. */
  maxInfoBytes: 1024,
  maxUserIdLength: 200,
  wsPath: '/v1/ws',
} as const;
