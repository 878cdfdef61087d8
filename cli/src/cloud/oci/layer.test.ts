import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LAYER_MTIME, writeLayer } from './layer.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'river-layer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tree(root: string, mtime: Date): Promise<void> {
  await mkdir(join(root, 'server/lib'), { recursive: true });
  await writeFile(join(root, 'server/main.js'), 'console.log("river")\n');
  await writeFile(join(root, 'server/lib/b.js'), 'b');
  await writeFile(join(root, 'server/lib/a.js'), 'a');
  await writeFile(join(root, 'run.sh'), '#!/bin/sh\n');
  await chmod(join(root, 'run.sh'), 0o755);
  await symlink('server/main.js', join(root, 'main.js'));
  for (const p of ['server/main.js', 'server/lib/a.js', 'run.sh']) await utimes(join(root, p), mtime, mtime);
}

async function listTar(path: string): Promise<Array<Pick<tar.Headers, 'name' | 'type' | 'mode' | 'uid' | 'gid' | 'mtime' | 'linkname'>>> {
  const out: Array<Pick<tar.Headers, 'name' | 'type' | 'mode' | 'uid' | 'gid' | 'mtime' | 'linkname'>> = [];
  const extract = tar.extract();
  extract.on('entry', (h, stream, next) => {
    out.push({
      name: h.name,
      type: h.type,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      mtime: h.mtime,
      ...(h.linkname ? { linkname: h.linkname } : {}),
    });
    stream.on('end', next);
    stream.resume();
  });
  await pipeline(createReadStream(path), createGunzip(), extract as unknown as NodeJS.WritableStream);
  return out;
}

describe('writeLayer', () => {
  it('puts the tree under the destination, sorted, owned by root, with one mtime and the files’ modes', async () => {
    await tree(join(dir, 'a'), new Date('2020-05-05T00:00:00Z'));
    const layer = await writeLayer(join(dir, 'a'), '/app', join(dir, 'a.tgz'));
    const entries = await listTar(layer.path);
    expect(entries.map((e) => e.name)).toEqual(
      ['app/', 'main.js', 'run.sh', 'server/', 'server/lib/', 'server/lib/a.js', 'server/lib/b.js', 'server/main.js'].map((n, i) =>
        i === 0 ? n : `app/${n}`,
      ),
    );
    expect(new Set(entries.map((e) => `${e.uid}:${e.gid}`))).toEqual(new Set(['0:0']));
    expect(new Set(entries.map((e) => e.mtime?.getTime()))).toEqual(new Set([LAYER_MTIME.getTime()]));
    expect(entries.find((e) => e.name === 'app/run.sh')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(entries.find((e) => e.name === 'app/main.js')).toMatchObject({ type: 'symlink', linkname: 'server/main.js' });
    expect(layer.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(layer.diffId).not.toBe(layer.digest);
  });

  it('is deterministic: the same tree in another folder with other mtimes gives the same digest; a changed byte does not', async () => {
    await tree(join(dir, 'a'), new Date('2020-05-05T00:00:00Z'));
    await tree(join(dir, 'b'), new Date('2024-01-01T12:00:00Z'));
    const a = await writeLayer(join(dir, 'a'), '/app', join(dir, 'a.tgz'));
    const b = await writeLayer(join(dir, 'b'), '/app/', join(dir, 'b.tgz'));
    expect(b).toEqual({ ...a, path: join(dir, 'b.tgz') });
    await writeFile(join(dir, 'b/server/lib/a.js'), 'A');
    const c = await writeLayer(join(dir, 'b'), '/app', join(dir, 'c.tgz'));
    expect(c.digest).not.toBe(a.digest);
    expect(c.diffId).not.toBe(a.diffId);
  });
});
