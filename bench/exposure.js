#!/usr/bin/env node
// bench/exposure.js COMMITS_CSV DB T0_NS T1_NS < SEGMENTS
//
// The mean exposure of a replica over [T0, T1]: the time-weighted age of
// the oldest commit that is not yet in the replica (how many seconds of
// commits a crash at that instant would lose; 0 while everything is in).
// The same computation for any tool, from records neither tool writes:
//
//   COMMITS_CSV  tests/tools/wsload's -log: "seq,t_begin_ns,t_end_ns,digest"
//                per commit; a commit exists from its t_end (the end of
//                COMMIT, when another connection can see it).
//   DB           the database, for its page size (header bytes 16-17).
//   SEGMENTS     one line per WAL segment object in the replica,
//                "DURABLE_MS PATH": when the object became durable (the
//                S3 proxy's answer to its PUT; a directory replica's
//                ctime, set by the rename into place) and its file (the
//                lz4 object).
//
// Which commits a segment holds is read from the segment itself: each
// wsload transaction ends with INSERT INTO txlog(seq, t_ns, digest), so
// the txlog leaf page it writes carries its seq as the rowid of a cell
// whose record is (NULL, 8-byte integer, 32-character text).  A segment's
// largest such seq is the newest commit it holds; segments are complete
// WAL frames in order, so every earlier seq is then in the replica too.
// Commits made by the tool itself (Litestream's _litestream_seq) carry no
// txlog cell and do not count.
//
// Prints "exposure_mean_s=.. exposure_max_s=.. exposure_end_s=..
// segments=N": the mean and the largest exposure over the window, taken
// in 1 ms steps, and the exposure at T1 (for a SIGKILL at T1: what the
// restore should lose, a cross-check against the restore itself).
'use strict';
const fs = require('fs');
const { execFileSync } = require('child_process');

const [csvPath, dbPath, t0s, t1s] = process.argv.slice(2);
if (!csvPath || !dbPath || !t0s || !t1s) {
  process.stderr.write('usage: exposure.js COMMITS_CSV DB T0_NS T1_NS < SEGMENTS\n');
  process.exit(2);
}
const t0 = Number(t0s) / 1e6, t1 = Number(t1s) / 1e6; // ms

const hdr = Buffer.alloc(100);
const fd = fs.openSync(dbPath, 'r');
fs.readSync(fd, hdr, 0, 100, 0);
fs.closeSync(fd);
let pageSize = hdr.readUInt16BE(16);
if (pageSize === 1) pageSize = 65536;
if (pageSize < 512 || (pageSize & (pageSize - 1))) {
  process.stderr.write(`exposure.js: ${dbPath}: no valid page size in the header\n`);
  process.exit(1);
}

function varint(b, i) {
  let v = 0;
  for (let k = 0; k < 9; k++) {
    const c = b[i + k];
    if (k === 8) return [v * 256 + c, i + 9];
    v = v * 128 + (c & 0x7f);
    if (!(c & 0x80)) return [v, i + k + 1];
  }
  return [v, i + 9];
}

// The largest txlog seq on one table-leaf page (0 when none).
function pageSeq(p) {
  if (p[0] !== 0x0d) return 0;
  const n = p.readUInt16BE(3);
  let best = 0;
  for (let c = 0; c < n; c++) {
    const off = p.readUInt16BE(8 + 2 * c);
    if (off < 8 || off + 16 > p.length) continue;
    let [len, i] = varint(p, off);
    let rowid;
    [rowid, i] = varint(p, i);
    // payload 44 bytes: header (4; 0 = the rowid alias, 6 = 8-byte int,
    // 77 = text of 32 bytes), the t_ns, the digest.
    if (len === 44 && p[i] === 4 && p[i + 1] === 0 && p[i + 2] === 6 && p[i + 3] === 77 && rowid > best)
      best = rowid;
  }
  return best;
}

// The largest txlog seq in one segment (lz4-compressed WAL frames, after
// the 32-byte WAL header when it starts at offset 0).
function segmentSeq(path) {
  const raw = execFileSync('lz4', ['-dc', path], { maxBuffer: 1 << 30 });
  const frame = 24 + pageSize;
  let at = raw.length % frame === 32 ? 32 : 0;
  if (raw.length % frame !== 0 && at === 0)
    throw new Error(`${path}: ${raw.length} bytes is not whole frames of page size ${pageSize}`);
  let best = 0;
  for (; at + frame <= raw.length; at += frame) best = Math.max(best, pageSeq(raw.subarray(at + 24, at + frame)));
  return best;
}

const commits = fs.readFileSync(csvPath, 'utf8').split('\n').filter(Boolean).map((l) => {
  const f = l.split(',');
  return { seq: Number(f[0]), c: Number(f[2]) / 1e6 };
}).filter((x) => Number.isFinite(x.seq) && Number.isFinite(x.c) && x.c <= t1).sort((a, b) => a.seq - b.seq);

const segs = fs.readFileSync(0, 'utf8').split('\n').filter(Boolean).map((l) => {
  const sp = l.indexOf(' ');
  return { d: Number(l.slice(0, sp)), seq: segmentSeq(l.slice(sp + 1)) };
}).sort((a, b) => a.d - b.d);

// durable(seq): the first time a segment holding seq or a later one was
// durable (segments arrive in WAL order, so this is monotonic in seq).
let j = 0, hi = 0;
for (const x of commits) {
  while (j < segs.length && hi < x.seq) { hi = Math.max(hi, segs[j].seq); j++; }
  x.d = hi >= x.seq ? segs[j - 1].d : Infinity;
}
// A segment durable well before its commit ended would mean a wrong
// mapping: fail loudly (20 ms of slack: a directory's ctime comes from a
// coarse clock, and the frames reach the WAL before COMMIT returns).
for (const x of commits)
  if (x.d < x.c - 20)
    throw new Error(`seq ${x.seq}: in the replica at ${x.d} ms, before its commit ended at ${x.c} ms`);

// exposure(t) = t - c(oldest commit with c <= t < durable): the pending
// commits at t are the seqs from the first one not durable at t.
const start = commits.length ? Math.max(t0, commits[0].c) : t0;
let k = 0, sum = 0, mx = 0, steps = 0, e = 0;
for (let t = start; t <= t1; t += 1) {
  while (k < commits.length && commits[k].d <= t) k++;
  e = k < commits.length && commits[k].c <= t ? t - commits[k].c : 0;
  sum += e; mx = Math.max(mx, e); steps++;
}
while (k < commits.length && commits[k].d <= t1) k++;
const eEnd = k < commits.length && commits[k].c <= t1 ? t1 - commits[k].c : 0;
const f = (x) => (x / 1000).toFixed(3);
console.log(`exposure_mean_s=${f(steps ? sum / steps : 0)} exposure_max_s=${f(mx)} exposure_end_s=${f(eEnd)} segments=${segs.length}`);
