"""guardgen.py: a matched roster stream for the deletion guard's cases.

    guardgen.py [--classes N] [--users N] [--per K] [--small-per K]
                [--small A-B] [--drop-classes A-B] [--drop-users A-B]

Classes C001..CN (term T1, school 2), students U0001..UN (each matched to
sm-N), K students a class (classes in --small have --small-per), member j
of class k being user (k*41 + j*7) mod N + 1; --only-in-small users
appear only in the small classes. --drop-* leave those records (and so their
enrolments) out of the stream. Deterministic.
"""
import argparse
import json


def rng(s):
    if not s:
        return set()
    a, _, b = s.partition("-")
    b = b or a
    return set(range(int(a), int(b) + 1))


ap = argparse.ArgumentParser()
ap.add_argument("--classes", type=int, default=249)
ap.add_argument("--users", type=int, default=2100)
ap.add_argument("--per", type=int, default=42)
ap.add_argument("--small", default="")
ap.add_argument("--small-per", type=int, default=40)
ap.add_argument("--drop-classes", default="")
ap.add_argument("--drop-users", default="")
ap.add_argument("--prefix", default="C", help="class ids: PREFIX001...")
ap.add_argument("--term", default="T1", help="the classes' term")
ap.add_argument("--sessions", default="", help="ID:ENDDATE,... academicSession lines")
ap.add_argument("--as-of", default="", help="a cl-filter stage with this as_of option")
ap.add_argument("--school3", default="", help="classes of school 3 (the rest: school 2)")
ap.add_argument("--tbd-classes", default="", help="classes sent with status tobedeleted")
ap.add_argument("--relink", default="", help="users matched to another account (sm-N-b)")
ap.add_argument("--solo-users", default="", help="users enrolled only in class 1")
ap.add_argument("--orgs", action="store_true", help="org lines: schools 2, 3 and 4 (an office)")
ap.add_argument("--users3", default="", help="users of school 3 (the rest: school 2)")
ap.add_argument("--users4", default="", help="users of school 4, which has no classes")
ap.add_argument("--no-enrol3", action="store_true", help="no enrolments in school 3's classes")
a = ap.parse_args()
small, dc, du, solo = rng(a.small), rng(a.drop_classes), rng(a.drop_users), rng(a.solo_users)
s3, tbd, rl = rng(a.school3), rng(a.tbd_classes), rng(a.relink)
u3, u4 = rng(a.users3), rng(a.users4)


def out(o):
    print(json.dumps(o, separators=(",", ":")))


def ref(kind, i):
    return {"href": "x", "sourcedId": i, "type": kind}


out({"kind": "header", "version": 1, "stages": [
    {"tool": "cl-fetch", "version": "0.1.0", "at": "2026-11-29T17:59:00Z", "options": {}},
] + ([{"tool": "cl-filter", "version": "0.1.0", "at": "2026-11-29T17:59:30Z",
          "options": {"as_of": a.as_of}}] if a.as_of else []) + [
    {"tool": "cl-match", "version": "0.1.0", "at": "2026-11-29T17:59:40Z", "options": {}}]})
if a.orgs:
    for o, name in (("2", "Two High"), ("3", "Three Elementary"), ("4", "District Office")):
        out({"kind": "org", "data": {"sourcedId": o, "status": "active", "name": name,
             "type": "school", "identifier": "S" + o}})
for sess in filter(None, a.sessions.split(",")):
    i, end = sess.split(":")
    out({"kind": "academicSession", "data": {"sourcedId": i, "status": "active", "title": i,
         "type": "term", "startDate": "2026-08-17", "endDate": end}})
for k in range(1, a.classes + 1):
    if k in dc:
        continue
    out({"kind": "class", "data": {"sourcedId": "%s%03d" % (a.prefix, k),
         "status": "tobedeleted" if k in tbd else "active",
         "title": "Class %d" % k, "classCode": "K%d" % k, "course": ref("course", "CO1"),
         "school": ref("org", "3" if k in s3 else "2"),
         "terms": [ref("academicSession", a.term)], "periods": []}})
n = 0
for k in range(1, a.classes + 1):
    if k in dc or (a.no_enrol3 and k in s3):
        continue
    members = set()
    for j in range(a.small_per if k in small else a.per):
        u = (k * 41 + j * 7) % a.users + 1
        if u in solo:
            continue
        members.add(u)
    if k == 1:
        members |= solo
    for u in sorted(members):
        if u in du:
            continue
        n += 1
        out({"kind": "enrollment", "data": {"sourcedId": "E%d" % n, "status": "active",
             "class": ref("class", "%s%03d" % (a.prefix, k)), "user": ref("user", "U%04d" % u),
             "school": ref("org", "2"), "role": "student"}})
for u in range(1, a.users + 1):
    if u in du:
        continue
    out({"kind": "user", "data": {"sourcedId": "U%04d" % u, "status": "active",
         "givenName": "G%d" % u, "familyName": "F", "role": "student", "identifier": "",
         "orgs": [ref("org", "3" if u in u3 else "4" if u in u4 else "2")], "grades": ["09"]}, "match": {"id": "sm-%d%s" % (u, "-b" if u in rl else "")}})
out({"kind": "trailer", "complete": True, "stages": [
    {"tool": "cl-fetch", "complete": True, "counts": {}, "errors": []}] + ([
    {"tool": "cl-filter", "complete": True, "counts": {}, "errors": []}] if a.as_of else []) + [
    {"tool": "cl-match", "complete": True, "counts": {}, "errors": []}]})
