/**
 * A River node in this process for one test file (loopback, port 0) and a fresh project folder for
 * each test: registers the vitest hooks that start and stop the node and make and remove the folder.
 * With `dev: true` each project's .river/dev.json points at the node, as `river dev` writes it (the
 * node's pid is this process). Not part of the build.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { loadConfig, startRiver, type RiverNode } from '@river/server';
import { writeDevState } from './state.js';
import { tempProject } from './test-context.js';

export interface TestNodeOptions {
  /** Default: 32 random bytes. */
  secret?: string;
  key?: string;
  dev?: boolean;
}

export interface TestNode {
  readonly secret: string;
  readonly key: string;
  /** Set from beforeAll on. */
  readonly node: RiverNode;
  /** The current test's project. */
  readonly project: { dir: string; cleanup: () => Promise<void> };
}

export function testNode(opts: TestNodeOptions = {}): TestNode {
  const secret = opts.secret ?? randomBytes(32).toString('base64url');
  const key = opts.key ?? randomBytes(32).toString('base64url');
  let node: RiverNode | undefined;
  let project: TestNode['project'] | undefined;
  beforeAll(async () => {
    node = await startRiver(
      loadConfig({
        RIVER_PORT: '0',
        RIVER_HOST: '127.0.0.1',
        RIVER_JWT_SECRET: secret,
        RIVER_API_KEY: key,
        RIVER_DRAIN_MS: '0',
        RIVER_LOG_LEVEL: 'silent',
      }),
    );
  });
  afterAll(async () => {
    await node?.close();
  });
  beforeEach(async () => {
    project = await tempProject();
    if (opts.dev && node) {
      await writeDevState(project.dir, { secret, apiKey: key, url: node.urls.http, wsUrl: node.urls.ws, pid: process.pid });
    }
  });
  afterEach(async () => {
    await project?.cleanup();
  });
  return {
    secret,
    key,
    get node() {
      if (!node) throw new Error('testNode: the node starts in beforeAll');
      return node;
    },
    get project() {
      if (!project) throw new Error('testNode: the project is made in beforeEach');
      return project;
    },
  };
}
