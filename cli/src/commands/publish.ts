/** `river publish CHANNEL EVENT [JSON]`: one POST /v1/publish with the API key. */
import type { Command } from 'commander';
import { isValidChannel } from '@river/protocol';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { findApiKey, locate, unreachable } from '../target.js';

export interface PublishOptions {
  url?: string;
  key?: string;
  deployed?: boolean;
  json?: boolean;
}

export const HTTP_TIMEOUT_MS = 15_000;

export function registerPublish(program: Command, ctx: Context): void {
  program
    .command('publish')
    .description('publish an event to a channel over the HTTP API')
    .argument('<channel>', 'channel name')
    .argument('<event>', 'event name')
    .argument('[json]', 'event data as JSON (default: null)')
    .option('--url <url>', "the node's HTTP base URL (default: RIVER_URL, the dev node, then the deployment)")
    .option('--key <key>', 'API key (default: RIVER_API_KEY, then the dev or deployed key)')
    .option(
      '--deployed',
      'publish to the deployment (its URL and key from .river/outputs.json or the stack), whatever RIVER_URL and the dev node say',
    )
    .option('--json', 'print the result as one JSON line {"channel","offset"}')
    .addHelpText('after', `\nExample: npx river publish dogs new-post '{"title":"hi"}'`)
    .action(async (channel: string, event: string, json: string | undefined, opts: PublishOptions) => {
      await publish(ctx, channel, event, json, opts);
    });
}

export function parseData(json: string | undefined): unknown {
  if (json === undefined) return null;
  try {
    return JSON.parse(json) as unknown;
  } catch {
    throw new UserError(
      `the event data is not valid JSON: ${json.length > 60 ? `${json.slice(0, 60)}…` : json}`,
      `quote it for the shell, e.g. '{"title":"hi"}' (strings need quotes too: '"hi"')`,
      {
        code: 'bad_json',
      },
    );
  }
}

export function checkChannel(channel: string): string {
  if (!isValidChannel(channel)) {
    throw new UserError(`"${channel}" is not a channel name`, 'use 1-200 characters of A-Z a-z 0-9 _ - = @ , . ; :', {
      code: 'bad_channel',
    });
  }
  return channel;
}

export async function publish(ctx: Context, channel: string, event: string, json: string | undefined, opts: PublishOptions): Promise<void> {
  checkChannel(channel);
  if (event.trim() === '') throw new UserError('the event name is empty', 'e.g. npx river publish dogs new-post', { code: 'bad_event' });
  const data = parseData(json);
  const located = await locate(ctx, opts.url, { deployed: Boolean(opts.deployed) });
  const { key, from: keyFrom } = await findApiKey(ctx, located, opts.key);
  const { target } = located;
  ctx.io.info(`using ${target.httpUrl} (${target.origin})`);
  let res: Response;
  try {
    res = await ctx.fetch(`${target.httpUrl}/v1/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ channel, event, data }),
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(HTTP_TIMEOUT_MS)]),
    });
  } catch (err) {
    throw unreachable(target, err) ?? err;
  }
  const body = (await res.json().catch(() => undefined)) as
    | { channel?: string; offset?: number; error?: { code?: string; message?: string } }
    | undefined;
  if (res.ok && body && typeof body.offset === 'number') {
    if (opts.json) ctx.io.out(JSON.stringify({ channel: body.channel ?? channel, offset: body.offset }));
    else ctx.io.out(`published ${event} to ${body.channel ?? channel} (offset ${body.offset})`);
    return;
  }
  const code = body?.error?.code ?? `http_${res.status}`;
  const message = body?.error?.message ?? res.statusText;
  if (res.status === 401) {
    // A key taken from .river/dev.json for a node named by --url or RIVER_URL is the usual cause.
    const devKeyElsewhere =
      opts.key === undefined &&
      !ctx.env.RIVER_API_KEY &&
      located.dev !== undefined &&
      (target.source === 'flag' || target.source === 'env');
    const hint = devKeyElsewhere
      ? `the key used is the river dev node's (.river/dev.json), and ${target.httpUrl} (${target.origin}) is another node: pass --key or set RIVER_API_KEY to its key`
      : "pass --key or set RIVER_API_KEY to the node's key";
    throw new UserError(`${target.httpUrl} refused the API key from ${keyFrom} (401 ${code})`, hint, { code: 'unauthorized' });
  }
  if (res.status === 404) {
    throw new UserError(
      `${target.httpUrl}/v1/publish does not exist (404)`,
      "check --url: it is the node's HTTP base URL, e.g. http://127.0.0.1:4400",
      { code: 'not_found' },
    );
  }
  if (res.status >= 400 && res.status < 500) {
    throw new UserError(
      `the node refused the event: ${code}: ${message}`,
      'check the channel, event name and data size (64 KiB at most by default)',
      { code },
    );
  }
  throw new Error(`publish failed: HTTP ${res.status} ${code}: ${message}`);
}
