// Reins dashboard: constants, DOM and formatting helpers shared by its modules.

export const API = '/api/v1';
export const STATUSES = ['CREATED', 'AWAITING_CONFIRMATION', 'STARTED', 'PAUSING', 'PAUSED', 'RESUMED',
  'REVOKING', 'REVOKED', 'COMPLETED', 'FAILED'];
export const TERMINAL = new Set(['COMPLETED', 'REVOKED', 'FAILED']);
export const ACTIVE = STATUSES.filter((s) => !TERMINAL.has(s));
export const TYPE_NAMES = { export: 'Export', import: 'Import', teams: 'Teams' };

export const $ = (sel, root = document) => root.querySelector(sel);
const nf = new Intl.NumberFormat();

// el builds an element: el('td', {class: 'num'}, 'text', child...).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// ---- Formatting ----

export const num = (n) => (n === null || n === undefined ? '—' : nf.format(n));
export function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return '';
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
  return Math.floor(s / 3600) + 'h ' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm';
}
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}
export const statusLabel = (s) => String(s || '').replace(/_/g, ' ');
export function bytes(n) {
  if (n === null || n === undefined) return '?';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}
export function badge(status) {
  return el('span', { class: 'badge', 'data-status': status, text: statusLabel(status) });
}
export function describe(job) {
  const p = job.params || {};
  if (job.job_type === 'export' && p.date_gte) return p.date_gte + ' → ' + p.date_lte;
  if (job.transfer && job.transfer.file_name) return job.transfer.file_name;
  if (job.transfer && job.transfer.state === 'waiting') return 'waiting for its file';
  return '';
}
