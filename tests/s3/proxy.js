#!/usr/bin/env node
// tests/s3/proxy.js: a SigV4-verifying, fault-injecting HTTP proxy in front
// of s3rver, for walship's S3 tests.  Plain CommonJS, Node >= 18, built-in
// http only.  Started by tests/s3/start.sh; see tests/s3/README.md for the
// admin API and what a client must do to pass.
//
// Environment:
//   WS_S3_UPSTREAM_PORT  s3rver's port on 127.0.0.1 (required)
//   WS_S3_PROXY_PORT     port to listen on, 127.0.0.1 only (0: any free one)
//   WS_S3_PORT_FILE      where to write the port once listening
//   WS_S3_ACCESS_KEY, WS_S3_SECRET_KEY  the one valid key pair (required)
//   WS_S3_SESSION_TOKEN  if set, every request must carry it
//   WS_S3_DATA_DIR       s3rver's data directory: enables the proxy's own
//                        ListObjects(V2) (s3rver's is wrong, see README)
//   WS_S3_REQLOG         append one JSON line per S3 request here
//   WS_S3_MAX_BODY       largest request body accepted (bytes, 256 MiB)
//
// The signature check is @smithy/signature-v4's SignatureV4.signRequest
// (the AWS SDK's own signer) run over the request exactly as received; this
// file only parses the Authorization header and compares the results.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { SignatureV4, getCanonicalHeaders } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

const env = process.env;

function die(msg) {
  process.stderr.write(`proxy: ${msg}\n`);
  process.exit(2);
}

const UPSTREAM_HOST = '127.0.0.1';
const UPSTREAM_PORT = Number(env.WS_S3_UPSTREAM_PORT);
if (!(UPSTREAM_PORT > 0 && UPSTREAM_PORT < 65536)) die('WS_S3_UPSTREAM_PORT is not set to a port');
const LISTEN_PORT = Number(env.WS_S3_PROXY_PORT || 0);
if (!(LISTEN_PORT >= 0 && LISTEN_PORT < 65536)) die('WS_S3_PROXY_PORT is not a port');
if (!env.WS_S3_ACCESS_KEY || !env.WS_S3_SECRET_KEY) die('WS_S3_ACCESS_KEY and WS_S3_SECRET_KEY must be set');
const DATA_DIR = env.WS_S3_DATA_DIR || '';
const MAX_BODY = Number(env.WS_S3_MAX_BODY || 256 * 1024 * 1024);

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SUFFIX_OBJECT = '._S3rver_object';

// ---------------------------------------------------------------- config

function initialConfig() {
  return {
    access_key: env.WS_S3_ACCESS_KEY,
    secret_key: env.WS_S3_SECRET_KEY,
    session_token: env.WS_S3_SESSION_TOKEN || null,
    expired_tokens: [],
    region: 'us-east-1',
    clock_offset_s: 0, // added to the proxy's clock for the skew check
    max_skew_s: 900,
    allow_unsigned_payload: false,
    conditional_writes: true, // emulate If-None-Match: * on PutObject
    list_emulation: !!DATA_DIR,
    upstream_error: 'reset', // when s3rver is down: reset | 503 | 502
    upstream_timeout_s: 60,
    retry_after: 1, // Retry-After of injected 503 SlowDown
    hang_s: 30, // how long an injected hang holds a request
    trickle_ms: 500, // an injected trickle sends a byte this often
  };
}
let cfg = initialConfig();
const CONFIG_TYPES = {
  access_key: 'string',
  secret_key: 'string',
  session_token: 'string|null',
  expired_tokens: 'array',
  region: 'string',
  clock_offset_s: 'number',
  max_skew_s: 'number',
  allow_unsigned_payload: 'boolean',
  conditional_writes: 'boolean',
  list_emulation: 'boolean',
  upstream_error: ['reset', '503', '502'],
  upstream_timeout_s: 'number',
  retry_after: 'number',
  hang_s: 'number',
  trickle_ms: 'number',
};

function applyConfig(patch) {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw new Error('config: want a JSON object');
  const next = { ...cfg };
  for (const [k, v] of Object.entries(patch)) {
    const t = CONFIG_TYPES[k];
    if (!t) throw new Error(`config: unknown setting "${k}"`);
    if (Array.isArray(t)) {
      if (!t.includes(String(v))) throw new Error(`config: ${k} must be one of ${t.join(', ')}`);
      next[k] = String(v);
    } else if (t === 'string|null') {
      if (v !== null && typeof v !== 'string') throw new Error(`config: ${k} must be a string or null`);
      next[k] = v || null;
    } else if (t === 'array') {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`config: ${k} must be an array of strings`);
      next[k] = v.slice();
    } else {
      if (typeof v !== t || (t === 'number' && !Number.isFinite(v))) throw new Error(`config: ${k} must be a ${t}`);
      if (t === 'string' && !v) throw new Error(`config: ${k} must not be empty`);
      next[k] = v;
    }
  }
  if (next.list_emulation && !DATA_DIR) throw new Error('config: list_emulation needs WS_S3_DATA_DIR');
  cfg = next;
}

function publicConfig() {
  const c = { ...cfg };
  c.secret_key = '(set)';
  if (c.session_token) c.session_token = '(set)';
  return c;
}

// ----------------------------------------------------------------- stats

function freshStats() {
  return {
    started: new Date().toISOString(),
    upstream: `${UPSTREAM_HOST}:${UPSTREAM_PORT}`,
    requests: 0, // S3 requests received (admin requests excluded)
    ops: {}, // by S3 operation name: PutObject, GetObject, ListObjectsV2, ...
    groups: { put: 0, get: 0, head: 0, list: 0, delete: 0, multipart: 0, bucket: 0, other: 0 },
    status: {}, // by HTTP status; "reset", "truncated" (dropped by a fault or an outage), "aborted" (the client left)
    errors: {}, // error codes the proxy itself returned (auth, digests, ...)
    faults: {}, // injected faults by kind
    faults_total: 0,
    upstream_errors: 0, // s3rver unreachable or failed mid-request
    client_aborts: 0, // the client went away before the response
    bytes_in: 0, // request bodies received
  };
}
let stats = freshStats();

function bump(obj, key, n = 1) {
  obj[key] = (obj[key] || 0) + n;
}

let reqlog = null;
if (env.WS_S3_REQLOG) reqlog = fs.createWriteStream(env.WS_S3_REQLOG, { flags: 'a' });

function log(msg) {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

// ---------------------------------------------------------------- faults

const KINDS = [
  '500', '503', 'reset', 'hang', 'truncate', 'bitflip', 'truncate-request', 'replay', 'delete-errors',
  'list-huge', 'list-endless', 'list-cycle', 'endless-body', 'longer-body', 'ignore-range', 'bad-range', 'endless-error',
  'respond', 'trickle',
];
const GROUP_OF = {
  PutObject: 'put',
  CopyObject: 'put',
  GetObject: 'get',
  HeadObject: 'head',
  HeadBucket: 'head',
  ListObjects: 'list',
  ListObjectsV2: 'list',
  ListObjectVersions: 'list',
  ListBuckets: 'list',
  DeleteObject: 'delete',
  DeleteObjects: 'delete',
  CreateMultipartUpload: 'multipart',
  UploadPart: 'multipart',
  UploadPartCopy: 'multipart',
  CompleteMultipartUpload: 'multipart',
  AbortMultipartUpload: 'multipart',
  ListParts: 'multipart',
  ListMultipartUploads: 'multipart',
  CreateBucket: 'bucket',
  DeleteBucket: 'bucket',
  GetBucketLocation: 'bucket',
  GetBucketConfig: 'bucket',
  PutBucketConfig: 'bucket',
  DeleteBucketConfig: 'bucket',
};

function applicable(kind, info) {
  switch (kind) {
    case 'truncate':
    case 'bitflip':
      return info.op === 'GetObject';
    case 'truncate-request':
      return (info.op === 'PutObject' || info.op === 'UploadPart') && info.clen >= 2;
    case 'replay':
      return info.op === 'PutObject' || info.op === 'UploadPart';
    case 'delete-errors':
      return info.op === 'DeleteObjects';
    case 'list-huge':
    case 'list-endless':
    case 'list-cycle':
      return info.op === 'ListObjectsV2';
    case 'endless-body':
    case 'longer-body':
    case 'trickle':
      return info.op === 'GetObject';
    case 'ignore-range':
    case 'bad-range':
      return info.op === 'GetObject' && info.range !== undefined;
    default:
      return true;
  }
}

function opMatches(ops, info, match) {
  if (match && !info.path.includes(match)) return false;
  return !ops || ops.includes(info.op) || ops.includes(info.group);
}

// mulberry32: a small seeded PRNG, so a seed replays the same choices for
// the same request sequence.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let random = null; // {rate, kinds, rates, seed, remaining, ops, rng}
let queue = []; // one-shot faults: [{kind, ops}]

function checkKinds(kinds) {
  for (const k of kinds) if (!KINDS.includes(k)) throw new Error(`faults: unknown kind "${k}" (known: ${KINDS.join(', ')})`);
}

// respond's answer: {status, headers: {name: value or [values]},
// body: a string, or {"upstream": true} for the object's own bytes,
// optionally {"upstream": true, "from": N} for its bytes from N on}.
function checkResponse(r) {
  if (!r || typeof r !== 'object' || !Number.isInteger(r.status) || r.status < 100 || r.status > 599) throw new Error('faults: respond needs a response {status, headers, body}');
  if (r.headers !== undefined && (typeof r.headers !== 'object' || Array.isArray(r.headers))) throw new Error('faults: response.headers must be an object');
  if (r.body !== undefined && typeof r.body !== 'string' && !(r.body && r.body.upstream === true)) throw new Error('faults: response.body must be a string or {"upstream":true}');
  return { status: r.status, headers: r.headers || {}, body: r.body === undefined ? '' : r.body };
}

function checkOps(ops) {
  if (ops === undefined || ops === null) return null;
  if (!Array.isArray(ops) || ops.some((o) => typeof o !== 'string')) throw new Error('faults: ops must be an array of operation or group names');
  return ops.slice();
}

function setFaults(spec) {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new Error('faults: want a JSON object');
  const known = ['rate', 'kinds', 'rates', 'seed', 'count', 'ops', 'match', 'next', 'n', 'clear', 'hang_s', 'retry_after', 'response', 'trickle_ms'];
  if (spec.match !== undefined && (typeof spec.match !== 'string' || !spec.match)) throw new Error('faults: match must be a non-empty string');
  const match = spec.match || null;
  const response = spec.next === 'respond' ? checkResponse(spec.response) : null;
  for (const k of Object.keys(spec)) if (!known.includes(k)) throw new Error(`faults: unknown field "${k}"`);
  const patch = {};
  if (spec.hang_s !== undefined) patch.hang_s = spec.hang_s;
  if (spec.retry_after !== undefined) patch.retry_after = spec.retry_after;
  if (spec.trickle_ms !== undefined) patch.trickle_ms = spec.trickle_ms;
  if (spec.clear) {
    random = null;
    queue = [];
  }
  if (spec.next !== undefined) {
    checkKinds([spec.next]);
    const n = spec.n === undefined ? 1 : spec.n;
    if (!Number.isInteger(n) || n < 1 || n > 1e6) throw new Error('faults: n must be a positive integer');
    const ops = checkOps(spec.ops);
    applyConfig(patch);
    for (let i = 0; i < n; i++) queue.push({ kind: spec.next, ops, match, response });
    return;
  }
  if (spec.rate === undefined && spec.rates === undefined) {
    applyConfig(patch);
    if (!spec.clear) random = null; // {} turns random faults off
    return;
  }
  let rates = null;
  let rate = 0;
  let kinds = [];
  if (spec.rates !== undefined) {
    if (!spec.rates || typeof spec.rates !== 'object' || Array.isArray(spec.rates)) throw new Error('faults: rates must be an object {kind: probability}');
    checkKinds(Object.keys(spec.rates));
    let sum = 0;
    for (const p of Object.values(spec.rates)) {
      if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new Error('faults: each rate must be a number in [0, 1]');
      sum += p;
    }
    if (sum > 1 + 1e-9) throw new Error('faults: rates add up to more than 1');
    rates = { ...spec.rates };
  } else {
    rate = spec.rate;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new Error('faults: rate must be a number in [0, 1]');
    kinds = spec.kinds === undefined ? ['500', '503'] : spec.kinds;
    if (!Array.isArray(kinds) || kinds.length === 0) throw new Error('faults: kinds must be a non-empty array');
    checkKinds(kinds);
  }
  const seed = spec.seed === undefined ? Date.now() >>> 0 : spec.seed;
  if (!Number.isInteger(seed)) throw new Error('faults: seed must be an integer');
  const count = spec.count === undefined || spec.count === null ? null : spec.count;
  if (count !== null && (!Number.isInteger(count) || count < 0)) throw new Error('faults: count must be a non-negative integer');
  const ops = checkOps(spec.ops);
  applyConfig(patch);
  random = { rate, kinds, rates, seed, remaining: count, ops, match, rng: prng(seed) };
}

function faultState() {
  return {
    random: random && {
      rate: random.rate,
      kinds: random.kinds,
      rates: random.rates,
      seed: random.seed,
      remaining: random.remaining,
      ops: random.ops,
      match: random.match,
    },
    next: queue.map((q) => (q.ops || q.match ? { kind: q.kind, ops: q.ops, match: q.match } : q.kind)),
    hang_s: cfg.hang_s,
    retry_after: cfg.retry_after,
    trickle_ms: cfg.trickle_ms,
  };
}

// Decide the fault (if any) for a request, from its operation alone.
function pickFault(info) {
  for (let i = 0; i < queue.length; i++) {
    const q = queue[i];
    if (opMatches(q.ops, info, q.match) && applicable(q.kind, info)) {
      queue.splice(i, 1);
      return { kind: q.kind, from: 'next', entry: q, rng: Math.random, response: q.response };
    }
  }
  if (!random || random.remaining === 0 || !opMatches(random.ops, info, random.match)) return null;
  const r = random.rng();
  let kind = null;
  if (random.rates) {
    let acc = 0;
    for (const [k, p] of Object.entries(random.rates)) {
      acc += p;
      if (r < acc) {
        kind = k;
        break;
      }
    }
    if (kind && !applicable(kind, info)) kind = null;
  } else if (r < random.rate) {
    const ks = random.kinds.filter((k) => applicable(k, info));
    if (ks.length) kind = ks[Math.floor(random.rng() * ks.length)];
  }
  if (!kind) return null;
  if (random.remaining !== null) random.remaining--;
  return { kind, from: 'random', rng: random.rng };
}

// A response fault that turned out not to apply (an error response, an
// empty body): give it back.
function unpickFault(f) {
  if (!f) return;
  if (f.from === 'next') queue.unshift(f.entry);
  else if (random && random.remaining !== null) random.remaining++;
}

function countFault(f, info) {
  bump(stats.faults, f.kind);
  stats.faults_total++;
  info.fault = f.kind;
  log(`fault ${f.kind} on ${info.op} ${info.method} ${info.path}`);
}

// ------------------------------------------------------------ S3 helpers

function requestId() {
  return crypto.randomBytes(8).toString('hex').toUpperCase();
}

function xmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);
}

function sendError(ctx, status, code, message, extra = {}, headers = {}) {
  const { res, info } = ctx;
  const rid = requestId();
  let body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>`;
  for (const [k, v] of Object.entries(extra)) body += `<${k}>${xmlEscape(v)}</${k}>`;
  body += `<RequestId>${rid}</RequestId><HostId>walship-test-proxy</HostId></Error>`;
  const buf = Buffer.from(body);
  info.code = code;
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': info.method === 'HEAD' ? 0 : buf.length,
    'x-amz-request-id': rid,
    ...headers,
  });
  res.end(info.method === 'HEAD' ? undefined : buf);
}

// A proxy-made error (as opposed to an injected fault or s3rver's own).
function reject(ctx, status, code, message, extra, headers) {
  bump(stats.errors, code);
  log(`reject ${status} ${code} ${ctx.info.op} ${ctx.info.method} ${ctx.info.path}: ${message}`);
  sendError(ctx, status, code, message, extra, headers);
}

function resetSocket(sock) {
  if (!sock || sock.destroyed) return;
  if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
  else sock.destroy();
}

// Query string -> {name: value | [values]}, decoded the way S3 decodes it
// ('+' is a space).  Throws on bad percent-encoding.
function parseQuery(raw) {
  const q = Object.create(null);
  if (!raw) return q;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
    const k = dec(i < 0 ? part : part.slice(0, i));
    const v = i < 0 ? '' : dec(part.slice(i + 1));
    if (k in q) q[k] = [].concat(q[k], v);
    else q[k] = v;
  }
  return q;
}

function qget(q, k) {
  const v = q[k];
  return Array.isArray(v) ? v[0] : v;
}

// The SigV4 canonical URI S3 computes from the decoded key: every byte but
// A-Z a-z 0-9 - . _ ~ and '/' percent-encoded with upper-case hex.
function canonicalPath(p) {
  return p
    .split('/')
    .map((seg) => {
      const bytes = Buffer.from(decodeURIComponent(seg), 'utf8');
      let out = '';
      for (const b of bytes) {
        const c = String.fromCharCode(b);
        out += /[A-Za-z0-9\-._~]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
      }
      return out;
    })
    .join('/');
}

const BUCKET_SUBRESOURCES = [
  'accelerate', 'acl', 'analytics', 'cors', 'encryption', 'intelligent-tiering', 'inventory',
  'lifecycle', 'logging', 'metrics', 'notification', 'object-lock', 'ownershipControls',
  'policy', 'policyStatus', 'publicAccessBlock', 'replication', 'requestPayment', 'tagging',
  'versioning', 'website',
];
const OBJECT_SUBRESOURCES = ['acl', 'attributes', 'legal-hold', 'retention', 'tagging', 'torrent', 'restore', 'select'];

function classify(method, rawPath, q, headers) {
  const has = (k) => k in q;
  const p = rawPath.slice(1);
  const i = p.indexOf('/');
  const dec = (s) => {
    try {
      return decodeURIComponent(s);
    } catch (e) {
      return s;
    }
  };
  const bucket = dec(i < 0 ? p : p.slice(0, i));
  const key = i < 0 ? '' : dec(p.slice(i + 1));
  let op = 'Other';
  if (!bucket) {
    if (method === 'GET') op = 'ListBuckets';
  } else if (i < 0 || key === '') {
    const sub = BUCKET_SUBRESOURCES.some(has);
    if (method === 'GET') {
      if (has('uploads')) op = 'ListMultipartUploads';
      else if (has('versions')) op = 'ListObjectVersions';
      else if (has('location')) op = 'GetBucketLocation';
      else if (sub) op = 'GetBucketConfig';
      else op = qget(q, 'list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    } else if (method === 'HEAD') op = 'HeadBucket';
    else if (method === 'PUT') op = sub ? 'PutBucketConfig' : 'CreateBucket';
    else if (method === 'DELETE') op = sub ? 'DeleteBucketConfig' : 'DeleteBucket';
    else if (method === 'POST' && has('delete')) op = 'DeleteObjects';
  } else {
    const sub = OBJECT_SUBRESOURCES.some(has);
    if (method === 'PUT') {
      const copy = 'x-amz-copy-source' in headers;
      if (has('uploadId') && has('partNumber')) op = copy ? 'UploadPartCopy' : 'UploadPart';
      else if (!sub) op = copy ? 'CopyObject' : 'PutObject';
    } else if (method === 'GET') {
      if (has('uploadId')) op = 'ListParts';
      else if (!sub) op = 'GetObject';
    } else if (method === 'HEAD') op = 'HeadObject';
    else if (method === 'DELETE') {
      if (has('uploadId')) op = 'AbortMultipartUpload';
      else if (!sub) op = 'DeleteObject';
    } else if (method === 'POST') {
      if (has('uploads')) op = 'CreateMultipartUpload';
      else if (has('uploadId')) op = 'CompleteMultipartUpload';
    }
  }
  return { op, group: GROUP_OF[op] || 'other', bucket, key };
}

// s3rver stores key K as the file <bucket>/K._S3rver_object, joining the
// path with path.join: keys with empty, '.' or '..' segments would be
// stored under another name (or outside the bucket).
function keyProblem(key) {
  const segs = key.split('/');
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (s === '.' || s === '..') return `segment "${s}"`;
    if (s === '' && i < segs.length - 1) return 'an empty segment (leading or double slash)';
  }
  if (key.includes('._S3rver_')) return 'the string "._S3rver_"';
  if (key.includes('\0')) return 'a NUL byte';
  return null;
}

// --------------------------------------------------------- verification

function signerFor(c) {
  return new SignatureV4({
    credentials: { accessKeyId: c.access_key, secretAccessKey: c.secret_key, sessionToken: c.session_token || undefined },
    region: c.region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false, // S3: the path is signed as sent, never re-encoded
    applyChecksum: false,
  });
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isFinite(t) ? new Date(t) : null;
}

function b64digest(alg, body) {
  return crypto.createHash(alg).update(body).digest('base64');
}

function crc32b64(body) {
  const v = zlib.crc32(body) >>> 0;
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b.toString('base64');
}

// Returns null when the request may go on, or calls reject() and returns
// true.  Checks in roughly the order S3 does.
async function verify(ctx) {
  const { req, info, query, body } = ctx;
  const h = req.headers;
  const c = cfg;
  const bad = (status, code, msg, extra, headers) => {
    reject(ctx, status, code, msg, extra, headers);
    return true;
  };
  if ('X-Amz-Algorithm' in query || 'X-Amz-Signature' in query)
    return bad(403, 'AccessDenied', 'query-string (presigned) authentication is not supported by the test proxy; sign the Authorization header');
  const auth = h.authorization;
  if (!auth) return bad(403, 'AccessDenied', 'Access Denied (the request is not signed)');
  if (/^AWS /.test(auth))
    return bad(400, 'InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
  const am = /^AWS4-HMAC-SHA256 +(.*)$/.exec(auth);
  if (!am) return bad(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; it must start with "AWS4-HMAC-SHA256 ".');
  const f = {};
  for (const part of am[1].split(',')) {
    const p = part.trim();
    const i = p.indexOf('=');
    if (i > 0) f[p.slice(0, i)] = p.slice(i + 1);
  }
  if (!f.Credential || !f.SignedHeaders || !f.Signature)
    return bad(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; it needs Credential=, SignedHeaders= and Signature=.');
  const cred = f.Credential.split('/');
  if (cred.length !== 5)
    return bad(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  const [ak, scopeDate, region, service, term] = cred;
  // As AWS does, the refusals of a key name it (AWSAccessKeyId): a client
  // must not log the error document whole.
  if (ak !== c.access_key) return bad(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: ak });
  if (region !== c.region)
    return bad(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${region}' is wrong; expecting '${c.region}'`, { Region: c.region });
  if (service !== 's3' || term !== 'aws4_request')
    return bad(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the credential scope must end in "/s3/aws4_request", not "/${service}/${term}".`);
  if (!/^[0-9a-f]{64}$/.test(f.Signature))
    return bad(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; Signature must be 64 lower-case hex digits.');
  const amzDate = h['x-amz-date'];
  const when = parseAmzDate(amzDate);
  if (!when)
    return bad(403, 'AccessDenied', h['x-amz-date'] === undefined && h.date
      ? 'the test proxy requires an x-amz-date header (YYYYMMDDTHHMMSSZ), a Date header alone is not accepted'
      : 'AWS authentication requires a valid Date or x-amz-date header');
  if (scopeDate !== amzDate.slice(0, 8))
    return bad(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; Invalid credential date "${scopeDate}". Date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`);
  const now = Date.now() + c.clock_offset_s * 1000;
  if (Math.abs(now - when.getTime()) > c.max_skew_s * 1000)
    return bad(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
      RequestTime: amzDate,
      ServerTime: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      MaxAllowedSkewMilliseconds: String(c.max_skew_s * 1000),
    });
  const signed = f.SignedHeaders.split(';');
  const notSigned = Object.keys(h).filter((n) => (n === 'host' || n.startsWith('x-amz-')) && !signed.includes(n));
  if (notSigned.length)
    return bad(403, 'AccessDenied', 'There were headers present in the request which were not signed', { HeadersNotSigned: notSigned.join(', ') });
  const tok = h['x-amz-security-token'];
  if (c.session_token) {
    if (tok === undefined) return bad(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records (a session token is required).', { AWSAccessKeyId: ak });
    if (c.expired_tokens.includes(tok)) return bad(400, 'ExpiredToken', 'The provided token has expired.');
    if (tok !== c.session_token) return bad(400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
  } else if (tok !== undefined) {
    if (c.expired_tokens.includes(tok)) return bad(400, 'ExpiredToken', 'The provided token has expired.');
    return bad(400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
  }
  const csha = h['x-amz-content-sha256'];
  if (csha === undefined) return bad(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  if (/^STREAMING-/.test(csha) || /aws-chunked/i.test(h['content-encoding'] || ''))
    return bad(400, 'InvalidRequest', 'aws-chunked (STREAMING-*) payloads are refused by the test proxy; send the whole body with its SHA-256 in x-amz-content-sha256');
  if (csha === 'UNSIGNED-PAYLOAD') {
    if (!c.allow_unsigned_payload)
      return bad(400, 'InvalidRequest', 'UNSIGNED-PAYLOAD is refused by the test proxy; put the SHA-256 of the body in x-amz-content-sha256');
  } else if (!/^[0-9a-f]{64}$/.test(csha)) {
    return bad(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value (lower-case hex).', {
      ArgumentName: 'x-amz-content-sha256',
      ArgumentValue: csha,
    });
  }
  if (signed.includes('date'))
    return bad(403, 'SignatureDoesNotMatch', 'the test proxy cannot verify a signature over the Date header (its signer regenerates Date); sign x-amz-date and leave Date unsigned');

  // The signature: recompute it with the AWS SDK's signer over exactly the
  // signed headers as received, the path as received and the query.
  const headers = {};
  for (const n of signed) if (h[n] !== undefined) headers[n] = String(h[n]);
  const toSign = { method: req.method, protocol: 'http:', hostname: String(h.host || ''), path: ctx.rawPath, query: ctx.query, headers };
  const signer = signerFor(c);
  const signableHeaders = new Set(signed);
  const out = await signer.signRequest(toSign, { signingDate: when, signableHeaders });
  const m = /SignedHeaders=([^,]*), Signature=([0-9a-f]{64})$/.exec(out.headers.authorization || '');
  const ok =
    m &&
    m[1] === f.SignedHeaders &&
    crypto.timingSafeEqual(Buffer.from(m[2]), Buffer.from(f.Signature));
  if (!ok) {
    // Explain, with the signer's own canonical request and string to sign.
    const prepared = { ...out, headers: { ...out.headers } };
    delete prepared.headers.authorization;
    const canon = signer.createCanonicalRequest(prepared, getCanonicalHeaders(prepared, undefined, signableHeaders), csha);
    const scope = `${scopeDate}/${c.region}/s3/aws4_request`;
    const sts = await signer.createStringToSign(amzDate, scope, canon, 'AWS4-HMAC-SHA256');
    const masked = tok ? canon.split(tok).join('***') : canon;
    let why = 'The request signature we calculated does not match the signature you provided. Check your key and signing method.';
    if (m && m[1] !== f.SignedHeaders)
      why += ` (SignedHeaders must be the signed header names, lower-case, sorted, ';'-separated, each present in the request: want "${m[1]}", got "${f.SignedHeaders}")`;
    log(`SignatureDoesNotMatch: canonical request:\n${masked}\n-- string to sign:\n${sts}\n--`);
    return bad(403, 'SignatureDoesNotMatch', why, { AWSAccessKeyId: ak, StringToSign: sts, SignatureProvided: f.Signature, CanonicalRequest: masked });
  }
  let canon;
  try {
    canon = canonicalPath(ctx.rawPath);
  } catch (e) {
    canon = null;
  }
  if (canon !== ctx.rawPath)
    return bad(403, 'SignatureDoesNotMatch', `the signature matches the path as sent, but S3 signs the canonical URI of the decoded key${canon ? ` ("${canon}")` : ''}: percent-encode every byte of the key except A-Z a-z 0-9 - . _ ~ and '/', with upper-case hex`);

  // The body.
  if (req.headers['transfer-encoding'] && req.headers['content-length'] === undefined && (req.method === 'PUT' || req.method === 'POST'))
    return bad(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
  if (csha !== 'UNSIGNED-PAYLOAD') {
    const got = crypto.createHash('sha256').update(body).digest('hex');
    if (got !== csha)
      return bad(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", {
        ClientComputedContentSHA256: csha,
        S3ComputedContentSHA256: got,
      });
  }
  const md5 = h['content-md5'];
  if (md5 !== undefined) {
    const raw = Buffer.from(md5, 'base64');
    if (raw.length !== 16 || raw.toString('base64') !== md5) return bad(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
    if (b64digest('md5', body) !== md5) return bad(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  for (const n of Object.keys(h)) {
    if (!n.startsWith('x-amz-checksum-') || n === 'x-amz-checksum-algorithm' || n === 'x-amz-checksum-type') continue;
    const alg = n.slice('x-amz-checksum-'.length);
    let want;
    if (alg === 'sha256') want = b64digest('sha256', body);
    else if (alg === 'sha1') want = b64digest('sha1', body);
    else if (alg === 'crc32' && typeof zlib.crc32 === 'function') want = crc32b64(body);
    else return bad(400, 'InvalidRequest', `the test proxy cannot verify ${n}; send Content-MD5 or x-amz-checksum-sha256`);
    if (h[n] !== want) return bad(400, 'BadDigest', `The ${alg.toUpperCase()} you specified did not match the calculated checksum.`);
  }
  if (h['x-amz-trailer'] !== undefined) return bad(400, 'InvalidRequest', 'trailing checksums (x-amz-trailer) are refused by the test proxy');
  return null;
}

// ------------------------------------------------------------- upstream

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

function forwardHeaders(h, bodyLen, method) {
  const out = {};
  for (const [k, v] of Object.entries(h)) {
    if (HOP.has(k) || k === 'authorization' || k === 'content-length') continue;
    out[k] = v;
  }
  // s3rver is reached anonymously: it does not check v4 signatures anyway,
  // and it only knows its own access key.
  if (bodyLen > 0 || method === 'PUT' || method === 'POST') out['content-length'] = String(bodyLen);
  return out;
}

function upstream(method, pathq, headers, body) {
  return new Promise((resolve, rej) => {
    const r = http.request({ host: UPSTREAM_HOST, port: UPSTREAM_PORT, method, path: pathq, headers, agent: false }, resolve);
    r.on('error', rej);
    r.setTimeout(cfg.upstream_timeout_s * 1000, () => r.destroy(new Error(`no answer from s3rver within ${cfg.upstream_timeout_s}s`)));
    r.end(body && body.length ? body : undefined);
  });
}

function collect(stream) {
  return new Promise((resolve, rej) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', rej);
    stream.on('aborted', () => rej(new Error('upstream response aborted')));
  });
}

function relayHeaders(resp, extra = {}) {
  const out = {};
  for (const [k, v] of Object.entries(resp.headers)) if (!HOP.has(k)) out[k] = v;
  return { ...out, ...extra };
}

function upstreamFailed(ctx, err) {
  stats.upstream_errors++;
  log(`upstream error on ${ctx.info.op} ${ctx.info.method} ${ctx.info.path}: ${err.message}`);
  ctx.info.code = 'upstream:' + (err.code || err.message);
  if (ctx.res.headersSent) return resetSocket(ctx.req.socket);
  if (cfg.upstream_error === '503') return sendError(ctx, 503, 'ServiceUnavailable', 'Please reduce your request rate. (the S3 server behind the test proxy is down)');
  if (cfg.upstream_error === '502') return sendError(ctx, 502, 'BadGateway', 'the S3 server behind the test proxy is down');
  ctx.info.dropped = 'reset';
  resetSocket(ctx.req.socket);
}

function objectFile(bucket, key) {
  const parts = key.split('/');
  const last = parts.pop();
  return path.join(DATA_DIR, bucket, ...parts, last + SUFFIX_OBJECT);
}

// s3rver answers a PUT before its write stream has flushed the object;
// hold the answer until the stored size is right (read-after-write, as S3).
async function waitStored(bucket, key, size) {
  if (!DATA_DIR) return;
  const file = objectFile(bucket, key);
  const end = Date.now() + 2000;
  for (;;) {
    try {
      if ((await fs.promises.stat(file)).size === size) return;
    } catch (e) {
      /* not there yet */
    }
    if (Date.now() > end) {
      log(`warning: ${bucket}/${key}: stored size did not reach ${size} within 2s`);
      return;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

// --------------------------------------------------------------- listing
//
// s3rver 3.7.1's listing is wrong in ways that matter: with a delimiter it
// drops CommonPrefixes whose keys all sit two or more levels down; it walks
// the directory tree, so keys come out of UTF-8 binary order ("a/x" before
// "a-b"), and pagination after such a key then skips keys; max-keys and
// continuation tokens ignore CommonPrefixes; its tokens need the legacy
// OpenSSL provider.  So for ListObjects and ListObjectsV2 the proxy still
// asks s3rver (max-keys=0, for its argument checks, NoSuchBucket and
// outages) but builds the answer itself from s3rver's data directory.

// One directory of s3rver's store: the keys of the complete objects in it
// (s3rver writes the data, then the MD5, then the metadata) and its
// subdirectories.  Cached while the directory's mtime is unchanged; only
// directories last changed more than a second ago are cached, so a change
// within the same timestamp tick cannot hide.
const dirCache = new Map();
const CACHE_MIN_AGE_MS = 1000;

function readStoreDir(dir) {
  let st;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    return null;
  }
  const hit = dirCache.get(dir);
  if (hit && hit.mtimeMs === st.mtimeMs) return hit;
  let ents;
  try {
    ents = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    return null;
  }
  const names = new Set(ents.map((e) => e.name));
  const bases = [];
  const subdirs = [];
  for (const e of ents) {
    if (e.isDirectory()) subdirs.push(e.name);
    else if (e.name.endsWith(SUFFIX_OBJECT)) {
      const base = e.name.slice(0, -SUFFIX_OBJECT.length);
      if (names.has(base + '._S3rver_metadata.json') && names.has(e.name + '.md5')) bases.push(base);
    }
  }
  const entry = { mtimeMs: st.mtimeMs, bases, subdirs, stable: Date.now() - st.mtimeMs > CACHE_MIN_AGE_MS };
  if (entry.stable) dirCache.set(dir, entry);
  else dirCache.delete(dir);
  if (dirCache.size > 10000) dirCache.clear();
  return entry;
}

// The keys under prefix, in UTF-8 binary order: {keys, bufs}.
const walkCache = new Map();

function walkKeys(bucketDir, prefix) {
  // Start at the deepest directory the prefix names, if it is a plain one.
  const slash = prefix.lastIndexOf('/');
  let start = bucketDir;
  if (slash >= 0) {
    const segs = prefix.slice(0, slash).split('/');
    if (segs.every((s) => s && s !== '.' && s !== '..')) start = path.join(bucketDir, ...segs);
  }
  const found = [];
  const sig = [];
  let stable = true;
  const walk = (dir, rel) => {
    const d = readStoreDir(dir);
    if (!d) return;
    sig.push(dir, d.mtimeMs);
    stable = stable && d.stable;
    for (const b of d.bases) {
      const key = rel + b;
      if (key.startsWith(prefix)) found.push(key);
    }
    for (const sub of d.subdirs) if (!(rel === '' && sub.startsWith('._S3rver_'))) walk(path.join(dir, sub), rel + sub + '/');
  };
  walk(start, start === bucketDir ? '' : path.relative(bucketDir, start).split(path.sep).join('/') + '/');
  const cacheKey = start + '\0' + prefix;
  const sigText = sig.join('\0');
  const hit = walkCache.get(cacheKey);
  if (hit && hit.sig === sigText) return hit.result;
  const bufs = new Map(found.map((k) => [k, Buffer.from(k, 'utf8')]));
  found.sort((a, b) => Buffer.compare(bufs.get(a), bufs.get(b)));
  const result = { keys: found, bufs: found.map((k) => bufs.get(k)) };
  if (stable) {
    if (walkCache.size > 1000) walkCache.clear();
    walkCache.set(cacheKey, { sig: sigText, result });
  } else walkCache.delete(cacheKey);
  return result;
}

const TOKEN_MAGIC = Buffer.from([0xfb, 0xff, 0xbf]); // base64 "+/+/": tokens always need percent-encoding

function makeToken(bucket, after) {
  let json = JSON.stringify({ b: bucket, a: after });
  while ((TOKEN_MAGIC.length + Buffer.byteLength(json)) % 3 === 0) json += ' '; // and always end in '='
  return Buffer.concat([TOKEN_MAGIC, Buffer.from(json)]).toString('base64');
}

function readToken(tok, bucket) {
  try {
    const buf = Buffer.from(tok, 'base64');
    if (buf.toString('base64') !== tok || !buf.subarray(0, 3).equals(TOKEN_MAGIC)) return null;
    const v = JSON.parse(buf.subarray(3).toString());
    return v && v.b === bucket && typeof v.a === 'string' ? v.a : null;
  } catch (e) {
    return null;
  }
}

async function objectEntry(bucketDir, key) {
  const file = path.join(bucketDir, ...key.split('/').slice(0, -1), key.split('/').pop() + SUFFIX_OBJECT);
  try {
    const [st, md5, meta] = await Promise.all([
      fs.promises.stat(file),
      fs.promises.readFile(file + '.md5', 'utf8'),
      fs.promises.readFile(file.slice(0, -SUFFIX_OBJECT.length) + '._S3rver_metadata.json', 'utf8').then(JSON.parse),
    ]);
    const mtime = new Date(Math.floor(st.mtimeMs / 1000) * 1000); // s3rver: whole seconds
    return { key, size: st.size, etag: JSON.stringify(md5.trim()), lastModified: mtime.toISOString(), storageClass: meta['x-amz-storage-class'] || 'STANDARD' };
  } catch (e) {
    return null; // deleted since the walk
  }
}

async function listObjects(ctx) {
  const { query, info } = ctx;
  const v2 = info.op === 'ListObjectsV2';
  const bucket = info.bucket;
  const prefix = qget(query, 'prefix') || '';
  const delimiter = qget(query, 'delimiter') || '';
  const enc = qget(query, 'encoding-type');
  if (enc !== undefined && enc !== 'url') {
    reject(ctx, 400, 'InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: enc });
    return null;
  }
  const maxKeysRaw = qget(query, 'max-keys');
  const maxKeys = maxKeysRaw === undefined ? 1000 : Math.min(1000, Number(maxKeysRaw));
  let after = '';
  let token;
  if (v2) {
    token = qget(query, 'continuation-token');
    if (token !== undefined) {
      after = readToken(token, bucket);
      if (after === null) {
        reject(ctx, 400, 'InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
        return null;
      }
    } else after = qget(query, 'start-after') || '';
  } else after = qget(query, 'marker') || '';
  const bucketDir = path.join(DATA_DIR, bucket);
  const { keys, bufs } = walkKeys(bucketDir, prefix);
  // The first key after the position (binary search).
  const afterBuf = Buffer.from(after, 'utf8');
  let lo = 0;
  let hi = keys.length;
  while (after && lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(bufs[mid], afterBuf) <= 0) lo = mid + 1;
    else hi = mid;
  }
  const entries = []; // {key} or {prefix}
  let truncated = false;
  let lastPrefix = null;
  for (let i = lo; i < keys.length; i++) {
    const key = keys[i];
    let cp = null;
    if (delimiter) {
      const j = key.indexOf(delimiter, prefix.length);
      if (j >= 0) cp = key.slice(0, j + delimiter.length);
    }
    if (cp !== null && (cp === lastPrefix || cp === after)) continue;
    if (entries.length >= maxKeys) {
      truncated = maxKeys > 0;
      break;
    }
    if (cp !== null) {
      entries.push({ prefix: cp });
      lastPrefix = cp;
    } else entries.push({ key });
  }
  const objs = await Promise.all(entries.filter((e) => e.key !== undefined).map((e) => objectEntry(bucketDir, e.key)));
  const e = (s) => xmlEscape(enc === 'url' ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
  const last = entries.length ? entries[entries.length - 1] : null;
  const next = truncated && last ? (last.key !== undefined ? last.key : last.prefix) : null;
  let x = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${S3_NS}">`;
  x += `<Name>${xmlEscape(bucket)}</Name><Prefix>${e(prefix)}</Prefix>`;
  if (v2) {
    if (token !== undefined) x += `<ContinuationToken>${xmlEscape(token)}</ContinuationToken>`;
    else if (after) x += `<StartAfter>${e(after)}</StartAfter>`;
    // Count what is listed: an object that vanished during the walk (a
    // concurrent overwrite) is left out of Contents, so out of KeyCount.
    const nprefixes = entries.filter((en) => en.prefix !== undefined).length;
    x += `<KeyCount>${objs.filter(Boolean).length + nprefixes}</KeyCount>`;
  } else {
    x += `<Marker>${e(after)}</Marker>`;
    if (next !== null && delimiter) x += `<NextMarker>${e(next)}</NextMarker>`;
  }
  x += `<MaxKeys>${maxKeysRaw === undefined ? 1000 : xmlEscape(maxKeysRaw)}</MaxKeys>`;
  if (delimiter) x += `<Delimiter>${e(delimiter)}</Delimiter>`;
  if (enc) x += `<EncodingType>url</EncodingType>`;
  x += `<IsTruncated>${truncated}</IsTruncated>`;
  if (v2 && next !== null) x += `<NextContinuationToken>${xmlEscape(makeToken(bucket, next))}</NextContinuationToken>`;
  const owner = '<Owner><ID>123456789000</ID><DisplayName>S3rver</DisplayName></Owner>';
  for (const o of objs) {
    if (!o) continue;
    x += `<Contents><Key>${e(o.key)}</Key><LastModified>${o.lastModified}</LastModified><ETag>${xmlEscape(o.etag)}</ETag><Size>${o.size}</Size>`;
    if (!v2 || qget(query, 'fetch-owner') === 'true') x += owner;
    x += `<StorageClass>${xmlEscape(o.storageClass)}</StorageClass></Contents>`;
  }
  for (const en of entries) if (en.prefix !== undefined) x += `<CommonPrefixes><Prefix>${e(en.prefix)}</Prefix></CommonPrefixes>`;
  x += '</ListBucketResult>';
  return Buffer.from(x);
}

// The upstream request for a listing: s3rver's argument checks, with the
// position removed and max-keys=0 so it does no listing of its own.
function listUpstreamPath(ctx) {
  const q = { ...ctx.query };
  const v2 = ctx.info.op === 'ListObjectsV2';
  if (v2) {
    delete q['continuation-token'];
    delete q['start-after'];
  } else delete q.marker;
  const mk = qget(q, 'max-keys');
  if (mk === undefined || (/^\d+$/.test(mk) && Number(mk) <= 2147483647)) q['max-keys'] = '0';
  const parts = [];
  for (const [k, v] of Object.entries(q)) for (const one of [].concat(v)) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(one)}`);
  return ctx.rawPath + (parts.length ? '?' + parts.join('&') : '');
}

// A hostile ListObjectsV2 answer, made up by the proxy (nothing is
// forwarded): list-huge is a well-formed page over 16 MiB (an unknown
// element full of text), list-endless an empty truncated page with a new
// continuation token every time, list-cycle empty pages whose tokens go
// A, B, A, B...
function sendListFault(ctx, kind) {
  const { res, info } = ctx;
  const prefix = qget(ctx.query, 'prefix') || '';
  const tok = qget(ctx.query, 'continuation-token');
  let x = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${S3_NS}"><Name>${xmlEscape(info.bucket)}</Name>`;
  x += `<Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>`;
  if (tok !== undefined) x += `<ContinuationToken>${xmlEscape(tok)}</ContinuationToken>`;
  if (kind === 'list-huge') x += `<IsTruncated>false</IsTruncated><Padding>${'x'.repeat(17 * 1024 * 1024)}</Padding>`;
  else {
    const next = kind === 'list-endless' ? `endless-${crypto.randomBytes(12).toString('hex')}` : tok === 'cycle-a' ? 'cycle-b' : 'cycle-a';
    x += `<IsTruncated>true</IsTruncated><NextContinuationToken>${next}</NextContinuationToken>`;
  }
  const buf = Buffer.from(x + '</ListBucketResult>');
  res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': buf.length, 'x-amz-request-id': requestId() });
  res.end(buf);
}

// One LZ4 block that decodes to 256 KiB of zeros (a literal 0, then a
// match at offset 1 whose length runs on in bytes of 255, then the five
// literals a block must end with): 1042 bytes, size field included.
function zeroBlock() {
  const ext = 262144 - 1 - 5 - 4 - 15; // match length past the token's 15+4
  const parts = [Buffer.from([0x1f, 0x00, 0x01, 0x00]), Buffer.alloc(Math.floor(ext / 255), 255), Buffer.from([ext % 255, 0x50, 0, 0, 0, 0, 0])];
  const data = Buffer.concat(parts);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(data.length);
  return Buffer.concat([size, data]);
}
const ZERO_BLOCK = zeroBlock();

// A GetObject answer whose body goes on past the object.  longer-body
// says so: Content-Length and body both 64 KiB past the object.
// endless-body sends no Content-Length (chunked) and never ends: an LZ4
// frame without its end mark, then block after block of zeros (each 1 KiB
// decoding to 256 KiB: a disk filler), until the client goes away; any
// other object, then random bytes.
function sendLongBody(ctx, resp, kind) {
  const { res, req } = ctx;
  if (resp.statusCode !== 200) return false;
  collect(resp).then((body) => {
    const hdr = relayHeaders(resp);
    if (kind === 'longer-body') {
      const out = Buffer.concat([body, crypto.randomBytes(65536)]);
      res.writeHead(200, { ...hdr, 'content-length': String(out.length) });
      return res.end(out);
    }
    delete hdr['content-length'];
    res.writeHead(200, hdr);
    const lz4 = body.length > 12 && body.readUInt32LE(0) === 0x184d2204;
    let open = true;
    res.on('close', () => {
      open = false;
    });
    const more = () => {
      while (open && res.write(lz4 ? ZERO_BLOCK : crypto.randomBytes(65536)));
      if (open) res.once('drain', more);
    };
    res.write(lz4 ? body.subarray(0, body.length - 8) : body);
    more();
  }, () => resetSocket(req.socket));
  return true;
}

// A GetObject answer that trickles: full Content-Length, the first half
// of the body at once, then one byte every trickle_ms until the body is
// sent or the client leaves (a server that is slow, not silent).
function sendTrickle(ctx, resp) {
  const { res, req, info } = ctx;
  if (resp.statusCode !== 200 && resp.statusCode !== 206) return false;
  collect(resp).then((body) => {
    res.writeHead(resp.statusCode, relayHeaders(resp, { 'content-length': String(body.length) }));
    let off = Math.floor(body.length / 2);
    let timer = null;
    res.on('close', () => clearTimeout(timer));
    res.write(body.subarray(0, off));
    const more = () => {
      if (res.destroyed) return;
      if (off >= body.length) return res.end();
      res.write(body.subarray(off, off + 1));
      off++;
      timer = setTimeout(more, cfg.trickle_ms);
    };
    log(`trickle: ${off} of ${body.length} bytes of ${info.path} sent, the rest a byte every ${cfg.trickle_ms} ms`);
    timer = setTimeout(more, cfg.trickle_ms);
  }, () => resetSocket(req.socket));
  return true;
}

// -------------------------------------------------------------- requests

function readBody(ctx, onProgress) {
  const { req } = ctx;
  return new Promise((resolve, rej) => {
    const chunks = [];
    let n = 0;
    let done = false;
    const finish = (err, val) => {
      if (done) return;
      done = true;
      if (err) rej(err);
      else resolve(val);
    };
    req.on('data', (chunk) => {
      if (done) return;
      n += chunk.length;
      if (n > MAX_BODY) return finish(Object.assign(new Error('body too large'), { code: 'TOO_LARGE' }));
      chunks.push(chunk);
      if (onProgress && onProgress(n)) finish(Object.assign(new Error('reset'), { code: 'RESET' }));
    });
    req.on('end', () => finish(null, Buffer.concat(chunks, n)));
    req.on('error', (e) => finish(Object.assign(e, { code: 'CLIENT_GONE' })));
    req.on('close', () => finish(Object.assign(new Error('client closed the connection'), { code: 'CLIENT_GONE' })));
  });
}

async function sendUpstreamResponse(ctx, resp, fault) {
  const { res, info } = ctx;
  const status = resp.statusCode;
  const bodyFault = fault && ['truncate', 'bitflip', 'reset'].includes(fault.kind) ? fault : null;
  if (!bodyFault) {
    res.writeHead(status, relayHeaders(resp));
    resp.pipe(res);
    resp.on('aborted', () => resetSocket(ctx.req.socket));
    return;
  }
  const body = info.method === 'HEAD' ? Buffer.alloc(0) : await collect(resp);
  if (bodyFault.kind === 'reset') {
    // The request was carried out; its answer is lost mid-way.
    countFault(bodyFault, info);
    info.dropped = 'reset';
    if (body.length === 0) return resetSocket(ctx.req.socket);
    res.writeHead(status, relayHeaders(resp, { 'content-length': String(body.length) }));
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => resetSocket(ctx.req.socket));
    return;
  }
  if ((status !== 200 && status !== 206) || body.length === 0) {
    unpickFault(bodyFault);
    res.writeHead(status, relayHeaders(resp, { 'content-length': String(body.length) }));
    res.end(body);
    return;
  }
  countFault(bodyFault, info);
  res.writeHead(status, relayHeaders(resp, { 'content-length': String(body.length) }));
  if (bodyFault.kind === 'truncate') {
    // Content-Length says n, n/2 bytes arrive, then a clean close.
    info.dropped = 'truncated';
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => ctx.req.socket.end());
    return;
  }
  const off = Math.floor(bodyFault.rng() * body.length);
  const bit = Math.floor(bodyFault.rng() * 8);
  const out = Buffer.from(body);
  out[off] ^= 1 << bit;
  log(`bitflip: byte ${off} bit ${bit} of ${info.path}`);
  res.end(out);
}

// s3rver stores an object by writing a temporary file in the key's
// directory, then renaming it; a delete that empties that directory
// removes it meanwhile, and s3rver dies of the rename's ENOENT (an
// unhandled rejection: every later request is refused).  Real S3 has no
// such race.  So a delete waits for the writes under way and passes
// alone; writes wait for a delete under way and pass together.
const gate = { shared: 0, exclusive: false, waiting: [] };
function gateTry(ex) {
  if (gate.exclusive || (ex && gate.shared > 0)) return false;
  if (ex) gate.exclusive = true;
  else gate.shared++;
  return true;
}
function gateEnter(ex) {
  return new Promise((resolve) => {
    if (gate.waiting.length === 0 && gateTry(ex)) return resolve();
    gate.waiting.push({ ex, resolve });
  });
}
function gateLeave(ex) {
  if (ex) gate.exclusive = false;
  else gate.shared--;
  while (gate.waiting.length > 0 && gateTry(gate.waiting[0].ex)) gate.waiting.shift().resolve();
}

async function handleS3(req, res) {
  const t0 = Date.now();
  const raw = req.url;
  const qi = raw.indexOf('?');
  const rawPath = qi < 0 ? raw : raw.slice(0, qi);
  const rawQuery = qi < 0 ? '' : raw.slice(qi + 1);
  const info = { method: req.method, path: rawPath, op: 'Other', group: 'other', clen: Number(req.headers['content-length'] || 0), range: req.headers.range };
  const ctx = { req, res, info, rawPath, query: Object.create(null), body: Buffer.alloc(0) };
  stats.requests++;
  res.on('close', () => {
    const status = info.dropped ? info.dropped : res.writableFinished ? String(res.statusCode) : 'aborted';
    if (status === 'aborted') stats.client_aborts++;
    bump(stats.status, status);
    if (reqlog)
      reqlog.write(JSON.stringify({ t: t0, ms: Date.now() - t0, op: info.op, method: info.method, path: info.path, status, fault: info.fault, code: info.code, bytes: ctx.body.length }) + '\n');
  });
  try {
    ctx.query = parseQuery(rawQuery);
  } catch (e) {
    bump(stats.ops, 'Other');
    stats.groups.other++;
    return reject(ctx, 400, 'InvalidArgument', 'malformed percent-encoding in the query string');
  }
  if (!rawPath.startsWith('/')) {
    bump(stats.ops, 'Other');
    stats.groups.other++;
    return reject(ctx, 400, 'InvalidURI', 'Couldn\'t parse the specified URI.');
  }
  Object.assign(info, classify(req.method, rawPath, ctx.query, req.headers));
  bump(stats.ops, info.op);
  stats.groups[info.group]++;
  if (info.clen > MAX_BODY) {
    res.setHeader('Connection', 'close');
    return reject(ctx, 400, 'EntityTooLarge', `Your proposed upload exceeds the test proxy's limit of ${MAX_BODY} bytes.`);
  }
  let fault = pickFault(info);
  let onProgress = null;
  if (fault && fault.kind === 'reset' && (info.clen > 0 || req.headers['transfer-encoding'])) {
    // Mid-request: drop the connection once half the body is in.
    onProgress = (n) => n >= Math.ceil(info.clen / 2);
  }
  try {
    ctx.body = await readBody(ctx, onProgress);
  } catch (e) {
    if (e.code === 'RESET') {
      countFault(fault, info);
      info.dropped = 'reset';
      return resetSocket(req.socket);
    }
    unpickFault(fault);
    if (e.code === 'TOO_LARGE') {
      res.setHeader('Connection', 'close');
      return reject(ctx, 400, 'EntityTooLarge', `Your proposed upload exceeds the test proxy's limit of ${MAX_BODY} bytes.`);
    }
    return; // the client went away
  }
  stats.bytes_in += ctx.body.length;
  if (await verify(ctx)) return unpickFault(fault);

  // S3 rules s3rver does not enforce, and keys s3rver cannot store.
  if (info.key) {
    const why = keyProblem(info.key);
    if (why) {
      unpickFault(fault);
      return reject(ctx, 400, 'InvalidArgument', `the test server (s3rver) cannot store a key containing ${why}; real S3 can`);
    }
  }
  if (info.op === 'DeleteObjects' && req.headers['content-md5'] === undefined && !Object.keys(req.headers).some((n) => n.startsWith('x-amz-checksum-'))) {
    unpickFault(fault);
    return reject(ctx, 400, 'InvalidRequest', 'Missing required header for this request: Content-MD5 (or an x-amz-checksum-* header)');
  }
  const inm = req.headers['if-none-match'];
  const conditional = (info.op === 'PutObject' || info.op === 'CompleteMultipartUpload') && cfg.conditional_writes;
  if (conditional && (inm !== undefined || req.headers['if-match'] !== undefined) && inm !== '*') {
    unpickFault(fault);
    return reject(ctx, 501, 'NotImplemented', 'the test proxy supports only If-None-Match: * on writes');
  }

  if (fault && fault.kind === 'delete-errors') {
    // Every key refused, nothing deleted, as S3 answers a DeleteObjects
    // whose keys a policy denies: 200 with one <Error> per key.
    countFault(fault, info);
    const keys = [...ctx.body.toString().matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
    let xml = '<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">';
    for (const k of keys) xml += `<Error><Key>${k}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`;
    const buf = Buffer.from(xml + '</DeleteResult>');
    res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': buf.length, 'x-amz-request-id': requestId() });
    return res.end(buf);
  }
  if (fault && fault.kind === 'respond') {
    // Exactly the answer asked for (the object's bytes fetched first, if
    // it wants them): duplicate headers, redirects, lying lengths...
    countFault(fault, info);
    const r = fault.response;
    let body = Buffer.from(typeof r.body === 'string' ? r.body : '');
    if (typeof r.body !== 'string') {
      const up = await upstream('GET', raw, forwardHeaders({ host: req.headers.host }, 0, 'GET'), null).catch(() => null);
      body = up ? (await collect(up)).subarray(r.body.from || 0) : Buffer.alloc(0);
    }
    res.writeHead(r.status, r.headers);
    return res.end(body);
  }
  if (fault && fault.kind.startsWith('list-')) {
    countFault(fault, info);
    return sendListFault(ctx, fault.kind);
  }
  if (fault && fault.kind === 'endless-error') {
    // A 500 whose error document never ends (chunked, no length).
    countFault(fault, info);
    res.writeHead(500, { 'Content-Type': 'application/xml', 'x-amz-request-id': requestId() });
    let open = true;
    res.on('close', () => {
      open = false;
    });
    const chunk = Buffer.from('<Error><Code>InternalError</Code><Message>' + 'x'.repeat(65000) + '</Message></Error>');
    const more = () => {
      while (open && res.write(chunk));
      if (open) res.once('drain', more);
    };
    return more();
  }
  if (fault && ['500', '503', 'hang'].includes(fault.kind)) {
    countFault(fault, info);
    if (fault.kind === '500') return sendError(ctx, 500, 'InternalError', 'We encountered an internal error. Please try again.');
    if (fault.kind === '503') return sendError(ctx, 503, 'SlowDown', 'Please reduce your request rate.', {}, { 'Retry-After': String(cfg.retry_after) });
    const timer = setTimeout(() => {
      info.dropped = 'reset';
      resetSocket(req.socket);
    }, cfg.hang_s * 1000);
    res.on('close', () => clearTimeout(timer));
    return;
  }

  let body = ctx.body;
  if (fault && fault.kind === 'truncate-request') {
    countFault(fault, info);
    body = body.subarray(0, Math.floor(body.length / 2));
  }
  const fwd = forwardHeaders(req.headers, body.length, req.method);
  if (fault && fault.kind === 'ignore-range') {
    // A server that does not do ranges: the whole object, 200.
    countFault(fault, info);
    delete fwd.range;
  }
  if (fault && fault.kind === 'bad-range') {
    // A 206 for the wrong range: bytes 0- whatever was asked.
    countFault(fault, info);
    fwd.range = 'bytes=0-';
  }
  try {
    if (conditional && inm === '*') {
      const head = await upstream('HEAD', rawPath, forwardHeaders({ host: req.headers.host }, 0, 'HEAD'), null);
      head.resume();
      if (head.statusCode === 200) {
        unpickFault(fault);
        return sendError(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
      }
      delete fwd['if-none-match'];
    }
    const listing = cfg.list_emulation && (info.op === 'ListObjects' || info.op === 'ListObjectsV2');
    // Deletes pass the gate alone, writes together (see gateEnter).
    const gk = info.op === 'DeleteObjects' || req.method === 'DELETE' ? 'x' : req.method === 'PUT' || req.method === 'POST' ? 's' : null;
    let resp;
    if (gk) await gateEnter(gk === 'x');
    try {
      if (fault && fault.kind === 'replay') {
        countFault(fault, info);
        const first = await upstream(req.method, raw, fwd, body);
        await collect(first);
      }
      resp = await upstream(req.method, listing ? listUpstreamPath(ctx) : raw, fwd, body);
      if (info.op === 'DeleteObjects' && resp.statusCode === 500) {
        // s3rver deletes a request's keys concurrently, and two that empty
        // one directory race to remove it: the objects are gone, but the
        // answer is a 500.  Sent again, nothing is left to race on.
        await collect(resp);
        resp = await upstream(req.method, raw, fwd, body);
      }
    } finally {
      if (gk) gateLeave(gk === 'x');
    }
    if (listing && resp.statusCode === 200) {
      await collect(resp);
      const xml = await listObjects(ctx);
      if (!xml) return unpickFault(fault);
      const hdr = { 'Content-Type': 'application/xml', 'Content-Length': xml.length, 'x-amz-request-id': requestId() };
      if (fault && fault.kind === 'reset') {
        countFault(fault, info);
        info.dropped = 'reset';
        res.writeHead(200, hdr);
        return res.write(xml.subarray(0, Math.floor(xml.length / 2)), () => resetSocket(req.socket));
      }
      unpickFault(fault);
      res.writeHead(200, hdr);
      return res.end(xml);
    }
    if (info.op === 'PutObject' && resp.statusCode === 200) await waitStored(info.bucket, info.key, body.length);
    if (fault && (fault.kind === 'endless-body' || fault.kind === 'longer-body')) {
      if (sendLongBody(ctx, resp, fault.kind)) return countFault(fault, info);
      unpickFault(fault);
      fault = null;
    }
    if (fault && fault.kind === 'trickle') {
      if (sendTrickle(ctx, resp)) return countFault(fault, info);
      unpickFault(fault);
      fault = null;
    }
    await sendUpstreamResponse(ctx, resp, fault && ['truncate', 'bitflip', 'reset'].includes(fault.kind) ? fault : null);
  } catch (e) {
    upstreamFailed(ctx, e);
  }
}

// ----------------------------------------------------------------- admin

function adminReply(res, status, obj) {
  const buf = Buffer.from(JSON.stringify(obj, null, 1) + '\n');
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': buf.length });
  res.end(buf);
}

async function handleAdmin(req, res) {
  const u = new URL(req.url, 'http://x');
  const route = `${req.method} ${u.pathname.replace(/\/+$/, '')}`;
  const chunks = [];
  for await (const c of req) chunks.push(c);
  let body = null;
  const text = Buffer.concat(chunks).toString().trim();
  try {
    body = text ? JSON.parse(text) : {};
  } catch (e) {
    return adminReply(res, 400, { error: `bad JSON: ${e.message}` });
  }
  try {
    switch (route) {
      case 'GET /__admin/health':
        return adminReply(res, 200, { ok: true, pid: process.pid, upstream: stats.upstream });
      case 'GET /__admin/stats':
        return adminReply(res, 200, stats);
      case 'POST /__admin/reset':
        stats = freshStats();
        if (u.searchParams.get('all') === '1') {
          random = null;
          queue = [];
          cfg = initialConfig();
        }
        return adminReply(res, 200, { ok: true });
      case 'GET /__admin/faults':
        return adminReply(res, 200, faultState());
      case 'POST /__admin/faults':
        setFaults(body);
        log(`faults set: ${JSON.stringify(body)}`);
        return adminReply(res, 200, faultState());
      case 'GET /__admin/config':
        return adminReply(res, 200, publicConfig());
      case 'POST /__admin/config':
        applyConfig(body);
        log(`config set: ${Object.keys(body).join(', ')}`);
        return adminReply(res, 200, publicConfig());
      default:
        return adminReply(res, 404, { error: `no admin route ${route}`, routes: ['GET health', 'GET stats', 'POST reset[?all=1]', 'GET|POST faults', 'GET|POST config'] });
    }
  } catch (e) {
    return adminReply(res, 400, { error: e.message });
  }
}

// ------------------------------------------------------------------ main

const server = http.createServer((req, res) => {
  const p = req.url.startsWith('/__admin') ? handleAdmin(req, res) : handleS3(req, res);
  p.catch((e) => {
    log(`internal error on ${req.method} ${req.url.split('?')[0]}: ${e.stack || e}`);
    if (!res.headersSent) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`test proxy internal error: ${e.message}\n`);
    } else resetSocket(req.socket);
  });
});
server.keepAliveTimeout = 20000;
server.headersTimeout = 30000;
server.requestTimeout = 0; // hangs are deliberate
server.on('clientError', (err, sock) => {
  if (sock.writable && !sock.destroyed) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else sock.destroy();
});
server.on('error', (e) => die(`cannot listen on 127.0.0.1:${LISTEN_PORT}: ${e.message}`));
server.listen(LISTEN_PORT, '127.0.0.1', () => {
  const port = server.address().port;
  if (env.WS_S3_PORT_FILE) {
    fs.writeFileSync(env.WS_S3_PORT_FILE + '.tmp', `${port}\n`);
    fs.renameSync(env.WS_S3_PORT_FILE + '.tmp', env.WS_S3_PORT_FILE);
  }
  log(`proxy listening on 127.0.0.1:${port}, upstream s3rver 127.0.0.1:${UPSTREAM_PORT}, listing ${cfg.list_emulation ? 'by the proxy' : 'by s3rver'}`);
});
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => process.exit(0));
