// Reins dashboard: requests to the API, with the token the server may ask for.

import { $, API } from './util.js';

// ---- The API, with the token the server may ask for ----

const TOKEN_KEY = 'reins.token';
let token = sessionStorage.getItem(TOKEN_KEY) || '';

// currentToken is the token this tab sends, or ''.
export const currentToken = () => token;
export const withAuth = (headers) => (token ? Object.assign(headers, { Authorization: 'Bearer ' + token }) : headers);

export class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function errorOf(res) {
  try {
    const body = await res.json();
    if (body && body.error_message) return new APIError(res.status, body.error_message);
  } catch (_) { /* not JSON */ }
  return new APIError(res.status, res.status + ' ' + res.statusText);
}

// api sends one request and returns the JSON answer; a 401 asks for a token and retries.
export async function api(method, path, form) {
  for (;;) {
    const opts = { method, headers: withAuth({ Accept: 'application/json' }) };
    if (form) opts.body = new URLSearchParams(form);
    let res;
    try {
      res = await fetch(API + path, opts);
    } catch (e) {
      throw new APIError(0, 'the server cannot be reached');
    }
    if (res.status === 401) {
      await askToken((await errorOf(res)).message);
      continue;
    }
    if (!res.ok) throw await errorOf(res);
    return res.status === 204 ? null : res.json();
  }
}

let tokenAsk = null;
// askToken shows the token dialog (once, however many requests wait) and resolves when the
// person gives a token; it rejects when they cancel.
export function askToken(why) {
  if (tokenAsk) return tokenAsk;
  const dialog = $('#token-dialog');
  $('#token-why').textContent = why ? 'The server answered: ' + why : 'This server asks for an API token.';
  dialog.querySelector('input').value = '';
  tokenAsk = new Promise((resolve, reject) => {
    dialog.addEventListener('close', function onClose() {
      dialog.removeEventListener('close', onClose);
      tokenAsk = null;
      if (dialog.returnValue === 'save' && setToken(dialog.querySelector('input').value.trim())) resolve();
      else reject(new APIError(401, 'an API token is needed'));
    });
  });
  if (!dialog.open) dialog.showModal();
  return tokenAsk;
}

export function setToken(t) {
  token = t;
  if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
  return !!t;
}
