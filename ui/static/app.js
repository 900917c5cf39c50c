// Reins dashboard: the jobs screen, a job's page, the forms and the live updates, over the
// public API only (docs/dashboard.md). Plain JavaScript modules, no framework and no build
// step: the server embeds these files as they are.

import { $, el, API, STATUSES, TERMINAL, ACTIVE, TYPE_NAMES, num, duration, when, statusLabel, bytes, badge, describe } from './util.js';
import { APIError, api, askToken, currentToken, errorOf, setToken, withAuth } from './api.js';
import { readEvents } from './sse.js';

const PAGE_SIZE = 20;
const COMMAND_NAMES = { PAUSE: ['Pause', 'Pausing…'], RESUME: ['Resume', 'Resuming…'],
  REVOKE: ['Revoke', 'Revoking…'], CONFIRM: ['Confirm', 'Confirming…'] };
// A stream that sends nothing, not even its 15-second ping, for this long is dead.
const STREAM_SILENCE_MS = 40000;

$('#token-button').addEventListener('click', () => {
  const dialog = $('#token-dialog');
  $('#token-why').textContent = currentToken() ? 'A token is set for this tab.' : 'No token is set; the server may not need one.';
  dialog.querySelector('input').value = '';
  dialog.addEventListener('close', function onClose() {
    dialog.removeEventListener('close', onClose);
    if (dialog.returnValue === 'save') setToken(dialog.querySelector('input').value.trim());
    else if (dialog.returnValue === 'clear') setToken('');
    else return;
    live.restart();
    refreshAll();
  });
  dialog.showModal();
});

// ---- Messages ----

let bannerTimer;
function showBanner(text, isError) {
  const b = $('#banner');
  b.textContent = text;
  b.classList.toggle('error', !!isError);
  b.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { b.hidden = true; }, 8000);
}

// ---- Jobs we know of: newest state wins ----

const jobs = new Map(); // job_id -> latest job JSON seen
const pending = new Map(); // job_id -> the command in flight
const rollbackFrom = new Map(); // job_id -> rows done when its rollback began

// remember merges a job seen in a list, an event or an answer, and reports whether it is
// newer than what was known (an older copy never overwrites a newer one).
function remember(job) {
  const old = jobs.get(job.job_id);
  if (old && Date.parse(job.updated_at) < Date.parse(old.updated_at)) return false;
  const merged = old ? Object.assign({}, old, job) : job;
  // The counts by status change with any job's status, however the page learnt of it.
  if (!old || old.job_status !== merged.job_status) loadSummarySoon();
  if (merged.job_status === 'REVOKING') {
    const before = old && old.job_status !== 'REVOKING' ? old.progress.done : 0;
    rollbackFrom.set(job.job_id, Math.max(rollbackFrom.get(job.job_id) || 0, before, merged.progress.done));
  }
  jobs.set(job.job_id, merged);
  return true;
}

// ---- Progress rendering shared by the table and the job page ----

// meter says how a job's bar looks and what its label says.
function meter(job) {
  const p = job.progress || {};
  const s = job.job_status;
  if (s === 'REVOKING') {
    const from = rollbackFrom.get(job.job_id) || p.done || 0;
    return { pct: from ? (100 * p.done) / from : 0, tone: 'danger', text: 'rolling back: ' + num(p.done) + ' rows left' };
  }
  if (s === 'REVOKED') return { pct: 0, tone: 'danger', text: 'rolled back' };
  const tone = s === 'COMPLETED' ? 'ok' : s === 'PAUSED' || s === 'PAUSING' ? 'paused' : s === 'FAILED' || s === 'REVOKED' ? 'danger' : '';
  if (p.percent === null || p.percent === undefined) {
    const running = s === 'STARTED' || s === 'RESUMED';
    return { pct: null, tone, indeterminate: running, text: running ? 'counting…' : '' };
  }
  return { pct: p.percent, tone, text: p.percent.toFixed(p.percent < 10 ? 1 : 0) + '%' };
}

function setBar(bar, pct, tone, indeterminate) {
  bar.querySelector('span').style.width = (pct === null ? 0 : Math.min(100, Math.max(0, pct))) + '%';
  if (tone) bar.dataset.tone = tone; else delete bar.dataset.tone;
  if (indeterminate) bar.dataset.indeterminate = ''; else delete bar.dataset.indeterminate;
  if (pct === null) bar.removeAttribute('aria-valuenow'); else bar.setAttribute('aria-valuenow', Math.round(pct));
}

// worker names the process running the job, while one does.
const worker = (job) => (job.run && job.run.worker && !TERMINAL.has(job.job_status) ? job.run.worker : '');

// rowsText says how many rows are done (of how many), and how many were skipped.
function rowsText(job, unit = '') {
  const p = job.progress || {};
  if (job.job_status === 'REVOKING') return num(p.done) + unit + ' left';
  const skipped = job.skipped ? ' · ' + num(job.skipped) + ' skipped' : '';
  return (p.total === null || p.total === undefined ? num(p.done) : num(p.done) + ' / ' + num(p.total)) + unit + skipped;
}

function actionsFor(status) {
  const out = [];
  if (status === 'AWAITING_CONFIRMATION') out.push('CONFIRM');
  if (status === 'CREATED' || status === 'STARTED' || status === 'RESUMED') out.push('PAUSE');
  if (status === 'PAUSED' || status === 'PAUSING') out.push('RESUME');
  if (!TERMINAL.has(status) && status !== 'REVOKING') out.push('REVOKE');
  return out;
}

// renderActions fills box with the job's command buttons, unless they already match.
function renderActions(box, job, small) {
  const busy = pending.get(job.job_id) || '';
  const key = job.job_status + '|' + busy;
  if (box.dataset.key === key) return;
  const hadFocus = box.contains(document.activeElement) ? document.activeElement.dataset.command : null;
  box.dataset.key = key;
  box.replaceChildren();
  for (const cmd of actionsFor(job.job_status)) {
    const [label, busyLabel] = COMMAND_NAMES[cmd];
    const cls = (cmd === 'REVOKE' ? 'danger' : cmd === 'CONFIRM' ? 'primary' : '') + (small ? ' small' : '');
    const b = el('button', { type: 'button', class: cls, 'data-command': cmd, disabled: !!busy,
      'aria-label': label + ' ' + (TYPE_NAMES[job.job_type] || job.job_type) + ' ' + job.job_id.slice(0, 8),
      text: busy === cmd ? busyLabel : label,
      onclick: () => command(job.job_id, cmd) });
    box.append(b);
  }
  if (hadFocus) {
    const again = box.querySelector('[data-command="' + hadFocus + '"]') || box.querySelector('button');
    if (again) again.focus();
  }
}

// ---- Commands ----

async function command(id, cmd) {
  const job = jobs.get(id);
  if (cmd === 'REVOKE' && !(await confirmRevoke(job))) return;
  pending.set(id, cmd);
  refreshJob(id);
  try {
    const answer = await api('POST', '/job-status/' + id + '/', { status: cmd });
    // The answer is the truth as of now: PAUSED means stopped, PAUSING means not yet.
    const known = jobs.get(id);
    if (known && known.job_status !== answer.job_status) {
      const fresh = await api('GET', '/job-status/' + id + '/');
      remember(fresh);
    }
  } catch (e) {
    showBanner(COMMAND_NAMES[cmd][0] + ' failed: ' + e.message, true);
  } finally {
    pending.delete(id);
    refreshJob(id);
  }
}

function confirmRevoke(job) {
  const dialog = $('#revoke-dialog');
  const what = job ? (TYPE_NAMES[job.job_type] || job.job_type).toLowerCase() + ' ' + job.job_id.slice(0, 8) : 'this job';
  const done = job && job.progress ? job.progress.done : 0;
  $('#revoke-title').textContent = 'Revoke ' + what + '?';
  $('#revoke-text').textContent = 'The job stops and everything it wrote is removed' +
    (done ? ' (' + num(done) + ' rows so far)' : '') + '. This cannot be undone.';
  return new Promise((resolve) => {
    dialog.addEventListener('close', function onClose() {
      dialog.removeEventListener('close', onClose);
      resolve(dialog.returnValue === 'revoke');
    });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

// ---- The jobs table ----

const list = { ids: [], rows: new Map(), seq: 0, next: null, filters: { status: '', type: '', cursor: '' } };
const tbody = $('#jobs tbody');

function matches(job) {
  const f = list.filters;
  if (f.type && job.job_type !== f.type) return false;
  if (f.status === 'active') return !TERMINAL.has(job.job_status);
  return !f.status || job.job_status === f.status;
}

function listQuery() {
  const f = list.filters;
  const q = new URLSearchParams({ limit: PAGE_SIZE });
  if (f.status === 'active') ACTIVE.forEach((s) => q.append('status', s));
  else if (f.status) q.append('status', f.status);
  if (f.type) q.set('type', f.type);
  if (f.cursor) q.set('cursor', f.cursor);
  return q;
}

async function loadList() {
  const seq = ++list.seq;
  let data;
  try {
    data = await api('GET', '/jobs?' + listQuery());
  } catch (e) {
    if (seq === list.seq) showBanner('Could not load the jobs: ' + e.message, true);
    return;
  }
  if (seq !== list.seq) return;
  list.ids = [];
  for (const j of data.jobs || []) {
    remember(j);
    list.ids.push(j.job_id);
  }
  list.next = data.next_cursor || null;
  renderList();
}

function renderList() {
  const keep = new Set(list.ids);
  for (const [id, row] of list.rows) if (!keep.has(id)) { row.tr.remove(); list.rows.delete(id); }
  let prev = null;
  for (const id of list.ids) {
    let row = list.rows.get(id);
    if (!row) { row = makeRow(id); list.rows.set(id, row); }
    updateRow(row, jobs.get(id));
    if (prev ? prev.nextSibling !== row.tr : tbody.firstChild !== row.tr) {
      if (prev) prev.after(row.tr); else tbody.prepend(row.tr);
    }
    prev = row.tr;
  }
  $('#jobs-empty').hidden = list.ids.length > 0;
  $('#jobs-empty').textContent = list.filters.status || list.filters.type || list.filters.cursor
    ? 'No jobs match these filters.' : 'No jobs yet. Start an export or upload a CSV above.';
  $('#page-newer').disabled = !list.filters.cursor;
  $('#page-older').disabled = !list.next;
}

function makeRow(id) {
  const r = {};
  r.link = el('a', { href: '#/jobs/' + id });
  r.sub = el('span', { class: 'id' });
  r.status = el('td', { class: 'status', 'data-label': 'Status' });
  r.bar = el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-label': 'Progress' }, el('span'));
  r.pct = el('span', { class: 'pct' });
  r.rows = el('td', { class: 'num rows', 'data-label': 'Rows' });
  r.rate = el('td', { class: 'num rate', 'data-label': 'Rate' });
  r.eta = el('td', { class: 'num eta', 'data-label': 'ETA' });
  r.created = el('td', { class: 'num created', 'data-label': 'Created' });
  r.worker = el('td', { class: 'worker mono', 'data-label': 'Worker' });
  r.acts = el('td', { class: 'acts', 'data-label': 'Actions' });
  r.tr = el('tr', { 'data-job-id': id },
    el('td', { class: 'type', 'data-label': 'Type' }, r.link, r.sub), r.status,
    el('td', { class: 'progress', 'data-label': 'Progress' }, r.bar, r.pct),
    r.rows, r.rate, r.eta, r.created, r.worker, r.acts);
  return r;
}

function updateRow(r, job) {
  r.link.textContent = TYPE_NAMES[job.job_type] || job.job_type;
  r.sub.textContent = describe(job) || job.job_id.slice(0, 8);
  r.sub.title = job.job_id;
  if (r.status.dataset.status !== job.job_status) {
    r.status.dataset.status = job.job_status;
    r.status.replaceChildren(badge(job.job_status));
  }
  const m = meter(job);
  setBar(r.bar, m.pct, m.tone, m.indeterminate);
  r.pct.textContent = m.text;
  r.rows.textContent = rowsText(job);
  const p = job.progress || {};
  r.rate.textContent = p.rate_per_s ? num(Math.round(p.rate_per_s)) + '/s' : '';
  r.eta.textContent = duration(p.eta_s);
  r.created.textContent = when(job.created_at);
  r.created.title = job.created_at;
  r.worker.textContent = worker(job);
  renderActions(r.acts, job, true);
}

// ---- Summary counts ----

let summaryTimer = null;
let summarySeq = 0;
// loadSummarySoon reloads the counts once for a burst of changes.
function loadSummarySoon() {
  if (summaryTimer) return;
  summaryTimer = setTimeout(() => { summaryTimer = null; loadSummary(); }, 250);
}
async function loadSummary() {
  const seq = ++summarySeq;
  let data;
  try { data = await api('GET', '/jobs/summary'); } catch (_) { data = null; }
  if (seq !== summarySeq) return; // a newer answer is on its way
  if (!data) { $('#summary').replaceChildren(); return; }
  const box = $('#summary');
  box.replaceChildren();
  for (const s of STATUSES) {
    const n = (data.counts || {})[s];
    if (!n) continue;
    box.append(el('button', { type: 'button', class: 'badge', 'data-status': s,
      'aria-pressed': String(list.filters.status === s), title: 'Show only ' + statusLabel(s) + ' jobs',
      text: statusLabel(s) + ' ' + num(n),
      onclick: () => setFilters({ status: list.filters.status === s ? '' : s, cursor: '' }) }));
  }
}

// ---- Filters and paging live in the URL, so the back button steps through them ----

const statusSelect = $('#filters select[name=status]');
for (const s of STATUSES) statusSelect.append(el('option', { value: s, text: statusLabel(s) }));

function setFilters(change) {
  const f = Object.assign({}, list.filters, change);
  const q = new URLSearchParams();
  for (const k of ['status', 'type', 'cursor']) if (f[k]) q.set(k, f[k]);
  const hash = '#/' + (q.toString() ? '?' + q : '');
  if (location.hash !== hash) location.hash = hash; else route();
}
$('#filters').addEventListener('change', (e) => setFilters({ [e.target.name]: e.target.value, cursor: '' }));
$('#filters').addEventListener('submit', (e) => e.preventDefault());
$('#page-older').addEventListener('click', () => list.next && setFilters({ cursor: list.next }));
$('#page-newer').addEventListener('click', () => setFilters({ cursor: '' }));

// ---- The job page ----

const detail = { id: null, seq: 0, history: null, timer: null };

async function loadDetail(id) {
  const seq = ++detail.seq;
  let job;
  try {
    job = await api('GET', '/jobs/' + id + '/');
  } catch (e) {
    if (seq !== detail.seq) return;
    $('#job-title').textContent = e.status === 404 ? 'No such job' : 'Could not load the job';
    $('#job-error').textContent = e.message;
    $('#job-error').hidden = false;
    return;
  }
  if (seq !== detail.seq || detail.id !== id) return;
  remember(job);
  detail.history = job.history || [];
  renderDetail();
}

// loadDetailSoon reloads the job page's history after a status change, at most twice a second.
function loadDetailSoon() {
  if (detail.timer) return;
  detail.timer = setTimeout(() => { detail.timer = null; if (detail.id) loadDetail(detail.id); }, 300);
}

function fact(dt, dd) {
  if (dd === null || dd === undefined || dd === '') return null;
  return el('div', {}, el('dt', { text: dt }), el('dd', {}, dd));
}

function renderDetail() {
  const job = jobs.get(detail.id);
  if (!job) return;
  const type = TYPE_NAMES[job.job_type] || job.job_type;
  $('#job-title').textContent = type + (describe(job) ? ' · ' + describe(job) : '');
  document.title = type + ' ' + job.job_id.slice(0, 8) + ' · ' + statusLabel(job.job_status) + ' · Reins';
  const st = $('#job-status');
  st.dataset.status = job.job_status;
  st.textContent = statusLabel(job.job_status);
  $('#job-id').textContent = job.job_id;

  const m = meter(job);
  setBar($('#job-bar'), m.pct, m.tone, m.indeterminate);
  $('#job-progress-label').textContent = job.job_status === 'REVOKING' ? 'Rollback' : 'Progress';
  $('#job-progress-text').textContent = rowsText(job, ' rows') + (m.text && job.job_status !== 'REVOKING' ? ' · ' + m.text : '');

  const t = job.transfer;
  $('#job-transfer').hidden = !t;
  if (t) {
    const pct = t.bytes_total ? (100 * t.bytes_received) / t.bytes_total : null;
    setBar($('#job-transfer-bar'), t.state === 'complete' ? 100 : pct, t.state === 'paused' ? 'paused' : t.state === 'complete' ? 'ok' : '',
      t.state === 'receiving' && pct === null);
    $('#job-transfer-text').textContent = t.state + ' · ' + bytes(t.bytes_received) + (t.bytes_total ? ' of ' + bytes(t.bytes_total) : '');
  }
  renderActions($('#job-actions'), job, false);

  const res = job.result && job.result.url;
  $('#job-download').hidden = !res;
  if (res) $('#job-download-link').href = res;
  $('#job-error').hidden = !job.error;
  $('#job-error').textContent = job.error ? 'Error: ' + job.error : '';

  const p = job.progress || {};
  const params = Object.entries(job.params || {}).map(([k, v]) => k + '=' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(', ');
  $('#job-facts').replaceChildren(...[
    fact('Status', statusLabel(job.job_status)),
    fact('Rows', rowsText(job)),
    fact('Rate', p.rate_per_s ? num(Math.round(p.rate_per_s)) + ' rows/s' : null),
    fact(job.job_status === 'REVOKING' ? 'Rollback ETA' : 'ETA', duration(p.eta_s) || null),
    fact('Estimated rows', job.estimated_rows !== undefined ? num(job.estimated_rows) : null),
    fact('Worker', worker(job) || null),
    fact('Created', when(job.created_at)),
    fact('Started', job.started_at ? when(job.started_at) : null),
    fact('Finished', job.finished_at ? when(job.finished_at) : null),
    fact('Updated', when(job.updated_at)),
    fact('Parameters', params || null),
    fact('Skipped rows', job.skipped ? num(job.skipped) : null),
    fact('Restart of', job.restart_of ? el('a', { href: '#/jobs/' + job.restart_of, text: job.restart_of.slice(0, 8) }) : null),
    fact('Restarted as', job.restarted_as ? el('a', { href: '#/jobs/' + job.restarted_as, text: job.restarted_as.slice(0, 8) }) : null),
  ].filter(Boolean));

  const errs = job.errors || [];
  $('#job-skipped').hidden = errs.length === 0;
  $('#job-skipped-count').textContent = job.skipped > errs.length ? '(first ' + errs.length + ' of ' + num(job.skipped) + ')' : '(' + errs.length + ')';
  $('#job-skipped tbody').replaceChildren(...errs.map((e) =>
    el('tr', {}, el('td', { class: 'num', text: e.line }), el('td', { class: 'mono', text: e.column || '(whole row)' }), el('td', { text: e.reason }))));

  if (detail.history) {
    $('#job-history tbody').replaceChildren(...detail.history.map((h) =>
      el('tr', {}, el('td', { class: 'num', title: h.at, text: when(h.at) }), el('td', {}, h.from ? badge(h.from) : ''),
        el('td', {}, badge(h.to)), el('td', { text: h.actor }), el('td', { text: h.detail || '' }))));
  }
}

// ---- Live updates: Server-Sent Events read with fetch, so the token header can go along ----

const live = {
  lastId: '', ctrl: null, retry: 1000, timer: null, lost: false,
  restart() {
    clearTimeout(this.timer);
    const old = this.ctrl;
    this.ctrl = null; // the aborted stream must not schedule a reconnect of its own
    if (old) old.abort();
    this.lastId = '';
    this.timer = setTimeout(connect, 0);
  },
};

function setConn(state, text) {
  const c = $('#conn');
  c.dataset.state = state;
  c.textContent = text;
}

async function connect() {
  const ctrl = new AbortController();
  live.ctrl = ctrl;
  let silence;
  const hush = () => { clearTimeout(silence); silence = setTimeout(() => ctrl.abort(), STREAM_SILENCE_MS); };
  try {
    const headers = withAuth({ Accept: 'text/event-stream' });
    if (live.lastId) headers['Last-Event-ID'] = live.lastId;
    const res = await fetch(API + '/events', { headers, signal: ctrl.signal, cache: 'no-store' });
    if (res.status === 401) {
      setConn('lost', 'Needs an API token');
      try {
        await askToken((await errorOf(res)).message);
      } catch (_) {
        // Cancelled: wait for a token from the top bar's button, which restarts the stream.
        if (live.ctrl === ctrl) live.ctrl = null;
        return;
      }
      throw new Error('unauthorized'); // reconnect with the token
    }
    if (!res.ok || !res.body) throw await errorOf(res);
    setConn('live', 'Live');
    live.retry = 1000;
    if (live.lost) {
      live.lost = false;
      refreshAll();
    }
    hush();
    await readEvents(res.body, { activity: hush, event: dispatch, id: (v) => { live.lastId = v; } });
  } catch (_) {
    // Falls through to reconnect, unless a newer connection replaced this one.
  } finally {
    clearTimeout(silence);
  }
  if (live.ctrl !== ctrl) return;
  live.lost = true;
  setConn('lost', 'Connection lost — reconnecting…');
  live.timer = setTimeout(connect, live.retry);
  live.retry = Math.min(live.retry * 2, 15000);
}

function dispatch(type, data) {
  let job;
  try { job = JSON.parse(data); } catch (_) { return; }
  if (!job || !job.job_id) return;
  const before = jobs.get(job.job_id);
  const statusChanged = !before || before.job_status !== job.job_status;
  if (!remember(job)) return;
  job = jobs.get(job.job_id);
  if (!list.rows.has(job.job_id) && !list.filters.cursor && matches(job) && statusChanged) {
    list.ids.unshift(job.job_id);
    list.ids.sort((a, b) => Date.parse(jobs.get(b).created_at) - Date.parse(jobs.get(a).created_at));
    if (list.ids.length > PAGE_SIZE) list.ids.length = PAGE_SIZE;
    renderList();
    const row = list.rows.get(job.job_id);
    if (row) row.tr.classList.add('flash');
  }
  if (statusChanged || type === 'status') {
    loadSummarySoon();
    if (detail.id === job.job_id) loadDetailSoon();
  }
  refreshJob(job.job_id);
}

// refreshJob redraws one job wherever it shows.
function refreshJob(id) {
  const job = jobs.get(id);
  if (!job) return;
  const row = list.rows.get(id);
  if (row) updateRow(row, job);
  if (detail.id === id) renderDetail();
  if (upload.jobId === id) renderUpload();
}

// ---- Start an export ----

$('#export-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  const out = $('#export-result');
  out.classList.remove('error');
  const q = new URLSearchParams();
  for (const name of ['date_gte', 'date_lte', 'max_rows_per_s', 'confirm_over']) {
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  if (!q.get('date_gte') || !q.get('date_lte')) {
    out.classList.add('error');
    out.textContent = 'Pick both days.';
    (q.get('date_gte') ? form.elements.date_lte : form.elements.date_gte).focus();
    return;
  }
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  delete out.dataset.jobId;
  out.textContent = 'Starting…';
  try {
    const answer = await api('GET', '/export/?' + q);
    out.replaceChildren('Started ', el('a', { href: '#/jobs/' + answer.job_id, text: 'export ' + answer.job_id.slice(0, 8) }),
      answer.estimated_rows !== undefined ? ' · about ' + num(answer.estimated_rows) + ' rows' : '',
      answer.job_status === 'AWAITING_CONFIRMATION' ? ' · waiting for your confirmation' : '',
      answer.warnings && answer.warnings.length ? ' · ' + answer.warnings.join('; ') : '');
    out.dataset.jobId = answer.job_id;
    await loadList();
  } catch (err) {
    out.classList.add('error');
    out.textContent = err.message;
  } finally {
    button.disabled = false;
  }
});

// ---- Upload a CSV into a new import ----

const upload = { jobId: null, xhr: null, sent: 0, size: 0, done: false };

$('#upload-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  const file = form.elements.file.files[0];
  const out = $('#upload-result');
  $('#upload-status').hidden = false;
  out.classList.remove('error');
  out.textContent = '';
  if (!file) {
    out.classList.add('error');
    out.textContent = 'Choose a CSV file first.';
    form.elements.file.focus();
    return;
  }
  const params = { job_type: form.elements.job_type.value, on_error: form.elements.on_error.value };
  const rate = form.elements.max_rows_per_s.value.trim();
  if (rate) params.max_rows_per_s = rate;
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  let job;
  try {
    job = await api('POST', '/new-job/', params);
  } catch (err) {
    out.classList.add('error');
    out.textContent = err.message;
    button.disabled = false;
    return;
  }
  Object.assign(upload, { jobId: job.job_id, sent: 0, size: file.size, done: false });
  $('#upload-status').dataset.jobId = job.job_id;
  $('#upload-file').textContent = file.name + ' (' + bytes(file.size) + ')';
  $('#upload-job').replaceChildren('→ ', el('a', { href: '#/jobs/' + job.job_id, text: (TYPE_NAMES[job.job_type] || 'import') + ' ' + job.job_id.slice(0, 8) }));
  remember(Object.assign({ progress: { done: 0, total: null, percent: null }, params: {}, updated_at: new Date(0).toISOString(),
    created_at: new Date().toISOString() }, job));
  renderUpload();
  loadList();
  try {
    const answer = await send(job.job_id, file);
    upload.done = true;
    out.textContent = 'File in: ' + num(answer.records) + ' rows, ' + bytes(answer.bytes) + '. The import runs as a job.';
  } catch (err) {
    out.classList.add('error');
    out.textContent = 'Upload failed: ' + err.message;
  } finally {
    button.disabled = false;
    form.elements.file.value = '';
    renderUpload();
  }
});

// send posts the file with XMLHttpRequest, whose upload events give the transfer's progress.
function send(id, file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    upload.xhr = xhr;
    xhr.open('POST', API + '/upload/?job_id=' + encodeURIComponent(id));
    if (currentToken()) xhr.setRequestHeader('Authorization', 'Bearer ' + currentToken());
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      // The request is the file in a multipart body: count the file's share of it.
      if (e.lengthComputable && e.total) upload.sent = Math.min(upload.size, Math.round((upload.size * e.loaded) / e.total));
      renderUpload();
    });
    xhr.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body || {});
      else reject(new APIError(xhr.status, (body && body.error_message) || xhr.status + ' ' + xhr.statusText));
    });
    xhr.addEventListener('error', () => reject(new APIError(0, 'the connection failed')));
    xhr.addEventListener('abort', () => reject(new APIError(0, 'cancelled')));
    const fd = new FormData();
    fd.append('file', file, file.name);
    xhr.send(fd);
  });
}

function renderUpload() {
  const job = jobs.get(upload.jobId);
  if (!job) return;
  const t = job.transfer || {};
  // The browser counts what it handed to the network; the server counts what it stored.
  const stored = upload.done || t.state === 'complete' ? upload.size : t.bytes_received || 0;
  const paused = t.state === 'paused' || job.job_status === 'PAUSED' || job.job_status === 'PAUSING';
  const pct = upload.size ? (100 * Math.max(stored, upload.sent)) / upload.size : upload.done ? 100 : 0;
  setBar($('#upload-transfer-bar'), pct, stored === upload.size ? 'ok' : paused ? 'paused' : '', false);
  $('#upload-transfer-text').textContent = stored === upload.size ? 'complete · ' + bytes(upload.size)
    : (paused ? 'paused · ' : '') + bytes(upload.sent) + ' sent, ' + bytes(stored) + ' stored of ' + bytes(upload.size);
  const m = meter(job);
  setBar($('#upload-import-bar'), m.pct, m.tone, m.indeterminate && upload.done);
  $('#upload-import-text').replaceChildren(badge(job.job_status), ' ', rowsText(job, ' rows') + (m.text ? ' · ' + m.text : ''));
  renderActions($('#upload-actions'), job, false);
}

// A download link cannot carry the token header: with a token, fetch the file and hand the
// browser the bytes instead.
$('#job-download-link').addEventListener('click', async (e) => {
  if (!currentToken()) return;
  e.preventDefault();
  const a = e.currentTarget;
  try {
    const res = await fetch(a.href, { headers: withAuth({}) });
    if (!res.ok) throw await errorOf(res);
    const name = (/filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '') || [])[1] || 'export.csv';
    const url = URL.createObjectURL(await res.blob());
    const tmp = el('a', { href: url, download: name });
    document.body.append(tmp);
    tmp.click();
    tmp.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    showBanner('Download failed: ' + err.message, true);
  }
});

// ---- Routing: #/ is the jobs screen (with its filters), #/jobs/<id> a job's page ----

function route() {
  const hash = location.hash || '#/';
  const m = hash.match(/^#\/jobs\/([0-9a-fA-F-]{36})\/?$/);
  $('#view-jobs').hidden = !!m;
  $('#view-job').hidden = !m;
  if (m) {
    if (detail.id !== m[1]) {
      detail.id = m[1];
      detail.history = null;
      $('#job-title').textContent = 'Job';
      $('#job-status').textContent = '';
      $('#job-facts').replaceChildren();
      $('#job-history tbody').replaceChildren();
      $('#job-error').hidden = true;
      $('#job-actions').dataset.key = '';
    }
    if (jobs.has(detail.id)) renderDetail();
    loadDetail(detail.id);
    $('#main').focus({ preventScroll: true });
    window.scrollTo(0, 0);
    return;
  }
  detail.id = null;
  document.title = 'Reins';
  const q = new URLSearchParams(hash.replace(/^#\/?\??/, ''));
  list.filters = { status: q.get('status') || '', type: q.get('type') || '', cursor: q.get('cursor') || '' };
  $('#filters select[name=status]').value = list.filters.status;
  $('#filters select[name=type]').value = list.filters.type;
  loadList();
  loadSummary();
}

function refreshAll() {
  if (detail.id) loadDetail(detail.id); else loadList();
  loadSummary();
}

window.addEventListener('hashchange', route);

// Default dates: the last 30 days.
const today = new Date();
const ago = new Date(today.getTime() - 30 * 86400000);
const ef = $('#export-form');
ef.elements.date_lte.value = today.toISOString().slice(0, 10);
ef.elements.date_gte.value = ago.toISOString().slice(0, 10);

route();
connect();
