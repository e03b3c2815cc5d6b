"""gen.py mutate: the next night's district from today's, and exactly what changed."""
import datetime
import json
import os
import random
import re
import shutil

import names
import rosterdata
from rosterdata import COLLECTIONS, KIND, current, dumps

ONE_DAY = datetime.timedelta(days=1)


def ref(v):
    return v.get("sourcedId", "") if isinstance(v, dict) else (v or "")


def _session_tree(sessions, root):
    """The active sessions under root (root included), parents before children."""
    out, todo = [], [root]
    while todo:
        s = todo.pop(0)
        out.append(s)
        todo += sorted((x for x in sessions if ref(x.get("parent")) == s["sourcedId"] and x.get("status") == "active"),
                       key=lambda x: (x["startDate"], int(x["sourcedId"]) if x["sourcedId"].isdigit() else 0))
    return out


def _session_key(s):
    """What a session is within its school year, whatever the year: ("semester", "Fall")."""
    return (s.get("type"), re.sub(r"\d{4}(-\d{4})?", "", s.get("title", "")).strip())


def _plus_year(text):
    return re.sub(r"\d{4}", lambda m: str(int(m.group(0)) + 1), text)


def _pick(sessions, typ, day):
    """The active session of that type current on day, else the last one that began before it."""
    act = sorted((s for s in sessions if s.get("type") == typ and s.get("status") == "active"),
                 key=lambda s: s["startDate"])
    cur = [s for s in act if current(s["startDate"], s["endDate"], day)]
    if cur:
        return cur[0]
    before = [s for s in act if s["startDate"] <= day]
    return before[-1] if before else None


def mutate(src, dst, seed, percent, as_of=None, rollover=False, remove_school=None, write_truth=True,
           semester_rollover=False, school_year=False, new_export_ids=False):
    rng = random.Random(seed)
    try:
        with open(os.path.join(src, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        meta = {}
    if semester_rollover and school_year:
        raise SystemExit("gen.py: mutate: --semester-rollover and --school-year are two different nights")
    old_as_of = datetime.date.fromisoformat(meta.get("as_of", "2026-11-29"))
    old_lines = rosterdata.load_dataset(src)
    data = {c: [json.loads(x) for x in old_lines[c]] for c in COLLECTIONS}
    # a rollover night moves the as-of to the first day of the next semester or school year
    roll_from = roll_to = None
    if semester_rollover or school_year:
        typ = "semester" if semester_rollover else "schoolYear"
        roll_from = _pick(data["academicSessions"], typ, old_as_of.isoformat())
        if roll_from is None:
            raise SystemExit("gen.py: mutate: no %s on or before %s" % (typ, old_as_of))
        later = sorted((s for s in data["academicSessions"] if s.get("type") == typ and s.get("status") == "active"
                        and s["startDate"] > roll_from["endDate"]), key=lambda s: s["startDate"])
        roll_to = later[0] if later else None
        if roll_to is None and semester_rollover:
            raise SystemExit("gen.py: mutate: no semester after %s" % roll_from["title"])
        if roll_to is None:  # no next school year in the feed yet: it is the last one, a year on
            next_start = datetime.date.fromisoformat(roll_from["startDate"][:10])
            next_start = next_start.replace(year=next_start.year + 1)
        else:
            next_start = datetime.date.fromisoformat(roll_to["startDate"][:10])
        if not as_of:
            as_of = next_start
    new_as_of = as_of or old_as_of + ONE_DAY
    today = new_as_of.isoformat()
    yesterday = (new_as_of - ONE_DAY).isoformat()
    stamp = "%sT02:%02d:%02d.000Z" % (new_as_of.isoformat(), rng.randrange(60), rng.randrange(60))
    # every record the night changes or adds (and every deletion) is stamped later than any
    # record of DIR, deletions included: a delta fetch since DIR's night finds them all
    old_deleted = rosterdata.load_deleted(src)
    latest = max((json.loads(x).get("dateLastModified") or "" for c in COLLECTIONS
                  for x in old_lines[c] + old_deleted[c]), default="")
    if stamp <= latest:
        raise SystemExit("gen.py: mutate: the night's time %s is not after the latest dateLastModified of %s (%s): "
                         "give a later --as-of" % (stamp, src, latest))
    # ids never come back: a deleted record's id is not given to a new one
    next_id = [1 + max((int(r["sourcedId"]) for c in COLLECTIONS for r in data[c] if r["sourcedId"].isdigit()),
                       default=0)]
    next_id[0] = max([next_id[0]] + [int(i) + 1 for c in COLLECTIONS for i in map(rosterdata.sourced_id, old_deleted[c])
                                     if i.isdigit()])

    def nid():
        next_id[0] += 1
        return str(next_id[0] - 1)

    href_base = meta.get("href_base", "https://example-ca-v2.oneroster.com/ims/oneroster/v1p1")

    def mkref(coll, kind, sid):
        return {"href": "%s/%s/%s" % (href_base, coll, sid), "sourcedId": sid, "type": kind}

    def touch(rec):
        rec["dateLastModified"] = stamp

    events = {"new_students": [], "new_parents": [], "left_students": [], "changed_students": [],
              "enrollments_removed": [], "enrollments_tobedeleted": [], "enrollments_added": [],
              "renamed_classes": [], "rollover": {}, "removed_school": None,
              "semester_rollover": None, "school_year": None, "export_ids": {}}
    orgs = {o["sourcedId"]: o for o in data["orgs"]}
    sessions = {s["sourcedId"]: s for s in data["academicSessions"]}

    # -- a school closes: it leaves the feed with everything that hangs off it
    if remove_school is not None:
        schools = [o for o in data["orgs"] if o.get("type") == "school" and o.get("status") == "active"]
        if remove_school:
            target = remove_school
        else:
            size = {o["sourcedId"]: 0 for o in schools}
            for u in data["users"]:
                if u.get("role") == "student":
                    for o in u.get("orgs") or []:
                        if ref(o) in size:
                            size[ref(o)] += 1
            target = min(schools, key=lambda o: (size[o["sourcedId"]], int(o["sourcedId"])))["sourcedId"]
        if target not in orgs:
            raise SystemExit("gen.py: mutate: no school %s" % target)
        events["removed_school"] = target
        data["orgs"] = [o for o in data["orgs"] if o["sourcedId"] != target]
        for o in data["orgs"]:
            kids = o.get("children") or []
            if any(ref(k) == target for k in kids):
                o["children"] = [k for k in kids if ref(k) != target]
                touch(o)
        data["courses"] = [c for c in data["courses"] if ref(c.get("org")) != target]
        gone_classes = set(c["sourcedId"] for c in data["classes"] if ref(c.get("school")) == target)
        data["classes"] = [c for c in data["classes"] if c["sourcedId"] not in gone_classes]
        data["enrollments"] = [e for e in data["enrollments"] if ref(e.get("school")) != target
                               and ref(e.get("class")) not in gone_classes]
        school_ids = set(o["sourcedId"] for o in data["orgs"] if o.get("type") == "school")
        gone_users = set()
        for u in data["users"]:
            orgl = u.get("orgs") or []
            if any(ref(o) == target for o in orgl):
                if not any(ref(o) in school_ids for o in orgl):
                    gone_users.add(u["sourcedId"])
                else:
                    u["orgs"] = [o for o in orgl if ref(o) != target]
                    touch(u)
        data["users"] = [u for u in data["users"] if u["sourcedId"] not in gone_users]
        data["enrollments"] = [e for e in data["enrollments"] if ref(e.get("user")) not in gone_users]
        data["demographics"] = [d for d in data["demographics"] if d["sourcedId"] not in gone_users]

    # -- a new semester or school year: successor classes, enrolments moved to them (before the
    #    night's other changes, which then happen among the new term's classes)
    if roll_from is not None:
        def span_of(terms):
            ts = [sessions[ref(t)] for t in terms if ref(t) in sessions]
            return (min(t["startDate"] for t in ts), max(t["endDate"] for t in ts)) if ts else ("", "")

        succ = {}  # old class id -> its successor's record
        graduates = set()
        if semester_rollover:
            nx = roll_to
            gps = [s for s in data["academicSessions"] if ref(s.get("parent")) == nx["sourcedId"]
                   and s.get("type") == "gradingPeriod" and s.get("status") == "active"]
            tref = [mkref("academicSessions", "academicSession", s["sourcedId"]) for s in [nx] + gps]
            for c in data["classes"]:
                if c.get("status") != "active" or roll_from["sourcedId"] not in [ref(t) for t in c.get("terms") or []]:
                    continue
                if span_of(c.get("terms") or [])[1] != roll_from["endDate"]:
                    continue
                nc = dict(c)
                nc.update({"sourcedId": nid(), "dateLastModified": stamp,
                           "title": c["title"] + " (%s)" % nx["title"], "classCode": c["classCode"] + "-S2",
                           "terms": tref})
                succ[c["sourcedId"]] = nc
                events["rollover"][c["sourcedId"]] = nc["sourcedId"]
            events["semester_rollover"] = {"from": roll_from["sourcedId"], "to": nx["sourcedId"]}
        else:
            old_tree = _session_tree(data["academicSessions"], roll_from)
            # the SIS publishes the school year after the new one (or, at the end of the feed, the new one)
            base = roll_to or roll_from
            clone = {}
            for s in _session_tree(data["academicSessions"], base):
                clone[s["sourcedId"]] = nid()
            added_sessions = []
            for s in _session_tree(data["academicSessions"], base):
                ns = dict(s)
                st, en = (datetime.date.fromisoformat(s[k][:10]) for k in ("startDate", "endDate"))
                ns.update({"sourcedId": clone[s["sourcedId"]], "dateLastModified": stamp, "title": _plus_year(s["title"]),
                           "startDate": st.replace(year=st.year + 1).isoformat(),
                           "endDate": en.replace(year=en.year + 1).isoformat(),
                           "schoolYear": _plus_year(s.get("schoolYear") or ""),
                           "parent": (mkref("academicSessions", "academicSession", clone[ref(s["parent"])])
                                      if ref(s.get("parent")) in clone else s.get("parent")),
                           "children": [mkref("academicSessions", "academicSession", clone[ref(k)])
                                        for k in s.get("children") or [] if ref(k) in clone]})
                added_sessions.append(ns)
            data["academicSessions"] += added_sessions
            for ns in added_sessions:
                sessions[ns["sourcedId"]] = ns
            new_year = roll_to or added_sessions[0]
            new_tree = _session_tree(data["academicSessions"], new_year)
            by_key = {_session_key(s): s for s in new_tree}
            old_ids = set(s["sourcedId"] for s in old_tree)
            for c in data["classes"]:
                ts = [ref(t) for t in c.get("terms") or []]
                if c.get("status") != "active" or not ts or not all(t in old_ids for t in ts):
                    continue
                nts = [by_key[_session_key(sessions[t])] for t in ts if _session_key(sessions[t]) in by_key]
                if not nts:
                    continue
                nc = dict(c)
                nc.update({"sourcedId": nid(), "dateLastModified": stamp,
                           "terms": [mkref("academicSessions", "academicSession", s["sourcedId"]) for s in nts]})
                succ[c["sourcedId"]] = nc
            grade = {u["sourcedId"]: u.get("grades") or [] for u in data["users"] if u.get("role") == "student"}
            graduates = set(k for k, g in grade.items() if g == ["12"])
            events["school_year"] = {"from": roll_from["sourcedId"], "to": new_year["sourcedId"],
                                     "sessions_added": sorted(s["sourcedId"] for s in added_sessions),
                                     "classes": {k: v["sourcedId"] for k, v in sorted(succ.items())},
                                     "graduates": sorted(graduates)}
        # enrolments that ran to the end of their class move to its successor (graduates leave)
        old_end = {c["sourcedId"]: span_of(c.get("terms") or [])[1] for c in data["classes"]
                   if c["sourcedId"] in succ}
        moved = []
        for e in data["enrollments"]:
            c = ref(e.get("class"))
            if c not in succ or e.get("status") != "active" or ref(e.get("user")) in graduates:
                continue
            if e.get("endDate") and e["endDate"] < old_end[c]:
                continue
            b, en = span_of(succ[c]["terms"])
            moved.append({"sourcedId": nid(), "status": "active", "dateLastModified": stamp,
                          "user": e["user"], "class": mkref("classes", "class", succ[c]["sourcedId"]),
                          "school": e["school"], "role": e["role"], "primary": e["primary"],
                          "beginDate": b, "endDate": en})
            events["enrollments_added"].append(moved[-1]["sourcedId"])
        data["classes"] += list(succ.values())
        data["enrollments"] += moved

    enr_by_user = {}
    for e in data["enrollments"]:
        enr_by_user.setdefault(ref(e.get("user")), []).append(e)

    def class_span(c):
        ts = [sessions[ref(t)] for t in c.get("terms") or [] if ref(t) in sessions]
        if not ts:
            return "", ""
        return min(t["startDate"] for t in ts), max(t["endDate"] for t in ts)

    def active_now(u):
        return [e for e in enr_by_user.get(u["sourcedId"], [])
                if e.get("status") == "active" and current(e.get("beginDate"), e.get("endDate"), today)]

    students = [u for u in data["users"] if u.get("role") == "student" and u.get("status") == "active"
                and u.get("enabledUser") == "true" and active_now(u)]
    n = max(1, int(round(len(students) * percent / 100.0)))
    pool = list(students)
    rng.shuffle(pool)
    left = pool[:max(1, n // 2)]
    rest = pool[len(left):]
    # -- students who left: every open enrolment ends yesterday (future ones are withdrawn)
    for u in left:
        events["left_students"].append(u["sourcedId"])
        for e in enr_by_user.get(u["sourcedId"], []):
            if e.get("status") != "active":
                continue
            if e.get("beginDate") and e["beginDate"] > yesterday:
                e["status"] = "tobedeleted"
                touch(e)
            elif not e.get("endDate") or e["endDate"] > yesterday:
                e["endDate"] = yesterday
                if not e.get("beginDate"):
                    e["beginDate"] = (new_as_of - 200 * ONE_DAY).isoformat()
                touch(e)
    # -- changed names and grades
    changed = rest[:n]
    rest = rest[n:]
    for k, u in enumerate(changed):
        events["changed_students"].append(u["sourcedId"])
        if k % 2 == 0 or u["grades"] == ["12"]:
            u["familyName"] = "%s-%s" % (u["familyName"], rng.choice(names.LAST))
        else:
            g = u["grades"][0] if u.get("grades") else "KG"
            u["grades"] = ["01" if g == "KG" else "%02d" % (int(g) + 1)]
        touch(u)
    # -- timetable changes: enrolments dropped (absent or tobedeleted) and added
    movers = rest[:max(2, n)]
    enr_new = []
    for k, u in enumerate(movers):
        mine = active_now(u)
        if len(mine) > 1:
            e = mine[rng.randrange(len(mine))]
            if k % 2 == 0:
                events["enrollments_removed"].append(e["sourcedId"])
            else:
                e["status"] = "tobedeleted"
                touch(e)
                events["enrollments_tobedeleted"].append(e["sourcedId"])
        school = ref(mine[0].get("school")) if mine else ""
        have = set(ref(e.get("class")) for e in enr_by_user.get(u["sourcedId"], []))
        cands = [c for c in data["classes"] if ref(c.get("school")) == school and c.get("status") == "active"
                 and c["sourcedId"] not in have and set(c.get("grades") or []) & set(u.get("grades") or [])
                 and current(*class_span(c), today)]
        if cands:
            c = cands[rng.randrange(len(cands))]
            b, e_ = class_span(c)
            enr_new.append({"sourcedId": nid(), "status": "active", "dateLastModified": stamp,
                            "user": mkref("users", "user", u["sourcedId"]), "class": mkref("classes", "class", c["sourcedId"]),
                            "school": c["school"], "role": "student", "primary": "false",
                            "beginDate": today, "endDate": e_})
            events["enrollments_added"].append(enr_new[-1]["sourcedId"])
    removed_enr = set(events["enrollments_removed"])
    data["enrollments"] = [e for e in data["enrollments"] if e["sourcedId"] not in removed_enr]
    # -- renamed classes
    act = [c for c in data["classes"] if c.get("status") == "active"]
    for c in rng.sample(act, min(len(act), max(1, int(round(len(act) * percent / 400.0))))):
        c["title"] = c["title"].replace(" - ", " Honors - ", 1) if " - " in c["title"] else c["title"] + " Honors"
        touch(c)
        events["renamed_classes"].append(c["sourcedId"])
    # -- term rollover: every class that ends with the current semester gets a successor
    new_classes = []
    if rollover and roll_from is None:
        sem = [s for s in data["academicSessions"] if s.get("type") == "semester" and s.get("status") == "active"
               and current(s["startDate"], s["endDate"], today)]
        if sem:
            cur = sem[0]
            nxt = sorted((s for s in data["academicSessions"] if s.get("type") == "semester"
                          and s.get("status") == "active" and s["startDate"] > cur["endDate"]),
                         key=lambda s: s["startDate"])
            if nxt:
                nx = nxt[0]
                gps = [s for s in data["academicSessions"] if ref(s.get("parent")) == nx["sourcedId"]
                       and s.get("type") == "gradingPeriod" and s.get("status") == "active"]
                tref = [mkref("academicSessions", "academicSession", s["sourcedId"]) for s in [nx] + gps]
                enr_by_class = {}
                for e in data["enrollments"]:
                    enr_by_class.setdefault(ref(e.get("class")), []).append(e)
                for c in list(data["classes"]):
                    if c.get("status") != "active" or cur["sourcedId"] not in [ref(t) for t in c.get("terms") or []]:
                        continue
                    if class_span(c)[1] != cur["endDate"]:
                        continue
                    nc = dict(c)
                    nc["sourcedId"] = nid()
                    nc["dateLastModified"] = stamp
                    nc["title"] = c["title"] + " (%s)" % nx["title"]
                    nc["classCode"] = c["classCode"] + "-S2"
                    nc["terms"] = tref
                    new_classes.append(nc)
                    events["rollover"][c["sourcedId"]] = nc["sourcedId"]
                    for e in enr_by_class.get(c["sourcedId"], []):
                        if e.get("status") != "active" or (e.get("endDate") and e["endDate"] < cur["endDate"]):
                            continue
                        enr_new.append({"sourcedId": nid(), "status": "active", "dateLastModified": stamp,
                                        "user": e["user"], "class": mkref("classes", "class", nc["sourcedId"]),
                                        "school": e["school"], "role": e["role"], "primary": e["primary"],
                                        "beginDate": nx["startDate"], "endDate": nx["endDate"]})
                        events["enrollments_added"].append(enr_new[-1]["sourcedId"])
    # -- new students (and a parent each), enrolled where a classmate is
    new_users, export_rows = [], []
    tmpl_pool = rest[max(2, n):] or rest or students
    domain = meta.get("domain", "example.org")
    for k in range(max(1, n // 2)):
        t = tmpl_pool[rng.randrange(len(tmpl_pool))]
        sid, pid = nid(), nid()
        given, family = rng.choice(names.FIRST), rng.choice(names.LAST)
        email = "%s.%s.n%s@students.%s" % (given.lower(), family.lower().replace("'", ""), sid, domain)
        nu = dict(t)
        nu.update({"sourcedId": sid, "dateLastModified": stamp, "username": email.split("@")[0],
                   "userIds": [{"type": "FED", "identifier": sid}], "givenName": given, "familyName": family,
                   "middleName": "", "identifier": "9%s" % sid, "email": email,
                   "agents": [mkref("users", "user", pid)]})
        pe = "%s.%s.p%s@%s" % (rng.choice(names.FIRST).lower(), family.lower().replace("'", ""), pid,
                               rng.choice(names.MAIL_DOMAINS))
        pu = {"sourcedId": pid, "status": "active", "dateLastModified": stamp, "username": pe.split("@")[0],
              "userIds": [{"type": "FED", "identifier": pid}], "enabledUser": "true",
              "givenName": rng.choice(names.FIRST), "familyName": family, "middleName": "", "role": "parent",
              "identifier": "", "email": pe, "sms": "", "phone": "", "agents": [mkref("users", "user", sid)],
              "orgs": [o for o in t.get("orgs") or [] if orgs.get(ref(o), {}).get("type") == "school"][:1],
              "grades": [], "password": ""}
        new_users += [nu, pu]
        events["new_students"].append(sid)
        events["new_parents"].append(pid)
        for e in active_now(t):
            enr_new.append({"sourcedId": nid(), "status": "active", "dateLastModified": stamp,
                            "user": mkref("users", "user", sid), "class": e["class"], "school": e["school"],
                            "role": "student", "primary": "false", "beginDate": today, "endDate": e.get("endDate", "")})
            events["enrollments_added"].append(enr_new[-1]["sourcedId"])
        h = "%032x" % rng.getrandbits(128)
        export_rows.append("%s-%s-4%s-a%s-%s,%s,%s,%s,Student,/Students/New" % (
            h[:8], h[8:12], h[13:16], h[17:20], h[20:32], given, family, email))
    data["classes"] += new_classes
    data["enrollments"] += enr_new
    data["users"] += new_users

    # -- write DIR2
    od = os.path.join(dst, "oneroster")
    os.makedirs(od, exist_ok=True)
    new_lines = {}
    for c in COLLECTIONS:
        new_lines[c] = [dumps(r) for r in data[c]]
        rosterdata.write_collection(os.path.join(od, c + ".json"), new_lines[c])
    shutil.copyfile(os.path.join(src, "sm-users.csv"), os.path.join(dst, "sm-users.csv"))
    with open(os.path.join(dst, "sm-users.csv"), "a", encoding="utf-8", newline="") as f:
        for row in export_rows:
            f.write(row + "\r\n")
    if new_export_ids:
        # School Manager re-created every account (a new tenant, a directory re-import): the same
        # rows, bytes and order, each User ID (the first field, a UUID, never quoted) a new one
        irng = random.Random("export-ids:%d" % seed)
        path = os.path.join(dst, "sm-users.csv")
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\r\n")
        for i in range(1, len(lines)):
            old_id, sep, rest = lines[i].partition(",")
            if not sep:
                continue
            h = "%032x" % irng.getrandbits(128)
            new_id = "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])
            events["export_ids"][old_id] = new_id
            lines[i] = new_id + sep + rest
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("\r\n".join(lines))
    # -- the deletions the server reports to a delta fetch: every record of DIR gone from DIR2, as
    #    it last was, with status tobedeleted and the night's time; DIR's deletions carried on
    #    (a fetch since an older night still learns of them) unless the id is back
    dd = os.path.join(od, "deleted")
    os.makedirs(dd, exist_ok=True)
    for c in COLLECTIONS:
        live = set(r["sourcedId"] for r in data[c])
        tomb = [x.decode("utf-8") for x in old_deleted[c] if rosterdata.sourced_id(x) not in live]
        for x in old_lines[c]:
            if rosterdata.sourced_id(x) not in live:
                r = json.loads(x)
                r["status"] = "tobedeleted"
                r["dateLastModified"] = stamp
                tomb.append(dumps(r))
        rosterdata.write_collection(os.path.join(dd, c + ".json"), tomb)
    # -- the exact change set, by comparing the two datasets record by record
    changes = {"from": os.path.basename(os.path.normpath(src)), "seed": seed, "percent": percent, "as_of": today,
               "added": {}, "removed": {}, "changed": {}, "events": {}}
    for c in COLLECTIONS:
        kind = KIND[c]
        old = {rosterdata.sourced_id(x): x for x in old_lines[c]}
        new = {r["sourcedId"]: x.encode("utf-8")
               for r, x in zip(data[c], new_lines[c])}
        changes["added"][kind] = sorted(k for k in new if k not in old)
        changes["removed"][kind] = sorted(k for k in old if k not in new)
        ch = {}
        for k in sorted(new):
            if k in old and old[k] != new[k]:
                a, b = json.loads(old[k]), json.loads(new[k])
                ch[k] = sorted(f for f in set(a) | set(b) if a.get(f, None) != b.get(f, None))
        changes["changed"][kind] = ch
    changes["events"] = {k: (sorted(v) if isinstance(v, list) else v) for k, v in events.items()}
    with open(os.path.join(dst, "changes.json"), "w", encoding="utf-8") as f:
        json.dump(changes, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    m2 = dict(meta)
    m2.update({"as_of": today, "mutated_from": os.path.basename(os.path.normpath(src)), "mutate_seed": seed, "intent": {}})
    with open(os.path.join(dst, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(m2, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    if write_truth:
        import truth
        t = truth.truth(dst, today, match=True)
        with open(os.path.join(dst, "truth.json"), "w", encoding="utf-8") as f:
            json.dump(t, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
    return changes
