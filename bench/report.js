#!/usr/bin/env node
// bench/report.js RESULTS_TXT NOTES_MD < META_JSON > RESULTS.md
//
// Turns the result lines of bench/run ("R key=value ...", "E ...") into
// bench/RESULTS.md: medians with min and max, ratios taken pair by pair
// in the same run (the i-th walship run against the i-th Litestream run,
// which ran right after it), the targets marked met or not, and, for
// each miss, its section of NOTES_MD ("## <target id>").
//
// Targets come in three groups: the current ones (the Targets section of
// issue 16), the earlier ones that still hold ("must not get worse"), and
// the ones a current target replaced or split, shown with their figures
// and not counted.  Every target also states walship against Litestream
// on the same measure, and says so where Litestream is better, whether
// or not the target is met.
'use strict';
const fs = require('fs');

const [resultsPath, notesPath] = process.argv.slice(2);
const meta = JSON.parse(fs.readFileSync(0, 'utf8'));
const lines = fs.readFileSync(resultsPath, 'utf8').split('\n').filter(Boolean);
const notes = {};
if (notesPath && fs.existsSync(notesPath)) {
  let cur = null;
  for (const l of fs.readFileSync(notesPath, 'utf8').split('\n')) {
    const h = /^## (\S+)/.exec(l);
    if (h) { cur = h[1]; notes[cur] = []; continue; }
    if (cur) notes[cur].push(l);
  }
  for (const k of Object.keys(notes)) notes[k] = notes[k].join('\n').trim();
}

const recs = [], errors = [];
for (const l of lines) {
  const o = {};
  for (const m of l.slice(2).matchAll(/(\w+)=("[^"]*"|\S+)/g))
    o[m[1]] = m[2].startsWith('"') ? m[2].slice(1, -1) : m[2];
  if (l.startsWith('R ')) recs.push(o); else if (l.startsWith('E ')) errors.push(o);
}
const sel = (f) => recs.filter((r) => Object.entries(f).every(([k, v]) => r[k] === v));
const num = (rs, k) => rs.map((r) => Number(r[k])).filter((x) => Number.isFinite(x));

function med(a) {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
function pct(a, p) {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
const min = (a) => (a.length ? Math.min(...a) : NaN);
const max = (a) => (a.length ? Math.max(...a) : NaN);
function fmt(x, d) {
  if (x === undefined || Number.isNaN(x)) return 'n/a';
  if (!Number.isFinite(x)) return '∞';
  if (d === undefined) d = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : Math.abs(x) >= 1 ? 2 : 3;
  return x.toFixed(d);
}
// "median (min–max) [n]" or the value alone when there is one.
function stat(a, d, unit = '') {
  if (!a.length) return 'n/a';
  if (a.length === 1) return fmt(a[0], d) + unit;
  return `${fmt(med(a), d)}${unit} (${fmt(min(a), d)}–${fmt(max(a), d)}, n=${a.length})`;
}
// Pairwise ratios a[i] / b[i].
function ratios(a, b) {
  const n = Math.min(a.length, b.length), r = [];
  for (let i = 0; i < n; i++) r.push(b[i] === 0 ? (a[i] === 0 ? 1 : Infinity) : a[i] / b[i]);
  return r;
}

const rows = [];   // [section, metric, walship, litestream, ratio]
const targets = []; // {id, what, ws, ls, met, group, vs}
const BACKENDS = ['file', 's3'];
const W = 'walship', L = 'litestream';
const row = (sec, metric, w, l, r) => rows.push([sec, metric, w, l, r === undefined ? '' : r]);
const ratioCell = (a, b, d = 2) => (a.length && b.length ? stat(ratios(a, b), d) + '×' : 'n/a');
// target(id, what, walship cell, Litestream cell, met (null: not
// measured), o): o.group is 'now' (default), 'kept' or 'old'; o.vs =
// [walship, Litestream, 'lower' | 'higher' (which is better), noun]
// states the comparison with Litestream: two arrays of paired runs give
// the median of the pair ratios (as the tables do), two numbers their
// ratio.
function target(id, what, ws, ls, met, o = {}) {
  let vs = '';
  if (o.vs) {
    const [w, l, better, noun] = o.vs;
    const r = Array.isArray(w) ? (w.length && l.length ? med(ratios(w, l)) : NaN)
      : Number.isFinite(w) && Number.isFinite(l) && l !== 0 ? w / l : NaN;
    if (Number.isFinite(r)) {
      const lsBetter = better === 'lower' ? r > 1 : r < 1;
      vs = `${fmt(r)}× Litestream's ${noun}${lsBetter ? ': **Litestream is better**' : ''}`;
    } else vs = 'n/a';
  }
  targets.push({ id, what, ws, ls, met: met === null ? null : !!met, group: o.group || 'now', vs });
}
const allMet = (xs) => (xs.some((x) => x === null) ? null : xs.every(Boolean));

// ---- 1. data-loss window ----
const rpoMet = [], sparseMet = [];
for (const b of BACKENDS) {
  const w = sel({ measure: 'crash', tool: W, backend: b }), l = sel({ measure: 'crash', tool: L, backend: b });
  const wl = num(w, 'lost_s'), ll = num(l, 'lost_s'), wp = num(w, 'puts_per_s'), lp = num(l, 'puts_per_s');
  row('1. Data loss on SIGKILL (RPO)', `lost seconds at 200 tx/s, ${b}`, stat(wl, 3, ' s'), stat(ll, 3, ' s'), ratioCell(wl, ll));
  row('1. Data loss on SIGKILL (RPO)', `lost rows, ${b}`, stat(num(w, 'lost_rows'), 0), stat(num(l, 'lost_rows'), 0), '');
  row('1. Data loss on SIGKILL (RPO)', `uploads (PUTs) per second under load, ${b}`, stat(wp, 2), stat(lp, 2), ratioCell(wp, lp));
  row('1. Data loss on SIGKILL (RPO)', `restores an exact committed prefix, integrity_check ok, ${b}`,
    `${w.filter((r) => r.check === 'ok').length}/${w.length}`, `${l.filter((r) => r.check === 'ok').length}/${l.length}`, '');
  // The mean exposure (bench/exposure.js): runs without it (before it was
  // measured) give no value.
  const we = num(w, 'exposure_mean_s'), le = num(l, 'exposure_mean_s');
  row('1. Data loss on SIGKILL (RPO)', `mean exposure: time-weighted age of the oldest commit not yet in the replica, over each run, ${b}`,
    stat(we, 3, ' s'), stat(le, 3, ' s'), ratioCell(we, le));
  row('1. Data loss on SIGKILL (RPO)', `largest exposure in a run, ${b}`,
    stat(num(w, 'exposure_max_s'), 3, ' s'), stat(num(l, 'exposure_max_s'), 3, ' s'), '');
  row('1. Data loss on SIGKILL (RPO)', `exposure at the kill (cross-check: the lost seconds above), ${b}`,
    stat(num(w, 'exposure_end_s'), 3, ' s'), stat(num(l, 'exposure_end_s'), 3, ' s'), '');
  const kills = `kills: median ${fmt(med(wl), 3)} s lost`;
  target(`rpo-${b}`, `RPO at 200 tx/s: mean exposure ≤ 0.55 s at ≤ Litestream's PUTs (${b})`,
    `${fmt(med(we), 3)} s, ${fmt(med(wp), 2)} PUT/s = ${fmt(med(ratios(wp, lp)), 2)}× Litestream's PUTs (${kills})`, `${fmt(med(le), 3)} s, ${fmt(med(lp), 2)} PUT/s (kills: median ${fmt(med(ll), 3)} s lost)`,
    we.length && lp.length ? med(we) <= 0.55 && med(wp) <= med(lp) : null,
    { vs: [we, le, 'lower', 'mean exposure'] });
  target(`rpo-kill-${b}`, `RPO median on SIGKILL ≤ Litestream's with no more PUTs (${b})`,
    `${fmt(med(wl), 3)} s, ${fmt(med(wp), 2)} PUT/s`, `${fmt(med(ll), 3)} s, ${fmt(med(lp), 2)} PUT/s`,
    wl.length && ll.length ? med(wl) <= med(ll) && med(wp) <= med(lp) : null,
    { group: 'old', vs: [wl, ll, 'lower', 'loss'] });
  rpoMet.push(null);
}
for (const b of BACKENDS) {
  const w = num(sel({ measure: 'sparse', tool: W, backend: b }), 'lag_ms');
  const l = num(sel({ measure: 'sparse', tool: L, backend: b }), 'lag_ms');
  const cell = (a) => (a.length ? `p50 ${fmt(med(a), 1)} / p90 ${fmt(pct(a, 90), 1)} / max ${fmt(max(a), 1)} ms (n=${a.length})` : 'n/a');
  row('1. Data loss on SIGKILL (RPO)', `sparse writer: commit → durable in the replica, ${b}`, cell(w), cell(l),
    w.length && l.length ? fmt(med(w) / med(l), 3) + '× (p50)' : 'n/a');
  const met = w.length ? med(w) <= 20 : null;
  sparseMet.push(met);
  target(`sparse-${b}`, `sparse-writer lag p50 ≤ 20 ms (${b})`, `${fmt(med(w), 1)} ms`, `${fmt(med(l), 1)} ms`, met,
    { group: 'kept', vs: [med(w), med(l), 'lower', 'lag'] });
}
// SIGTERM: the term runs (loss) and every SIGTERM of any measurement (exits).
const BOUND_MS = 10000;
{
  for (const t of [W, L]) {
    const tr = sel({ measure: 'term', tool: t });
    const exits = recs.filter((r) => r.tool === t && r.exit !== undefined && r.exit !== 'killed');
    const clean = exits.filter((r) => r.exit === '0' && Number(r.shutdown_ms) <= BOUND_MS);
    const lost = num(tr, 'lost_rows');
    const x = {
      lost: lost.length ? lost.reduce((a, b) => a + b, 0) : NaN,
      runs: tr.length, clean: clean.length, exits: exits.length,
      shut: num(exits, 'shutdown_ms'),
      bad: exits.filter((r) => !(r.exit === '0' && Number(r.shutdown_ms) <= BOUND_MS)).map((r) => `${r.measure}/${r.backend}: exit ${r.exit}`),
    };
    if (t === W) var tw = x; else var tl = x;
  }
  row('1. Data loss on SIGKILL (RPO)', 'SIGTERM after the writer stopped: rows lost (all runs, both replicas)',
    `${fmt(tw.lost, 0)} (n=${tw.runs})`, `${fmt(tl.lost, 0)} (n=${tl.runs})`, '');
  row('1. Data loss on SIGKILL (RPO)', `clean exits (status 0 within ${BOUND_MS / 1000} s) of every SIGTERM in this run`,
    `${tw.clean}/${tw.exits}`, `${tl.clean}/${tl.exits}`, '');
  row('1. Data loss on SIGKILL (RPO)', 'shutdown time after SIGTERM', stat(tw.shut, 0, ' ms'), stat(tl.shut, 0, ' ms'), '');
  target('sigterm', `graceful SIGTERM loses 0; 100% clean exits within ${BOUND_MS / 1000} s`,
    `${fmt(tw.lost, 0)} lost, ${tw.clean}/${tw.exits} clean`, `${fmt(tl.lost, 0)} lost, ${tl.clean}/${tl.exits} clean${tl.bad.length ? ' (' + [...new Set(tl.bad)].join('; ') + ')' : ''}`,
    tw.exits ? tw.lost === 0 && tw.clean === tw.exits : null,
    { group: 'kept', vs: [tw.exits ? tw.clean / tw.exits : NaN, tl.exits ? tl.clean / tl.exits : NaN, 'higher', 'share of clean exits'] });
}

// ---- 2. cost ----
const PUTCLASS = ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'CopyObject', 'ListObjects', 'ListObjectsV2', 'ListParts', 'ListMultipartUploads', 'ListBuckets'];
const GETCLASS = ['GetObject', 'HeadObject', 'HeadBucket'];
function usdMonth(r, secs) {
  let put = 0, get = 0;
  for (const k of PUTCLASS) put += Number(r[k] || 0);
  for (const k of GETCLASS) get += Number(r[k] || 0);
  const perHour = 3600 / secs;
  return ((put * 0.005 + get * 0.0004) / 1000) * perHour * 730;
}
function opsPerHour(r, secs) {
  const skip = new Set(['tool', 'backend', 'measure', 'phase', 'secs', 'cpu_ticks', 'cpu_ms', 'objects', 'requests', 'script', 'files']);
  const o = Object.keys(r).filter((k) => !skip.has(k) && /^[A-Z]/.test(k));
  if (!o.length) return '0';
  return o.map((k) => `${k} ${fmt((Number(r[k]) * 3600) / secs, 0)}`).join(', ');
}
const cpuLoadMet = [], idleMet = [];
// Idle CPU: the process's CPU-time clock (cpu_clock=process: every thread,
// the exited ones too); results from before it was used summed the live
// threads only, which misses a thread that ran and exited in the window.
const clockNote = (rs) => (rs.length && rs.every((r) => r.cpu_clock === 'process') ? 'process CPU clock, exited threads included'
  : rs.length ? '**live threads only**: exited threads not counted in this run' : 'n/a');
for (const b of BACKENDS) {
  const g = (t, ph) => sel({ measure: 'cost', tool: t, backend: b, phase: ph });
  const cpuPct = (rs, key) => rs.map((r) => (key === 'ms' ? Number(r.cpu_ms) / 10 : (Number(r.cpu_ticks) / 100) * 100) / Number(r.secs));
  const wi = g(W, 'idle'), li = g(L, 'idle'), wl = g(W, 'load'), ll = g(L, 'load');
  const S = '2. Cost (idle, then 200 tx/s)';
  row(S, `CPU while idle, % of a core, ${b} (${clockNote(wi.concat(li))})`, stat(cpuPct(wi, 'ms'), 4, ' %'), stat(cpuPct(li, 'ms'), 4, ' %'), ratioCell(cpuPct(wi, 'ms'), cpuPct(li, 'ms'), 3));
  row(S, `CPU under load, % of a core, ${b}`, stat(cpuPct(wl, 'ticks'), 2, ' %'), stat(cpuPct(ll, 'ticks'), 2, ' %'), ratioCell(cpuPct(wl, 'ticks'), cpuPct(ll, 'ticks'), 3));
  if (b === 's3') {
    const rq = (rs) => rs.map((r) => (Number(r.requests) * 3600) / Number(r.secs));
    row(S, 'requests per hour while idle, s3', stat(rq(wi), 0), stat(rq(li), 0), '');
    row(S, 'requests per hour under load, s3', stat(rq(wl), 0), stat(rq(ll), 0), ratioCell(rq(wl), rq(ll)));
    row(S, 'requests per hour by type under load, s3', wl.length ? opsPerHour(wl[0], Number(wl[0].secs)) : 'n/a', ll.length ? opsPerHour(ll[0], Number(ll[0].secs)) : 'n/a', '');
    const u = (rs) => rs.map((r) => usdMonth(r, Number(r.secs)));
    row(S, 'USD/month at AWS list prices, idle (PUT/LIST $0.005, GET $0.0004 per 1000)', stat(u(wi), 2, ' $'), stat(u(li), 2, ' $'), '');
    row(S, 'USD/month at AWS list prices, under load', stat(u(wl), 2, ' $'), stat(u(ll), 2, ' $'), ratioCell(u(wl), u(ll)));
  } else {
    row(S, 'files written per hour under load, file', stat(wl.map((r) => (Number(r.objects) * 3600) / Number(r.secs)), 0), stat(ll.map((r) => (Number(r.objects) * 3600) / Number(r.secs)), 0), '');
  }
  const wm = sel({ measure: 'cost_mem', tool: W, backend: b }), lm = sel({ measure: 'cost_mem', tool: L, backend: b });
  const mib = (rs, k) => rs.map((r) => Number(r[k]) / 1024);
  row(S, `peak RSS (VmHWM), ${b}`, stat(mib(wm, 'hwm_kib'), 1, ' MiB'), stat(mib(lm, 'hwm_kib'), 1, ' MiB'), ratioCell(mib(wm, 'hwm_kib'), mib(lm, 'hwm_kib')));
  row(S, `bytes stored in the replica at the end, ${b}`, stat(mib(wm, 'bytes_stored').map((x) => x / 1024), 1, ' MiB'), stat(mib(lm, 'bytes_stored').map((x) => x / 1024), 1, ' MiB'), ratioCell(num(wm, 'bytes_stored'), num(lm, 'bytes_stored')));
  const wlc = cpuPct(wl, 'ticks'), llc = cpuPct(ll, 'ticks');
  const m1 = wlc.length && llc.length ? med(wlc) <= med(llc) / 4 : null;
  cpuLoadMet.push(m1);
  target(`cpu-load-${b}`, `CPU at 200 tx/s of 1 KB rows ≤ 0.25× Litestream's (${b})`, `${fmt(med(wlc), 2)} %`, `${fmt(med(llc), 2)} % (0.25×: ${fmt(med(llc) / 4, 2)} %)`, m1,
    { vs: [wlc, llc, 'lower', 'CPU'] });
  const wic = cpuPct(wi, 'ms'), wir = num(wi, 'requests');
  const m2 = wic.length ? max(wic) <= 0.01 && (b === 'file' || max(wir) === 0) : null;
  idleMet.push(m2);
  target(`idle-${b}`, `0 requests and ≤ 0.01 % CPU when idle (${b}; ${clockNote(wi)})`,
    `${fmt(max(wic), 4)} % CPU${b === 's3' ? `, ${fmt(max(wir), 0)} requests` : ''}`,
    `${fmt(max(cpuPct(li, 'ms')), 4)} % CPU${b === 's3' ? `, ${fmt(max(num(li, 'requests')), 0)} requests` : ''}`, m2,
    { group: 'kept', vs: [max(wic), max(cpuPct(li, 'ms')), 'lower', 'idle CPU'] });
}
// Peak RSS: the earlier target (≤ 8 MiB, both backends) is now split by
// backend, S3 getting 12 MiB (libcurl with OpenSSL); the combined figure
// is shown too.
{
  const hwm = (t, b) => num(sel({ measure: 'cost_mem', tool: t, backend: b }), 'hwm_kib').map((x) => x / 1024);
  const ws = hwm(W, 's3'), wf = hwm(W, 'file'), wa = wf.concat(ws), la = hwm(L, 'file').concat(hwm(L, 's3'));
  target('rss-s3', 'peak RSS with an S3 replica ≤ 12 MiB (VmHWM, cost runs)', `${fmt(max(ws), 1)} MiB`, `${fmt(max(hwm(L, 's3')), 1)} MiB`,
    ws.length ? max(ws) <= 12 : null, { vs: [max(ws), max(hwm(L, 's3')), 'lower', 'peak RSS'] });
  target('rss-file', 'peak RSS with a directory replica ≤ 8 MiB (VmHWM, cost runs)', `${fmt(max(wf), 1)} MiB`, `${fmt(max(hwm(L, 'file')), 1)} MiB`,
    wf.length ? max(wf) <= 8 : null, { group: 'kept', vs: [max(wf), max(hwm(L, 'file')), 'lower', 'peak RSS'] });
  target('rss', 'peak RSS ≤ 8 MiB over both replicas (the combined target the two above split)', `${fmt(max(wa), 1)} MiB`, `${fmt(max(la), 1)} MiB`,
    wa.length ? max(wa) <= 8 : null, { group: 'old', vs: [max(wa), max(la), 'lower', 'peak RSS'] });
}

// ---- 3. writer overhead ----
{
  const S = '3. Writer overhead and WAL growth (1000 × 1 KB rows per tx, flat out)';
  const none = sel({ measure: 'writer', tool: 'none' });
  row(S, 'rows/s without a replicator', stat(num(none, 'rows_per_s'), 0), '', '');
  let wsWal = [];
  for (const b of BACKENDS) {
    const w = sel({ measure: 'writer', tool: W, backend: b }), l = sel({ measure: 'writer', tool: L, backend: b });
    const rw = ratios(num(w, 'rows_per_s'), num(none, 'rows_per_s')), rl = ratios(num(l, 'rows_per_s'), num(none, 'rows_per_s'));
    row(S, `rows/s with the replicator, ${b}`, stat(num(w, 'rows_per_s'), 0), stat(num(l, 'rows_per_s'), 0), ratioCell(num(w, 'rows_per_s'), num(l, 'rows_per_s')));
    row(S, `writer ratio (with ÷ without, same round), ${b}`, stat(rw, 3), stat(rl, 3), '');
    row(S, `application SQLITE_BUSY count, ${b}`, stat(num(w, 'busy'), 0), stat(num(l, 'busy'), 0), '');
    const mw = num(w, 'wal_peak').map((x) => x / 1048576), ml = num(l, 'wal_peak').map((x) => x / 1048576);
    row(S, `peak -wal size (sampled every 10 ms), ${b}`, stat(mw, 1, ' MiB'), stat(ml, 1, ' MiB'), ratioCell(mw, ml));
    row(S, `replicator CPU during the run, % of a core, ${b}`,
      stat(w.map((r) => Number(r.cpu_ticks) / Number(r.secs)), 1, ' %'), stat(l.map((r) => Number(r.cpu_ticks) / Number(r.secs)), 1, ' %'), '');
    row(S, `longest transaction (writer stall), ${b}`, stat(num(w, 'tx_max_ms'), 0, ' ms'), stat(num(l, 'tx_max_ms'), 0, ' ms'), '');
    const tw = ratios(num(w, 'tx_max_ms'), num(none, 'tx_max_ms')), tl = ratios(num(l, 'tx_max_ms'), num(none, 'tx_max_ms'));
    row(S, `longest transaction ÷ without a replicator (same round), ${b}`, stat(tw, 2, '×'), stat(tl, 2, '×'), '');
    wsWal = wsWal.concat(mw);
    target(`writer-${b}`, `writer ratio ≥ 0.98, flat-out batched writer (${b})`, fmt(med(rw), 3), fmt(med(rl), 3), rw.length ? med(rw) >= 0.98 : null,
      { vs: [rw, rl, 'higher', 'writer ratio'] });
    const nm = med(num(none, 'tx_max_ms')), wm = med(num(w, 'tx_max_ms')), lm = med(num(l, 'tx_max_ms'));
    target(`txmax-${b}`, `longest application transaction ≤ 2× without a replicator (${b})`,
      `${fmt(wm, 0)} ms (${fmt(wm / nm, 2)}× the ${fmt(nm, 0)} ms without)`, `${fmt(lm, 0)} ms (${fmt(lm / nm, 2)}×)`,
      w.length && none.length ? wm <= 2 * nm : null, { vs: [num(w, 'tx_max_ms'), num(l, 'tx_max_ms'), 'lower', 'longest transaction'] });
  }
  row(S, 'longest transaction without a replicator', stat(num(none, 'tx_max_ms'), 0, ' ms'), '', '');
  row(S, 'peak -wal size without a replicator', stat(num(none, 'wal_peak').map((x) => x / 1048576), 1, ' MiB'), '', '');
  const lsWal = ['file', 's3'].flatMap((b) => num(sel({ measure: 'writer', tool: L, backend: b }), 'wal_peak').map((x) => x / 1048576));
  target('wal', 'peak -wal ≤ 32 MiB at the default thresholds (max over the writer runs)', `${fmt(max(wsWal), 1)} MiB`, `${fmt(max(lsWal), 1)} MiB`, wsWal.length ? max(wsWal) <= 32 : null,
    { vs: [max(wsWal), max(lsWal), 'lower', 'peak -wal'] });
}

// ---- 4. snapshot ----
for (const b of BACKENDS) {
  const S = '4. Snapshot (start → first snapshot complete in the replica)';
  const w = sel({ measure: 'snapshot', tool: W, backend: b }), l = sel({ measure: 'snapshot', tool: L, backend: b });
  const wm = num(w, 'mb_per_s'), lm = num(l, 'mb_per_s');
  const sz = w.length ? ` (${fmt(Number(w[0].db_bytes) / 1048576, 0)} MiB)` : '';
  row(S, `MB/s${sz}, ${b}`, stat(wm, 1), stat(lm, 1), ratioCell(wm, lm));
  row(S, `seconds, ${b}`, stat(num(w, 'secs'), 2, ' s'), stat(num(l, 'secs'), 2, ' s'), ratioCell(num(w, 'secs'), num(l, 'secs')));
  if (b === 's3')
    row(S, 'CPU of the S3 emulator (s3rver + proxy) during the snapshot, % of a core',
      stat(w.map((r) => Number(r.s3_cpu_ticks) / Number(r.secs)), 0, ' %'), stat(l.map((r) => Number(r.s3_cpu_ticks) / Number(r.secs)), 0, ' %'), '');
  const r = ratios(wm, lm);
  if (b === 's3') {
    // The reference: aws s3 cp of the same bytes to the same server in the
    // same round (bench/snapshot.sh aws), paired with walship's run.
    const a = sel({ measure: 'snapshot', tool: 'aws', backend: b }), am = num(a, 'mb_per_s');
    const ob = a.length ? ` (${fmt(Number(a[0].object_bytes) / 1e6, 0)} MB lz4 -1, the tools' objects ${w.length ? fmt(Number(w[0].object_bytes) / 1e6, 0) : '?'} MB)` : '';
    row(S, `aws s3 cp upload of the compressed database${ob}: database MB/s, s3`, stat(am, 1), '', '');
    row(S, 'aws s3 cp upload: seconds, s3', stat(num(a, 'secs'), 2, ' s'), '', '');
    row(S, 'MB/s ÷ aws s3 cp\'s (pair by pair), s3', stat(ratios(wm, am), 2, '×'), stat(ratios(lm, am), 2, '×'), '');
    const ra = ratios(wm, am);
    target('snapshot-s3', 'S3 snapshot ≥ the throughput of `aws s3 cp` (same bytes, same server, same run)',
      `${fmt(med(wm), 1)} MB/s (${fmt(med(ra), 2)}× aws s3 cp's ${fmt(med(am), 1)} MB/s)`, `${fmt(med(lm), 1)} MB/s (${fmt(med(ratios(lm, am)), 2)}×)`,
      ra.length ? med(ra) >= 1 : null, { vs: [wm, lm, 'higher', 'MB/s'] });
  }
  target(`snapshot-3x-${b}`, `snapshot ≥ 3× faster than Litestream (${b})`, `${fmt(med(wm), 1)} MB/s`, `${fmt(med(lm), 1)} MB/s (${fmt(med(r), 2)}×)`, r.length ? med(r) >= 3 : null,
    { group: b === 'file' ? 'kept' : 'old', vs: [wm, lm, 'higher', 'MB/s'] });
}

// ---- 5. restore ----
{
  const S = '5. Restore (snapshot + WAL segments)';
  const ref = sel({ measure: 'restore', tool: 'lz4' });
  const seg = sel({ measure: 'restore', mode: 'latest' }).map((r) => Number(r.nseg)).find((x) => x > 0);
  const out = sel({ measure: 'restore', mode: 'latest', tool: W }).map((r) => Number(r.out_bytes)).find((x) => x > 0);
  for (const b of BACKENDS) {
    const rb = sel({ measure: 'restore', tool: 'lz4', backend: b });
    const w = sel({ measure: 'restore', mode: 'latest', tool: W, backend: b }), l = sel({ measure: 'restore', mode: 'latest', tool: L, backend: b });
    const ws = num(w, 'secs'), ls = num(l, 'secs'), rs = num(rb, 'secs');
    row(S, `seconds, ${b} (${seg} segments, ${fmt(out / 1048576, 0)} MiB)`, stat(ws, 2, ' s'), stat(ls, 2, ' s'), ratioCell(ws, ls));
    row(S, `÷ the lz4 -d + sync reference of the same run (${stat(rs, 2, ' s')}), ${b}`, stat(ratios(ws, rs), 2, '×'), stat(ratios(ls, rs), 2, '×'), '');
    const r = ratios(ws, rs), rl = ratios(ws, ls);
    if (b === 's3') {
      // The S3 reference: aws s3 cp of the S3 replica's snapshot and
      // segments, then the same lz4 -d + sync (bench/restore.sh aws).
      const as = num(sel({ measure: 'restore', tool: 'aws', backend: b }), 'secs'), ra = ratios(ws, as);
      row(S, `÷ aws s3 cp download + lz4 -d + sync of the same objects (${stat(as, 2, ' s')}), s3`, stat(ra, 2, '×'), stat(ratios(ls, as), 2, '×'), '');
      target('restore-s3', `S3 restore ≤ \`aws s3 cp\` download + lz4 -d + sync, ${seg} segments`,
        `${fmt(med(ws), 2)} s (${fmt(med(ra), 2)}× the reference's ${fmt(med(as), 2)} s)`, `${fmt(med(ls), 2)} s (${fmt(med(ratios(ls, as)), 2)}×)`,
        ra.length ? med(ra) <= 1.0 : null, { vs: [ws, ls, 'lower', 'time'] });
    } else {
      target('restore-ls-file', `directory restore, ${fmt(out / 1048576, 0)} MiB + ${seg} segments, ≤ Litestream's time, pair by pair (verification kept)`,
        `${fmt(med(ws), 2)} s (${fmt(med(rl), 2)}× Litestream's)`, `${fmt(med(ls), 2)} s`, rl.length ? med(rl) <= 1.0 : null, { vs: [ws, ls, 'lower', 'time'] });
    }
    target(`restore-lz4-${b}`, `restore ≤ 1.0 × lz4 -d + sync, ${seg} segments (${b})`, `${fmt(med(r), 2)}× (${fmt(med(ws), 2)} s)`,
      `${fmt(med(ratios(ls, rs)), 2)}× (${fmt(med(ls), 2)} s)`, r.length ? med(r) <= 1.0 : null,
      { group: b === 'file' ? 'kept' : 'old', vs: [ws, ls, 'lower', 'time'] });
    const pw = sel({ measure: 'restore', mode: 'pitr', tool: W, backend: b }), pl = sel({ measure: 'restore', mode: 'pitr', tool: L, backend: b });
    const pcell = (p) => (!p.length ? 'n/a' : p[0].available === '0' ? `not available (${p[0].note || 'flag rejected'})` :
      `${fmt(Number(p[0].secs), 2)} s, seq ${p[0].seq} (mid ${p[0].want_seq})`);
    row(S, `point-in-time restore to the middle of the segments, ${b}`, pcell(pw), pcell(pl), '');
  }
  void ref;
}

// ---- 6. scale ----
{
  const S = '6. Scale: idle databases in one process (s3)';
  const w = sel({ measure: 'scale', tool: W }), l = sel({ measure: 'scale', tool: L });
  const n = w.length ? w[0].dbs : l.length ? l[0].dbs : '?';
  const mib = (rs, k) => rs.map((r) => Number(r[k]) / 1024);
  const cpu = (rs) => rs.map((r) => Number(r.cpu_ms) / 10 / Number(r.secs));
  row(S, `RSS with ${n} databases (VmRSS)`, stat(mib(w, 'rss_kib'), 1, ' MiB'), stat(mib(l, 'rss_kib'), 1, ' MiB'), ratioCell(mib(w, 'rss_kib'), mib(l, 'rss_kib')));
  row(S, 'peak RSS (VmHWM)', stat(mib(w, 'hwm_kib'), 1, ' MiB'), stat(mib(l, 'hwm_kib'), 1, ' MiB'), ratioCell(mib(w, 'hwm_kib'), mib(l, 'hwm_kib')));
  row(S, 'CPU while idle, % of a core', stat(cpu(w), 4, ' %'), stat(cpu(l), 4, ' %'), ratioCell(cpu(w), cpu(l), 3));
  row(S, 'requests per minute while idle', stat(num(w, 'req_per_min'), 1), stat(num(l, 'req_per_min'), 1), '');
  row(S, 'start-up: start → every first snapshot in the replica', stat(num(w, 'startup_s'), 2, ' s'), stat(num(l, 'startup_s'), 2, ' s'), ratioCell(num(w, 'startup_s'), num(l, 'startup_s')));
}

// ---- output ----
const o = [];
const P = meta.params;
o.push('# walship vs Litestream v0.3.13: benchmark results', '');
o.push(`Generated by \`${meta.quick ? 'make bench-quick' : 'make bench'}\` (bench/run) on ${meta.date}, in ${Math.round(meta.duration_s / 60)} min. ` +
  'Do not edit: the next run rewrites this file (the notes on misses come from [notes.md](notes.md)).');
const ALL = 'rpo term sparse cost writer snapshot restore scale';
if (meta.only && meta.only !== ALL)
  o.push('', `**A partial run** (\`BENCH_ONLY="${meta.only}"\`): only those measurements were taken, so every other cell and target is empty. The full results are in [RESULTS.md](RESULTS.md).`);
if (meta.quick)
  o.push('', `**This is the quick run** (\`make bench-quick\`): fewer runs, shorter phases, a ${P.db_mib} MiB database and ${P.restore_tx} WAL segments instead of 1 GiB and 2000. Run \`make bench\` for the full set.`);
o.push('', '| | |', '|---|---|');
o.push(`| machine | ${meta.cpu}, ${meta.nproc} cores, ${meta.mem} RAM; ${meta.os}, Linux ${meta.kernel}; load average at start ${meta.load_start} (shared, noisy) |`);
o.push(`| commit | ${meta.commit} |`);
o.push(`| tools | ${meta.walship}; Litestream ${meta.litestream} (npm @flydotio/litestream-linux-x64@1.0.1) |`);
o.push(`| S3 | s3rver 3.7.1 behind the SigV4-verifying proxy of tests/s3, on 127.0.0.1 (both in Node, on the same 2 cores) |`);
o.push(`| config | the same YAML for both tools: one replica per database, sync-interval ${P.sync_interval}, every other setting at its default |`);
o.push(`| parameters | RPO: ${P.rpo_runs} SIGKILL runs per tool and replica, kill after a random ${P.rpo_kill_after_s} s at ${P.rate_tx_s} tx/s (1 row of 1 KB); ${P.term_runs} SIGTERM runs; sparse writer: ${P.sparse_tx} transactions, ${P.sparse_gap_ms} ms apart. Cost: ${P.cost_idle_s} s idle + ${P.cost_load_s} s at ${P.rate_tx_s} tx/s. Writer: ${P.writer_rounds} rounds of ${P.writer_s} s. Snapshot: ${P.db_mib} MiB, ${P.snapshot_runs} runs. Restore: ${P.db_mib} MiB + ${P.restore_tx} transactions, ${P.restore_runs} runs. Scale: ${P.scale_dbs} databases, ${P.scale_s} s |`);
o.push('', 'Cells are **median (min–max, n=runs)**. Ratios are walship ÷ Litestream (or as labelled), taken pair by pair: each walship run was followed at once by the Litestream run it is compared with (A B A B ...), and the cell is the median (min–max) of those pair ratios. Lower is better for times, CPU, memory, requests and loss; higher for rows/s and MB/s.');

o.push('', '## Targets');
const GROUPS = [
  ['now', 'The targets of issue 16 (side by side with Litestream v0.3.13 in the same run, pair ratios).'],
  ['kept', 'Earlier targets that still hold: these must not get worse.'],
  ['old', 'Replaced or split by a target above: shown with this run\'s figures, **not counted**.'],
];
const metCell = (t) => (t.met === null ? 'n/a (not measured)' : t.met ? '**met**' : '**NOT met**');
for (const [g, title] of GROUPS) {
  const ts = targets.filter((t) => t.group === g);
  if (!ts.length) continue;
  o.push('', title, '', '| target | walship | Litestream | walship vs Litestream | met? |', '|---|---|---|---|---|');
  for (const t of ts) o.push(`| ${t.what} | ${t.ws} | ${t.ls} | ${t.vs} | ${metCell(t)} |`);
}
const tally = (ts) => {
  const m = ts.filter((t) => t.met).length, x = ts.filter((t) => t.met === false).length, n = ts.length - m - x;
  return `${m} of ${ts.length} met, ${x} missed${n ? `, ${n} not measured` : ''}`;
};
const counted = targets.filter((t) => t.group !== 'old');
o.push('', `Issue 16's targets: ${tally(targets.filter((t) => t.group === 'now'))}; the earlier ones kept: ${tally(targets.filter((t) => t.group === 'kept'))}. ` +
  `In all ${tally(counted)}; ${targets.filter((t) => t.group !== 'old' && t.vs.includes('Litestream is better')).length} of them with Litestream better on the same measure.`);

o.push('', '## Measurements', '');
let sec = null;
for (const [s, m, w, l, r] of rows) {
  if (s !== sec) {
    sec = s;
    o.push('', `### ${s}`, '', '| | walship | Litestream | ratio |', '|---|---|---|---|');
  }
  o.push(`| ${m} | ${w} | ${l} | ${r} |`);
}

const misses = counted.filter((t) => t.met === false);
if (misses.length) {
  o.push('', '## Misses: cause and fix', '');
  const seen = new Set();
  for (const t of misses) {
    const key = [t.id, t.id.replace(/-(file|s3)$/, ''), t.id.split('-')[0]].find((k) => notes[k]) || t.id;
    o.push(`### ${t.what}`, '');
    if (seen.has(key) && notes[key]) { o.push('See above.', ''); continue; }
    seen.add(key);
    o.push(notes[key] || '(no note written for this miss yet: see bench/notes.md)', '');
  }
}
if (notes.method) o.push('', '## Method', '', notes.method);
if (errors.length) {
  o.push('', '## Failed measurements', '', '| script | args | why |', '|---|---|---|');
  for (const e of errors) o.push(`| ${e.script} | ${e.args} | ${e.why} |`);
}
process.stdout.write(o.join('\n') + '\n');
