import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface Post {
  /** Increasing across the whole forum app: the page orders and dedupes by it. */
  id: number;
  forum: string;
  userId: string;
  author: string;
  text: string;
  ts: number;
}

interface Data {
  nextId: number;
  posts: Post[];
}

/**
 * Posts in one JSON file. Every change rewrites the file atomically (write a temporary file beside it,
 * then rename over it), one write at a time, so a crash never leaves half a file.
 */
export class PostStore {
  #data: Data;
  #writes: Promise<void> = Promise.resolve();
  #n = 0;

  private constructor(
    readonly file: string,
    data: Data,
  ) {
    this.#data = data;
  }

  static async open(file: string): Promise<PostStore> {
    let data: Data = { nextId: 1, posts: [] };
    try {
      data = JSON.parse(await readFile(file, 'utf8')) as Data;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await mkdir(dirname(file), { recursive: true });
    return new PostStore(file, data);
  }

  list(forum: string): Post[] {
    return this.#data.posts.filter((p) => p.forum === forum);
  }

  async add(post: Omit<Post, 'id' | 'ts'>): Promise<Post> {
    const saved: Post = { ...post, id: this.#data.nextId++, ts: Date.now() };
    this.#data.posts.push(saved);
    const snapshot = JSON.stringify(this.#data);
    const tmp = `${this.file}.${process.pid}.${++this.#n}.tmp`;
    const write = this.#writes.then(async () => {
      await writeFile(tmp, snapshot);
      await rename(tmp, this.file);
    });
    this.#writes = write.catch(() => {});
    await write;
    return saved;
  }
}
