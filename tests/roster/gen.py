#!/usr/bin/python3
"""District generator for the roster pipeline's tests, demo and benchmarks.

    gen.py district --seed N --students N --out DIR [--as-of DATE]
    gen.py stream DIR [--demographics] [--at ISO] [--endpoint URL]
    gen.py truth DIR [--as-of DATE] [--no-classes] [--respect-enrolment-date]
                 [--respect-academic-sessions] [--exclude-school ID]... [--parents]
                 [--demographics] [--match] [--unfiltered]
    gen.py bundle DIR --out FOLDER [--zip FILE.zip] [--prefix DIR/] [--delta OLDDIR] [--no-demographics]
    gen.py mutate DIR --out DIR2 --seed N [--percent P] [--as-of DATE] [--rollover]
                 [--remove-school [ID]] [--semester-rollover | --school-year] [--new-export-ids]

See tests/roster/README.md.
"""
import argparse
import datetime
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rosterdata  # noqa: E402

DEFAULT_AS_OF = "2026-11-29"


def date_arg(s):
    try:
        return datetime.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError("not a date (YYYY-MM-DD): %r" % s)


def meta_of(d):
    try:
        with open(os.path.join(d, "meta.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def write_json(obj, f):
    json.dump(obj, f, indent=1, sort_keys=True, ensure_ascii=False)
    f.write("\n")


def cmd_district(a):
    import district
    import truth
    if not 1 <= a.students <= 2000000:
        sys.exit("gen.py: --students must be between 1 and 2000000")
    t0 = time.monotonic()
    os.makedirs(a.out, exist_ok=True)
    district.generate(a.seed, a.students, a.as_of, a.out)
    t1 = time.monotonic()
    if not a.no_truth:
        t = truth.truth(a.out, a.as_of.isoformat(), match=True)
        with open(os.path.join(a.out, "truth.json"), "w", encoding="utf-8") as f:
            write_json(t, f)
    t2 = time.monotonic()
    if not a.quiet:
        counts = {c: len(rosterdata.read_lines(os.path.join(a.out, "oneroster", c + ".json")))
                  for c in rosterdata.COLLECTIONS} if a.students <= 20000 else {}
        print("gen.py: district seed=%d students=%d in %s: generated in %.1f s, truth in %.1f s %s"
              % (a.seed, a.students, a.out, t1 - t0, t2 - t1, json.dumps(counts) if counts else ""),
              file=sys.stderr)


_ROLE = re.compile(rb'"role":"([A-Za-z]*)"')


def cmd_stream(a):
    base = rosterdata.dataset_dir(a.dir)
    meta = meta_of(a.dir)
    at = a.at or ("%sT18:00:02Z" % meta.get("as_of", DEFAULT_AS_OF))
    out = sys.stdout.buffer
    header = {"kind": "header", "version": 1,
              "stages": [{"tool": "cl-fetch", "version": "0.1.0", "at": at, "options": {}}],
              "source": {"endpoint": a.endpoint, "oneroster": "1.1"}}
    out.write(rosterdata.dumps(header).encode() + b"\n")
    counts = {}
    colls = [c for c in rosterdata.COLLECTIONS if c != "demographics" or a.demographics]
    for c in colls:
        kind = rosterdata.KIND[c]
        lines = rosterdata.read_lines(os.path.join(base, c + ".json"))
        pre = b'{"kind":"' + kind.encode() + b'","data":'
        if c == "users":
            first, last = [], []
            for x in lines:
                m = _ROLE.search(x)
                role = m.group(1).decode() if m else json.loads(x).get("role", "")
                (last if role in rosterdata.PARENT_ROLES else first).append(x)
            lines = first + last
        for i in range(0, len(lines), 4096):
            out.write(b"".join(pre + x + b"}\n" for x in lines[i:i + 4096]))
        counts[kind] = len(lines)
    trailer = {"kind": "trailer", "complete": True,
               "stages": [{"tool": "cl-fetch", "complete": True, "counts": counts, "errors": []}]}
    out.write(rosterdata.dumps(trailer).encode() + b"\n")
    out.flush()


def cmd_bundle(a):
    import bundle
    as_of = meta_of(a.dir).get("as_of", DEFAULT_AS_OF)
    bundle.write_bundle(a.dir, a.out, demographics=not a.no_demographics, delta_from=a.delta,
                        zip_path=a.zip, prefix=a.prefix, as_of=as_of)


def cmd_truth(a):
    import truth
    as_of = a.as_of.isoformat() if a.as_of else meta_of(a.dir).get("as_of", DEFAULT_AS_OF)
    t = truth.truth(a.dir, as_of, classes=not a.no_classes, respect_enrolment_date=a.respect_enrolment_date,
                    respect_academic_sessions=a.respect_academic_sessions,
                    exclude_schools=tuple(a.exclude_school or ()), parents=a.parents,
                    demographics=a.demographics, match=a.match, unfiltered=a.unfiltered)
    write_json(t, sys.stdout)


def cmd_mutate(a):
    import mutate
    t0 = time.monotonic()
    ch = mutate.mutate(a.dir, a.out, a.seed, a.percent, a.as_of, a.rollover, a.remove_school,
                       semester_rollover=a.semester_rollover, school_year=a.school_year,
                       new_export_ids=a.new_export_ids)
    if not a.quiet:
        print("gen.py: mutate %s -> %s in %.1f s: %s" % (a.dir, a.out, time.monotonic() - t0, json.dumps(
            {k: {kk: len(vv) for kk, vv in v.items() if vv} for k, v in ch.items()
             if k in ("added", "removed", "changed")})), file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="gen.py", description="deterministic ClassLink-shaped district generator")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("district", help="generate a district")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--students", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--as-of", type=date_arg, default=date_arg(DEFAULT_AS_OF))
    p.add_argument("--no-truth", action="store_true", help="skip writing truth.json (faster)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(fn=cmd_district)
    p = sub.add_parser("stream", help="write the roster stream cl-fetch would emit")
    p.add_argument("dir")
    p.add_argument("--demographics", action="store_true")
    p.add_argument("--at", help="header time (default: the dataset's as-of at 18:00:02Z)")
    p.add_argument("--endpoint", default="http://127.0.0.1/ims/oneroster/v1p1")
    p.set_defaults(fn=cmd_stream)
    p = sub.add_parser("bundle", help="write the dataset as a OneRoster 1.1 CSV bundle (cl-bundle's input)")
    p.add_argument("dir")
    p.add_argument("--out", required=True, help="the bundle's folder")
    p.add_argument("--zip", help="also zip the bundle into this file")
    p.add_argument("--prefix", default="", help="the folder the zip's members sit in (\"bundle/\")")
    p.add_argument("--delta", metavar="OLDDIR", help="a delta bundle: what changed since the dataset OLDDIR")
    p.add_argument("--no-demographics", action="store_true", help="file.demographics absent")
    p.set_defaults(fn=cmd_bundle)
    p = sub.add_parser("truth", help="what a correct cl-filter keeps (and cl-match outcomes)")
    p.add_argument("dir")
    p.add_argument("--as-of", type=date_arg, help="default: the dataset's as-of (meta.json)")
    p.add_argument("--no-classes", action="store_true")
    p.add_argument("--respect-enrolment-date", action="store_true")
    p.add_argument("--respect-academic-sessions", action="store_true")
    p.add_argument("--exclude-school", action="append", metavar="ID")
    p.add_argument("--parents", action="store_true")
    p.add_argument("--demographics", action="store_true")
    p.add_argument("--match", action="store_true", help="add the expected cl-match outcome per user")
    p.add_argument("--unfiltered", action="store_true", help="match every user, not only the kept ones")
    p.set_defaults(fn=cmd_truth)
    p = sub.add_parser("mutate", help="make the next night's district from today's")
    p.add_argument("dir")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--percent", type=float, default=2.0)
    p.add_argument("--as-of", type=date_arg, help="the new night's date (default: the dataset's as-of + 1 day)")
    p.add_argument("--rollover", action="store_true", help="the semester rolls over: fall classes get spring successors")
    p.add_argument("--remove-school", nargs="?", const="", default=None, metavar="ID",
                   help="drop a school (default: the smallest) with its courses, classes and enrolments")
    p.add_argument("--semester-rollover", action="store_true",
                   help="the night is the first day of the next semester: fall classes end, spring successors "
                        "start with the fall enrolments (as-of default: that semester's startDate)")
    p.add_argument("--school-year", action="store_true",
                   help="the night is the first day of the next school year: its classes replace last year's, "
                        "seniors graduate, the year after is published (as-of default: its startDate)")
    p.add_argument("--new-export-ids", action="store_true",
                   help="every User ID of the School Manager export is a new one")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(fn=cmd_mutate)
    a = ap.parse_args(argv)
    try:
        a.fn(a)
    except BrokenPipeError:
        try:
            sys.stdout = None
        except Exception:
            pass
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
