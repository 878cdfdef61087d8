/**
 * The console's one page (console.ts serves it at /console): HTML, CSS and plain browser JS in one
 * string, no dependency and no CDN, so it ships inside dist/ and the image bundle as it is. Every
 * value shown is set with textContent (never parsed as HTML). The API key, when the node asks for
 * one, is kept in sessionStorage (this tab only) and sent as a header or in the tap's first frame,
 * never in a URL.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>River console</title>
<style>
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:#0f172a;color:#e2e8f0}
header{display:flex;gap:16px;align-items:center;padding:10px 16px;background:#1e293b;border-bottom:1px solid #334155}
h1{font-size:16px;margin:0}h2{font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:#94a3b8;margin:0 0 8px}
main{display:grid;grid-template-columns:1fr 1fr;gap:12px;padding:12px}section{background:#1e293b;border:1px solid #334155;border-radius:6px;padding:10px;min-width:0}
.wide{grid-column:1/3}.counters{display:flex;gap:18px;flex-wrap:wrap;align-items:center}.counter b{display:block;font-size:22px;color:#f8fafc}.counter span{color:#94a3b8;font-size:12px}
table{width:100%;border-collapse:collapse;font-size:13px}th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #334155;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:260px}
th{color:#94a3b8;font-weight:500}tr.pick{cursor:pointer}tr.pick:hover{background:#334155}
input,textarea,button{font:inherit;color:inherit;background:#0f172a;border:1px solid #475569;border-radius:4px;padding:4px 6px}
button{cursor:pointer;background:#2563eb;border-color:#2563eb}button.danger{background:#b91c1c;border-color:#b91c1c}
textarea{width:100%;height:70px;font-family:ui-monospace,monospace}.row{display:flex;gap:6px;margin-bottom:6px}.row input{flex:1}
.err{color:#fca5a5}.ok{color:#86efac}.muted{color:#94a3b8}.scroll{max-height:260px;overflow:auto}code{font-family:ui-monospace,monospace;font-size:12px}
#keyform{display:none;padding:16px}
</style></head><body>
<header><h1>River console</h1><span id="status" class="muted">connecting…</span><span id="nodes" class="muted"></span></header>
<form id="keyform"><p>This node's console needs the API key. It is kept for this tab only (sessionStorage).</p>
<div class="row"><input id="key" type="password" autocomplete="off" placeholder="API key"><button>Use key</button></div></form>
<main id="app">
<section class="wide"><div class="counters">
<div class="counter"><b id="c-connections">0</b><span>connections</span></div>
<div class="counter"><b id="c-subscriptions">0</b><span>subscriptions</span></div>
<div class="counter"><b id="c-channels">0</b><span>channels</span></div>
<div class="counter"><b id="c-in">0</b><span>messages in /s</span></div>
<div class="counter"><b id="c-out">0</b><span>messages out /s</span></div>
<canvas id="chart" width="420" height="60" title="messages in (blue) and out (green) per second, last 5 minutes"></canvas>
</div></section>
<section><h2>Channels</h2><div class="scroll"><table><thead><tr><th>channel</th><th>subscribers</th><th>last offset</th></tr></thead><tbody id="channels"></tbody></table></div></section>
<section><h2>Connections</h2><div class="scroll"><table><thead><tr><th>user</th><th>channels</th><th>since</th><th>node</th><th></th></tr></thead><tbody id="connections"></tbody></table></div><div id="disc-status" class="muted"></div></section>
<section><h2>Channel <span id="channel-name" class="muted">(pick one)</span></h2>
<div class="muted">presence members</div><ul id="members"></ul>
<div class="muted">history (newest last)</div><div class="scroll"><table><tbody id="history"></tbody></table></div></section>
<section><h2>Publish</h2><form id="publish">
<div class="row"><input id="pub-channel" placeholder="channel" required><input id="pub-event" placeholder="event" required></div>
<textarea id="pub-data" spellcheck="false">{"hello": "world"}</textarea>
<div class="row"><button id="pub-send">Publish</button><span id="pub-status" class="muted"></span></div></form></section>
<section class="wide"><h2>Live tail</h2><div class="row"><input id="tail-pattern" value="*" title="channel or pattern (*)"><button id="tail-apply" type="button">Tap</button><span id="tail-status" class="muted"></span></div>
<div class="scroll"><table><thead><tr><th>time</th><th>channel</th><th>event</th><th>offset</th><th>size</th><th>data</th></tr></thead><tbody id="tail"></tbody></table></div></section>
</main>
<script>
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var key = sessionStorage.getItem('river-console-key') || '';
  var samples = [];
  var last = null;
  var tap = null;
  var tapPattern = '*';
  var selected = null;
  var paused = false;

  function cell(tr, text) { var td = document.createElement('td'); td.textContent = text; td.title = text; tr.appendChild(td); return td; }
  function needKey() {
    paused = true;
    $('keyform').style.display = 'block';
    $('status').textContent = 'API key needed';
  }
  $('keyform').addEventListener('submit', function (e) {
    e.preventDefault();
    key = $('key').value.trim();
    sessionStorage.setItem('river-console-key', key);
    $('key').value = '';
    $('keyform').style.display = 'none';
    paused = false;
    refresh();
    openTap();
  });

  async function api(method, path, body) {
    var headers = { 'content-type': 'application/json', 'x-river-console': '1' };
    if (key) headers.authorization = 'Bearer ' + key;
    var res = await fetch('/console/api' + path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) });
    var data = await res.json().catch(function () { return {}; });
    if (res.status === 401) { needKey(); throw new Error('the API key is needed'); }
    if (!res.ok) throw new Error((data.error && data.error.message) || 'HTTP ' + res.status);
    return data;
  }

  function rates(nodes, at) {
    var pub = 0, del = 0;
    nodes.forEach(function (n) { pub += n.published; del += n.delivered; });
    var r = { in: 0, out: 0 };
    // A refresh right after a publish is not a sample: rates are over the 2 s polls only.
    if (last !== null && at - last.at < 1500) return samples.length > 0 ? samples[samples.length - 1] : r;
    if (last !== null && at > last.at) {
      var dt = (at - last.at) / 1000;
      r.in = Math.max(0, (pub - last.pub) / dt);
      r.out = Math.max(0, (del - last.del) / dt);
    }
    last = { pub: pub, del: del, at: at };
    samples.push(r);
    if (samples.length > 150) samples.shift();
    return r;
  }

  function draw() {
    var c = $('chart'), g = c.getContext('2d');
    g.clearRect(0, 0, c.width, c.height);
    var max = 1;
    samples.forEach(function (s) { max = Math.max(max, s.in, s.out); });
    [['in', '#60a5fa'], ['out', '#4ade80']].forEach(function (line) {
      g.strokeStyle = line[1]; g.beginPath();
      samples.forEach(function (s, i) {
        var x = c.width - (samples.length - 1 - i) * (c.width / 150);
        var y = c.height - 2 - (s[line[0]] / max) * (c.height - 4);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    });
  }

  function render(state) {
    var nodes = state.nodes;
    var conns = 0, subs = 0;
    nodes.forEach(function (n) { conns += n.connectionCount; subs += n.subscriptions; });
    var r = rates(nodes, Date.now());
    $('c-connections').textContent = conns;
    $('c-subscriptions').textContent = subs;
    $('c-channels').textContent = state.channels.length;
    $('c-in').textContent = r.in.toFixed(1);
    $('c-out').textContent = r.out.toFixed(1);
    $('nodes').textContent = nodes.length + (nodes.length === 1 ? ' node' : ' nodes') + (state.mode === 'open' ? ' · river dev (no key)' : '');
    draw();
    var tb = $('channels'); tb.textContent = '';
    state.channels.forEach(function (c) {
      var tr = document.createElement('tr'); tr.className = 'pick'; tr.dataset.channel = c.name;
      cell(tr, c.name); cell(tr, String(c.subscribers)); cell(tr, c.offset === null ? '?' : String(c.offset));
      tr.addEventListener('click', function () { select(c.name); });
      tb.appendChild(tr);
    });
    var cb = $('connections'); cb.textContent = '';
    nodes.forEach(function (n) {
      n.connections.forEach(function (c) {
        var tr = document.createElement('tr'); tr.dataset.user = c.userId; tr.dataset.connection = c.id;
        cell(tr, c.userId); cell(tr, c.channels.join(', ') || '—'); cell(tr, new Date(c.since).toLocaleTimeString()); cell(tr, n.node);
        var td = document.createElement('td'); var b = document.createElement('button');
        b.className = 'danger disconnect'; b.type = 'button'; b.textContent = 'Disconnect';
        b.addEventListener('click', function () { disconnect(c.userId); });
        td.appendChild(b); tr.appendChild(td); cb.appendChild(tr);
      });
    });
  }

  async function refresh() {
    if (paused) return;
    try {
      render(await api('GET', '/state'));
      $('status').textContent = 'live';
      $('status').className = 'ok';
    } catch (e) {
      if (!paused) { $('status').textContent = e.message; $('status').className = 'err'; }
    }
  }

  async function disconnect(userId) {
    try {
      var r = await api('POST', '/v1/disconnect', { userId: userId });
      $('disc-status').textContent = 'disconnected ' + r.disconnected + ' connection(s) of ' + userId;
      refresh();
    } catch (e) { $('disc-status').textContent = e.message; }
  }

  async function select(name) {
    selected = name;
    $('channel-name').textContent = name;
    $('pub-channel').value = name;
    $('tail-pattern').value = name;
    openTap();
    var h = $('history'); h.textContent = '';
    var m = $('members'); m.textContent = '';
    try {
      var hist = await api('GET', '/v1/channels/' + encodeURIComponent(name) + '/history?limit=20&since=0');
      hist.messages.slice(-20).forEach(function (msg) {
        var tr = document.createElement('tr');
        cell(tr, '#' + msg.offset); cell(tr, msg.event); cell(tr, JSON.stringify(msg.data)); cell(tr, new Date(msg.ts).toLocaleTimeString());
        h.appendChild(tr);
      });
      if (name.indexOf('presence-') === 0) {
        var p = await api('GET', '/v1/channels/' + encodeURIComponent(name) + '/presence');
        p.members.forEach(function (mb) { var li = document.createElement('li'); li.textContent = mb.userId + ' ' + JSON.stringify(mb.info); m.appendChild(li); });
      } else { var li = document.createElement('li'); li.className = 'muted'; li.textContent = '(not a presence- channel)'; m.appendChild(li); }
    } catch (e) { var tr = document.createElement('tr'); cell(tr, e.message); h.appendChild(tr); }
  }

  $('publish').addEventListener('submit', async function (e) {
    e.preventDefault();
    var st = $('pub-status');
    var data;
    try { data = JSON.parse($('pub-data').value); } catch (err) { st.textContent = 'not valid JSON: ' + err.message; st.className = 'err'; return; }
    try {
      var r = await api('POST', '/v1/publish', { channel: $('pub-channel').value.trim(), event: $('pub-event').value.trim(), data: data });
      st.textContent = 'published at offset ' + r.offset; st.className = 'ok';
      refresh();
      if (selected === r.channel) select(selected);
    } catch (err) { st.textContent = err.message; st.className = 'err'; }
  });

  function tailRow(f, size) {
    var tb = $('tail'); var tr = document.createElement('tr');
    tr.dataset.channel = f.channel; tr.dataset.event = f.type === 'presence' ? 'presence:' + f.action : f.event;
    cell(tr, new Date(f.ts || Date.now()).toLocaleTimeString());
    cell(tr, f.channel);
    cell(tr, tr.dataset.event);
    cell(tr, f.offset === undefined ? '—' : String(f.offset));
    cell(tr, size + ' B');
    cell(tr, JSON.stringify(f.type === 'presence' ? f.member : f.data));
    tb.insertBefore(tr, tb.firstChild);
    while (tb.childNodes.length > 200) tb.removeChild(tb.lastChild);
  }

  function openTap() {
    tapPattern = $('tail-pattern').value.trim() || '*';
    if (tap !== null) { tap.onclose = null; tap.close(); }
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/tap');
    tap = ws;
    ws.onopen = function () { ws.send(JSON.stringify(key ? { type: 'tap', key: key, channels: [tapPattern] } : { type: 'tap', channels: [tapPattern] })); };
    ws.onmessage = function (ev) {
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === 'tapping') { $('tail-status').textContent = 'tapping ' + f.channels.join(', '); $('tail-status').className = 'ok'; }
      else if (f.type === 'message' || f.type === 'presence') tailRow(f, ev.data.length);
      else if (f.type === 'error') { $('tail-status').textContent = f.message; $('tail-status').className = 'err'; }
    };
    ws.onclose = function (ev) {
      if (tap !== ws) return;
      if (ev.code === 4500) { needKey(); return; }
      $('tail-status').textContent = 'tap closed (' + ev.code + '), retrying…'; $('tail-status').className = 'err';
      setTimeout(function () { if (tap === ws) openTap(); }, 2000);
    };
  }
  $('tail-apply').addEventListener('click', openTap);

  refresh();
  openTap();
  setInterval(refresh, 2000);
})();
</script></body></html>
`;
