// The forum page's live part: subscribe to the forum's channel and its presence channel with
// @river/client, add each new post once and in order, show who is reading.
import { River } from '/assets/river-client.js';

const cfg = JSON.parse(document.getElementById('forum-config').textContent);
const postsEl = document.getElementById('posts');
const readersEl = document.getElementById('readers');
const statusEl = document.getElementById('status');
const form = document.getElementById('post-form');

const known = new Set([...postsEl.querySelectorAll('li.post')].map((li) => Number(li.dataset.id)));

function addPost(post) {
  if (known.has(post.id)) return; // each post once, whichever way it arrived
  known.add(post.id);
  const li = document.createElement('li');
  li.className = 'post';
  li.dataset.id = String(post.id);
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = post.author;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = post.text;
  li.append(author, text);
  // In id order, even when a refetch or a recovered message fills a gap.
  const after = [...postsEl.children].find((el) => Number(el.dataset.id) > post.id);
  postsEl.insertBefore(li, after ?? null);
}

async function refetch() {
  const res = await fetch(`/f/${encodeURIComponent(cfg.forum)}/posts.json`);
  if (res.ok) for (const post of (await res.json()).posts) addPost(post);
}

const river = new River({
  url: cfg.wsUrl,
  token: () =>
    fetch('/river-token').then((r) => {
      if (!r.ok) throw new Error(`token endpoint answered ${r.status}`);
      return r.text();
    }),
});
globalThis.river = river; // handy in the console

let connects = 0;
river.on('state', ({ to, reason }) => {
  statusEl.textContent = to;
  statusEl.dataset.state = to;
  statusEl.title = reason;
  if (to === 'connected') statusEl.dataset.connects = String(++connects);
});
river.on('error', (err) => console.warn('river:', err.code, err.message));

const channel = river.subscribe(cfg.channel, cfg.since ? { since: cfg.since } : undefined);
// Every delivery the SDK makes, before the page's own dedupe by id: the e2e test checks that the SDK
// itself delivers each post once and in offset order (the dedupe below would hide it otherwise).
const deliveries = (globalThis.__riverDeliveries = []);
channel.on('new-post', (post, meta) => {
  deliveries.push({ offset: meta.offset, epoch: channel.position?.epoch, id: post.id });
  addPost(post);
});
// false: River could not replay what we missed (e.g. its history was lost): ask the app instead.
channel.on('recovered', ({ recovered }) => {
  if (!recovered) refetch().catch((err) => console.warn('refetch failed', err));
});

const room = river.subscribe(cfg.presence);
function renderReaders() {
  readersEl.replaceChildren(
    ...room.members.map((m) => {
      const li = document.createElement('li');
      li.dataset.user = m.userId;
      li.textContent = m.info?.name ?? m.userId;
      return li;
    }),
  );
}
room.on('subscribed', renderReaders);
room.on('member-added', renderReaders);
room.on('member-removed', renderReaders);

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = form.elements.namedItem('text');
  const text = input.value.trim();
  if (!text) return;
  const res = await fetch(form.action, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ text }),
  });
  if (res.ok) {
    addPost((await res.json()).post);
    input.value = '';
  }
});
