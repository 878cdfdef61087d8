/** `river secret rotate`: one PutSecretValue of a fresh 32-byte secret; nodes accept the old and the new one. */
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { findDeployment, output } from '../project.js';
import { randomSecret } from '../state.js';

export function registerSecret(program: Command, ctx: Context): void {
  const secret = program.command('secret').description("manage the deployment's JWT secret");
  secret
    .command('rotate')
    .description('write a new JWT secret to Secrets Manager; tokens signed with the previous one keep working until the next rotation')
    .action(async () => {
      await rotate(ctx);
    });
}

export async function rotate(ctx: Context): Promise<void> {
  const d = await findDeployment(ctx);
  const arn = output(d, 'JwtSecretArn');
  await d.cloud.putSecret(arn, randomSecret());
  ctx.io.info(`rotated the JWT secret of ${d.stackName}: new version is AWSCURRENT, the old one AWSPREVIOUS`);
  ctx.io.info('nodes re-read it within 5 minutes and accept tokens signed with either; backends minting tokens must load the new secret');
}
