/**
 * The forum of the original River talk, wired to River: server-rendered posts; posting goes through a
 * normal POST route that saves the post and then publishes it with @river/node; each page subscribes
 * with @river/client to its forum's channel (new posts appear without a refresh) and to
 * `presence-forum-<name>` (who is reading).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response, type NextFunction } from 'express';
import { River } from '@river/node';
import { PostStore, type Post } from './store.js';
import { forumPage, indexPage } from './views.js';

export interface ForumOptions {
  /** River's HTTP API base URL, used by this backend. */
  riverUrl: string;
  /** The WebSocket URL browsers connect to (default: riverUrl with ws(s):// and /v1/ws). */
  riverWsUrl?: string;
  apiKey: string;
  secret: string;
  /** The JSON file holding the posts. */
  dataFile: string;
  /** Lifetime of the client tokens minted at /river-token (default '1h'). */
  tokenTtl?: string | number;
  /** How long a page waits for the channel's stream position before it renders without it (default 1 s). */
  positionTimeoutMs?: number;
  forums?: string[];
  /** The browser build of @river/client (default: sdks/client/dist/river.min.js of this checkout). */
  clientBundle?: string;
  log?: (msg: string) => void;
}

interface User {
  id: string;
  name: string;
}

const ADJECTIVES = ['Brave', 'Calm', 'Clever', 'Curious', 'Gentle', 'Happy', 'Quick', 'Sunny', 'Witty', 'Bold'];
const ANIMALS = ['Otter', 'Heron', 'Fox', 'Badger', 'Robin', 'Lynx', 'Panda', 'Seal', 'Wren', 'Hare'];
const pick = <T>(a: T[]): T => a[randomBytes(1)[0]! % a.length]!;

/** A per-browser user kept in a cookie: a random id and a random name. */
function userOf(req: Request, res: Response): User {
  const m = /(?:^|;\s*)forum_user=([a-f0-9]{16})\.([A-Za-z0-9-]{1,40})/.exec(req.headers.cookie ?? '');
  if (m) return { id: m[1]!, name: m[2]!.replace(/-/g, ' ') };
  const user = { id: randomBytes(8).toString('hex'), name: `${pick(ADJECTIVES)} ${pick(ANIMALS)} ${(randomBytes(1)[0]! % 90) + 10}` };
  res.cookie('forum_user', `${user.id}.${user.name.replace(/ /g, '-')}`, { httpOnly: true, sameSite: 'lax', maxAge: 365 * 86_400_000 });
  return user;
}

export async function createForumApp(o: ForumOptions): Promise<{ app: express.Express; river: River; store: PostStore }> {
  const forums = o.forums ?? ['dogs', 'cats', 'birds'];
  const store = await PostStore.open(o.dataFile);
  const river = new River({ url: o.riverUrl, apiKey: o.apiKey, secret: o.secret });
  // The page's position lookup gets one short attempt: an unreachable River must not hold the page
  // for the default 3 × 10 s.
  const positions = new River({ url: o.riverUrl, apiKey: o.apiKey, timeoutMs: o.positionTimeoutMs ?? 1000, retries: 0 });
  const wsUrl = o.riverWsUrl ?? `${o.riverUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/v1/ws`;
  const clientBundle = o.clientBundle ?? fileURLToPath(new URL('../../sdks/client/dist/river.min.js', import.meta.url));
  const log = o.log ?? ((msg: string) => console.log(msg));
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));
  app.use(express.urlencoded({ extended: false, limit: '16kb' }));
  app.use((req, res, next) => {
    res.locals.user = userOf(req, res);
    next();
  });
  const user = (res: Response): User => res.locals.user as User;
  const forumOf = (req: Request): string | undefined => {
    const f = String(req.params.forum);
    return forums.includes(f) ? f : undefined;
  };

  app.get('/', (_req, res) => {
    res.type('html').send(indexPage(forums, user(res)));
  });

  app.get('/f/:forum', async (req, res) => {
    const forum = forumOf(req);
    if (!forum) return void res.status(404).type('text').send('no such forum');
    // The stream position first, then the posts: the page resumes from this position, so a post
    // published in between arrives live (and the page's dedupe by id drops it if it was rendered too).
    // Without an answer in time, the page renders without it: its first subscribe then reports
    // recovered: false and it refetches the posts.
    const since = await positions.channel(forum).then(
      (c) => ({ epoch: c.epoch, offset: c.offset }),
      () => undefined,
    );
    const config = { forum, channel: forum, presence: `presence-forum-${forum}`, wsUrl, ...(since ? { since } : {}) };
    res.type('html').send(forumPage({ forum, forums, posts: store.list(forum), user: user(res), config }));
  });

  app.get('/f/:forum/posts.json', (req, res) => {
    const forum = forumOf(req);
    if (!forum) return void res.status(404).json({ error: 'no such forum' });
    res.json({ posts: store.list(forum) });
  });

  app.post('/f/:forum/posts', async (req, res) => {
    const forum = forumOf(req);
    if (!forum) return void res.status(404).json({ error: 'no such forum' });
    const text = typeof req.body?.text === 'string' ? req.body.text.trim() : '';
    if (!text || text.length > 2000) return void res.status(400).json({ error: 'text must be 1 to 2000 characters' });
    const me = user(res);
    const post: Post = await store.add({ forum, userId: me.id, author: me.name, text });
    // Saved first, then published: if River is unreachable the post is still there, and pages that
    // missed it refetch when their resubscribe reports recovered: false.
    let published = true;
    try {
      await river.publish(forum, 'new-post', post, { idempotencyKey: `post-${post.id}` });
    } catch (err) {
      published = false;
      log(`forum: could not publish post ${post.id}: ${(err as Error).message}`);
    }
    if (req.accepts(['html', 'json']) === 'json') res.status(201).json({ post, published });
    else res.redirect(303, `/f/${forum}`);
  });

  app.get(
    '/river-token',
    river.tokenHandler<Request>(
      (req) => {
        const me = (req.res as Response).locals.user as User;
        return { sub: me.id, info: { name: me.name }, channels: [...forums, 'presence-forum-*'] };
      },
      { expiresIn: o.tokenTtl ?? '1h' },
    ),
  );

  app.get('/assets/river-client.js', (_req, res) => res.type('js').sendFile(clientBundle));
  app.get('/assets/forum.js', (_req, res) => res.type('js').sendFile(fileURLToPath(new URL('./public/forum.js', import.meta.url))));
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    log(`forum: ${err.message}`);
    res.status(500).type('text').send('internal error');
  });
  return { app, river, store };
}
