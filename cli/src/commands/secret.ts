/**
 * `river secret generate`: prints a random 32-byte secret (what nodes outside `river dev` require
 * of RIVER_JWT_SECRET and RIVER_API_KEY).
 *
 * `river secret rotate [--force]`: a JWT secret rotation that never refuses a valid token.
 *
 * 1. Stage a fresh 32-byte secret as AWSPENDING (AWSCURRENT, what backends and `river token
 *    --deployed` sign with, is unchanged). Nodes accept CURRENT, PENDING and PREVIOUS.
 * 2. Wait until every RUNNING task of the service has logged "JWT secrets loaded" with the pending
 *    version id (each node re-reads the secret every 5 minutes and logs what changed).
 * 3. Promote: AWSCURRENT moves to the new version, AWSPREVIOUS to the old one, which every node keeps
 *    accepting, so tokens signed before the rotation work until they expire.
 *
 * A rotation drops the version before AWSPREVIOUS; inside MAX_TOKEN_LIFETIME of the last rotation that
 * version may still have live tokens, so the command refuses unless --force. A run that timed out
 * leaves the secret pending (nothing changed for tokens); running the command again resumes it.
 * Design and measured timeline: docs/deploy-aws.md, "Rotating the JWT secret".
 */
import type { Command } from 'commander';
import type { Cloud, SecretVersionInfo } from '../cloud/cloud.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { findDeployment, output } from '../project.js';
import { sleepFor } from '../sleep.js';
import { randomSecret } from '../state.js';

/** The longest client token lifetime River supports across a rotation (docs/deploy-aws.md). */
export const MAX_TOKEN_LIFETIME_MS = 24 * 3_600_000;
/** How often a node re-reads the secret (server's DEFAULT_REFRESH_MS; docs/configuration.md, RIVER_JWT_SECRET_ID). */
export const NODE_REFRESH_MS = 5 * 60_000;
/** How long `rotate` waits for every task to load the pending secret: one refresh, log delivery, and slack. */
export const ROTATION_WAIT_MS = NODE_REFRESH_MS + 2 * 60_000;
/** How often it checks the tasks and their logs meanwhile. */
export const ROTATION_POLL_MS = 10_000;
/** A rotation closer than this to the last one needs --force (the last one's promotion may be up to the wait later). */
export const ROTATION_GUARD_MS = MAX_TOKEN_LIFETIME_MS + ROTATION_WAIT_MS;

export function registerSecret(program: Command, ctx: Context): void {
  const secret = program.command('secret').description("make a strong secret or key, or rotate the deployment's JWT secret");
  secret
    .command('generate')
    .description('print a random 32-byte secret (base64url): for RIVER_JWT_SECRET or RIVER_API_KEY on a self-hosted node')
    .action(() => {
      ctx.io.out(randomSecret());
    });
  secret
    .command('rotate')
    .description('rotate the JWT secret without refusing a valid token: stage it, wait until every node accepts it, then make it current')
    .option('--force', 'rotate within 24 h of the last rotation: tokens signed before that one are then refused')
    .addHelpText(
      'after',
      '\nTakes up to 7 minutes (nodes re-read the secret every 5). Tokens signed with the previous secret keep\nworking until they expire (at most 24 h). Run it again after a timeout: it resumes the staged rotation.',
    )
    .action(async (opts: { force?: boolean }) => {
      await rotate(ctx, opts);
    });
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function rotate(ctx: Context, opts: { force?: boolean } = {}): Promise<void> {
  const { io } = ctx;
  const d = await findDeployment(ctx);
  const arn = output(d, 'JwtSecretArn');
  const cluster = output(d, 'ClusterName');
  const service = output(d, 'ServiceName');
  const logGroup = output(d, 'LogGroupName');
  const versions = await d.cloud.secretVersions(arn);
  const current = versions.find((v) => v.stages.includes('AWSCURRENT'));
  if (!current) throw new Error(`the secret ${arn} has no AWSCURRENT version`);
  let pending: SecretVersionInfo | undefined = versions.find((v) => v.stages.includes('AWSPENDING') && !v.stages.includes('AWSCURRENT'));

  if (pending) {
    io.info(
      `resuming the rotation staged at ${pending.createdAt ? iso(pending.createdAt.getTime()) : 'an earlier run'} (version ${pending.versionId})`,
    );
  } else {
    const previous = versions.find((v) => v.stages.includes('AWSPREVIOUS'));
    const last = current.createdAt?.getTime();
    if (previous && last !== undefined && ctx.now() - last < ROTATION_GUARD_MS) {
      const until = iso(last + ROTATION_GUARD_MS);
      const what = `the last rotation was at ${iso(last)}: tokens signed before it may be valid until ${until}, and this rotation makes them invalid`;
      if (!opts.force) {
        throw new UserError(
          what,
          `wait until ${until}, or pass --force (clients holding those tokens are closed with 4500 and must get new ones)`,
          { code: 'rotation_too_soon' },
        );
      }
      io.warn(`${what} (--force)`);
    }
    const stagedAt = ctx.now();
    const versionId = await d.cloud.stageSecret(arn, randomSecret());
    pending = { versionId, stages: ['AWSPENDING'], createdAt: new Date(stagedAt) };
    io.info(
      `staged a new JWT secret for ${d.stackName} as AWSPENDING (version ${versionId}); tokens are still signed with the current one`,
    );
  }

  await waitForTasks(ctx, d.cloud, {
    cluster,
    service,
    logGroup,
    versionId: pending.versionId,
    since: (pending.createdAt?.getTime() ?? ctx.now()) - 5 * 60_000,
  });
  await d.cloud.promoteSecret(arn, pending.versionId, current.versionId);
  const now = ctx.now();
  io.info(`rotated the JWT secret of ${d.stackName}: version ${pending.versionId} is AWSCURRENT; every running node accepts it`);
  io.info(
    `tokens signed with the previous secret (now AWSPREVIOUS) keep working until they expire; the next rotation without --force is possible from ${iso(now + ROTATION_GUARD_MS)}`,
  );
  io.info('backends that cache the secret must re-read AWSCURRENT (within 5 minutes) to sign with the new one');
}

interface WaitTarget {
  cluster: string;
  service: string;
  logGroup: string;
  versionId: string;
  since: number;
}

/** Polls ListTasks and the log group until every running task has logged the pending version; UserError after ROTATION_WAIT_MS. */
async function waitForTasks(ctx: Context, cloud: Cloud, t: WaitTarget): Promise<void> {
  const sleep = sleepFor(ctx);
  const deadline = ctx.now() + ROTATION_WAIT_MS;
  const loaded = new Set<string>();
  const spinner = ctx.io.spinner('waiting for every running task to load the new secret…');
  for (;;) {
    const tasks = await cloud.runningTasks(t.cluster, t.service);
    let nextToken: string | undefined;
    do {
      const page = await cloud.filterLogs(t.logGroup, {
        startTime: t.since,
        filter: `"${t.versionId}"`,
        ...(nextToken ? { nextToken } : {}),
      });
      for (const e of page.events) {
        if (e.stream && e.message.includes(t.versionId)) loaded.add(e.stream.slice(e.stream.lastIndexOf('/') + 1));
      }
      nextToken = page.nextToken;
    } while (nextToken);
    const missing = tasks.filter((id) => !loaded.has(id));
    if (missing.length === 0) {
      spinner.succeed(
        tasks.length === 0
          ? 'no running task: new tasks read the new secret when they start'
          : `all ${tasks.length} running tasks accept the new secret`,
      );
      return;
    }
    spinner.update(`waiting for every running task to load the new secret: ${tasks.length - missing.length}/${tasks.length}`);
    if (ctx.signal.aborted || ctx.now() >= deadline) {
      spinner.fail(`${missing.length} of ${tasks.length} running tasks did not load the new secret`);
      const what = ctx.signal.aborted
        ? `stopped while waiting for tasks ${missing.join(', ')} to load the new secret`
        : `tasks ${missing.join(', ')} did not load the new secret within ${ROTATION_WAIT_MS / 60_000} minutes`;
      throw new UserError(
        `${what}; it stays AWSPENDING and tokens are unaffected`,
        'check them with `npx river status` and `npx river logs` (a task running an image older than this CLI does not read AWSPENDING: deploy first), then run `npx river secret rotate` again to resume',
        { code: 'rotation_incomplete' },
      );
    }
    await sleep(ROTATION_POLL_MS);
  }
}
