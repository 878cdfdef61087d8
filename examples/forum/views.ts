import type { Post } from './store.js';

export const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON safe inside a <script> element. */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

const STYLE = `
body{font:16px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}
header{background:#1f6feb;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center}
header a{color:#fff}header .me{margin-left:auto}
main{display:flex;gap:1rem;padding:1rem}
#posts{flex:1;list-style:none;margin:0;padding:0}
.post{background:#fff;border-radius:6px;padding:.5rem .75rem;margin-bottom:.5rem;box-shadow:0 1px 2px #0002}
.author{font-weight:600;margin-right:.5rem}
aside{width:13rem}aside ul{padding-left:1rem}
form{display:flex;gap:.5rem;padding:0 1rem 1rem}form input{flex:1;padding:.4rem}
#status{font-size:.8rem;padding:.1rem .4rem;border-radius:4px;background:#0003}
`;

function layout(title: string, body: string, user: { name: string }, forums: string[]): string {
  const nav = forums.map((f) => `<a href="/f/${esc(f)}">${esc(f)}</a>`).join(' ');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body><header><strong>River forum</strong> ${nav}<span class="me">you are <b id="me">${esc(user.name)}</b></span></header>${body}</body></html>`;
}

export function postItem(p: Post): string {
  return `<li class="post" data-id="${p.id}"><span class="author">${esc(p.author)}</span><span class="text">${esc(p.text)}</span></li>`;
}

export function forumPage(o: {
  forum: string;
  forums: string[];
  posts: Post[];
  user: { id: string; name: string };
  config: { forum: string; channel: string; presence: string; wsUrl: string; since?: { epoch: string; offset: number } };
}): string {
  const body = `
<main><section style="flex:1"><h1>#${esc(o.forum)} <span id="status" data-state="offline">offline</span></h1>
<ol id="posts">${o.posts.map(postItem).join('')}</ol></section>
<aside><h2>Reading now</h2><ul id="readers"></ul></aside></main>
<form id="post-form" method="post" action="/f/${esc(o.forum)}/posts">
<input name="text" placeholder="Say something about ${esc(o.forum)}" maxlength="2000" required autocomplete="off">
<button type="submit">Post</button></form>
<script type="application/json" id="forum-config">${scriptJson(o.config)}</script>
<script type="module" src="/assets/forum.js"></script>`;
  return layout(`#${o.forum}`, body, o.user, o.forums);
}

export function indexPage(forums: string[], user: { name: string }): string {
  const items = forums.map((f) => `<li><a href="/f/${esc(f)}">#${esc(f)}</a></li>`).join('');
  return layout('River forum', `<main><section><h1>Forums</h1><ul>${items}</ul></section></main>`, user, forums);
}
