#!/usr/bin/env python3
"""Matched roster streams with parents for cl-parents' tests (what cl-filter
--parents | cl-match writes).

  gen.py family            the rules fixture (data/family.ndjson): every rule broken once
  gen.py many N [PARENTS]  N students, each with one parent of its own (N relationships);
                           PARENTS > 0 makes parent k also a parent of student k+1
  gen.py family-off        the family without sync_parents (cl-filter's default)
  gen.py family-cut        the family with an incomplete trailer
"""
import json
import sys


def line(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


def header(parents=True):
    return line({"kind": "header", "version": 1, "stages": [
        {"tool": "cl-fetch", "version": "0.1.0", "at": "2026-11-29T17:59:00Z", "options": {}},
        {"tool": "cl-filter", "version": "0.1.0", "at": "2026-11-29T17:59:30Z",
         "options": {"sync_parents": parents}},
        {"tool": "cl-match", "version": "0.1.0", "at": "2026-11-29T17:59:40Z", "options": {}}]})


def trailer(complete=True):
    return line({"kind": "trailer", "complete": complete, "stages": [
        {"tool": t, "complete": complete, "counts": {}, "errors": []}
        for t in ("cl-fetch", "cl-filter", "cl-match")]})


def ref(i):
    return {"href": "x", "sourcedId": i, "type": "user"}


def user(sid, role, given, family, email, agents, match=None, status="active", ident="",
         orgs=("2",), grades=(), phone="", sms=""):
    d = {"sourcedId": sid, "status": status, "enabledUser": "true", "givenName": given,
         "familyName": family, "role": role, "identifier": ident, "email": email,
         "sms": sms, "phone": phone, "agents": [ref(a) for a in agents],
         "orgs": [{"href": "x", "sourcedId": o, "type": "org"} for o in orgs],
         "grades": list(grades)}
    o = {"kind": "user", "data": d}
    if role not in ("parent", "guardian", "relative"):
        if match:
            o["match"] = {"id": match, "email": email}
        else:
            o["match"] = None
            o["unmatched"] = "not-found"
    return line(o)


def family(parents=True, complete=True):
    out = [header(parents),
           line({"kind": "org", "data": {"sourcedId": "2", "status": "active", "name": "Lincoln High",
                                         "type": "school", "identifier": "LHS"}}),
           line({"kind": "org", "data": {"sourcedId": "3", "status": "active", "name": "Park Middle",
                                         "type": "school", "identifier": "PMS"}})]
    out += [
        user("S1", "student", "Ana", "García", "ana.garcia@example.org", [],
             match="Ana.Garcia@Example.org", ident="1001", grades=("09",), orgs=("2", "3")),
        user("S2", "student", "Ben", "O'Neil, Jr.", "ben@example.org", ["P1", "P3"], match="ben",
             ident="1002", grades=("10",)),
        user("S3", "student", "=cmd|' /C calc'!A0", 'Quote "Q"', "s3@example.org", [], match="+s3",
             ident="1003", grades=("11",)),
        user("S4", "student", "Una", "Matched", "nobody@example.org", [], match=None),
        user("S5", "student", "", "NoGiven", "s5@example.org", [], match="s5"),
        user("T1", "teacher", "Tea", "Cher", "t1@example.org", ["P1"], match="t1"),
        user("P1", "parent", "María", "Flores", "maria@example.net", ["S1", "S4"], phone="555-0101"),
        user("P2", "guardian", "Line\nBreak", '=SUM(1,2) "Q"', "dash@example.net", ["S1", "S3"],
             sms="@555"),
        user("P3", "relative", "Dup", "One", "SAME@example.net", []),
        user("P4", "parent", "Only", "Five", "p4@example.net", ["S5"]),
        user("P5", "parent", "Dup", "Two", " same@example.net", ["S3"]),
        user("P6", "parent", "", "NoGiven", "p6@example.net", ["S1"]),
        user("P7", "parent", "Gone", "Away", "p7@example.net", ["S1"], status="tobedeleted"),
        user("P8", "parent", "Masked", "Mail", "*****", ["S2"]),
        user("P9", "parent", "Minus", "Mail", "-p9@example.net", ["S1"]),
        trailer(complete),
    ]
    return out


def many(n, shared=0):
    out = [header(), line({"kind": "org", "data": {"sourcedId": "2", "status": "active",
                                                   "name": "Lincoln High", "type": "school"}})]
    for i in range(n):
        out.append(user("S%06d" % i, "student", "Given%d" % i, "Family%d" % i,
                        "s%d@example.org" % i, [], match="User%06d" % i, ident=str(i)))
    for i in range(n):
        agents = ["S%06d" % i]
        if i < shared and i + 1 < n:
            agents.append("S%06d" % (i + 1))
        out.append(user("P%06d" % i, "parent", "PGiven%d" % i, "PFamily%d" % i,
                        "parent%d@example.net" % i, agents))
    out.append(trailer())
    return out


def main():
    what = sys.argv[1]
    if what == "family":
        lines = family()
    elif what == "family-off":
        lines = family(parents=False)
    elif what == "family-cut":
        lines = family(complete=False)
    elif what == "many":
        lines = many(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    else:
        sys.exit("gen.py: unknown fixture " + what)
    sys.stdout.write("".join(l + "\n" for l in lines))


main()
