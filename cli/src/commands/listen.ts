/**
 * `river listen CHANNEL…`: subscribes over the WebSocket endpoint and prints each message as one
 * JSON line on stdout until Ctrl+C. Close codes follow docs/protocol.md#7-codes: 45xx stops with
 * exit 1, 4000 and 4002 reconnect at once, anything else reconnects with backoff and full jitter;
 * every resubscription carries `since`, so nothing published meanwhile is lost (within history).
 */
import type { Command } from 'commander';
import { backoffDelay, closeName, isValidChannel, reconnectPolicy, type StreamPosition } from '@river/protocol';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { IO } from '../io.js';
import { apiKeyFor, locate, secretFor, unreachable, type Target } from '../target.js';
import { type Outcome, printPresence, runSession } from './listen-socket.js';
import { isTapRequest, tapSession } from './listen-tap.js';
import { mintToken } from '../tokens.js';
import { checkChannel } from './publish.js';

export const LISTENER_SUB = 'cli-listener';
const TOKEN_TTL_SECONDS = 24 * 3600;

export interface ListenOptions {
  url?: string;
  deployed?: boolean;
  /** Accepted like every data-printing command's --json; the output is JSON lines either way. */
  json?: boolean;
  /** Tap every channel (`/v1/tap`, over the API key) instead of subscribing. */
  all?: boolean;
}

export function registerListen(program: Command, ctx: Context): void {
  program
    .command('listen')
    .description('subscribe to channels and print each event as one JSON line until Ctrl+C')
    .argument('[channels...]', "one or more channel names, or patterns such as 'chat-*' (tapped over the API key)")
    .option('--all', 'tap every channel over the API key, without subscribing (presence channels get no extra member)')
    .option('--url <url>', "the node's HTTP base URL or WebSocket URL (default: RIVER_URL, the dev node, then the deployment)")
    .option(
      '--deployed',
      'listen on the deployment (its URL and secret from .river/outputs.json or the stack), whatever RIVER_URL and the dev node say',
    )
    .option('--json', 'one JSON object per line on stdout (what listen always prints; accepted for scripts)')
    .addHelpText(
      'after',
      '\nEach line on stdout: {"channel","event","data","offset","ts"}. Status goes to stderr.\nThe token is minted with the same secret lookup as `river token` (sub "cli-listener").\n--all and patterns use the tap (the API key, found like `river publish` finds it): live only, no recovery.',
    )
    .action(async (channels: string[], opts: ListenOptions) => {
      await listen(ctx, channels, opts);
    });
}

export async function listen(ctx: Context, channels: string[], opts: ListenOptions): Promise<void> {
  const tapping = opts.all === true || isTapRequest(channels);
  if (opts.all === true && channels.length > 0) {
    throw new UserError(
      '--all taps every channel: give no channel names with it',
      "e.g. npx river listen --all, or npx river listen 'chat-*'",
      {
        code: 'bad_flag',
      },
    );
  }
  if (!tapping && channels.length === 0) {
    throw new UserError('no channel to listen to', "e.g. npx river listen dogs, npx river listen 'chat-*', or npx river listen --all", {
      code: 'no_channel',
    });
  }
  for (const c of channels) {
    // A pattern is checked without its '*'s; a bad one is reported as given.
    const rest = c.replaceAll('*', '');
    if (rest === '' || rest !== c) {
      if (rest !== '' && !isValidChannel(rest)) checkChannel(c);
    } else checkChannel(c);
  }
  const unique = opts.all === true ? ['*'] : [...new Set(channels)];
  const located = await locate(ctx, opts.url, { deployed: Boolean(opts.deployed) });
  const credential = tapping ? await apiKeyFor(ctx, located, undefined) : await secretFor(ctx, located);
  ctx.io.info(`using ${located.target.wsUrl} (${located.target.origin})`);
  const positions = new Map<string, StreamPosition>();
  let everReady = false;
  let attempt = 0;
  while (!ctx.signal.aborted) {
    let outcome: Outcome;
    if (tapping) outcome = await tapSession(ctx.io, located.target, credential, unique, ctx.signal);
    else {
      const token = await mintToken(credential, { sub: LISTENER_SUB, channels: unique }, TOKEN_TTL_SECONDS, ctx.now());
      outcome = await session(ctx.io, located.target, token, unique, positions, ctx.signal);
    }
    if (outcome.kind === 'aborted') return;
    if (outcome.kind === 'refused' && tapping) {
      throw new UserError(`the node refused the tap (${outcome.reason})`, "the tap needs the node's API key: pass RIVER_API_KEY", {
        code: 'tap_refused',
      });
    }
    if (outcome.kind === 'refused') {
      throw new UserError(
        `the node refused every subscription (${outcome.reason})`,
        'check the channel names, and that the token may subscribe to them (`channels` claim)',
        {
          code: 'subscriptions_refused',
        },
      );
    }
    if (outcome.wasReady) {
      everReady = true;
      attempt = 0;
    }
    if (outcome.kind === 'failed') {
      if (!everReady) throw firstFailure(located.target, outcome);
      ctx.io.warn(`connection lost (${outcome.err.message})`);
    } else {
      const name = closeName(outcome.code) ?? 'closed';
      // The server's reason is usually the code's name again: print it only when it says more.
      const text = `${outcome.code} ${name}${outcome.reason && outcome.reason !== name ? `: ${outcome.reason}` : ''}`;
      if (outcome.code >= 4500 && outcome.code <= 4999) {
        throw new UserError(`the node closed the connection (${text})`, hintFor(outcome.code), { code: name });
      }
      ctx.io.warn(`the node closed the connection (${text})`);
    }
    const policy = outcome.kind === 'closed' ? reconnectPolicy(outcome.code) : 'backoff';
    const delay = policy === 'backoff' ? backoffDelay(attempt++) : 0;
    ctx.io.info(delay > 0 ? `reconnecting in ${(delay / 1000).toFixed(1)} s…` : 'reconnecting now…');
    await sleep(delay, ctx.signal);
  }
}

function hintFor(code: number): string {
  if (code === 4500) return "the token was refused: set RIVER_JWT_SECRET to the node's secret (or use the dev node's .river/dev.json)";
  if (code === 4503) return 'the app disconnected this user (POST /v1/disconnect); run the command again to reconnect';
  return 'run the command again; if it keeps happening, check the node logs';
}

function firstFailure(target: Target, outcome: Extract<Outcome, { kind: 'failed' }>): Error {
  const down = unreachable(target, outcome.err);
  if (down) return down;
  if (outcome.status !== undefined) {
    return new UserError(
      `${target.wsUrl} refused the WebSocket upgrade (HTTP ${outcome.status})`,
      "check --url: it is the node's HTTP base URL, e.g. http://127.0.0.1:4400",
      {
        code: 'upgrade_refused',
      },
    );
  }
  return outcome.err;
}

function session(
  io: IO,
  target: Target,
  token: string,
  channels: string[],
  positions: Map<string, StreamPosition>,
  signal: AbortSignal,
): Promise<Outcome> {
  const refused = new Set<string>();
  return runSession(target.wsUrl, signal, {
    hello: { type: 'auth', token },
    frame(frame, channel, session) {
      switch (frame.type) {
        case 'ready':
          session.ready();
          for (const c of channels) {
            const since = positions.get(c);
            session.send({ type: 'subscribe', id: c, channel: c, ...(since ? { since } : {}) });
          }
          break;
        case 'subscribed': {
          const pos = { epoch: String(frame.epoch), offset: Number(frame.offset) };
          const known = positions.get(channel);
          if (frame.recovered !== true || !known) positions.set(channel, pos);
          const note =
            frame.recovered === true
              ? ' (recovered missed messages)'
              : frame.recovered === false
                ? ' (history lost: messages may have been missed)'
                : '';
          io.info(`subscribed to ${channel}${note}`);
          break;
        }
        case 'message': {
          const offset = Number(frame.offset);
          const known = positions.get(channel);
          if (known && offset <= known.offset) break; // already printed before a reconnect
          positions.set(channel, { epoch: known?.epoch ?? '', offset });
          io.out(JSON.stringify({ channel, event: frame.event, data: frame.data, offset, ts: frame.ts }));
          break;
        }
        case 'presence':
          printPresence(io, frame, channel);
          break;
        case 'error': {
          const reason = `${String(frame.code)}: ${String(frame.message)}`;
          io.warn(`${reason}${channel ? ` (${channel})` : ''}`);
          // A refused subscribe echoes its id (the channel name).
          if (typeof frame.id === 'string' && channels.includes(frame.id)) refused.add(frame.id);
          if (refused.size === channels.length) session.refuse(reason);
          break;
        }
        case 'ping':
          session.send({ type: 'pong' });
          break;
        default:
          break;
      }
    },
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
