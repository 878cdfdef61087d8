/** An error reported by the River client: a server `error` frame, a refused publish, a lost connection. */
export class RiverError extends Error {
  /** Stable machine code: an error-frame code of docs/protocol.md#7-codes (`forbidden`, `bad_channel` …),
   *  a close reason (`token_invalid`, `user_disconnected` …), or `disconnected`, `closed`, `timeout`,
   *  `queue_full`, `token_error`, `handler_error`. */
  readonly code: string;
  /** The channel concerned, when there is one. */
  readonly channel?: string;
  constructor(code: string, message: string, options?: { cause?: unknown; channel?: string }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'RiverError';
    this.code = code;
    if (options?.channel !== undefined) this.channel = options.channel;
  }
}
