import { existsSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { buildRiverApp, RiverBuildError, serverImageDir, stackNameOf } from './app.js';
import { defaultRiverConfig } from './config.js';
import { FEATURE_FLAGS } from './feature-flags.js';

const temp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));
const REPO_DIR = realpathSync(fileURLToPath(new URL('../..', import.meta.url)));

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

  it('fails naming the build and the "image" setting when the image build context is missing or not built', () => {
    const lambdaDir = temp('river-lambda-');
    writeFileSync(join(lambdaDir, 'index.mjs'), 'export const handler = async () => ({});\n');
    const empty = temp('river-empty-');
    const fails = (imageDir: string, what: RegExp) => {
      let err: unknown;
      try {
        buildRiverApp(defaultRiverConfig(), { lambdaDir, imageDir, outdir: temp('river-out-') });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RiverBuildError);
      expect((err as Error).message).toMatch(what);
      expect((err as Error).message).toMatch(/npm run build -w @river\/server.*set "image" in river\.config\.json/);
    };
    fails(empty, /missing its Dockerfile/);
    writeFileSync(join(empty, 'Dockerfile'), 'FROM scratch\n');
    fails(empty, /not built \(.*app is missing or empty\)/);
    // A prebuilt image needs no context.
    expect(() =>
      buildRiverApp({ ...defaultRiverConfig(), image: 'example/river:1' }, { lambdaDir, imageDir: empty, outdir: temp('river-out-') }),
    ).not.toThrow();
  });

  it('finds the image build context in @river/server by module resolution (here: the workspace link to server/image)', () => {
    const dir = serverImageDir();
    expect(dir).toBe(join(REPO_DIR, 'server', 'image'));
    expect(existsSync(join(dir!, 'Dockerfile'))).toBe(true);
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
