/**
 * `river diff`: what the next `river deploy` would add, modify, replace and remove, without deploying.
 * Replacements and removals of resources holding state or an address are marked, and so are IAM and
 * security-group changes (broadening ones are what `deploy` asks approval for). The comparison goes
 * through a CloudFormation change set that is never executed (Deployer.diff).
 */
import type { Command } from 'commander';
import type { ResourceChange } from '../cloud/cloud.js';
import type { Context } from '../context.js';
import { readProjectConfig, templates } from '../project.js';

export function registerDiff(program: Command, ctx: Context): void {
  program
    .command('diff')
    .description(
      'show what the next deploy would add, modify and replace (IAM, security groups and stateful replacements marked), without deploying',
    )
    .option('--json', 'print {"stackName","account","region","stackExists","changes","security"} as one JSON line')
    .action(async (opts: { json?: boolean }) => {
      await diff(ctx, opts);
    });
}

const SIGN: Record<ResourceChange['action'], string> = { add: '+', modify: '~', replace: '!', 'may-replace': '?', remove: '-' };

export async function diff(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const { io } = ctx;
  const config = await readProjectConfig(ctx);
  const { stackNameOf } = await templates();
  const stackName = stackNameOf(config);
  const cloud = await ctx.cloud(config.region);
  const who = await cloud.whoami();
  const found = await cloud.stackStatus(stackName);
  const stackExists = found !== undefined && found.status !== 'DELETE_COMPLETE';
  const deployer = await ctx.deployer();
  const spinner = io.spinner(`comparing ${stackName} with the deployed stack…`);
  let result;
  try {
    // The toolkit's "This deployment will make potentially sensitive changes…": the marks below say which.
    result = await deployer.diff(config, {
      onInfo: (line) => void (/^This deployment will make potentially sensitive changes/.test(line) || io.warn(line)),
    });
  } catch (err) {
    spinner.fail(`comparing ${stackName} failed`);
    throw err;
  }
  spinner.stop();
  const { changes, security } = result;
  if (opts.json) {
    io.out(JSON.stringify({ stackName: result.stackName, account: who.account, region: config.region, stackExists, changes, security }));
    return;
  }
  const count = (a: ResourceChange['action'][]) => changes.filter((c) => a.includes(c.action)).length;
  const where = `${result.stackName} in account ${who.account}, region ${config.region}`;
  if (!stackExists) io.info(`no stack ${stackName} there yet: the first \`npx river deploy\` creates everything below`);
  if (changes.length === 0 && security.iam.length === 0 && security.securityGroups.length === 0) {
    io.out(`${where}: no changes`);
    return;
  }
  io.out(
    `${where}: ${count(['add'])} to add, ${count(['modify'])} to modify, ${count(['replace', 'may-replace'])} to replace, ${count(['remove'])} to remove`,
  );
  const width = Math.max(...changes.map((c) => c.resourceType.length));
  for (const c of changes) {
    const note =
      c.action === 'replace' ? '  replaced' : c.action === 'may-replace' ? '  may be replaced' : c.action === 'remove' ? '  removed' : '';
    const stateful = c.stateful ? ' (STATEFUL: its data or address is lost)' : '';
    io.out(`  ${SIGN[c.action]} ${c.resourceType.padEnd(width)}  ${c.logicalId}${note}${stateful}`);
  }
  if (security.iam.length > 0) {
    io.out(`IAM changes${security.broadening ? ' (BROADENS permissions: deploy asks approval)' : ''}:`);
    for (const line of security.iam) io.out(`  ${line}`);
  }
  if (security.securityGroups.length > 0) {
    io.out(`Security-group changes${security.broadening ? ' (BROADENS access: deploy asks approval)' : ''}:`);
    for (const line of security.securityGroups) io.out(`  ${line}`);
  }
  if (changes.some((c) => c.stateful))
    io.warn('a resource holding state or an address is replaced or removed: `npx river deploy` asks approval (or --yes)');
}
