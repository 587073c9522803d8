// What every view of the viewer shares: the viewer token (taken from the URL's
// fragment, kept for the tab's life in sessionStorage, never sent but as a bearer
// header), calls to the API, and the filters as the URL holds them.

const STORE = 'auditlog.viewer.';

/** A problem to show the reader, in words. */
export class Problem extends Error {}

/** The claims of a viewer token (its first part), for display only: the server checks. */
function claimsOf(token) {
  const body = token.slice(4).split('.')[0] || '';
  const json = atob(body.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

/** The session: the token, its claims, and a verifier key pinned by the embedding page. */
export function session() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) {
    sessionStorage.setItem(STORE + 'token', fragment.get('token'));
    if (fragment.get('vkey')) sessionStorage.setItem(STORE + 'vkey', fragment.get('vkey'));
    else sessionStorage.removeItem(STORE + 'vkey');
    // Out of the address bar: a shared URL shares the view, never the token.
    history.replaceState(null, '', location.pathname + location.search);
  }
  const token = sessionStorage.getItem(STORE + 'token');
  if (!token) throw new Problem('This page needs a viewer token: open the link you were given.');
  let claims;
  try {
    claims = claimsOf(token);
  } catch {
    throw new Problem('The viewer token in the link is damaged: ask for a new link.');
  }
  return { token, claims, pinnedKey: sessionStorage.getItem(STORE + 'vkey') };
}

/** GET `path` with `params`; the answer as `kind` ('json', 'text' or 'blob'). */
export async function api(sess, path, params = {}, kind = 'json') {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(name, value);
  }
  const url = query.toString() ? `${path}?${query}` : path;
  let answer;
  try {
    answer = await fetch(url, { headers: { Authorization: `Bearer ${sess.token}` } });
  } catch {
    throw new Problem('The audit log server cannot be reached.');
  }
  if (!answer.ok) {
    let message = `${answer.status} ${answer.statusText}`;
    try {
      message = (await answer.json()).error.message;
    } catch { /* not our error body */ }
    if (answer.status === 401) {
      throw new Problem(`Your access to this audit log has ended (${message}). Ask for a new link.`);
    }
    if (answer.status === 403) throw new Problem(`Not allowed: ${message}.`);
    throw new Problem(message);
  }
  if (kind === 'json') return answer.json();
  if (kind === 'text') return answer.text();
  return answer.blob();
}

/** The filter names the URL and the API share. */
export const FILTERS = ['from', 'to', 'actor', 'action', 'outcome', 'resource_type', 'resource_id'];

/** The filters of the page's URL. */
export function filtersFromUrl() {
  const query = new URLSearchParams(location.search);
  const filters = {};
  for (const name of FILTERS) if (query.get(name)) filters[name] = query.get(name);
  return filters;
}

/** An RFC 3339 time as a datetime-local value in UTC (a hand-written offset applied). */
export function utcInput(value) {
  const ms = Date.parse(value ?? '');
  return Number.isNaN(ms) ? '' : new Date(ms).toISOString().slice(0, 19);
}

/** A datetime-local value, read as UTC, in RFC 3339. */
export function utcTime(value) {
  return `${value.length === 16 ? `${value}:00` : value}Z`;
}

/** Shows `problem` (or clears it) in the page's alert. */
export function showProblem(problem) {
  const box = document.getElementById('problem');
  box.hidden = !problem;
  box.textContent = problem ? problem.message : '';
}

/** Names the tenant in the header, and keeps the filters on the links between views. */
export function frame(sess) {
  const tenant = document.getElementById('tenant');
  tenant.textContent = `· ${sess.claims.tenant}`;
  for (const link of document.querySelectorAll('a[data-keep-query]')) {
    link.href = link.getAttribute('href').split('?')[0] + location.search;
  }
}

/** An element `tag` with `text` and attributes. */
export function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

/** The markers a field read from a record with a sealed block may hold (docs/PRIVACY.md). */
export const MARKERS = {
  '[erased]': 'erased',
  '[sealed]': 'sealed',
  '[unavailable]': 'unavailable',
};

/** `value` as a text node, or a marker badge for an erased, sealed or unavailable field. */
export function fieldValue(value) {
  if (typeof value === 'string' && MARKERS[value]) {
    return el('span', MARKERS[value], { class: `marker marker-${MARKERS[value]}`, title: `This personal field is ${MARKERS[value]}` });
  }
  if (value === undefined || value === null) return el('span', '—', { class: 'quiet', 'aria-label': 'absent' });
  return document.createTextNode(typeof value === 'string' ? value : JSON.stringify(value));
}

/** Saves `blob` as `name`. */
export function save(blob, name) {
  const link = el('a', '', { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
