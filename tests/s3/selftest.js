#!/usr/bin/env node
// tests/s3/selftest.js: the proxy's own checks, beyond what curl can drive
// (tests/e2e/90-s3-harness.sh runs it).  Needs the environment of
// start.sh's DIR/env (S3_ENDPOINT S3_BUCKET S3_PROXY_ADMIN
// AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY).  Requests are signed with
// @smithy/signature-v4, the same signer the proxy verifies with, so this
// tests the proxy's wiring and S3 semantics; the independent signer is
// curl's, in the shell test.  Prints "ok NAME" per check; exits 1 with
// "FAIL NAME: why" at the first failure.
'use strict';

const http = require('http');
const crypto = require('crypto');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

const env = process.env;
for (const n of ['S3_ENDPOINT', 'S3_BUCKET', 'S3_PROXY_ADMIN', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'])
  if (!env[n]) {
    process.stderr.write(`selftest: ${n} is not set (source DIR/env)\n`);
    process.exit(2);
  }
const EP = new URL(env.S3_ENDPOINT);
const BUCKET = env.S3_BUCKET;
const ADMIN = env.S3_PROXY_ADMIN;

const sha256hex = (b) => crypto.createHash('sha256').update(b).digest('hex');
const md5b64 = (b) => crypto.createHash('md5').update(b).digest('base64');

// The SigV4/S3 encoding of a key (or any path): everything but unreserved
// characters and '/', upper-case hex.
function encPath(s) {
  return s
    .split('/')
    .map((seg) => encodeURIComponent(seg).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()))
    .join('/');
}
const encQ = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

function signer(opts = {}) {
  return new SignatureV4({
    credentials: {
      accessKeyId: opts.ak || env.AWS_ACCESS_KEY_ID,
      secretAccessKey: opts.sk || env.AWS_SECRET_ACCESS_KEY,
      sessionToken: opts.token,
    },
    region: 'us-east-1',
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
}

// With cap, a body longer than cap bytes is cut there: the answer then
// has cut: true and the first cap bytes (for bodies that never end).
function send(method, pathq, headers, body, cap) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: EP.hostname, port: EP.port, method, path: pathq, headers, agent: false }, (res) => {
      const chunks = [];
      let n = 0;
      res.on('data', (c) => {
        chunks.push(c);
        n += c.length;
        if (cap !== undefined && n > cap) {
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).subarray(0, cap), cut: true });
          r.destroy();
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), cut: true }));
    });
    r.on('error', reject);
    r.setTimeout(15000, () => r.destroy(new Error('timeout')));
    r.end(body && body.length ? body : undefined);
  });
}

// s3(method, key or '' for the bucket, {query, headers, body, sign: opts,
// hash, rawPath, unsignedHeaders})
async function s3(method, key, o = {}) {
  const body = o.body ? Buffer.from(o.body) : Buffer.alloc(0);
  const path = o.rawPath || `/${BUCKET}${key === null ? '' : '/' + encPath(key)}`;
  const query = o.query || {};
  const headers = { host: EP.host, 'x-amz-content-sha256': o.hash || sha256hex(body), ...(o.headers || {}) };
  if (body.length || method === 'PUT' || method === 'POST') headers['content-length'] = String(body.length);
  const req = { method, protocol: 'http:', hostname: EP.hostname, port: Number(EP.port), path, query, headers };
  const signed = await signer(o.sign).signRequest(req, { signingDate: o.date });
  const out = { ...signed.headers, ...(o.unsignedHeaders || {}) };
  if (o.mangleAuth) out.authorization = o.mangleAuth(out.authorization);
  const wire = o.sendQuery || query;
  const qs = Object.keys(wire)
    .sort()
    .flatMap((k) => [].concat(wire[k]).map((v) => `${encQ(k)}=${encQ(v)}`))
    .join('&');
  return send(method, path + (qs ? '?' + qs : ''), out, body, o.cap);
}

async function admin(method, name, obj) {
  const u = new URL(`${ADMIN}/${name}`);
  const body = obj ? Buffer.from(JSON.stringify(obj)) : null;
  const r = await send.call(null, method, u.pathname + u.search, { host: u.host, 'content-type': 'application/json', 'content-length': body ? body.length : 0 }, body);
  if (r.status !== 200) throw new Error(`admin ${method} ${name}: ${r.status} ${r.body}`);
  return JSON.parse(r.body.toString());
}

function code(r) {
  const m = /<Code>([^<]*)<\/Code>/.exec(r.body.toString());
  return m ? m[1] : '';
}

function xmlAll(xml, tag) {
  const out = [];
  const re = new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g');
  let m;
  while ((m = re.exec(xml))) out.push(m[1].replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
  return out;
}

let current = '';
function check(cond, why) {
  if (!cond) throw new Error(why);
}
function expectErr(r, status, c) {
  check(r.status === status && code(r) === c, `want ${status} ${c}, got ${r.status} ${code(r) || r.body.toString().slice(0, 200)}`);
}

const tests = [];
const t = (name, fn) => tests.push([name, fn]);

t('odd keys round-trip (encoding, unicode, +, =, space)', async () => {
  for (const key of ['sp ace/ü+=.txt', 'a~b_c-d.e', 'q?x&y#z', "par(en)s!*'", 'dir/']) {
    const body = crypto.randomBytes(100);
    let r = await s3('PUT', key, { body });
    check(r.status === 200, `PUT ${key}: ${r.status} ${r.body}`);
    r = await s3('GET', key);
    check(r.status === 200 && r.body.equals(body), `GET ${key}: ${r.status}`);
  }
});

t('path encoded differently from S3 is refused', async () => {
  const r = await s3('GET', null, { rawPath: `/${BUCKET}/sp%20ace/%c3%bc%2b%3d.txt` });
  expectErr(r, 403, 'SignatureDoesNotMatch');
});

t('keys s3rver cannot store are refused, not mangled', async () => {
  for (const key of ['a/../b', 'a//b', './x']) expectErr(await s3('PUT', key, { body: 'x' }), 400, 'InvalidArgument');
});

t('Range is signed and honoured', async () => {
  const body = Buffer.from('0123456789');
  await s3('PUT', 'range/obj', { body });
  const r = await s3('GET', 'range/obj', { headers: { range: 'bytes=2-5' } });
  check(r.status === 206 && r.body.toString() === '2345', `range GET: ${r.status} ${r.body}`);
});

t('signature failures', async () => {
  let e = await s3('GET', 'range/obj', { sign: { sk: 'wrong' } });
  expectErr(e, 403, 'SignatureDoesNotMatch');
  check(/<SignatureProvided>[0-9a-f]{64}<\/SignatureProvided>/.test(e.body.toString()), `no SignatureProvided (as AWS): ${e.body}`);
  e = await s3('GET', 'range/obj', { sign: { ak: 'AKIAOTHER' } });
  expectErr(e, 403, 'InvalidAccessKeyId');
  check(e.body.toString().includes('<AWSAccessKeyId>AKIAOTHER</AWSAccessKeyId>'), `no AWSAccessKeyId (as AWS): ${e.body}`);
  // Unsorted SignedHeaders.
  expectErr(await s3('GET', 'range/obj', { mangleAuth: (a) => a.replace('host;x-amz-content-sha256;x-amz-date', 'x-amz-date;host;x-amz-content-sha256') }), 403, 'SignatureDoesNotMatch');
  // An x-amz-* header that is not signed.
  expectErr(await s3('GET', 'range/obj', { unsignedHeaders: { 'x-amz-meta-x': '1' } }), 403, 'AccessDenied');
  // A signed header changed in transit.
  expectErr(await s3('GET', 'range/obj', { headers: { 'x-amz-meta-a': '1' }, unsignedHeaders: { 'x-amz-meta-a': '2' } }), 403, 'SignatureDoesNotMatch');
  // The query changed in transit: one prefix signed, another sent.
  const r = await s3('GET', null, { query: { 'list-type': '2', prefix: 'a' } });
  check(r.status === 200, `plain list: ${r.status}`);
  expectErr(await s3('GET', null, { query: { 'list-type': '2', prefix: 'a' }, sendQuery: { 'list-type': '2', prefix: 'b' } }), 403, 'SignatureDoesNotMatch');
  // Wrong region in the scope.
  expectErr(await s3('GET', 'range/obj', { mangleAuth: (a) => a.replace('/us-east-1/', '/eu-west-1/') }), 400, 'AuthorizationHeaderMalformed');
});

t('clock skew, both ways', async () => {
  expectErr(await s3('GET', 'range/obj', { date: new Date(Date.now() - 16 * 60000) }), 403, 'RequestTimeTooSkewed');
  expectErr(await s3('GET', 'range/obj', { date: new Date(Date.now() + 16 * 60000) }), 403, 'RequestTimeTooSkewed');
  const r = await s3('GET', 'range/obj', { date: new Date(Date.now() - 14 * 60000) });
  check(r.status === 200, `14 minutes off: ${r.status}`);
});

t('payload checks', async () => {
  expectErr(await s3('PUT', 'p/x', { body: 'abc', hash: 'UNSIGNED-PAYLOAD' }), 400, 'InvalidRequest');
  expectErr(await s3('PUT', 'p/x', { body: 'abc', hash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' }), 400, 'InvalidRequest');
  expectErr(await s3('PUT', 'p/x', { body: 'abc', hash: sha256hex('abd') }), 400, 'XAmzContentSHA256Mismatch');
  expectErr(await s3('PUT', 'p/x', { body: 'abc', headers: { 'content-md5': 'nope' } }), 400, 'InvalidDigest');
  expectErr(await s3('PUT', 'p/x', { body: 'abc', headers: { 'content-md5': md5b64('abd') } }), 400, 'BadDigest');
  const sha = crypto.createHash('sha256').update('abd').digest('base64');
  expectErr(await s3('PUT', 'p/x', { body: 'abc', headers: { 'x-amz-checksum-sha256': sha } }), 400, 'BadDigest');
  const good = crypto.createHash('sha256').update('abc').digest('base64');
  const r = await s3('PUT', 'p/x', { body: 'abc', headers: { 'content-md5': md5b64('abc'), 'x-amz-checksum-sha256': good } });
  check(r.status === 200 && r.headers.etag === JSON.stringify(crypto.createHash('md5').update('abc').digest('hex')), `good PUT: ${r.status} etag ${r.headers.etag}`);
  await admin('POST', 'config', { allow_unsigned_payload: true });
  const u = await s3('PUT', 'p/u', { body: 'abc', hash: 'UNSIGNED-PAYLOAD' });
  await admin('POST', 'config', { allow_unsigned_payload: false });
  check(u.status === 200, `UNSIGNED-PAYLOAD when allowed: ${u.status}`);
});

t('session tokens: required, rotated, expired', async () => {
  await admin('POST', 'config', { session_token: 'tok-1' });
  try {
    expectErr(await s3('GET', 'p/x'), 403, 'InvalidAccessKeyId');
    let r = await s3('GET', 'p/x', { sign: { token: 'tok-1' } });
    check(r.status === 200, `with the token: ${r.status} ${r.body}`);
    await admin('POST', 'config', { session_token: 'tok-2', expired_tokens: ['tok-1'] });
    expectErr(await s3('GET', 'p/x', { sign: { token: 'tok-1' } }), 400, 'ExpiredToken');
    expectErr(await s3('GET', 'p/x', { sign: { token: 'tok-x' } }), 400, 'InvalidToken');
    r = await s3('GET', 'p/x', { sign: { token: 'tok-2' } });
    check(r.status === 200, `rotated token: ${r.status}`);
  } finally {
    await admin('POST', 'config', { session_token: null, expired_tokens: [] });
  }
});

t('multipart upload', async () => {
  const key = 'mp/big';
  let r = await s3('POST', key, { query: { uploads: '' } });
  check(r.status === 200, `create: ${r.status} ${r.body}`);
  const uploadId = xmlAll(r.body.toString(), 'UploadId')[0];
  const parts = [crypto.randomBytes(5 * 1024 * 1024), crypto.randomBytes(1000)];
  const etags = [];
  for (let i = 0; i < parts.length; i++) {
    r = await s3('PUT', key, { query: { partNumber: String(i + 1), uploadId }, body: parts[i], headers: { 'content-md5': md5b64(parts[i]) } });
    check(r.status === 200, `part ${i + 1}: ${r.status} ${r.body}`);
    etags.push(r.headers.etag);
  }
  const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
  r = await s3('POST', key, { query: { uploadId }, body: xml });
  check(r.status === 200, `complete: ${r.status} ${r.body}`);
  r = await s3('GET', key);
  check(r.status === 200 && r.body.equals(Buffer.concat(parts)), `GET: ${r.status} ${r.body.length}`);
  const s = await admin('GET', 'stats');
  for (const op of ['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload']) check(s.ops[op] >= 1, `stats.ops.${op} missing`);
});

t('conditional PUT and DeleteObjects', async () => {
  let r = await s3('PUT', 'c/once', { body: 'a', headers: { 'if-none-match': '*' } });
  check(r.status === 200, `first create-only PUT: ${r.status}`);
  expectErr(await s3('PUT', 'c/once', { body: 'b', headers: { 'if-none-match': '*' } }), 412, 'PreconditionFailed');
  const del = '<Delete><Object><Key>c/once</Key></Object></Delete>';
  expectErr(await s3('POST', null, { query: { delete: '' }, body: del }), 400, 'InvalidRequest');
  r = await s3('POST', null, { query: { delete: '' }, body: del, headers: { 'content-md5': md5b64(del) } });
  check(r.status === 200 && r.body.toString().includes('<Deleted>'), `DeleteObjects: ${r.status} ${r.body}`);
  r = await s3('HEAD', 'c/once');
  check(r.status === 404, `deleted object still there: ${r.status}`);
  // delete-errors: every key refused with its own <Error>, none deleted.
  await s3('PUT', 'c/one', { body: 'x' });
  await s3('PUT', 'c/two', { body: 'y' });
  const del2 = '<Delete><Quiet>true</Quiet><Object><Key>c/one</Key></Object><Object><Key>c/two</Key></Object></Delete>';
  await admin('POST', 'faults', { next: 'delete-errors' });
  r = await s3('POST', null, { query: { delete: '' }, body: del2, headers: { 'content-md5': md5b64(del2) } });
  const errs = [...r.body.toString().matchAll(/<Error><Key>([^<]*)<\/Key><Code>AccessDenied<\/Code>/g)].map((m) => m[1]);
  check(r.status === 200 && errs.join(' ') === 'c/one c/two', `delete-errors: ${r.status} ${r.body}`);
  r = await s3('HEAD', 'c/two');
  check(r.status === 200, `delete-errors deleted an object: ${r.status}`);
  r = await s3('POST', null, { query: { delete: '' }, body: del2, headers: { 'content-md5': md5b64(del2) } });
  check(r.status === 200 && !r.body.toString().includes('<Error>'), `DeleteObjects after the fault: ${r.status} ${r.body}`);
  r = await s3('HEAD', 'c/two');
  check(r.status === 404, `c/two still there: ${r.status}`);
});

// The listing model: S3's semantics over a sorted key set.
function model(keys, prefix, delim) {
  const out = [];
  const seen = new Set();
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const i = delim ? k.indexOf(delim, prefix.length) : -1;
    if (i >= 0) {
      const cp = k.slice(0, i + delim.length);
      if (!seen.has(cp)) {
        seen.add(cp);
        out.push('P:' + cp);
      }
    } else out.push('K:' + k);
  }
  return out;
}

async function listAll(v2, prefix, delim, maxKeys, extra = {}) {
  const got = [];
  const tokens = new Set();
  let pos;
  for (let page = 0; page < 500; page++) {
    const query = { prefix, 'max-keys': String(maxKeys), ...extra };
    if (delim) query.delimiter = delim;
    if (v2) {
      query['list-type'] = '2';
      if (pos !== undefined) query['continuation-token'] = pos;
    } else if (pos !== undefined) query.marker = pos;
    const r = await s3('GET', null, { query });
    check(r.status === 200, `list page ${page}: ${r.status} ${r.body}`);
    const xml = r.body.toString();
    const keys = xmlAll(xml, 'Key');
    const cps = [];
    const re = /<CommonPrefixes><Prefix>([^<]*)<\/Prefix><\/CommonPrefixes>/g;
    let m;
    while ((m = re.exec(xml))) cps.push(m[1]);
    const entries = [...keys.map((k) => 'K:' + k), ...cps.map((p) => 'P:' + p)].sort((a, b) => Buffer.compare(Buffer.from(a.slice(2)), Buffer.from(b.slice(2))));
    check(entries.length <= maxKeys, `page has ${entries.length} entries, max-keys ${maxKeys}`);
    if (v2) check(Number(xmlAll(xml, 'KeyCount')[0]) === entries.length, 'KeyCount is wrong');
    got.push(...entries);
    const truncated = xmlAll(xml, 'IsTruncated')[0] === 'true';
    if (!truncated) return got;
    if (v2) {
      pos = xmlAll(xml, 'NextContinuationToken')[0];
      check(pos && !tokens.has(pos), 'missing or repeated continuation token');
      check(/[+/=]/.test(pos), 'token has no character that needs percent-encoding');
      tokens.add(pos);
    } else {
      pos = delim ? xmlAll(xml, 'NextMarker')[0] : keys[keys.length - 1];
      check(pos, 'truncated V1 page without NextMarker or keys');
    }
  }
  throw new Error('listing did not end within 500 pages');
}

t('listing: order, nesting, pagination (V1, V2) against a model', async () => {
  const keys = ['lm/a', 'lm/a-b', 'lm/a.b', 'lm/a/x', 'lm/a/y/z', 'lm/a/y/zz', 'lm/b/c/d/e', 'lm/b/', 'lm/c', 'lm/ü', 'lm/z~', 'lm/za', 'lm/~'];
  for (const k of keys) {
    const r = await s3('PUT', k, { body: k });
    check(r.status === 200, `PUT ${k}: ${r.status}`);
  }
  const sorted = keys.slice().sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const [prefix, delim] of [['lm/', ''], ['lm/', '/'], ['lm/a', '/'], ['lm/a/', '/'], ['lm/', 'y'], ['lm/b', '/'], ['nope/', '/']])
    for (const v2 of [true, false])
      for (const mk of [1, 2, 1000]) {
        const want = model(sorted, prefix, delim);
        const got = await listAll(v2, prefix, delim, mk);
        check(JSON.stringify(got) === JSON.stringify(want), `${v2 ? 'V2' : 'V1'} prefix=${prefix} delimiter=${delim} max-keys=${mk}:\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`);
      }
  // Changes show at once (the proxy caches directory listings).
  check((await s3('DELETE', 'lm/c')).status === 204, 'DELETE lm/c');
  check((await s3('PUT', 'lm/d/e', { body: 'x' })).status === 200, 'PUT lm/d/e');
  const now = sorted.filter((k) => k !== 'lm/c').concat('lm/d/e').sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const delim of ['', '/']) {
    const got = await listAll(true, 'lm/', delim, 2);
    check(JSON.stringify(got) === JSON.stringify(model(now, 'lm/', delim)), `after DELETE and PUT, delimiter=${delim}: ${JSON.stringify(got)}`);
  }
  check((await s3('DELETE', 'lm/d/e')).status === 204, 'DELETE lm/d/e');
  check((await s3('PUT', 'lm/c', { body: 'lm/c' })).status === 200, 'PUT lm/c');
  // start-after, encoding-type=url, a bad token.
  let r = await s3('GET', null, { query: { 'list-type': '2', prefix: 'lm/', 'start-after': 'lm/c' } });
  check(JSON.stringify(xmlAll(r.body.toString(), 'Key')) === JSON.stringify(sorted.filter((k) => k > 'lm/c')), `start-after: ${r.body}`);
  r = await s3('GET', null, { query: { 'list-type': '2', prefix: 'lm/', 'encoding-type': 'url' } });
  check(r.body.toString().includes('<Key>lm/%C3%BC</Key>'), `encoding-type=url: ${r.body}`);
  expectErr(await s3('GET', null, { query: { 'list-type': '2', 'continuation-token': 'bm9wZQ==' } }), 400, 'InvalidArgument');
  expectErr(await s3('GET', null, { query: { 'list-type': '2', 'max-keys': 'x' } }), 400, 'InvalidArgument');
});

t('faults: replay, truncate-request, rates, ops filter', async () => {
  await admin('POST', 'reset', null);
  await admin('POST', 'faults', { next: 'replay' });
  let r = await s3('PUT', 'f/replay', { body: 'same' });
  check(r.status === 200, `replayed PUT: ${r.status}`);
  const body = Buffer.from('0123456789abcdef');
  await admin('POST', 'faults', { next: 'truncate-request' });
  r = await s3('PUT', 'f/half', { body });
  const md5hex = crypto.createHash('md5').update(body).digest('hex');
  check(r.status === 200 && r.headers.etag !== JSON.stringify(md5hex), `truncated PUT: ${r.status} etag ${r.headers.etag}`);
  r = await s3('GET', 'f/half');
  check(r.body.length === 8, `stored ${r.body.length} bytes, want 8`);
  // Faults only for the named operations.
  await admin('POST', 'faults', { rate: 1, kinds: ['503'], ops: ['list'], count: 1 });
  r = await s3('GET', 'f/half');
  check(r.status === 200, `a GET was faulted by a list-only rule: ${r.status}`);
  expectErr(await s3('GET', null, { query: { 'list-type': '2' } }), 503, 'SlowDown');
  // Per-kind rates, seeded: about the asked share.
  await admin('POST', 'faults', { rates: { 500: 0.3, 503: 0.2 }, seed: 42 });
  let n500 = 0;
  let n503 = 0;
  for (let i = 0; i < 200; i++) {
    r = await s3('HEAD', 'f/half');
    if (r.status === 500) n500++;
    else if (r.status === 503) n503++;
    else check(r.status === 200, `HEAD: ${r.status}`);
  }
  await admin('POST', 'faults', { clear: true });
  check(n500 > 35 && n500 < 85 && n503 > 20 && n503 < 60, `rates 0.3/0.2 gave ${n500}/${n503} of 200`);
  const s = await admin('GET', 'stats');
  check(s.faults.replay === 1 && s.faults['truncate-request'] === 1 && s.faults['500'] === n500 && s.faults['503'] === n503 + 1, `stats.faults ${JSON.stringify(s.faults)}`);
  check(s.ops.PutObject === 2, `stats.ops.PutObject ${s.ops.PutObject}, want 2 (a replay counts once)`);
  const f = await admin('GET', 'faults');
  check(!f.random && f.next.length === 0, `faults not cleared: ${JSON.stringify(f)}`);
});

t('faults: hostile answers (listings, bodies, ranges), match filter', async () => {
  const lz4 = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x64, 0x70, 0xb9]), Buffer.from([3, 0, 0, 0x80]), Buffer.from('abc'), Buffer.alloc(8)]);
  await s3('PUT', 'h/obj.lz4', { body: lz4 });
  await s3('PUT', 'h/other', { body: '0123456789' });
  const list = { 'list-type': '2', prefix: 'h/' };
  // list-huge: a well-formed page over 16 MiB.
  await admin('POST', 'faults', { next: 'list-huge', ops: ['ListObjectsV2'] });
  let r = await s3('GET', null, { query: list });
  check(r.status === 200 && r.body.length > 16 * 1024 * 1024 && r.body.toString().endsWith('</ListBucketResult>'), `list-huge: ${r.status} ${r.body.length}`);
  // list-endless: empty truncated pages, a new token each time.
  await admin('POST', 'faults', { next: 'list-endless', n: 2 });
  const t1 = xmlAll((await s3('GET', null, { query: list })).body.toString(), 'NextContinuationToken')[0];
  r = await s3('GET', null, { query: { ...list, 'continuation-token': t1 } });
  const t2 = xmlAll(r.body.toString(), 'NextContinuationToken')[0];
  check(t1 && t2 && t1 !== t2 && xmlAll(r.body.toString(), 'Key').length === 0 && r.body.toString().includes('<IsTruncated>true</IsTruncated>'), `list-endless: ${t1} ${t2}`);
  // list-cycle: A, B, A.
  await admin('POST', 'faults', { next: 'list-cycle', n: 3 });
  const seq = [];
  let tok;
  for (let i = 0; i < 3; i++) {
    r = await s3('GET', null, { query: tok ? { ...list, 'continuation-token': tok } : list });
    tok = xmlAll(r.body.toString(), 'NextContinuationToken')[0];
    seq.push(tok);
  }
  check(seq.join(' ') === 'cycle-a cycle-b cycle-a', `list-cycle: ${seq.join(' ')}`);
  // endless-body: an LZ4 frame goes on in blocks of zeros, never ends.
  await admin('POST', 'faults', { next: 'endless-body', ops: ['GetObject'] });
  r = await s3('GET', 'h/obj.lz4', { cap: 4 * 1024 * 1024 });
  check(r.cut && r.headers['content-length'] === undefined && r.body.subarray(0, lz4.length - 8).equals(lz4.subarray(0, lz4.length - 8)) && r.body.readUInt32LE(lz4.length - 8) === 1038, `endless-body: cut ${r.cut} ${r.headers['content-length']}`);
  // longer-body: Content-Length and body 64 KiB past the object.
  await admin('POST', 'faults', { next: 'longer-body' });
  r = await s3('GET', 'h/other');
  check(r.status === 200 && r.body.length === 10 + 65536 && Number(r.headers['content-length']) === r.body.length && r.body.subarray(0, 10).toString() === '0123456789', `longer-body: ${r.status} ${r.body.length}`);
  // ignore-range: 200 and the whole object; bad-range: 206 from byte 0.
  await admin('POST', 'faults', { next: 'ignore-range' });
  r = await s3('GET', 'h/other', { headers: { range: 'bytes=4-' } });
  check(r.status === 200 && r.body.toString() === '0123456789', `ignore-range: ${r.status} ${r.body}`);
  await admin('POST', 'faults', { next: 'bad-range' });
  r = await s3('GET', 'h/other', { headers: { range: 'bytes=4-' } });
  check(r.status === 206 && r.headers['content-range'] === 'bytes 0-9/10' && r.body.toString() === '0123456789', `bad-range: ${r.status} ${r.headers['content-range']}`);
  // Range faults apply only to requests with a Range: this one is plain.
  await admin('POST', 'faults', { next: 'ignore-range' });
  r = await s3('GET', 'h/other');
  check(r.status === 200 && (await admin('GET', 'faults')).next.length === 1, 'ignore-range applied without a Range');
  await admin('POST', 'faults', { clear: true });
  // endless-error: a 500 whose error document never ends.
  await admin('POST', 'faults', { next: 'endless-error' });
  r = await s3('GET', 'h/other', { cap: 1024 * 1024 });
  check(r.status === 500 && r.cut, `endless-error: ${r.status} cut ${r.cut}`);
  // respond: exactly the answer given, repeated headers too; or the
  // object's own bytes from an offset.
  await admin('POST', 'faults', { next: 'respond', response: { status: 206, headers: { 'content-range': ['bytes 0-1/10', 'bytes 0-1/10'], 'x-a': 'b' }, body: 'ab' } });
  r = await s3('GET', 'h/other');
  check(r.status === 206 && r.headers['content-range'] === 'bytes 0-1/10, bytes 0-1/10' && r.headers['x-a'] === 'b' && r.body.toString() === 'ab', `respond: ${r.status} ${JSON.stringify(r.headers)} ${r.body}`);
  await admin('POST', 'faults', { next: 'respond', response: { status: 200, body: { upstream: true, from: 4 } } });
  r = await s3('GET', 'h/other');
  check(r.status === 200 && r.body.toString() === '456789', `respond from upstream: ${r.status} ${r.body}`);
  // match: only requests whose path contains it.
  await admin('POST', 'faults', { next: '500', match: 'h/obj' });
  check((await s3('GET', 'h/other')).status === 200, 'match: faulted another key');
  check((await s3('GET', 'h/obj.lz4')).status === 500, 'match: the matching key was not faulted');
});

t('admin API rejects bad input', async () => {
  for (const [name, obj] of [['faults', { next: 'nope' }], ['faults', { rate: 2 }], ['faults', { next: '500', match: '' }], ['faults', { next: 'respond' }], ['faults', { rates: { 500: 0.8, 503: 0.5 } }], ['config', { nope: 1 }], ['config', { clock_offset_s: 'x' }]]) {
    const u = new URL(`${ADMIN}/${name}`);
    const b = Buffer.from(JSON.stringify(obj));
    const r = await send('POST', u.pathname, { host: u.host, 'content-length': b.length }, b);
    check(r.status === 400 && JSON.parse(r.body).error, `POST ${name} ${JSON.stringify(obj)}: ${r.status} ${r.body}`);
  }
});

(async () => {
  for (const [name, fn] of tests) {
    current = name;
    try {
      await fn();
    } catch (e) {
      process.stdout.write(`FAIL ${name}: ${e.message}\n`);
      await admin('POST', 'faults', { clear: true }).catch(() => {});
      process.exit(1);
    }
    process.stdout.write(`ok ${name}\n`);
  }
})();
