// Proofs checked in the browser, trusting the server for nothing: the record's bytes
// hash to the proof's leaf (and say what the page shows), the inclusion path folds to
// the checkpoint's root (RFC 9162 §2.1.3.2), and the checkpoint is signed by the log's
// key (a C2SP signed note, Ed25519). Hashes and signatures come from the vendored
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

/** The checkpoint's text and its signature by `key`, checked; its size and root. */
async function checkNote(note, key) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('the checkpoint has no signature');
  const body = note.slice(0, split + 1);
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) throw new Error('the checkpoint is not origin, size and root');
  const [origin, size, root] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error('the tree size is not a number');
  const ed = await import('./vendor/noble-ed25519/index.js');
  const { sha512 } = await import('./vendor/noble-hashes/sha2.js');
  ed.hashes.sha512 = sha512;
  const signatures = note.slice(split + 2).split('\n').filter((l) => l);
  const mine = signatures
    .filter((l) => l.startsWith(`\u2014 ${key.name} `))
    .map((l) => fromBase64(l.slice(`\u2014 ${key.name} `.length)))
    .find((s) => s.length === 68 && equal(s.slice(0, 4), key.id));
  if (!mine) throw new Error("the checkpoint carries no signature by the log's key");
  let valid = false;
  try {
    valid = ed.verify(mine.slice(4), text.encode(body), key.key);
  } catch {
    valid = false;
  }
  if (!valid) throw new Error("the checkpoint's signature does not verify with the log's key");
  const rootBytes = fromBase64(root);
  if (rootBytes.length !== 32) throw new Error('the root is not 32 bytes');
  return { origin, size: BigInt(size), root: rootBytes };
}

/** The fields of a record payload (docs/FORMAT.md, "Event record"), as the event JSON names them. */
export function decodeRecord(payload) {
  let at = 1;
  const kind = payload[0];
  if (kind !== 1 && kind !== 2 && kind !== 3) throw new Error(`record kind ${kind}`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const need = (n) => {
    if (at + n > payload.length) throw new Error('the record ends early');
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
  const micros = (zigzag >> 1n) ^ -(zigzag & 1n);
  const fields = { micros };
  fields.actor_id = string();
  fields.actor_email = option();
  fields.actor_kind = option();
  fields.tenant_id = string();
  fields.tenant_name = option();
  fields.action = string();
  fields.resource_type = option();
  fields.resource_id = option();
  fields.outcome = ['success', 'failure', 'denied', 'error'][Number(varint())];
  fields.ip_address = option();
  fields.user_agent = option();
  fields.metadata = option();
  fields.event_id = option();
  fields.sealed = kind === 3;
  return fields;
}

/** Microseconds since the epoch of an RFC 3339 time. */
export function micros(rfc3339) {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!m) throw new Error(`"${rfc3339}" is not an RFC 3339 time`);
  const seconds = BigInt(Date.parse(`${m[1]}${m[3]}`) / 1000);
  const fraction = BigInt(((m[2] || '') + '000000').slice(0, 6));
  return seconds * 1000000n + fraction;
}

/** Where the record and the event shown differ (clear fields only: sealed ones are not in clear in the record). */
function differences(fields, event) {
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
  return Object.keys(shown).filter((k) => (shown[k] ?? undefined) !== (fields[k] ?? undefined));
}

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
  const H = await hashFunction(proof.hash);
  const key = await parseKey(vkey);
  const checkpoint = await checkNote(note, key);
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
  const differ = differences(fields, event);
  if (differ.length) throw new Error(`the event shown differs from the proven record in: ${differ.join(', ')}`);
  return { size: checkpoint.size, origin: checkpoint.origin, key: key.name, sealed: fields.sealed, hash: proof.hash };
}
