// The report view: a tenant's report for a period (GET /v1/reports), its attestation
// checked in the browser, laid out to print to a clean PDF.

import { api, el, fieldValue, frame, save, session, showProblem, utcInput, utcTime } from './common.js';
import { verifyReport } from './verify.js';

let sess;
let served = null;
/** Each load: a late answer of an earlier one is dropped. */
let loads = 0;

/** A table of `rows` under `head` (the first column a row header). */
function table(id, head, rows) {
  const node = document.getElementById(id);
  node.replaceChildren();
  const tr = el('tr');
  for (const name of head) tr.append(el('th', name, { scope: 'col' }));
  node.append(tr);
  if (!rows.length) {
    const none = el('tr');
    none.append(el('td', 'None in the period.', { colspan: String(head.length), class: 'quiet' }));
    node.append(none);
  }
  for (const row of rows) {
    const line = el('tr');
    row.forEach((value, i) => {
      const cell = el(i === 0 ? 'th' : 'td', null, i === 0 ? { scope: 'row' } : { class: typeof value === 'number' ? 'n' : '' });
      cell.append(fieldValue(typeof value === 'number' ? value.toLocaleString('en') : value));
      line.append(cell);
    });
    node.append(line);
  }
}

function show(report) {
  const period = `${report.from ?? 'the beginning of the log'} to ${report.to ?? 'the checkpoint'}`;
  document.getElementById('summary').textContent =
    `${report.events.toLocaleString('en')} events of ${report.tenant}, from ${period}, by ${report.actors.toLocaleString('en')} actors; the log held ${report.tree_size.toLocaleString('en')} events at the checkpoint.`;
  table('by-outcome', ['Outcome', 'Events'], Object.entries(report.by_outcome));
  table('by-action', ['Action', 'Events'], report.by_action.map((r) => [r.action, r.count]));
  document.getElementById('actors').textContent = report.actors > report.by_actor.length ? `(the ${report.by_actor.length} most active of ${report.actors})` : '';
  table('by-actor', ['Actor', 'Events'], report.by_actor.map((r) => [r.actor, r.count]));
  table('privileged', ['Action', 'Events'], report.privileged.by_action.map((r) => [r.action, r.count]));
  table('sign-ins', ['Actor', 'Denied', 'Failed'], report.sign_ins.by_actor.map((r) => [r.actor, r.denied, r.failed]));
  const events = (list) => list.map((e) => [e.timestamp, e.actor, e.action, e.outcome, e.resource_id]);
  table('api-keys', ['Time', 'Actor', 'Action', 'Outcome', 'Key'], events(report.api_keys_created.listed));
  table('roles', ['Time', 'Actor', 'Action', 'Outcome', 'Resource'], events(report.role_changes.listed));
  table('erasures', ['Subject', 'Erased at'], report.erasures.map((e) => [e.subject, e.erased_at]));
  document.getElementById('checkpoint').textContent = report.checkpoint;
}

function attested(kind, message) {
  const box = document.getElementById('attested');
  box.className = `verdict verdict-${kind}`;
  const mark = { valid: '✓ Attested', invalid: '✗ Not attested', pending: '…', unchecked: '? Not checked' }[kind];
  box.replaceChildren(el('strong', mark), ` ${message}`);
  box.dataset.state = kind;
}

async function load() {
  const mine = ++loads;
  showProblem(null);
  const query = new URLSearchParams(location.search);
  const period = { from: query.get('from') || undefined, to: query.get('to') || undefined };
  for (const name of ['from', 'to']) {
    document.getElementById('period').elements[name].value = utcInput(period[name]);
  }
  let answer;
  try {
    answer = await api(sess, '/v1/reports', period);
  } catch (problem) {
    if (mine === loads) showProblem(problem);
    return;
  }
  if (mine !== loads) return;
  served = answer;
  show(served.report);
  document.getElementById('attestation').textContent = served.attestation;
  document.getElementById('report').hidden = false;
  attested('pending', 'Checking the attestation…');
  try {
    const key = sess.pinnedKey || (await api(sess, '/v1/verifier-key', {}, 'text')).trim();
    const proven = await verifyReport(served.report, served.attestation, key);
    if (mine !== loads) return;
    const whose = sess.pinnedKey ? 'the key given by the page that sent you here' : 'the key this server states (compare it with the log key you trust)';
    attested('valid', `This report is the one the log ${proven.origin} signed, computed against its checkpoint of ${proven.size.toLocaleString('en')} events, checked with ${whose}.`);
  } catch (e) {
    if (mine === loads) attested('invalid', `${e.message}.`);
  }
}

function start() {
  try {
    sess = session();
  } catch (problem) {
    showProblem(problem);
    document.getElementById('period').hidden = true;
    return;
  }
  frame(sess);
  document.getElementById('period').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const query = new URLSearchParams();
    for (const name of ['from', 'to']) {
      const value = form.elements[name].value;
      if (value) query.set(name, utcTime(value));
    }
    history.pushState(null, '', query.toString() ? `?${query}` : location.pathname);
    frame(sess);
    load();
  });
  document.getElementById('print').addEventListener('click', () => window.print());
  document.getElementById('download').addEventListener('click', (e) => {
    e.preventDefault();
    if (served) save(new Blob([JSON.stringify(served)], { type: 'application/json' }), `audit-report-${sess.claims.tenant}.json`);
  });
  window.addEventListener('popstate', load);
  load();
}

start();
