// Proofs checked in the browser: the record's bytes hash to the proof's leaf (and say
// what the page shows), the inclusion path folds to the checkpoint's root (RFC 9162
// §2.1.3.2), and the checkpoint is signed by the log's key (a C2SP signed note,
// Ed25519). Only the key must come from elsewhere for the check to trust the server
// for nothing: the page says whose key it used. Hashes and signatures come from the vendored
// @noble libraries (vendor/README.md), loaded the first time an event is opened.

const text = new TextEncoder();

/** The log's hash function by name, as its proofs name it. */
async function hashFunction(name) {
  if (name === 'sha256') return (await import('./vendor/noble-hashes/sha2.js')).sha256;
  if (name === 'blake3') return (await import('./vendor/noble-hashes/blake3.js')).blake3;
  throw new Error(`the proof names an unknown hash "${name}"`);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

export function fromHex(hex) {
  if (typeof hex !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`"${hex}" is not hex`);
  return Uint8Array.from(hex.match(/../g) || [], (h) => parseInt(h, 16));
}

export function fromBase64(b64) {
  let bytes;
  try {
    bytes = atob(b64);
  } catch {
    throw new Error('a value is not base64');
  }
  return Uint8Array.from(bytes, (c) => c.charCodeAt(0));
}

/** RFC 9162 §2.1.3.2: the root an inclusion path folds to. */
function rootOf(H, index, size, leaf, path) {
  if (index >= size) throw new Error('the leaf index is not below the tree size');
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of path) {
    if (p.length !== 32) throw new Error('a path hash is not 32 bytes');
    if (sn === 0n) throw new Error('the path is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      r = H(concat([1], p, r));
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = H(concat([1], r, p));
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the path is too short');
  return r;
}

/** A verifier key `name+hex8+base64(0x01 ‖ key)`, its id checked. */
async function parseKey(vkey) {
  // The name holds no `+`; the base64 may.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey.trim());
  if (!m) throw new Error('the key is not a note verifier key');
  const [, name, id, b64] = m;
  const bytes = fromBase64(b64);
  if (bytes.length !== 33 || bytes[0] !== 1) throw new Error('the key is not an Ed25519 key');
  const { sha256 } = await import('./vendor/noble-hashes/sha2.js');
  const hash = sha256(concat(text.encode(`${name}\n`), bytes));
  if (!equal(hash.slice(0, 4), fromHex(id))) throw new Error("the key's id does not match the key");
  return { name, id: fromHex(id), key: bytes.slice(1) };
}

/** The text lines of a signed note whose signature by `key` checks. */
async function signedLines(note, key) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('the note has no signature');
  const body = note.slice(0, split + 1);
  const ed = await import('./vendor/noble-ed25519/index.js');
  const { sha512 } = await import('./vendor/noble-hashes/sha2.js');
  ed.hashes.sha512 = sha512;
  const signatures = note.slice(split + 2).split('\n').filter((l) => l);
  const mine = signatures
    .filter((l) => l.startsWith(`\u2014 ${key.name} `))
    .map((l) => fromBase64(l.slice(`\u2014 ${key.name} `.length)))
    .find((s) => s.length === 68 && equal(s.slice(0, 4), key.id));
  if (!mine) throw new Error("the note carries no signature by the log's key");
  let valid = false;
  try {
    valid = ed.verify(mine.slice(4), text.encode(body), key.key);
  } catch {
    valid = false;
  }
  if (!valid) throw new Error("the signature does not verify with the log's key");
  return body.slice(0, -1).split('\n');
}

/** The checkpoint's text and its signature by `key`, checked; its size and root. */
async function checkNote(note, key) {
  const lines = await signedLines(note, key).catch((e) => {
    throw new Error(`the checkpoint: ${e.message}`);
  });
  if (lines.length < 3) throw new Error('the checkpoint is not origin, size and root');
  const [origin, size, root] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error('the tree size is not a number');
  const rootBytes = fromBase64(root);
  if (rootBytes.length !== 32) throw new Error('the root is not 32 bytes');
  return { origin, size: BigInt(size), root: rootBytes };
}

/** The fields of a record payload (docs/FORMAT.md, "Event record"), its layout checked whole. */
export function decodeRecord(payload) {
  const kind = payload[0];
  if (kind !== 1 && kind !== 2 && kind !== 3) throw new Error(`record kind ${kind}`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  // Where the event must end: the payload's end (kind 1), its link (kind 2), its sealed
  // block (kind 3: block, u16 block length, link).
  let end = payload.length;
  let block = null;
  let link = null;
  if (kind >= 2) {
    if (payload.length < 9) throw new Error('the record ends early');
    link = view.getBigUint64(payload.length - 8, true);
    end = payload.length - 8;
  }
  if (kind === 3) {
    if (end < 3) throw new Error('the record ends early');
    const length = view.getUint16(end - 2, true);
    end -= 2 + length;
    if (end < 1) throw new Error('the sealed block is longer than the record');
    block = payload.subarray(end, end + length);
  }
  let at = 1;
  const need = (n) => {
    if (at + n > end) throw new Error('the event ends early');
  };
  const varint = () => {
    need(1);
    const b = payload[at++];
    if (b < 251) return BigInt(b);
    const width = { 251: 2, 252: 4, 253: 8 }[b];
    if (!width) throw new Error('a bad varint');
    need(width);
    const v = width === 2 ? BigInt(view.getUint16(at, true)) : width === 4 ? BigInt(view.getUint32(at, true)) : view.getBigUint64(at, true);
    at += width;
    return v;
  };
  const string = () => {
    const n = Number(varint());
    need(n);
    const s = new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(at, at + n));
    at += n;
    return s;
  };
  const option = () => {
    need(1);
    const flag = payload[at++];
    if (flag > 1) throw new Error('a bad option byte');
    return flag === 1 ? string() : undefined;
  };
  const zigzag = varint();
  const fields = { micros: (zigzag >> 1n) ^ -(zigzag & 1n) };
  fields.actor_id = string();
  fields.actor_email = option();
  fields.actor_kind = option();
  fields.tenant_id = string();
  fields.tenant_name = option();
  fields.action = string();
  fields.resource_type = option();
  fields.resource_id = option();
  const outcome = varint();
  if (outcome > 3n) throw new Error(`outcome ${outcome}`);
  fields.outcome = ['success', 'failure', 'denied', 'error'][Number(outcome)];
  fields.ip_address = option();
  fields.user_agent = option();
  fields.metadata = option();
  fields.event_id = option();
  if (at !== end) throw new Error('bytes follow the event');
  fields.link = link;
  fields.sealed = block ? sealedBlock(block) : null;
  return fields;
}

/** What a sealed block says it holds: which personal fields, which metadata names. */
function sealedBlock(block) {
  if (block.length < 2) throw new Error('the sealed block ends early');
  const present = block[0];
  if (present & ~7) throw new Error('the sealed block names an unknown field');
  let at = 2;
  const names = [];
  for (let i = 0; i < block[1]; i++) {
    const n = block[at];
    if (!n || at + 1 + n > block.length) throw new Error('a sealed name is cut short');
    names.push(new TextDecoder('utf-8', { fatal: true }).decode(block.subarray(at + 1, at + 1 + n)));
    at += 1 + n;
  }
  if (block.length - at < 8 + 12 + 16) throw new Error('the sealed block ends early');
  return { email: !!(present & 1), ip_address: !!(present & 2), user_agent: !!(present & 4), names };
}

/** Microseconds since the epoch of an RFC 3339 time, strictly read. */
export function micros(rfc3339) {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(rfc3339);
  if (!m) throw new Error(`"${rfc3339}" is not a UTC RFC 3339 time`);
  const ms = Date.parse(`${m[1]}Z`);
  // No rolled-over dates (February 30th) or hours (24:00).
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 19) !== m[1]) {
    throw new Error(`"${rfc3339}" is not a valid time`);
  }
  return BigInt(ms / 1000) * 1000000n + BigInt((m[2] || '').padEnd(6, '0'));
}

/** `value` as JSON with its keys sorted: as serde_json writes it, for digests too. */
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Where the event shown and the proven record differ; and the personal fields whose
 * values are sealed in the record (shown as the server opened them, or marked
 * erased), which the page cannot check.
 */
function compare(fields, event) {
  const shown = {
    micros: micros(event.timestamp),
    actor_id: event.actor?.user_id,
    actor_kind: event.actor?.kind,
    tenant_id: event.organization?.id,
    tenant_name: event.organization?.name,
    action: event.action,
    resource_type: event.resource?.type,
    resource_id: event.resource?.id,
    outcome: event.outcome,
    event_id: event.event_id,
  };
  const differ = Object.keys(shown).filter((k) => (shown[k] ?? undefined) !== (fields[k] ?? undefined));
  const metadata = event.metadata ?? {};
  const recorded = fields.metadata === undefined ? {} : JSON.parse(fields.metadata);
  const personal = [['actor_email', event.actor?.email, 'email'], ['ip_address', event.ip_address, 'ip_address'], ['user_agent', event.user_agent, 'user_agent']];
  const unchecked = [];
  if (!fields.sealed) {
    for (const [name, value] of personal) if ((value ?? undefined) !== (fields[name] ?? undefined)) differ.push(name);
    if (canonical(metadata) !== canonical(recorded)) differ.push('metadata');
  } else {
    // Sealed: the clear event holds no personal field; the block says which exist.
    for (const [name, value, bit] of personal) {
      if (fields[name] !== undefined) differ.push(`${name} (in clear in a sealed record)`);
      const sealed = fields.sealed[bit];
      if ((value !== undefined && value !== null) !== sealed) differ.push(name);
      if (sealed) unchecked.push(name);
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (fields.sealed.names.includes(key)) unchecked.push(`metadata.${key}`);
      else if (!(key in recorded) || canonical(recorded[key]) !== canonical(value)) differ.push(`metadata.${key}`);
    }
    for (const key of Object.keys(recorded)) if (!(key in metadata)) differ.push(`metadata.${key}`);
    for (const key of fields.sealed.names) if (!(key in metadata)) differ.push(`metadata.${key}`);
  }
  return { differ, unchecked };
}

const wholeNumber = (n) => Number.isSafeInteger(n) && n >= 0;

/**
 * Checks that `event` (as the page shows it, with its `seq`) is leaf `seq` of the tree
 * whose root `note` (a signed checkpoint) signs with `vkey`, by `proof` (the proof JSON
 * with its `record`). Resolves to what was proven; rejects with why not.
 */
export async function verifyEvent(event, proofText, note, vkey) {
  let proof;
  try {
    proof = JSON.parse(proofText);
  } catch {
    throw new Error('the proof is not JSON');
  }
  if (proof.type !== 'inclusion') throw new Error('the proof is not an inclusion proof');
  if (![event.seq, proof.leaf_index, proof.tree_size].every(wholeNumber)) {
    throw new Error('a sequence number or size is not a whole number');
  }
  const H = await hashFunction(proof.hash);
  const key = await parseKey(vkey);
  const checkpoint = await checkNote(note, key);
  if (checkpoint.origin !== key.name) throw new Error("the checkpoint is of another log than the key's");
  const index = BigInt(proof.leaf_index);
  const size = BigInt(proof.tree_size);
  if (index !== BigInt(event.seq)) throw new Error(`the proof is of leaf ${index}, not of event ${event.seq}`);
  if (size !== checkpoint.size) throw new Error(`the proof is against size ${size}, the checkpoint signs size ${checkpoint.size}`);
  if (typeof proof.record !== 'string') throw new Error("the proof carries no record: the event's bytes cannot be checked");
  const payload = fromBase64(proof.record);
  const leaf = H(concat([0], payload));
  if (!equal(leaf, fromHex(proof.leaf_hash))) throw new Error("the record's bytes do not hash to the proof's leaf");
  const path = (proof.path || []).map(fromHex);
  const root = rootOf(H, index, size, leaf, path);
  if (!equal(root, fromHex(proof.root))) throw new Error("the path does not lead to the proof's root");
  if (!equal(root, checkpoint.root)) throw new Error("the proof's root is not the checkpoint's");
  let fields;
  try {
    fields = decodeRecord(payload);
  } catch (e) {
    throw new Error(`the record does not decode: ${e.message}`);
  }
  if (fields.link !== null && fields.link !== 0xffffffffffffffffn && fields.link >= index) {
    throw new Error("the record's tenant link does not name an earlier event");
  }
  const { differ, unchecked } = compare(fields, event);
  if (differ.length) throw new Error(`the event shown differs from the proven record in: ${differ.join(', ')}`);
  return { size: checkpoint.size, origin: checkpoint.origin, key: key.name, unchecked, hash: proof.hash };
}

/**
 * Checks a report's attestation (docs/VIEWER.md, "Reports"): signed by `vkey`, of the
 * report's own digest, tenant, period and checkpoint size.
 */
export async function verifyReport(report, attestation, vkey) {
  const key = await parseKey(vkey);
  const lines = await signedLines(attestation, key);
  const [origin, kind, ...fields] = lines;
  if (kind !== 'auditlog tenant report' || fields.length !== 6) throw new Error('not a report attestation');
  if (origin !== key.name) throw new Error("the attestation is of another log than the key's");
  const value = (i, name) => {
    if (!fields[i].startsWith(`${name} `)) throw new Error(`no ${name} line`);
    return fields[i].slice(name.length + 1);
  };
  const { sha256 } = await import('./vendor/noble-hashes/sha2.js');
  const digest = sha256(text.encode(canonical(report)));
  if (!equal(digest, fromHex(value(5, 'digest')))) throw new Error('the report is not the one attested: it was edited');
  if (JSON.parse(value(0, 'tenant')) !== report.tenant) throw new Error('the attestation is of another tenant');
  if (value(1, 'from') !== (report.from ?? '-') || value(2, 'to') !== (report.to ?? '-')) throw new Error('the attestation is of another period');
  if (value(3, 'tree-size') !== String(report.tree_size)) throw new Error('the attestation is of another checkpoint');
  const checkpoint = await checkNote(report.checkpoint, key);
  if (checkpoint.size !== BigInt(report.tree_size) || !equal(checkpoint.root, fromBase64(value(4, 'root')))) {
    throw new Error("the report's checkpoint is not the one attested");
  }
  return { origin, size: report.tree_size };
}
