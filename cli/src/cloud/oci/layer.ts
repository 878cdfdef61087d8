/**
 * One deterministic image layer from a directory, as `COPY <dir>/ <dest>/` would put it in an image:
 * a gzip'd tar (tar-stream) of every file, directory and symlink under the directory, at `<dest>/…`,
 * in sorted order, owned by 0:0 (COPY without --chown), with the files' permission bits and one fixed
 * mtime. The same tree gives the same diff_id (sha256 of the tar) and, with the same zlib, the same
 * digest (sha256 of the gzip). The layer is written to a file; nothing is held in memory.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

/** 1970-01-01T00:00:01Z, as jib uses: some tools treat an mtime of 0 as "unset". */
export const LAYER_MTIME = new Date(1000);

export interface Layer {
  path: string;
  /** sha256 of the gzip'd bytes (the blob digest). */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar (rootfs.diff_ids). */
  diffId: string;
}

interface Entry {
  rel: string;
  kind: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  linkname?: string;
}

/** Every entry under `root`, parents before children, siblings sorted by name (byte order). */
async function walk(root: string): Promise<Entry[]> {
  const out: Entry[] = [];
  async function visit(rel: string): Promise<void> {
    const names = (await readdir(join(root, rel))).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1));
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(root, r));
      if (st.isSymbolicLink()) out.push({ rel: r, kind: 'symlink', mode: 0o777, size: 0, linkname: await readlink(join(root, r)) });
      else if (st.isDirectory()) {
        out.push({ rel: r, kind: 'directory', mode: st.mode & 0o7777, size: 0 });
        await visit(r);
      } else if (st.isFile()) out.push({ rel: r, kind: 'file', mode: st.mode & 0o7777, size: st.size });
      else throw new Error(`${join(root, r)}: only files, directories and symlinks can go into the image`);
    }
  }
  await visit('');
  return out;
}

class Hashing extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

/** Sets the gzip header's OS byte to 3 (Unix) so the bytes do not depend on the platform zlib was built for. */
class FixGzipHeader extends Transform {
  private seen = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.seen <= 9 && this.seen + chunk.length > 9) {
      chunk = Buffer.from(chunk);
      chunk[9 - this.seen] = 3;
    }
    this.seen += chunk.length;
    cb(null, chunk);
  }
}

/** Writes the layer of `srcDir` placed at `dest` (absolute, e.g. /app) to `outPath`. */
export async function writeLayer(srcDir: string, dest: string, outPath: string): Promise<Layer> {
  const prefix = dest.replace(/^\/+/, '').replace(/\/+$/, '');
  const entries = await walk(srcDir);
  const pack = tar.pack();
  const base = { mtime: LAYER_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  const producing = (async () => {
    const put = (header: tar.Headers, body?: Readable) =>
      new Promise<void>((resolve, reject) => {
        const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
        if (body) {
          body.on('error', reject);
          body.pipe(entry as unknown as NodeJS.WritableStream);
        }
      });
    try {
      // The destination directory itself and its parents, as WORKDIR/COPY create them (0755, root).
      const parts = prefix === '' ? [] : prefix.split('/');
      for (let i = 1; i <= parts.length; i++)
        await put({ ...base, name: `${parts.slice(0, i).join('/')}/`, type: 'directory', mode: 0o755 });
      for (const e of entries) {
        const name = prefix === '' ? e.rel : posix.join(prefix, e.rel);
        if (e.kind === 'directory') await put({ ...base, name: `${name}/`, type: 'directory', mode: e.mode });
        else if (e.kind === 'symlink') await put({ ...base, name, type: 'symlink', mode: e.mode, linkname: e.linkname! });
        else await put({ ...base, name, type: 'file', mode: e.mode, size: e.size }, createReadStream(join(srcDir, e.rel)));
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  const raw = new Hashing();
  const gz = new Hashing();
  await Promise.all([
    pipeline(
      Readable.from(pack as unknown as AsyncIterable<Buffer>),
      raw,
      createGzip({ level: 6 }),
      new FixGzipHeader(),
      gz,
      createWriteStream(outPath),
    ),
    producing,
  ]);
  return { path: outPath, digest: `sha256:${gz.hash.digest('hex')}`, size: gz.size, diffId: `sha256:${raw.hash.digest('hex')}` };
}
