/** `river token`: prints one signed client JWT on stdout and nothing else, so `$(river token --sub u1)` works. */
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { readDevState } from '../state.js';
import { deployedJwtSecret, fromDevFile } from '../target.js';
import { MAX_TOKEN_LIFETIME_MS } from './secret.js';
import { checkSub, mintToken, parseDuration, parseInfo, parsePatterns, type TokenClaims } from '../tokens.js';

export interface TokenOptions {
  sub: string;
  channels?: string;
  publish?: string;
  ttl: string;
  info?: string;
  deployed?: boolean;
  json?: boolean;
}

export function registerToken(program: Command, ctx: Context): void {
  program
    .command('token')
    .description('print a signed client JWT (HS256) on stdout, nothing else')
    .requiredOption('--sub <id>', 'the user id (the JWT `sub` claim)')
    .option('--channels <patterns>', 'comma-separated channel patterns the client may subscribe to (`*` wildcard); default: all')
    .option('--publish <patterns>', 'comma-separated channel patterns the client may publish to; default: none')
    .option('--ttl <duration>', 'lifetime: 90s, 10m, 1h, 7d', '1h')
    .option('--info <json>', 'JSON object shown to presence channel members')
    .option('--deployed', "sign with the deployment's secret, read from AWS Secrets Manager")
    .option('--json', 'print {"token": …} instead of the bare token')
    .addHelpText(
      'after',
      "\nSecret: with --deployed the deployment's (from .river/outputs.json, else the stack's outputs, and Secrets Manager); otherwise\nRIVER_JWT_SECRET when set, else the dev secret in .river/dev.json.\n\nExample: TOKEN=$(npx river token --sub u1 --channels 'dogs,doc-*' --ttl 2h)",
    )
    .action(async (opts: TokenOptions) => {
      await token(ctx, opts);
    });
}

export async function token(ctx: Context, opts: TokenOptions): Promise<void> {
  const claims: TokenClaims = { sub: checkSub(opts.sub) };
  if (opts.channels !== undefined) claims.channels = parsePatterns(opts.channels, '--channels');
  if (opts.publish !== undefined) claims.publish = parsePatterns(opts.publish, '--publish');
  if (opts.info !== undefined) claims.info = parseInfo(opts.info);
  const ttl = parseDuration(opts.ttl, '--ttl');
  if (opts.deployed && ttl * 1000 > MAX_TOKEN_LIFETIME_MS) {
    // Past this, a token could outlive two secret rotations (docs/deploy-aws.md, rotation).
    throw new UserError(
      `--ttl ${opts.ttl} is longer than a deployment's maximum token lifetime (${MAX_TOKEN_LIFETIME_MS / 3_600_000}h)`,
      'pass --ttl 24h or less: tokens signed with a rotated-out secret must expire before the next rotation',
      {
        code: 'bad_flag',
      },
    );
  }
  const secret = await signingSecret(ctx, Boolean(opts.deployed));
  const jwt = await mintToken(secret, claims, ttl, ctx.now());
  ctx.io.out(opts.json ? JSON.stringify({ token: jwt, expiresIn: ttl }) : jwt);
}

async function signingSecret(ctx: Context, deployed: boolean): Promise<string> {
  // The deployment's secret: from .river/outputs.json, or on a fresh clone from the stack's outputs.
  if (deployed) return deployedJwtSecret(ctx);
  if (ctx.env.RIVER_JWT_SECRET) return ctx.env.RIVER_JWT_SECRET;
  const dev = await readDevState(ctx.cwd);
  if (dev) return fromDevFile(dev, 'RIVER_JWT_SECRET', dev.secret);
  throw new UserError(
    'no secret to sign with',
    'set RIVER_JWT_SECRET, run `npx river dev` once (it creates .river/dev.json), or pass --deployed',
    { code: 'no_secret' },
  );
}
