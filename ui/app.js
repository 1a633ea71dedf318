// The chorus dashboard: members, ledger and balances from the GET endpoints
// (polled), jobs live from the event stream (EventSource on /v1/events), and a
// throughput chart drawn on a canvas.  No libraries; no inline script (CSP).
'use strict';

const JOBS_SHOWN = 50;        // rows kept in the jobs table
const CHART_SECONDS = 60;     // seconds of throughput drawn
const POLL_MS = 2000;

const jobs = new Map();       // id -> latest job event
const finished = [];          // per-second counts, newest last

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el('tr');
  cells.forEach((c, i) => tr.appendChild(el('td', c, i === cls ? String(c) : undefined)));
  return tr;
}

async function get(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  if (!r.ok) throw new Error(path + ': ' + r.status);
  return r.json();
}

async function pollMembers() {
  const d = await get('/v1/members');
  const tb = document.getElementById('members');
  tb.replaceChildren(...d.members.map(m => row([m.name, m.state, m.roles.join(','),
    m.capabilities.join(','), m.load + '/' + m.capacity, m.addr], 1)));
}

async function pollStatus() {
  const s = await get('/v1/status');
  document.getElementById('node').textContent =
    s.name + ' (' + s.id_short + ') ' + s.version + ', up ' + s.uptime_s + ' s';
}

async function pollLedger() {
  const dl = document.getElementById('ledger');
  let l;
  try { l = await get('/v1/ledger'); } catch (e) { dl.replaceChildren(el('dt', 'ledger'), el('dd', 'none')); return; }
  const items = [['height', l.height], ['head', l.head_hash], ['leader', l.leader_name || l.leader],
    ['voters', (l.voters || []).map(v => v.name || v.id).join(', ')], ['credited', l.credited],
    ['total reward', l.total_reward]];
  dl.replaceChildren(...items.flatMap(([k, v]) => [el('dt', k), el('dd', v === undefined ? '-' : v)]));
  try {
    const b = await get('/v1/ledger/balances');
    document.getElementById('balances').replaceChildren(...(b.accounts || []).map(a =>
      row([a.name, a.balance, a.earned, a.jobs_run])));
  } catch (e) { /* not a ledger node */ }
}

function drawJobs() {
  const rows = [...jobs.values()].slice(-JOBS_SHOWN).reverse();
  document.getElementById('jobs').replaceChildren(...rows.map(j =>
    row([j.id, j.kind, j.state, j.worker || '', j.elapsed_ms], 2)));
}

function drawChart() {
  const c = document.getElementById('chart'), g = c.getContext('2d');
  const max = Math.max(1, ...finished);
  g.clearRect(0, 0, c.width, c.height);
  g.fillStyle = '#2f6fb0';
  const w = c.width / CHART_SECONDS;
  finished.forEach((n, i) => {
    const h = (c.height - 14) * n / max;
    g.fillRect(i * w, c.height - h, Math.max(1, w - 1), h);
  });
  g.fillStyle = '#222';
  g.fillText('max ' + max + '/s', 4, 12);
}

function tick() {
  finished.push(0);
  while (finished.length > CHART_SECONDS) finished.shift();
  drawChart();
}

function stream() {
  const es = new EventSource('/v1/events?type=job,member');
  const st = document.getElementById('stream');
  es.onopen = () => { st.textContent = 'stream: live'; };
  es.onerror = () => { st.textContent = 'stream: reconnecting'; };
  es.addEventListener('job', ev => {
    const j = JSON.parse(ev.data);
    jobs.delete(j.id);
    jobs.set(j.id, j);
    while (jobs.size > JOBS_SHOWN) jobs.delete(jobs.keys().next().value);
    if (j.final && finished.length) finished[finished.length - 1]++;
    drawJobs();
  });
  es.addEventListener('member', () => { pollMembers().catch(() => {}); });
}

// The newest jobs once, at start; the stream keeps them current after.
async function loadJobs() {
  const d = await get('/v1/jobs?limit=' + JOBS_SHOWN);
  for (const j of (d.jobs || []).reverse()) {
    if (!jobs.has(j.id)) jobs.set(j.id, { id: j.id, kind: j.kind, state: j.state,
      worker: j.worker_name || '', elapsed_ms: j.elapsed_ms || '' });
  }
  drawJobs();
}

function poll() {
  Promise.allSettled([pollStatus(), pollMembers(), pollLedger()]);
}

document.addEventListener('DOMContentLoaded', () => {
  tick();
  poll();
  stream();
  loadJobs().catch(() => {});
  setInterval(poll, POLL_MS);
  setInterval(tick, 1000);
});
