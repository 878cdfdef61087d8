/** An HTTP API call failed. `status` is the HTTP status (undefined when no answer came), `code` the
 *  API's error code (`bad_channel`, `unauthorized`, `unavailable` …) or `network_error` / `timeout`
 *  / `bad_response` / `no_secret` / `bad_options`. */
export class RiverError extends Error {
  readonly status: number | undefined;
  readonly code: string;
  constructor(code: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'RiverError';
    this.code = code;
    this.status = options.status;
  }
}
