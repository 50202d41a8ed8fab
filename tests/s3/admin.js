#!/usr/bin/env node
// tests/s3/admin.js: talk to the test proxy's admin API, or probe a server,
// without needing curl.
//
//   node admin.js ADMIN_URL get NAME            print GET ADMIN_URL/NAME
//   node admin.js ADMIN_URL post NAME [JSON]    POST JSON (default {})
//   node admin.js ADMIN_URL field NAME PATH     print one field of GET NAME,
//                                               PATH dotted (faults.500);
//                                               a missing number prints 0
//   node admin.js probe URL                     exit 0 if URL answers HTTP
//
// ADMIN_URL is S3_PROXY_ADMIN from the env file start.sh writes.  Exits 1
// with a one-line message on a connection error or a non-2xx answer.
'use strict';

const http = require('http');

function fail(msg) {
  process.stderr.write(`s3 admin: ${msg}\n`);
  process.exit(1);
}

function request(method, url, body) {
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method, agent: false, timeout: 10000, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`no answer from ${url} within 10s`)));
    r.on('error', reject);
    r.end(body);
  });
}

async function main() {
  const [base, cmd, name, arg] = process.argv.slice(2);
  if (base === 'probe') {
    if (!cmd) fail('usage: admin.js probe URL');
    await request('GET', cmd).catch((e) => fail(`${cmd}: ${e.message}`));
    return;
  }
  if (!base || !cmd || !name) fail('usage: admin.js ADMIN_URL get|post|field NAME [JSON|PATH]');
  const url = `${base.replace(/\/+$/, '')}/${name}`;
  let r;
  if (cmd === 'post') {
    const body = arg === undefined ? '{}' : arg;
    try {
      JSON.parse(body);
    } catch (e) {
      fail(`not JSON: ${body}`);
    }
    r = await request('POST', url, body).catch((e) => fail(`POST ${url}: ${e.message}`));
  } else if (cmd === 'get' || cmd === 'field') {
    r = await request('GET', url).catch((e) => fail(`GET ${url}: ${e.message}`));
  } else fail(`unknown command "${cmd}"`);
  if (r.status < 200 || r.status > 299) {
    let msg = r.body.trim();
    try {
      msg = JSON.parse(r.body).error || msg;
    } catch (e) {
      /* not JSON */
    }
    fail(`${cmd === 'post' ? 'POST' : 'GET'} ${url}: HTTP ${r.status}: ${msg}`);
  }
  if (cmd !== 'field') {
    process.stdout.write(r.body.endsWith('\n') ? r.body : r.body + '\n');
    return;
  }
  let v = JSON.parse(r.body);
  for (const part of (arg || '').split('.').filter(Boolean)) v = v === null || v === undefined ? undefined : v[part];
  if (v === undefined || v === null) v = 0;
  process.stdout.write((typeof v === 'object' ? JSON.stringify(v) : String(v)) + '\n');
}

main().catch((e) => fail(e.message));
