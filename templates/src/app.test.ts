import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { buildRiverApp, RiverBuildError, stackNameOf } from './app.js';
import { defaultRiverConfig } from './config.js';
import { FEATURE_FLAGS } from './feature-flags.js';

const temp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

describe('buildRiverApp', () => {
  it('names the stack after the config', () => {
    expect(stackNameOf({ name: 'chat' })).toBe('chat');
  });

  it('fails with a hint when the publish Lambda was not bundled', () => {
    let err: unknown;
    try {
      buildRiverApp(defaultRiverConfig(), { lambdaDir: temp('river-nolambda-') });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RiverBuildError);
    expect((err as RiverBuildError).code).toBe('build_failed');
    expect((err as Error).message).toMatch(/publish Lambda bundle is missing .*npm run build -w @river\/templates/);
  });

  it('fails naming the "image" setting when there is no server/Dockerfile to build', () => {
    const lambdaDir = temp('river-lambda-');
    writeFileSync(join(lambdaDir, 'index.mjs'), 'export const handler = async () => ({});\n');
    expect(() => buildRiverApp(defaultRiverConfig(), { lambdaDir, sourceDir: temp('river-empty-') }))
      .toThrow(/server\/Dockerfile not found.*set "image"/);
  });
});

describe('feature flags', () => {
  it('decide every flag the installed aws-cdk-lib recommends (an upgrade that adds one fails here until it is decided)', () => {
    const undecided = Object.keys(cxapi.CURRENTLY_RECOMMENDED_FLAGS).filter((flag) => !(flag in FEATURE_FLAGS));
    expect(undecided).toEqual([]);
  });

  it('are set on the app', () => {
    const lambdaDir = temp('river-lambda-');
    writeFileSync(join(lambdaDir, 'index.mjs'), 'export const handler = async () => ({});\n');
    const { app } = buildRiverApp({ ...defaultRiverConfig(), image: 'example/river:1' }, { lambdaDir, outdir: temp('river-out-') });
    for (const [flag, value] of Object.entries(FEATURE_FLAGS)) expect(app.node.tryGetContext(flag), flag).toEqual(value);
  });
});
