/** The real ToolkitDeployer's synth path over @river/templates' app: offline, into a temp dir (~10 s, ~500 MB). */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { defaultRiverConfig, OUTPUT_KEYS } from '@river/templates';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempProject } from '../test-context.js';
import { ToolkitDeployer } from './deployer.js';

const lambdaBundle = fileURLToPath(new URL('../../../templates/dist/lambda/index.mjs', import.meta.url));
const ready = existsSync(lambdaBundle);
if (!ready && process.env.CI) throw new Error(`${lambdaBundle} is missing: run \`npm run build\` before the tests`);

describe.skipIf(!ready)('ToolkitDeployer.synth (toolkit-lib, offline)', () => {
  let project: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    project = await tempProject();
  });
  afterAll(async () => {
    await project.cleanup();
  });

  it('writes the River stack template with every output the CLI reads, without touching AWS', { timeout: 90_000 }, async () => {
    const out = `${project.dir}/cdk.out`;
    const warnings: string[] = [];
    const result = await new ToolkitDeployer().synth({ ...defaultRiverConfig(), name: 'river-test' }, out, {
      onInfo: (l) => warnings.push(l),
    });
    // No domain in the default config: the plain-HTTP warning reaches `river synth` (and deploy, through the same host).
    expect(warnings).toEqual([expect.stringMatching(/^No "domain" in river\.config\.json: the load balancer serves plain HTTP/)]);
    expect(result).toEqual({ stackName: 'river-test', templates: [`${out}/river-test.template.json`] });
    const template = JSON.parse(await readFile(result.templates[0]!, 'utf8')) as {
      Outputs: Record<string, unknown>;
      Resources: Record<string, { Type: string }>;
    };
    for (const key of [
      'WebSocketUrl',
      'HttpApiUrl',
      'JwtSecretArn',
      'ApiKeySecretArn',
      'ClusterName',
      'ServiceName',
      'LogGroupName',
      'LogGroupArn',
    ] as const) {
      expect(Object.keys(template.Outputs)).toContain(OUTPUT_KEYS[key]);
    }
    expect(Object.values(template.Resources).some((r) => r.Type === 'AWS::ECS::Service')).toBe(true);
  });
});
