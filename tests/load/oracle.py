"""oracle.py: what cl-load's change set must be, computed another way.

    oracle.py NIGHT1.ndjson NIGHT2.ndjson   (matched roster streams)

Prints the expected change lines (kind, op, entity, ids, fields, changed) of
a sync of NIGHT2 against the state NIGHT1 left, deletions allowed, one JSON
object a line, in docs/changeset.md's order. Written from the document, not
from the C code: a plain in-memory diff of dictionaries.
"""
import json
import sys

ENTS = ["user", "class", "membership", "contact", "relationship"]
OPS = {"user": ("link", "update", "unlink"), "class": ("create", "update", "delete"),
       "membership": ("add", "update", "remove"), "contact": ("create", "update", "delete"),
       "relationship": ("add", "update", "remove")}
PARTS = {"membership": ("class", "user"), "relationship": ("parent", "student")}
PARENT = ("parent", "guardian", "relative")


def s(v):
    return v if isinstance(v, str) else ""


def ref(v):
    return s(v.get("sourcedId")) if isinstance(v, dict) else ""


def strs(vals):
    return sorted(set(v for v in vals if isinstance(v, str) and v), key=lambda x: x.encode())


def records(path):
    recs = {e: {} for e in ENTS}
    enr, agents, linked, contacts, said = [], [], {}, set(), set()
    for line in open(path, encoding="utf-8"):
        o = json.loads(line)
        k, d = o["kind"], o.get("data") or {}
        if k == "header":
            said = set((st.get("options") or {}).get("sync_parents") for st in o["stages"])
        if k in ("header", "trailer") or d.get("status") == "tobedeleted":
            continue
        sid = s(d.get("sourcedId"))
        if k == "class":
            recs["class"].setdefault(sid, {
                "title": s(d.get("title")), "classCode": s(d.get("classCode")),
                "course": ref(d.get("course")), "school": ref(d.get("school")),
                "terms": strs(ref(t) for t in d.get("terms") or []),
                "periods": strs(d.get("periods") or [])})
        elif k == "enrollment" and d.get("role") in ("student", "teacher"):
            enr.append((ref(d.get("class")), ref(d.get("user")), d["role"]))
        elif k == "user" and d.get("role") in PARENT:
            if sid in contacts:
                continue
            contacts.add(sid)
            recs["contact"][sid] = {f: s(d.get(f)) for f in
                                    ("role", "givenName", "familyName", "email", "phone", "sms")}
            agents += [(sid, ref(a)) for a in d.get("agents") or []]
        elif k == "user":
            m = o.get("match")
            if sid in linked or not isinstance(m, dict) or not m.get("id"):
                continue
            mid = m["id"] if isinstance(m["id"], str) else json.dumps(m["id"])
            linked[sid] = (mid, d.get("role"))
            recs["user"][sid] = {
                "sm_id": mid, "role": s(d.get("role")), "givenName": s(d.get("givenName")),
                "familyName": s(d.get("familyName")), "grades": strs(d.get("grades") or []),
                "identifier": s(d.get("identifier")),
                "schools": strs(ref(x) for x in d.get("orgs") or [])}
            if d.get("role") == "student":
                agents += [(ref(a), sid) for a in d.get("agents") or []]
    roles = {}
    for c, u, r in enr:
        if c in recs["class"] and u in linked:
            roles[(c, u)] = "teacher" if r == "teacher" or roles.get((c, u)) == "teacher" else r
    for (c, u), r in roles.items():
        recs["membership"][c + "\x1f" + u] = {"sm_id": linked[u][0], "role": r}
    for p, st in agents:
        if p in contacts and st in linked and linked[st][1] == "student":
            recs["relationship"][p + "\x1f" + st] = {"sm_id": linked[st][0]}
    # a parent with no linked student is no contact
    kin = set(r.split("\x1f")[0] for r in recs["relationship"])
    recs["contact"] = {p: f for p, f in recs["contact"].items() if p in kin}
    # synced when a stage ran with sync_parents on (none off); no stage says: parents present
    if False in said or (True not in said and not contacts):
        recs["contact"] = recs["relationship"] = None
    return recs


def line(e, which, key, fields, changed=None):
    o = {"kind": "change", "op": OPS[e][which], "entity": e}
    if e in PARTS:
        a, b = key.split("\x1f", 1)
        o[PARTS[e][0]], o[PARTS[e][1]] = a, b
    else:
        o["id"] = key
    o["fields"] = fields
    if changed is not None:
        o["changed"] = changed
    return o


def main():
    old, new = records(sys.argv[1]), records(sys.argv[2])
    out = []
    for e in ENTS:
        if new[e] is None:
            continue
        was = old[e] or {}
        for key in sorted(new[e], key=lambda x: x.encode()):
            f = new[e][key]
            if key not in was:
                out.append(line(e, 0, key, f))
            elif was[key] != f:
                ch = {n: {"old": was[key].get(n), "new": v} for n, v in f.items() if was[key].get(n) != v}
                out.append(line(e, 1, key, f, ch))
    for e in reversed(ENTS):
        if new[e] is None or old[e] is None:
            continue
        for key in sorted(set(old[e]) - set(new[e]), key=lambda x: x.encode()):
            out.append(line(e, 2, key, old[e][key]))
    for o in out:
        print(json.dumps(o, ensure_ascii=False, separators=(",", ":")))


if __name__ == "__main__":
    main()
