// Veil transparency log: the web view's script. Everything shown is verified here,
// in the browser, with WebCrypto (SHA-256, Ed25519) against the log key the reader
// pins: checkpoint signatures (C2SP signed note), entries by RFC 9162 inclusion
// proofs, past checkpoints by consistency proofs, pasted receipts by id, signature
// and inclusion. Text from the log is only ever written as text nodes.
'use strict';

const enc = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const RECEIPT_DOMAIN = enc.encode('veil/receipt/v1\0');
const MAX_SKEW_SECS = 60n; // the log admits receipts this far ahead of its clock
const KEY_STORE = 'veil.log.key';

// ---- bytes ----------------------------------------------------------------------

function b64decode(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw new Error('not base64');
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function b64encode(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function unhex(s, len) {
  if (typeof s !== 'string' || s.length !== len * 2 || !/^[0-9a-f]*$/.test(s)) {
    throw new Error(`not ${len} bytes of lowercase hex`);
  }
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

async function ed25519Verify(publicKey, signature, message) {
  const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}

// ---- RFC 6962 / 9162 Merkle tree ---------------------------------------------------

const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

// RFC 9162 §2.1.3.2.
async function verifyInclusion(index, size, leaf, proof, root) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn) throw new Error(`entry ${index} is beyond a tree of ${size}`);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new Error('the proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the proof is too short');
  if (!equal(r, root)) throw new Error('the proof does not lead to the checkpoint root');
}

// RFC 9162 §2.1.4.2.
async function verifyConsistency(size1, size2, proof, root1, root2) {
  let [s1, s2] = [BigInt(size1), BigInt(size2)];
  if (s1 > s2) throw new Error('the old tree is larger than the new one');
  if (s1 === 0n) {
    if (proof.length !== 0) throw new Error('a proof from the empty tree must be empty');
    return;
  }
  if (s1 === s2) {
    if (proof.length !== 0 || !equal(root1, root2)) throw new Error('same size, different roots');
    return;
  }
  if (proof.length === 0) throw new Error('empty consistency proof');
  let path = proof;
  if ((s1 & (s1 - 1n)) === 0n) path = [root1, ...proof];
  let fn = s1 - 1n;
  let sn = s2 - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new Error('the proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n || !equal(fr, root1) || !equal(sr, root2)) {
    throw new Error('the trees are not consistent');
  }
}

// ---- C2SP signed notes and checkpoints ----------------------------------------------

// A verifier key: `name+hash+base64(0x01 || ed25519 public key)`.
async function parseKey(text) {
  const parts = text.trim().split('+');
  if (parts.length !== 3) throw new Error('a log key is name+hash+key');
  const [name, id, b64] = parts;
  const raw = b64decode(b64);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error('not an Ed25519 note key');
  const hash = (await sha256(concat(enc.encode(name + '\n'), raw))).slice(0, 4);
  if (hex(hash) !== id) throw new Error("the key's hash does not match it");
  return { name, hash, publicKey: raw.slice(1), text: text.trim() };
}

// Verify a signed checkpoint with `key`: returns {origin, size, root, time, cosigners}.
async function openCheckpoint(note, key) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('not a signed note');
  const text = note.slice(0, split + 1);
  const sigLines = note.slice(split + 2).split('\n').filter((l) => l !== '');
  let signed = false;
  let cosigners = 0;
  for (const line of sigLines) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error('a signature line is malformed');
    const sig = b64decode(m[2]);
    if (m[1] === key.name && sig.length === 68 && equal(sig.slice(0, 4), key.hash)) {
      if (!(await ed25519Verify(key.publicKey, sig.slice(4), enc.encode(text)))) {
        throw new Error("the log's signature does not verify");
      }
      signed = true;
    } else {
      cosigners += 1;
    }
  }
  if (!signed) throw new Error('not signed by the pinned log key');
  const lines = text.split('\n');
  const [origin, size, root, time] = lines;
  if (origin !== key.name) throw new Error(`origin ${origin} is not the key's name`);
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error('bad tree size');
  const rootBytes = b64decode(root);
  if (rootBytes.length !== 32) throw new Error('bad root hash');
  const t = /^time (0|[1-9][0-9]*)$/.exec(time || '');
  if (!t) throw new Error('no time line');
  return { origin, size: BigInt(size), root: rootBytes, time: BigInt(t[1]), cosigners, note };
}

// ---- RFC 8785 canonical JSON and receipts ---------------------------------------------

function canonical(v) {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('a number is not finite');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (typeof v === 'object') {
    // UTF-16 code unit order, which is what Array.prototype.sort compares.
    const keys = Object.keys(v).sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  }
  throw new Error('not JSON');
}

// A receipt's id and signature; returns the log entry it is logged as.
async function checkReceipt(doc, step) {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a receipt');
  const extra = Object.keys(doc).filter((k) => !['receipt', 'id', 'signature'].includes(k));
  if (extra.length || !doc.receipt || typeof doc.id !== 'string' || !doc.signature) {
    throw new Error('a receipt is {receipt, id, signature}');
  }
  const body = doc.receipt;
  const id = await sha256(enc.encode(canonical(body)));
  const stated = doc.id.startsWith('sha256:') ? doc.id.slice(7) : '';
  await step('receipt-id', () => {
    if (stated !== hex(id)) throw new Error(`the body hashes to sha256:${hex(id)}, not ${doc.id}`);
    return `sha256:${hex(id)}`;
  });
  await step('receipt-signature', async () => {
    if (body.signer?.alg !== 'ed25519' || doc.signature.alg !== 'ed25519') throw new Error('not ed25519');
    const key = unhex(body.signer.public_key, 32);
    const sig = unhex(doc.signature.value, 64);
    if (!(await ed25519Verify(key, sig, concat(RECEIPT_DOMAIN, id)))) throw new Error('bad signature');
    return `signed by ${body.signer.public_key.slice(0, 16)}…`;
  });
  return {
    type: 'receipt',
    id: doc.id,
    mode: body.mode,
    model: body.model_hash ?? null,
    signer: body.signer.public_key,
    created_at: body.created_at,
  };
}

// ---- talking to the log -----------------------------------------------------------------

async function fetchOk(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) {
    let detail = `${r.status}`;
    try {
      detail = (await r.json()).detail || detail;
    } catch (_) {}
    throw new Error(`${path}: ${detail}`);
  }
  return r;
}

const fetchJson = async (path) => (await fetchOk(path)).json();
const fetchBytes = async (path) => new Uint8Array(await (await fetchOk(path)).arrayBuffer());
const fetchText = async (path) => (await fetchOk(path)).text();

// C2SP tlog-tiles index encoding: 3-digit groups, all but the last prefixed with x.
function tileIndex(n) {
  const groups = [];
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? 'x' + g : g)).join('/');
}

// Entries [start, end) of a tree of `size`, read from the entry bundles.
async function readEntries(start, end, size) {
  const out = [];
  for (let b = Math.floor(start / 256); b * 256 < end; b++) {
    const width = Math.min(256, size - b * 256);
    const path = `/tile/entries/${tileIndex(b)}` + (width < 256 ? `.p/${width}` : '');
    const bundle = await fetchBytes(path);
    let at = 0;
    for (let i = 0; at < bundle.length; i++) {
      if (at + 2 > bundle.length) throw new Error('a bundle ends inside a length');
      const len = (bundle[at] << 8) | bundle[at + 1];
      if (at + 2 + len > bundle.length) throw new Error('a bundle ends inside an entry');
      const index = b * 256 + i;
      if (index >= start && index < end) out.push({ index, bytes: bundle.slice(at + 2, at + 2 + len) });
      at += 2 + len;
    }
  }
  return out;
}

async function proveEntry(index, bytes, cp) {
  const p = await fetchJson(`/v1/log/proof/inclusion?index=${index}&size=${cp.size}`);
  await verifyInclusion(index, cp.size, await leafHash(bytes), p.proof.map(b64decode), cp.root);
}

async function pinnedKey() {
  const served = (await fetchText('/v1/log/key')).trim();
  const pinned = localStorage.getItem(KEY_STORE);
  return { key: await parseKey(pinned || served), served, pinned };
}

// ---- rendering (text nodes only) ----------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('data-') || k === 'class' || k === 'title' || k === 'id') e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
}

function badge(ok, text) {
  return el('span', { class: ok ? 'ok' : 'bad', 'data-state': ok ? 'ok' : 'fail', title: text }, ok ? `✓ ${text}` : `✗ ${text}`);
}

function short(s, n = 16) {
  s = String(s ?? '');
  return s.length > n ? s.slice(0, n) + '…' : s;
}

function when(secs) {
  try {
    return new Date(Number(secs) * 1000).toISOString().replace('.000Z', 'Z');
  } catch (_) {
    return String(secs);
  }
}

function table(id, headers, rows) {
  const t = el('table', { id });
  t.append(el('tr', {}, ...headers.map((h) => el('th', {}, h))));
  for (const r of rows) t.append(r);
  return t;
}

function section(id) {
  const s = document.getElementById(id);
  s.replaceChildren();
  return s;
}

function parseEntry(bytes) {
  try {
    return JSON.parse(strictUtf8.decode(bytes));
  } catch (_) {
    return { type: 'unreadable' };
  }
}

async function entryState(index, bytes, cp) {
  try {
    await proveEntry(index, bytes, cp);
    return badge(true, `in tree ${cp.size}`);
  } catch (e) {
    return badge(false, e.message);
  }
}

// ---- the overview page ----------------------------------------------------------------------

async function keyPanel() {
  const { key, served, pinned } = await pinnedKey();
  const s = section('key');
  const input = el('input', { id: 'key-input', title: 'log key' });
  input.value = key.text;
  const save = el('button', { id: 'key-pin' }, 'Pin');
  save.addEventListener('click', () => {
    localStorage.setItem(KEY_STORE, input.value.trim());
    location.reload();
  });
  s.append(el('h2', {}, 'Log key'), input, save);
  if (!pinned) {
    s.append(el('p', { class: 'warn' }, 'Using the key this server states. Compare it with the key the operator publishes, then pin it.'));
  } else if (pinned !== served) {
    s.append(el('p', { class: 'bad', id: 'key-mismatch' }, 'This server states a different key from the one pinned: ', short(served, 60)));
  }
  return key;
}

async function overview() {
  const status = document.getElementById('status');
  try {
    const key = await keyPanel();
    const cp = await openCheckpoint(await fetchText('/checkpoint'), key);
    const head = section('checkpoint');
    head.append(
      el('h2', {}, 'Latest checkpoint'),
      el('p', { id: 'checkpoint-state' }, badge(true, `signed by ${key.name}`), ` ${cp.cosigners} cosignature(s)`),
      el('dl', {}, el('dt', {}, 'Entries'), el('dd', { id: 'tree-size' }, String(cp.size)), el('dt', {}, 'Root'), el('dd', {}, b64encode(cp.root)), el('dt', {}, 'Time'), el('dd', {}, when(cp.time))),
    );
    const size = Number(cp.size);
    await Promise.all([recent(cp, size), notable(cp), history(cp, key)]);
    status.replaceChildren(badge(true, 'verified in this browser'));
    status.dataset.state = 'done';
  } catch (e) {
    status.replaceChildren(badge(false, e.message));
    status.dataset.state = 'error';
  }
}

async function recent(cp, size) {
  const limit = 50;
  const entries = size ? await readEntries(Math.max(0, size - limit), size, size) : [];
  const rows = await Promise.all(
    entries.reverse().map(async ({ index, bytes }) => {
      const e = parseEntry(bytes);
      const receipt = e.type === 'receipt';
      return el(
        'tr',
        { 'data-index': String(index), 'data-type': e.type },
        el('td', {}, String(index)),
        el('td', {}, e.type),
        el('td', {}, receipt ? e.mode : ''),
        el('td', { title: receipt ? e.model || '' : '' }, receipt ? short(e.model || '—', 20) : ''),
        el('td', {}, receipt ? e.created_at : ''),
        el('td', { title: e.id || '' }, receipt ? short(e.id, 22) : short(canonical(e), 40)),
        el('td', { class: 'state' }, await entryState(index, bytes, cp)),
      );
    }),
  );
  section('recent').append(el('h2', {}, 'Recent entries'), table('recent-table', ['#', 'Type', 'Mode', 'Model', 'Made', 'Receipt', 'In the log'], rows));
}

async function notable(cp) {
  const list = await fetchJson('/v1/log/notable');
  const byType = (t, n) => list.entries.filter((e) => e.type === t).slice(-n).reverse();
  const load = async ({ index }) => {
    const bytes = await fetchBytes(`/v1/log/entries/${index}`);
    return { index, bytes, e: parseEntry(bytes), state: await entryState(index, bytes, cp) };
  };
  const [models, policies, audits] = await Promise.all([
    Promise.all(byType('model', 50).map(load)),
    Promise.all(byType('policy', 1).map(load)),
    Promise.all(byType('audit_head', 5).map(load)),
  ]);
  const policy = section('policy');
  policy.append(el('h2', {}, 'Key-release policy (allowlisted measurements)'));
  if (policies.length) {
    const p = policies[0];
    policy.append(
      el('p', {}, `Entry ${p.index}, policy root ${p.e.policy_root} `, p.state),
      table('measurements', ['Measurement'], (p.e.measurements || []).map((m) => el('tr', {}, el('td', {}, m)))),
      table('resources', ['Grant (measurement=resource)'], (p.e.resources || []).map((r) => el('tr', {}, el('td', {}, r)))),
    );
  } else {
    policy.append(el('p', {}, 'No policy logged yet.'));
  }
  section('models').append(
    el('h2', {}, 'Models'),
    table('models-table', ['#', 'Name', 'Format', 'Weights root', 'Sealed', 'In the log'], models.map(({ index, e, state }) =>
      el('tr', { 'data-index': String(index) }, el('td', {}, String(index)), el('td', {}, e.name), el('td', {}, e.format), el('td', { title: e.weights_root }, short(e.weights_root, 24)), el('td', {}, e.sealed ? 'yes' : 'no'), el('td', { class: 'state' }, state)),
    )),
  );
  section('audit').append(
    el('h2', {}, 'Key-broker audit heads'),
    table('audit-table', ['#', 'Entries', 'Head hash', 'In the log'], audits.map(({ index, e, state }) =>
      el('tr', {}, el('td', {}, String(index)), el('td', {}, String(e.len)), el('td', { title: e.hash }, short(e.hash, 24)), el('td', { class: 'state' }, state)),
    )),
  );
}

async function history(cp, key) {
  const { checkpoints } = await fetchJson('/v1/log/checkpoints?limit=20');
  const rows = await Promise.all(
    checkpoints.map(async (note) => {
      let old;
      try {
        old = await openCheckpoint(note, key);
      } catch (e) {
        return el('tr', {}, el('td', {}, '?'), el('td', {}, ''), el('td', {}, ''), el('td', { class: 'state' }, badge(false, e.message)));
      }
      let state;
      try {
        const p = old.size < cp.size ? (await fetchJson(`/v1/log/proof/consistency?old=${old.size}&new=${cp.size}`)).proof.map(b64decode) : [];
        if (old.size > cp.size) throw new Error('larger than the latest checkpoint');
        await verifyConsistency(old.size, cp.size, p, old.root, cp.root);
        state = badge(true, 'consistent with the latest');
      } catch (e) {
        state = badge(false, e.message);
      }
      return el('tr', { 'data-size': String(old.size) }, el('td', {}, String(old.size)), el('td', {}, when(old.time)), el('td', { title: b64encode(old.root) }, short(b64encode(old.root), 20)), el('td', { class: 'state' }, state));
    }),
  );
  section('history').append(el('h2', {}, 'Checkpoint history'), table('history-table', ['Entries', 'Time', 'Root', 'Consistency'], rows));
}

// ---- the verify page ----------------------------------------------------------------------------

async function verifyPasted() {
  const out = section('checks');
  const status = document.getElementById('status');
  status.dataset.state = 'running';
  let failed = false;
  const step = async (name, f) => {
    const row = el('li', { 'data-check': name });
    out.append(row);
    try {
      const detail = await f();
      row.append(badge(true, `${name}: ${detail}`));
      return true;
    } catch (e) {
      row.append(badge(false, `${name}: ${e.message}`));
      failed = true;
      throw e;
    }
  };
  try {
    let k;
    await step('log-key', async () => {
      const p = await pinnedKey();
      k = p.key;
      return p.pinned ? `pinned ${short(k.text, 40)}` : `as this server states it: ${short(k.text, 40)}`;
    });
    let doc;
    await step('receipt-json', async () => {
      doc = JSON.parse(document.getElementById('receipt').value);
      return 'parsed';
    });
    const entry = await checkReceipt(doc, step);
    let inclusion;
    await step('inclusion-json', async () => {
      inclusion = JSON.parse(document.getElementById('inclusion').value);
      if (!Number.isSafeInteger(inclusion.index) || !Array.isArray(inclusion.proof)) {
        throw new Error('an inclusion is {index, checkpoint, proof}');
      }
      return 'parsed';
    });
    let cp;
    await step('checkpoint', async () => {
      cp = await openCheckpoint(String(inclusion.checkpoint), k);
      return `${cp.size} entries at ${when(cp.time)}, signed by ${k.name}`;
    });
    await step('inclusion', async () => {
      const leaf = await leafHash(enc.encode(canonical(entry)));
      const proof = (inclusion.proof || []).map(b64decode);
      await verifyInclusion(inclusion.index, cp.size, leaf, proof, cp.root);
      return `entry ${inclusion.index} of ${cp.size}`;
    });
    await step('time', async () => {
      const made = Date.parse(entry.created_at);
      if (!Number.isFinite(made)) throw new Error('created_at is not a time');
      if (BigInt(Math.floor(made / 1000)) > cp.time + MAX_SKEW_SECS) {
        throw new Error(`made at ${entry.created_at}, after the checkpoint (${when(cp.time)}) that includes it`);
      }
      return `made no later than ${when(cp.time + MAX_SKEW_SECS)}`;
    });
    await step('consistency', async () => {
      const now = await openCheckpoint(await fetchText('/checkpoint'), k);
      if (now.size < cp.size) throw new Error("the log's latest checkpoint is older than this one");
      const p = now.size > cp.size ? (await fetchJson(`/v1/log/proof/consistency?old=${cp.size}&new=${now.size}`)).proof.map(b64decode) : [];
      await verifyConsistency(cp.size, now.size, p, cp.root, now.root);
      return `the log's latest checkpoint (${now.size} entries) extends it`;
    });
  } catch (e) {
    if (!failed) out.append(el('li', { 'data-check': 'input' }, badge(false, e.message)));
    failed = true;
  }
  status.replaceChildren(badge(!failed, failed ? 'not verified' : 'receipt verified and logged'));
  status.dataset.state = failed ? 'fail' : 'ok';
}

function start() {
  if (!window.crypto?.subtle) {
    document.getElementById('status').replaceChildren(badge(false, 'this page needs WebCrypto: open it over HTTPS or on localhost'));
    return;
  }
  if (document.body.dataset.page === 'overview') {
    overview();
  } else {
    document.getElementById('verify').addEventListener('click', verifyPasted);
    document.getElementById('status').dataset.state = 'ready';
  }
}

document.addEventListener('DOMContentLoaded', start);
