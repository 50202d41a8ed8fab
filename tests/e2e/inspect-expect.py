#!/usr/bin/env python3
"""What walship's inspection commands must print, computed from replica
listings on their own (Litestream v0.3's names and columns), for
15-inspect.sh.

  inspect-expect.py CMD [-json] [-gen G] [-db PATH] NAME=LISTING...
      Print the expected output of `walship CMD` (generations, snapshots
      or wal) over the replicas NAME in that order, each listed in the
      file LISTING as "KEY SIZE MTIME_MS" lines.  Text is laid out as Go's
      tabwriter does (padding 2); with -json, one line of JSON with sorted
      keys, to compare with `inspect-expect.py norm`.  -gen keeps one
      generation (wal).  -db gives the database for the lag (the later of
      its and its -wal's mtimes); without it (URL mode) lag is left out of
      the rows, and "urlcheck" checks it instead.
  inspect-expect.py norm < JSON
      Parse JSON and print it as one line with sorted keys.
  inspect-expect.py urlcheck T0 T1 TEXT JSON NAME=LISTING
      Check URL-mode generations output (TEXT and JSON files): every
      column as expected, and each lag (now - end) within what the
      times T0 and T1 (ns) taken around the two commands allow.
"""
import datetime
import json
import os
import re
import sys

GEN = r"([0-9a-f]{16})"
SNAP = re.compile(r"^generations/%s/snapshots/([0-9a-f]{8})\.snapshot\.lz4$" % GEN)
WAL = re.compile(r"^generations/%s/wal/([0-9a-f]{8})_([0-9a-f]{8})\.wal\.lz4$" % GEN)
NS_S = 10**9


def read_listing(path):
    """Data objects only: (kind, gen, index, offset, size, mtime_ms)."""
    objs = []
    with open(path) as f:
        for line in f:
            key, size, ms = line.split()
            m = SNAP.match(key)
            if m:
                objs.append(("snap", m[1], int(m[2], 16), 0, int(size), int(ms)))
            m = WAL.match(key)
            if m:
                objs.append(("wal", m[1], int(m[2], 16), int(m[3], 16), int(size), int(ms)))
    return sorted(objs, key=lambda o: (o[1], o[2], o[3]))


def rfc3339(ms, with_ms):
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    return s + (".%03dZ" % (ms % 1000) if with_ms else "Z")


def go_duration(d):
    """Go's time.Duration.String."""
    if d == 0:
        return "0s"
    u = abs(d)

    def frac(v, prec):
        return ("%d.%0*d" % (v // 10**prec, prec, v % 10**prec)).rstrip("0").rstrip(".")

    if u < 1000:
        s = "%dns" % u
    elif u < 10**6:
        s = frac(u, 3) + "\u00b5s"
    elif u < NS_S:
        s = frac(u, 6) + "ms"
    else:
        m, sec = divmod(u, 60 * NS_S)
        h, m = divmod(m, 60)
        s = ("%dh%dm" % (h, m) if h else "%dm" % m if m else "") + frac(sec, 9) + "s"
    return ("-" if d < 0 else "") + s


def truncate(d):
    """Litestream's truncateDuration (Go's Truncate rounds towards 0)."""
    for above, unit in ((10 * NS_S, NS_S), (NS_S, NS_S // 10), (10**6, 10**6), (1000, 1000)):
        if abs(d) > above:
            return d - (1 if d > 0 else -1) * (abs(d) % unit)
    return d


def parse_go_duration(s):
    units = {"h": 3600 * NS_S, "m": 60 * NS_S, "s": NS_S, "ms": 10**6, "\u00b5s": 1000, "ns": 1}
    sign = -1 if s.startswith("-") else 1
    parts = re.findall(r"([0-9.]+)(h|ms|m|s|\u00b5s|ns)", s)
    if not parts or "".join(a + b for a, b in parts) != s.lstrip("-"):
        raise ValueError("not a Go duration: %r" % s)
    return sign * round(sum(float(a) * units[b] for a, b in parts))


def tabwriter(rows):
    widths = [max(len(r[c]) for r in rows) + 2 for c in range(len(rows[0]))]
    return "".join(
        "".join(cell.ljust(widths[c]) for c, cell in enumerate(r[:-1])) + r[-1] + "\n" for r in rows
    )


def db_base(db):
    """The later of the database's and its -wal's mtimes, None if no db."""
    if not os.path.exists(db):
        return None
    t = os.stat(db).st_mtime_ns
    if os.path.exists(db + "-wal"):
        t = max(t, os.stat(db + "-wal").st_mtime_ns)
    return t


def records(cmd, replicas, gen=None, base=None):
    """Expected JSON objects, in order."""
    out = []
    for name, objs in replicas:
        if cmd == "generations":
            for g in sorted({o[1] for o in objs}):
                times = [o[5] for o in objs if o[1] == g]
                rec = {"replica": name, "generation": g, "start": rfc3339(min(times), 1), "end": rfc3339(max(times), 1)}
                if base is not None:
                    d = base - max(times) * 10**6
                    rec["lag"] = go_duration(truncate(d))
                    rec["lag_ms"] = (1 if d >= 0 else -1) * (abs(d) // 10**6)
                out.append(rec)
            continue
        for kind, g, index, offset, size, ms in objs:
            if kind != {"snapshots": "snap", "wal": "wal"}[cmd] or gen not in (None, g):
                continue
            rec = {"replica": name, "generation": g, "index": index, "size": size, "created": rfc3339(ms, 1)}
            if cmd == "wal":
                rec["offset"] = offset
            out.append(rec)
    return out


def text(cmd, recs, lag=True):
    def sec(t):
        return t[:19] + "Z"

    if cmd == "generations":
        head = ["name", "generation"] + (["lag"] if lag else []) + ["start", "end"]
        rows = [
            [r["replica"], r["generation"]] + ([r.get("lag") or "-"] if lag else []) + [sec(r["start"]), sec(r["end"])]
            for r in recs
        ]
    else:
        head = ["replica", "generation", "index"] + (["offset"] if cmd == "wal" else []) + ["size", "created"]
        rows = [
            [r["replica"], r["generation"], str(r["index"])]
            + ([str(r["offset"])] if cmd == "wal" else [])
            + [str(r["size"]), sec(r["created"])]
            for r in recs
        ]
    return tabwriter([head] + rows)


def replicas_from(args):
    return [(a.split("=", 1)[0], read_listing(a.split("=", 1)[1])) for a in args]


def urlcheck(t0, t1, text_path, json_path, reps):
    recs = records("generations", reps)
    got_text = open(text_path).read().splitlines()
    got_json = json.load(open(json_path))
    # Text: the lag is the third column; no cell contains a space.
    rows = [line.split() for line in got_text]
    assert rows[0] == ["name", "generation", "lag", "start", "end"], rows[0]
    assert len(rows) == len(recs) + 1 and len(got_json) == len(recs), (rows, got_json)
    for r, row, obj in zip(recs, rows[1:], got_json):
        end = datetime.datetime.strptime(r["end"], "%Y-%m-%dT%H:%M:%S.%fZ")
        end_ns = round(end.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000) * 10**6
        lo, hi = t0 - end_ns, t1 - end_ns
        assert row[:2] + row[3:] == [r["replica"], r["generation"], r["start"][:19] + "Z", r["end"][:19] + "Z"], row
        lag = parse_go_duration(row[2])
        assert lo - NS_S <= lag <= hi, ("text lag", row[2], lo, hi)
        assert go_duration(truncate(lag)) == row[2], ("lag is not truncated", row[2])
        assert lo // 10**6 - 1 <= obj["lag_ms"] <= hi // 10**6 + 1, ("lag_ms", obj["lag_ms"], lo, hi)
        assert isinstance(obj["lag"], str) and parse_go_duration(obj["lag"]) <= hi, obj["lag"]
        obj = {k: v for k, v in obj.items() if k not in ("lag", "lag_ms")}
        assert obj == r, (obj, r)


def main(argv):
    if argv[0] == "norm":
        print(json.dumps(json.load(sys.stdin), sort_keys=True, ensure_ascii=False))
        return
    if argv[0] == "urlcheck":
        urlcheck(int(argv[1]), int(argv[2]), argv[3], argv[4], replicas_from(argv[5:]))
        return
    cmd, args, as_json, gen, base = argv[0], argv[1:], False, None, None
    while args and args[0].startswith("-"):
        if args[0] == "-json":
            as_json, args = True, args[1:]
        elif args[0] == "-gen":
            gen, args = args[1], args[2:]
        elif args[0] == "-db":
            base, args = db_base(args[1]), args[2:]
            if base is None:
                base = "missing"
        else:
            raise SystemExit("unknown option " + args[0])
    recs = records(cmd, replicas_from(args), gen, None if base == "missing" else base)
    if base == "missing":
        for r in recs:
            r["lag"] = r["lag_ms"] = None
    if as_json:
        print(json.dumps(recs, sort_keys=True, ensure_ascii=False))
    else:
        sys.stdout.write(text(cmd, recs))


main(sys.argv[1:])
