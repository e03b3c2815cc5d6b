"""Reference implementation of the cl-filter rules and the cl-match outcomes.

This is what `gen.py truth` prints.  The rules follow DESIGN.md's table; every decision the
table leaves open is written down in README.md ("Truth rules") and here, in one place.
"""
import csv
import io
import os

import rosterdata
from rosterdata import current, email_class, norm_email, PARENT_ROLES

GONE = ("tobedeleted", "inactive")
KINDS = ["org", "academicSession", "course", "class", "enrollment", "user", "demographic"]


def ref(v):
    if isinstance(v, dict):
        return v.get("sourcedId", "")
    return v or ""


def load(d):
    return {c: rosterdata.load_records(d, c) for c in rosterdata.COLLECTIONS}


def filter_truth(data, as_of, classes=True, respect_enrolment_date=False, respect_academic_sessions=False,
                 exclude_schools=(), parents=False, demographics=False):
    """-> (kept {kind: [ids]}, dropped {kind: {id: reason}}, warnings [str])."""
    kept = {k: [] for k in KINDS}
    dropped = {k: {} for k in KINDS}
    warnings = []
    orgs = data["orgs"]
    org_type = {o["sourcedId"]: o.get("type", "") for o in orgs}
    excl = set()
    for o in orgs:
        if o.get("type") == "school" and (o["sourcedId"] in exclude_schools or
                                          (o.get("identifier") and o.get("identifier") in exclude_schools)):
            excl.add(o["sourcedId"])

    def keep(kind, rid, reason):
        if reason:
            dropped[kind][rid] = reason
        else:
            kept[kind].append(rid)

    for o in orgs:
        keep("org", o["sourcedId"], "tobedeleted" if o.get("status") in GONE else
             ("excluded-school" if o["sourcedId"] in excl else None))
    cur_sessions = set()
    for s in data["academicSessions"]:
        gone = s.get("status") in GONE
        keep("academicSession", s["sourcedId"], "tobedeleted" if gone else None)
        if not gone and current(s.get("startDate"), s.get("endDate"), as_of):
            cur_sessions.add(s["sourcedId"])
    for c in data["courses"]:
        r = None
        if c.get("status") in GONE:
            r = "tobedeleted"
        elif not classes:
            r = "no-classes"
        elif ref(c.get("org")) in excl:
            r = "excluded-school"
        keep("course", c["sourcedId"], r)
    dropped_classes = set()
    for c in data["classes"]:
        r = None
        if c.get("status") in GONE:
            r = "tobedeleted"
        elif not classes:
            r = "no-classes"
        elif ref(c.get("school")) in excl:
            r = "excluded-school"
        elif respect_academic_sessions and not any(ref(t) in cur_sessions for t in c.get("terms") or []):
            r = "no-current-session"
        if r:
            dropped_classes.add(c["sourcedId"])
        keep("class", c["sourcedId"], r)
    # CL203: only when classes were really dropped for want of a current session
    if respect_academic_sessions and not cur_sessions and \
            any(r == "no-current-session" for r in dropped["class"].values()):
        warnings.append("no-current-session")
    # enrolments: also judge who has left (on every enrolment that is not tobedeleted)
    has_enr = set()
    has_current = set()
    for e in data["enrollments"]:
        u = ref(e.get("user"))
        gone = e.get("status") in GONE
        cur = current(e.get("beginDate"), e.get("endDate"), as_of)
        if not gone:
            has_enr.add(u)
            if cur:
                has_current.add(u)
        r = None
        if gone:
            r = "tobedeleted"
        elif not classes:
            r = "no-classes"
        elif ref(e.get("school")) in excl:
            r = "excluded-school"
        elif ref(e.get("class")) in dropped_classes:
            r = "class-dropped"
        elif respect_enrolment_date and not cur:
            r = "not-current"
        keep("enrollment", e["sourcedId"], r)
    left = has_enr - has_current
    users = data["users"]
    kept_students = set()
    parent_recs = []
    for u in users:
        uid = u["sourcedId"]
        role = u.get("role", "")
        r = None
        schools = [ref(o) for o in u.get("orgs") or [] if org_type.get(ref(o)) == "school"]
        if u.get("status") in GONE:
            r = "tobedeleted"
        elif str(u.get("enabledUser", "true")).lower() == "false":
            r = "disabled"
        elif schools and all(s in excl for s in schools):
            r = "excluded-school"
        elif role == "student" and respect_enrolment_date and uid in left:
            r = "left"
        elif role in PARENT_ROLES and not parents:
            r = "parents-off"
        if role in PARENT_ROLES and r is None:
            parent_recs.append(u)
            continue
        if role == "student" and r is None:
            kept_students.add(uid)
        keep("user", uid, r)
    # parents come last in the stream; a link either way to a kept student counts
    linked = set()
    for u in users:
        if u["sourcedId"] in kept_students:
            for a in u.get("agents") or []:
                linked.add(ref(a))
    for u in parent_recs:
        uid = u["sourcedId"]
        r = None
        if email_class(u.get("email")) != "ok":
            r = "parent-no-email"
        elif uid not in linked and not any(ref(a) in kept_students for a in u.get("agents") or []):
            r = "parent-unlinked"
        keep("user", uid, r)
    if demographics:
        for dm in data["demographics"]:
            keep("demographic", dm["sourcedId"], "tobedeleted" if dm.get("status") in GONE else None)
    else:
        del kept["demographic"]
        del dropped["demographic"]
    for k in kept:
        kept[k].sort()
    return kept, dropped, warnings


def read_export(path):
    """School Manager export -> list of (line number, id, email, role)."""
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip().lower() for h in rows[0]]

    def col(*cands):
        for c in cands:
            if c in header:
                return header.index(c)
        raise ValueError("%s: no column among %s" % (path, cands))
    ci = col("user id", "id", "userid")
    ce = col("email address", "email", "e-mail")
    cr = col("role", "user type")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not x.strip() for x in row):
            continue
        out.append((n, row[ci], row[ce], row[cr]))
    return out


def match_truth(data, users_kept, export_path):
    """-> {userId: {"outcome": ..., "id": exportId?}} for the non-parent users in users_kept."""
    by_email = {}
    for _, sid, email, _ in read_export(export_path):
        k = norm_email(email)
        if not k:
            continue
        by_email.setdefault(k, []).append(sid)
    keep = set(users_kept)
    users = [u for u in data["users"] if u["sourcedId"] in keep and u.get("role") not in PARENT_ROLES]
    count = {}
    for u in users:
        if email_class(u.get("email")) == "ok":
            k = norm_email(u["email"])
            count[k] = count.get(k, 0) + 1
    out = {}
    totals = {"matched": {"student": 0, "teacher": 0, "other": 0},
              "unmatched": {"no-email": 0, "masked-email": 0, "duplicate-in-roster": 0,
                            "duplicate-in-export": 0, "not-found": 0}}
    for u in users:
        c = email_class(u.get("email"))
        role = u.get("role")
        if c != "ok":
            res = {"outcome": c}
        else:
            k = norm_email(u["email"])
            hits = by_email.get(k, [])
            if count[k] > 1:
                res = {"outcome": "duplicate-in-roster"}
            elif len(hits) > 1:
                res = {"outcome": "duplicate-in-export"}
            elif not hits:
                res = {"outcome": "not-found"}
            else:
                res = {"outcome": "matched", "id": hits[0]}
        res["role"] = role
        out[u["sourcedId"]] = res
        if res["outcome"] == "matched":
            totals["matched"][role if role in ("student", "teacher") else "other"] += 1
        else:
            totals["unmatched"][res["outcome"]] += 1
    return out, totals


def truth(d, as_of, classes=True, respect_enrolment_date=False, respect_academic_sessions=False,
          exclude_schools=(), parents=False, demographics=False, match=False, unfiltered=False, data=None):
    data = data or load(d)
    opts = {"as_of": as_of, "sync_classes": classes, "respect_enrolment_date": respect_enrolment_date,
            "respect_academic_sessions": respect_academic_sessions, "exclude_schools": sorted(exclude_schools),
            "sync_parents": parents, "demographics": demographics}
    kept, dropped, warnings = filter_truth(data, as_of, classes, respect_enrolment_date,
                                           respect_academic_sessions, exclude_schools, parents, demographics)
    out = {"options": opts, "kept": kept,
           "dropped": {k: dict(sorted(v.items())) for k, v in dropped.items()},
           "counts": {"kept": {k: len(v) for k, v in kept.items()},
                      "dropped": {k: len(v) for k, v in dropped.items()}},
           "warnings": warnings}
    if match:
        users = [u["sourcedId"] for u in data["users"]] if unfiltered else kept["user"]
        m, totals = match_truth(data, users, os.path.join(d, "sm-users.csv"))
        out["match"] = dict(sorted(m.items()))
        out["match_counts"] = totals
        out["options"]["match_on"] = "unfiltered" if unfiltered else "filtered"
    return out
