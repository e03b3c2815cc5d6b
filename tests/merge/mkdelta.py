#!/usr/bin/python3
"""mkdelta.py: the delta a OneRoster server would answer cl-fetch --since with,
made from two full streams (gen.py stream) of consecutive nights: every new or
changed record of the new night, then every record the old night had and the
new one lacks, once more with status tobedeleted (the first FORGET removed
enrolments left out, as a server that forgets deletions); and the totals
cl-fetch --totals gives for the new night (each collection's active records).

    mkdelta.py OLD NEW [--forget N] [--totals FILE] > delta.ndjson
"""
import argparse
import json

ORDER = ["header", "org", "academicSession", "course", "class", "enrollment", "user", "parent",
         "demographic", "trailer"]
PARENTS = {"parent", "guardian", "relative"}
COLL = {"org": "orgs", "academicSession": "academicSessions", "course": "courses",
        "class": "classes", "enrollment": "enrollments", "user": "users"}


def dumps(o):
    return json.dumps(o, separators=(",", ":"))


def rank(line):
    o = json.loads(line)
    k = o["kind"]
    if k == "user" and o["data"].get("role") in PARENTS:
        k = "parent"
    return ORDER.index(k)


def key(line):
    o = json.loads(line)
    return (o["kind"], o["data"]["sourcedId"]) if "data" in o else (o["kind"], None)


def active(line):
    return json.loads(line)["data"].get("status") not in ("tobedeleted", "inactive")


def delta(old, new, forget=0):
    olds = {key(x): x for x in old[1:-1]}
    news = {key(x): x for x in new[1:-1]}
    out = [x for x in new[1:-1] if olds.get(key(x)) != x]
    dropped = 0
    for k, x in olds.items():
        if k in news:
            continue
        o = json.loads(x)
        if forget and o["kind"] == "enrollment" and dropped < forget:
            dropped += 1
            continue
        o["data"]["status"] = "tobedeleted"
        out.append(dumps(o))
    out.sort(key=rank)  # stable: the server's order within a kind
    h = json.loads(new[0])
    h["delta"] = True
    h["source"]["since"] = json.loads(old[0])["stages"][0]["at"]
    t = {"kind": "trailer", "complete": True,
         "stages": [{"tool": "cl-fetch", "complete": True, "counts": {}, "errors": []}]}
    return [dumps(h)] + out + [dumps(t)]


def totals(lines):
    t = {c: 0 for c in COLL.values()}
    for x in lines[1:-1]:
        if active(x):
            t[COLL[json.loads(x)["kind"]]] += 1
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--forget", type=int, default=0)
    ap.add_argument("--totals")
    a = ap.parse_args()
    with open(a.old) as f:
        old = f.read().splitlines()
    with open(a.new) as f:
        new = f.read().splitlines()
    print("\n".join(delta(old, new, a.forget)))
    if a.totals:
        with open(a.totals, "w") as f:
            json.dump(totals(new), f)


if __name__ == "__main__":
    main()
