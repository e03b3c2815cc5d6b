"""expect.py: what School Manager should hold after a sync of a generated district.

    expect.py DIR TRUTH.json MIRROR.db [--ahead BEFORE.db]

Computes, from the generator's dataset (DIR/oneroster) and its truth (gen.py
truth DIR --match [filter options]: which records a correct cl-filter keeps
and how a correct cl-match joins each user), the records a mirror must hold,
and compares them with MIRROR.db (cl-apply's). Never reads cl-load's state or
output. Prints the differences and exits 1 when there are any.

--ahead BEFORE.db: the night's deletions were withheld (cl-load's guard, status
partial), so the mirror may still hold rows the model no longer has; each such
row must be one BEFORE.db (a copy of the mirror taken before the night) held,
and the withheld rows are counted. Nothing the model has may be missing.

Written from docs/changeset.md ("What makes each operation"): a user is
linked when kept and matched (parents aside); a class when kept; a
membership per kept enrolment (student or teacher; a teacher one wins) of a
kept class and a linked user; a relationship per kept parent linked by
agents (either side) to a linked student; a contact per kept parent with at
least one such relationship (a parent with no linked student is skipped).
"""
import json
import sqlite3
import sys

PARENT = ("parent", "guardian", "relative")


def load(d, name):
    with open(f"{d}/oneroster/{name}.json", encoding="utf-8") as f:
        return {r["sourcedId"]: r for r in json.load(f)}


def ref(v):
    return v.get("sourcedId") if isinstance(v, dict) else None


def expected(d, truth):
    users, classes, enrols = load(d, "users"), load(d, "classes"), load(d, "enrollments")
    kept = {k: set(v) for k, v in truth["kept"].items()}
    match = truth.get("match", {})
    want = {"users": set(), "classes": set(), "memberships": set(), "contacts": set(),
            "relationships": set()}
    linked = {}
    for uid in kept["user"]:
        u = users[uid]
        if u["role"] in PARENT:
            continue
        if match.get(uid, {}).get("outcome") == "matched":
            linked[uid] = (match[uid]["id"], u["role"])
            want["users"].add((uid, match[uid]["id"], u["role"], u.get("familyName") or ""))
    for cid in kept["class"]:
        want["classes"].add((cid, classes[cid].get("title") or ""))
    roles = {}
    for eid in kept["enrollment"]:
        e = enrols[eid]
        c, u, r = ref(e.get("class")), ref(e.get("user")), e.get("role")
        if r not in ("student", "teacher") or c not in kept["class"] or u not in linked:
            continue
        if roles.get((c, u)) != "teacher":
            roles[(c, u)] = r
    for (c, u), r in roles.items():
        want["memberships"].add((c, u, linked[u][0], r))
    for pid in kept["user"]:
        p = users[pid]
        if p["role"] not in PARENT:
            continue
        kids = {ref(a) for a in p.get("agents") or []}
        kids |= {sid for sid, (sm, role) in linked.items() if role == "student"
                 and pid in {ref(a) for a in users[sid].get("agents") or []}}
        for sid in kids:
            if sid in linked and linked[sid][1] == "student":
                want["relationships"].add((pid, sid, linked[sid][0]))
                want["contacts"].add((pid, p["role"], p.get("familyName") or ""))
    return want


def held(path):
    db = sqlite3.connect(path)
    q = {"users": "SELECT id, sm_id, role, familyName FROM users",
         "classes": "SELECT id, title FROM classes",
         "memberships": 'SELECT "class", "user", sm_id, role FROM memberships',
         "contacts": "SELECT id, role, familyName FROM contacts",
         "relationships": "SELECT parent, student, sm_id FROM relationships"}
    return {t: set(db.execute(s).fetchall()) for t, s in q.items()}


def main():
    d, truth, mirror = sys.argv[1:4]
    before = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--ahead" else None
    with open(truth, encoding="utf-8") as f:
        want = expected(d, json.load(f))
    got = held(mirror)
    was = held(before) if before else None
    bad = 0
    for t in want:
        missing, extra = want[t] - got[t], got[t] - want[t]
        if was is not None:
            if extra & was[t]:
                print(f"{mirror}: {t}: {len(extra & was[t])} withheld (ahead of the model)")
            extra -= was[t]
        for r in sorted(missing)[:5]:
            print(f"{mirror}: {t}: missing {r}")
        for r in sorted(extra)[:5]:
            print(f"{mirror}: {t}: not expected {r}")
        if missing or extra:
            print(f"{mirror}: {t}: {len(want[t])} expected, {len(missing)} missing, {len(extra)} extra")
            bad = 1
    print(f"{mirror}: " + ", ".join(f"{len(got[t])} {t}" for t in want))
    sys.exit(bad)


main()
