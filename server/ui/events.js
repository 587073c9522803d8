// The events view: filters held in the URL, the activity chart, the newest events
// first with infinite scroll by cursor, exports of the current filter, and the drawer
// that shows one event whole with its proof checked in the browser.

import { FILTERS, Problem, api, el, fieldValue, filtersFromUrl, frame, save, session, showProblem, utcInput, utcTime } from './common.js';
import { bucketFor, drawChart } from './chart.js';
import { verifyEvent } from './verify.js';

/** The actions the "Privileged actions" preset selects: the server's (config.json). */
let privileged = [];
const PAGE = 50;

let sess;
let filters = {};
let cursor = null;
/** Each view of new filters is a generation: answers to an older one are dropped. */
let generation = 0;
let loading = -1;
let done = false;
let shown = [];
let shownSeqs = new Set();

/** The API's filter parameters for the page's filters. */
function params() {
  return { ...filters };
}

/** The form shows `filters` (UTC times as datetime-local values). */
function fillForm() {
  const form = document.getElementById('filters');
  for (const name of FILTERS) {
    const input = form.elements[name];
    const value = filters[name] || '';
    input.value = (name === 'from' || name === 'to') && value ? utcInput(value) : value;
  }
}

/** The filters the form holds. */
function readForm() {
  const form = document.getElementById('filters');
  const read = {};
  for (const name of FILTERS) {
    let value = form.elements[name].value.trim();
    if (!value) continue;
    if (name === 'from' || name === 'to') value = utcTime(value);
    if (name === 'action') value = value.split(',').map((a) => a.trim()).filter(Boolean).join(',');
    read[name] = value;
  }
  return read;
}

/** Shows `next` filters: in the URL (a view to share), then the chart and the first page. */
function apply(next) {
  filters = next;
  const query = new URLSearchParams(filters).toString();
  history.pushState(null, '', query ? `?${query}` : location.pathname);
  frame(sess);
  fillForm();
  reload();
}

function reload() {
  generation += 1;
  showProblem(null);
  cursor = null;
  done = false;
  shown = [];
  shownSeqs = new Set();
  document.querySelector('#events tbody').replaceChildren();
  document.getElementById('more').textContent = '';
  loadChart();
  loadPage();
}

async function loadChart() {
  const unit = bucketFor(filters);
  const mine = generation;
  document.getElementById('activity-unit').textContent = `(events per ${unit}, UTC)`;
  try {
    const answer = await api(sess, '/v1/events/count', { ...params(), bucket: unit });
    if (mine !== generation) return;
    document.getElementById('total').textContent = `(${answer.count.toLocaleString('en')})`;
    drawChart(document.getElementById('chart'), answer, unit);
  } catch (problem) {
    showProblem(problem);
  }
}

/** The next page of events, appended. */
async function loadPage() {
  const mine = generation;
  if (loading === mine || done) return;
  loading = mine;
  const more = document.getElementById('more');
  more.textContent = 'Loading events…';
  try {
    const page = await api(sess, '/v1/events', { ...params(), limit: PAGE, cursor });
    if (mine !== generation) return;
    const body = document.querySelector('#events tbody');
    for (const event of page.events) {
      if (shownSeqs.has(event.seq)) continue;
      shownSeqs.add(event.seq);
      shown.push(event);
      body.append(row(event, shown.length - 1));
    }
    cursor = page.next_cursor;
    done = !cursor;
    // For the benchmark (scripts/bench-viewer.sh): the first page of events painted.
    if (!performance.getEntriesByName('auditlog:first-page').length) {
      requestAnimationFrame(() => performance.mark('auditlog:first-page'));
    }
    more.textContent = done ? (shown.length ? `All ${shown.length} events shown.` : 'No events match.') : `${shown.length} events shown.`;
    document.getElementById('load-more').hidden = done;
    // The sentinel may still be in view (a short page, a tall window): go on.
    if (!done && inView(more)) setTimeout(loadPage, 0);
  } catch (problem) {
    if (mine !== generation) return;
    // No retry by scrolling: new filters, or a new link, start again.
    done = true;
    document.getElementById('load-more').hidden = true;
    more.textContent = '';
    showProblem(problem);
  } finally {
    if (loading === mine) loading = -1;
  }
}

function inView(node) {
  const box = node.getBoundingClientRect();
  return box.top < window.innerHeight && box.bottom >= 0;
}

function row(event, i) {
  const tr = el('tr');
  const time = el('td');
  const open = el('button', event.timestamp.replace('T', ' ').replace('Z', ''), {
    type: 'button',
    class: 'link',
    'data-i': String(i),
  });
  open.append(el('span', `: open event ${event.seq} with its proof`, { class: 'sr-only' }));
  open.addEventListener('click', () => openDrawer(event, open));
  time.append(open);
  const actor = el('td');
  actor.append(fieldValue(event.actor?.user_id));
  const email = event.actor?.email;
  if (email) {
    actor.append(' ');
    const small = el('span', null, { class: 'quiet' });
    small.append('(', fieldValue(email), ')');
    actor.append(small);
  }
  const outcome = el('td');
  outcome.append(el('span', event.outcome, { class: `outcome outcome-${event.outcome}` }));
  const resource = el('td');
  resource.append(event.resource ? `${event.resource.type} ${event.resource.id}` : fieldValue(null));
  tr.append(time, actor, el('td', event.action), outcome, resource);
  return tr;
}

// The drawer.

let current = null;
let opener = null;
/** Each opening of the dialog: answers for an earlier one are dropped. */
let opening = 0;

function describe(list, name, value) {
  list.append(el('dt', name));
  const dd = el('dd');
  dd.append(fieldValue(value));
  list.append(dd);
}

async function openDrawer(event, from) {
  current = event;
  opener = from;
  const mine = ++opening;
  const drawer = document.getElementById('drawer');
  document.getElementById('drawer-h').textContent = `Event ${event.seq}`;
  const list = document.getElementById('event-fields');
  list.replaceChildren();
  describe(list, 'Time', event.timestamp);
  describe(list, 'Actor', event.actor?.user_id);
  describe(list, 'Actor e-mail', event.actor?.email);
  describe(list, 'Actor kind', event.actor?.kind);
  describe(list, 'Organization', `${event.organization?.id}${event.organization?.name ? ` (${event.organization.name})` : ''}`);
  describe(list, 'Action', event.action);
  describe(list, 'Outcome', event.outcome);
  describe(list, 'Resource', event.resource ? `${event.resource.type} ${event.resource.id}` : null);
  describe(list, 'IP address', event.ip_address);
  describe(list, 'User agent', event.user_agent);
  describe(list, 'Event id', event.event_id);
  for (const [name, value] of Object.entries(event.metadata || {})) describe(list, `metadata.${name}`, value);
  document.getElementById('event-json').textContent = JSON.stringify(event, null, 2);
  for (const id of ['proof-text', 'checkpoint-text', 'key-text']) document.getElementById(id).value = '';
  drawer.hidden = false;
  document.getElementById('close').focus();
  verdict('pending', 'Fetching the proof…');
  try {
    const note = await api(sess, '/v1/checkpoint', {}, 'text');
    const size = /^[^\n]*\n(\d+)\n/.exec(note)?.[1];
    if (size === undefined) throw new Problem('The server sent no checkpoint.');
    if (mine !== opening) return;
    if (BigInt(event.seq) >= BigInt(size)) {
      verdict('pending', `Not yet covered by a signed checkpoint (the newest signs ${size} events). Try again shortly.`);
      return;
    }
    const proof = await api(sess, '/v1/proofs/inclusion', { leaf_index: event.seq, tree_size: size, record: 'true' }, 'text');
    const key = sess.pinnedKey || (await api(sess, '/v1/verifier-key', {}, 'text')).trim();
    if (mine !== opening) return;
    document.getElementById('key-source').textContent = sess.pinnedKey
      ? '(given by the page that sent you here)'
      : "(as this server states it: compare it with one you trust)";
    document.getElementById('proof-text').value = JSON.stringify(JSON.parse(proof), null, 2);
    document.getElementById('checkpoint-text').value = note;
    document.getElementById('key-text').value = key;
    await check();
  } catch (problem) {
    if (mine === opening) verdict('unchecked', `Could not check it: ${problem.message}`);
  }
}

/** Checks the drawer's event against the proof, checkpoint and key the drawer holds. */
async function check() {
  if (!current) return;
  const mine = opening;
  const checking = ++checks;
  verdict('pending', 'Checking…');
  const key = document.getElementById('key-text').value;
  try {
    const proven = await verifyEvent(
      current,
      document.getElementById('proof-text').value,
      document.getElementById('checkpoint-text').value,
      key,
    );
    if (mine !== opening || checking !== checks) return;
    const sealed = proven.unchecked.length
      ? ` Sealed in the record, not checked here: ${proven.unchecked.join(', ')} (shown as the server opened them; the hash covers them as stored).`
      : '';
    const whose = sess.pinnedKey && key.trim() === sess.pinnedKey.trim()
      ? 'the key given by the page that sent you here'
      : "the key shown below, which this page did not get independently: compare it with the log's key you trust";
    verdict('valid', `Verified: this event is entry ${current.seq} of the log ${proven.origin}, in the tree of ${proven.size} entries signed by ${whose} (${proven.hash}).${sealed}`);
  } catch (e) {
    if (mine !== opening || checking !== checks) return;
    verdict('invalid', `Not verified: ${e.message}.`);
  }
}

/** Each check: a late answer of an earlier one is dropped. */
let checks = 0;

function verdict(kind, message) {
  const box = document.getElementById('verdict');
  box.className = `verdict verdict-${kind}`;
  const mark = { valid: '✓ Valid', invalid: '✗ Invalid', pending: '…', unchecked: '? Not checked' }[kind];
  box.replaceChildren(el('strong', mark), ` ${message}`);
  box.dataset.state = kind;
}

function closeDrawer() {
  document.getElementById('drawer').hidden = true;
  current = null;
  opening += 1;
  if (opener) opener.focus();
}

// Exports.

async function exportAs(format) {
  const status = document.getElementById('export-status');
  const tenant = sess.claims.tenant;
  status.textContent = `Preparing the ${format} export…`;
  try {
    let blob;
    let name;
    if (format === 'bundle') {
      blob = await api(sess, '/v1/bundle', { from: filters.from, to: filters.to }, 'blob');
      name = `audit-log-${tenant}.bundle.jsonl`;
    } else {
      blob = await api(sess, '/v1/export', { ...params(), format }, 'blob');
      name = `audit-log-${tenant}.${format}`;
    }
    save(blob, name);
    status.textContent = `Saved ${name} (${blob.size.toLocaleString('en')} bytes).`;
  } catch (problem) {
    status.textContent = '';
    showProblem(problem);
  }
}

function start() {
  try {
    sess = session();
  } catch (problem) {
    showProblem(problem);
    document.getElementById('filters').hidden = true;
    return;
  }
  frame(sess);
  filters = filtersFromUrl();
  fillForm();
  const form = document.getElementById('filters');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply(readForm());
  });
  const preset = document.getElementById('privileged');
  preset.disabled = true;
  fetch('config.json')
    .then((answer) => answer.json())
    .then((config) => {
      privileged = config.privileged_actions || [];
      preset.disabled = !privileged.length;
    })
    .catch(() => {});
  preset.addEventListener('click', () => apply({ ...readForm(), action: privileged.join(',') }));
  document.getElementById('clear').addEventListener('click', () => apply({}));
  document.getElementById('load-more').addEventListener('click', loadPage);
  for (const button of document.querySelectorAll('[data-export]')) {
    button.addEventListener('click', () => exportAs(button.dataset.export));
  }
  document.getElementById('close').addEventListener('click', closeDrawer);
  document.getElementById('recheck').addEventListener('click', check);
  document.getElementById('drawer').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeDrawer();
    if (e.key === 'Tab') {
      // Focus stays in the dialog.
      const focusable = [...e.currentTarget.querySelectorAll('button, textarea, input, summary')];
      const [first, last] = [focusable[0], focusable[focusable.length - 1]];
      if (e.shiftKey && document.activeElement === first) {
        last.focus();
        e.preventDefault();
      } else if (!e.shiftKey && document.activeElement === last) {
        first.focus();
        e.preventDefault();
      }
    }
  });
  window.addEventListener('popstate', () => {
    filters = filtersFromUrl();
    frame(sess);
    fillForm();
    reload();
  });
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadPage();
  }).observe(document.getElementById('more'));
  reload();
}

start();
