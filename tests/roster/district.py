"""Generate a deterministic ClassLink-shaped district (gen.py district).

Everything random comes from one random.Random(seed); nothing iterates over a set or
depends on hash order, so the same seed and options give byte-identical files.
"""
import datetime
import json
import math
import os
import random
import unicodedata

import names
import rosterdata

ONE_DAY = datetime.timedelta(days=1)

# slots: (title, code, subject, classType, term keys)
LEVELS = {
    "elementary": {
        "grades": ["KG", "01", "02", "03", "04", "05"],
        "slots": [("Homeroom", "HR", "Homeroom", "homeroom", ["Y"]),
                  ("Art", "ART", "Art", "scheduled", ["F"]),
                  ("Music", "MUS", "Music", "scheduled", ["S"]),
                  ("Physical Education", "PE", "Physical Education", "scheduled", ["Y"])],
    },
    "middle": {
        "grades": ["06", "07", "08"],
        "slots": [("Mathematics", "MATH", "Mathematics", "scheduled", ["Y"]),
                  ("English Language Arts", "ELA", "English Language Arts", "scheduled", ["Y"]),
                  ("Science", "SCI", "Science", "scheduled", ["Y"]),
                  ("Social Studies", "SS", "Social Studies", "scheduled", ["Y"]),
                  ("Technology", "TECH", "Technology", "scheduled", ["T1"]),
                  ("Visual Art", "ART", "Art", "scheduled", ["T2"]),
                  ("Health", "HLTH", "Health", "scheduled", ["T3"])],
    },
    "high": {
        "grades": ["09", "10", "11", "12"],
        "slots": [("Mathematics", "MATH", "Mathematics", "scheduled", ["Y", "F", "S"]),
                  ("English", "ENG", "English Language Arts", "scheduled", ["Y", "F", "S"]),
                  ("Biology", "BIO", "Science", "scheduled", ["F", "Q1", "Q2"]),
                  ("US History", "HIST", "Social Studies", "scheduled", ["F", "Q1", "Q2"]),
                  ("Spanish", "SPAN", "World Languages", "scheduled", ["F", "Q1", "Q2"]),
                  ("Health", "HLTH", "Health", "scheduled", ["S", "Q3", "Q4"]),
                  ("Studio Art", "ART", "Art", "scheduled", ["S", "Q3", "Q4"]),
                  ("Economics", "ECON", "Social Studies", "scheduled", ["S", "Q3", "Q4"])],
    },
}
LEVEL_PATTERN = ["high", "elementary", "middle", "elementary", "elementary"]
LEVEL_WORD = {"elementary": "Elementary School", "middle": "Middle School", "high": "High School"}
SECTION_SIZE = 25

MASKS = ["*****", "REDACTED", "xxxxxxxx", "{c}*****@{d}", "********@********"]


def ascii_fold(s):
    s = unicodedata.normalize("NFD", s)
    return "".join(c for c in s if ord(c) < 128)


def ascii_upper(s):
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in s)


def csv_field(s):
    if any(c in s for c in ',"\r\n') or s != s.strip():
        return '"' + s.replace('"', '""') + '"'
    return s


def session_plan(as_of):
    """[(key, title, type, start, end, parent key, schoolYear)] for three school years."""
    Y = as_of.year if as_of.month >= 8 else as_of.year - 1
    d = datetime.date
    out = []
    for y in (Y - 1, Y, Y + 1):
        yk = "Y%d" % y
        n0 = len(out)
        out.append((yk, "%d-%d School Year" % (y, y + 1), "schoolYear", d(y, 8, 17), d(y + 1, 6, 11), None))
        out.append(("F%d" % y, "Fall %d" % y, "semester", d(y, 8, 17), d(y, 12, 18), yk))
        out.append(("Q1%d" % y, "Quarter 1 %d-%d" % (y, y + 1), "gradingPeriod", d(y, 8, 17), d(y, 10, 16), "F%d" % y))
        out.append(("Q2%d" % y, "Quarter 2 %d-%d" % (y, y + 1), "gradingPeriod", d(y, 10, 19), d(y, 12, 18), "F%d" % y))
        out.append(("S%d" % y, "Spring %d" % (y + 1), "semester", d(y + 1, 1, 5), d(y + 1, 6, 11), yk))
        out.append(("Q3%d" % y, "Quarter 3 %d-%d" % (y, y + 1), "gradingPeriod", d(y + 1, 1, 5), d(y + 1, 3, 19), "S%d" % y))
        out.append(("Q4%d" % y, "Quarter 4 %d-%d" % (y, y + 1), "gradingPeriod", d(y + 1, 3, 22), d(y + 1, 6, 11), "S%d" % y))
        out.append(("T1%d" % y, "Trimester 1 %d-%d" % (y, y + 1), "term", d(y, 8, 17), d(y, 11, 20), yk))
        out.append(("T2%d" % y, "Trimester 2 %d-%d" % (y, y + 1), "term", d(y, 11, 23), d(y + 1, 3, 5), yk))
        out.append(("T3%d" % y, "Trimester 3 %d-%d" % (y, y + 1), "term", d(y + 1, 3, 8), d(y + 1, 6, 11), yk))
        out.append(("U%d" % y, "Summer School %d" % (y + 1), "term", d(y + 1, 6, 22), d(y + 1, 7, 31), yk))
        out[n0:] = [x + (str(y + 1),) for x in out[n0:]]
    # a grading period withdrawn by the SIS (tobedeleted), in the current year
    out.append(("X%d" % Y, "Quarter 2 %d-%d (old)" % (Y, Y + 1), "gradingPeriod", d(Y, 10, 12), d(Y, 12, 18), "F%d" % Y,
                str(Y + 1)))
    return Y, out


class District:
    def __init__(self, seed, students, as_of, out):
        self.seed = seed
        self.n = students
        self.as_of = as_of
        self.out = out
        self.rng = random.Random(seed)
        self.next_id = 1
        rng = self.rng
        self.dname = names.DISTRICTS[seed % len(names.DISTRICTS)]
        slug = self.dname.lower().replace(" ", "")
        self.domain = "%s.k12.example.org" % slug
        self.sdomain = "students." + self.domain
        self.base = "https://%s-ca-v2.oneroster.com/ims/oneroster/v1p1" % slug
        # timestamps: a pool of dateLastModified values in the year before as-of
        t0 = datetime.datetime(as_of.year, as_of.month, as_of.day) - datetime.timedelta(days=400)
        self.dlm = [(t0 + datetime.timedelta(seconds=rng.randrange(390 * 86400))).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                    for _ in range(4096)]
        self.used_local = {}
        self.meta = {k: [] for k in (
            "left", "future", "boundary_end", "boundary_begin", "no_enrolments", "transfer", "undated",
            "past_summer", "multi_school", "disabled", "no_email", "masked_email", "dup_roster_email",
            "nonascii_email", "not_in_export", "dup_in_export", "export_extra", "parents_no_email",
            "parent_only_link", "student_only_link", "cross_school_teachers")}
        self.meta["tobedeleted"] = {k: [] for k in rosterdata.KIND.values()}
        self.meta["inactive"] = {k: [] for k in rosterdata.KIND.values()}

    # -- helpers
    def nid(self):
        i = self.next_id
        self.next_id += 1
        return str(i)

    def when(self):
        return self.dlm[self.rng.randrange(4096)]

    def ref(self, coll, kind, sid):
        return {"href": "%s/%s/%s" % (self.base, coll, sid), "sourcedId": sid, "type": kind}

    def local_part(self, given, family):
        base = ascii_fold("%s.%s" % (given, family)).lower()
        base = "".join(c for c in base if c.isalnum() or c in ".-")
        n = self.used_local.get(base, 0) + 1
        self.used_local[base] = n
        return base if n == 1 else "%s%d" % (base, n)

    def status(self, kind, sid, p):
        if self.rng.random() < p:
            self.meta["tobedeleted"][kind].append(sid)
            return "tobedeleted"
        return "active"

    # -- the plan
    def build(self):
        rng = self.rng
        as_of = self.as_of
        self.Y, splan = session_plan(as_of)
        n = self.n
        n_schools = max(2, int(round(n / 650.0)))
        # orgs
        self.district = {"id": self.nid(), "name": "%s Unified School District" % self.dname,
                         "identifier": "%02d%05d" % (self.seed % 90 + 10, rng.randrange(100000))}
        self.schools = []
        words = list(names.SCHOOL_WORDS)
        for i in range(n_schools):
            level = LEVEL_PATTERN[i % len(LEVEL_PATTERN)]
            w = words[i % len(words)] + ("" if i < len(words) else " %d" % (i // len(words) + 1))
            self.schools.append({"id": self.nid(), "level": level, "name": "%s %s" % (w, LEVEL_WORD[level]),
                                 "identifier": "%04d" % (100 + 7 * i), "students": [], "classes": [],
                                 "teachers": [], "status": "active"})
        # a closed school: tobedeleted, no students or classes (only when there are many)
        self.closed = None
        if n_schools >= 5:
            self.closed = {"id": self.nid(), "level": "elementary", "name": "Old Mill Elementary School",
                           "identifier": "0099", "status": "tobedeleted"}
        # sessions
        self.sessions = []
        self.skey = {}
        for key, title, typ, start, end, parent, sy in splan:
            sid = self.nid()
            self.skey[key] = {"id": sid, "title": title, "type": typ, "start": start, "end": end,
                              "parent": parent, "key": key, "children": [], "sy": sy}
            self.sessions.append(self.skey[key])
        for s in self.sessions:
            if s["parent"]:
                self.skey[s["parent"]]["children"].append(s["id"])
        # students: school, grade, names (siblings share a family name)
        studs = []
        for i in range(n):
            sch = rng.randrange(n_schools)
            grade = rng.choice(LEVELS[self.schools[sch]["level"]]["grades"])
            studs.append([sch, grade])
            self.schools[sch]["students"].append(i)
        # courses and classes per (school, grade, slot)
        Y = self.Y
        self.courses = []
        self.classes = []
        self.sections = {}  # (school, grade, slot) -> [class index]
        for si, sch in enumerate(self.schools):
            lv = LEVELS[sch["level"]]
            counts = {}
            for i in sch["students"]:
                counts[studs[i][1]] = counts.get(studs[i][1], 0) + 1
            for g in lv["grades"]:
                if not counts.get(g):
                    continue
                for k, (title, code, subject, ctype, terms) in enumerate(lv["slots"]):
                    if sch["level"] == "elementary":
                        ctitle = "Grade %s %s" % ("K" if g == "KG" else str(int(g)), title)
                    else:
                        ctitle = "%s %d" % (title, int(g))
                    cid = self.nid()
                    self.courses.append({"id": cid, "title": ctitle, "code": "%s%s" % (code, g), "grades": [g],
                                         "subject": subject, "org": sch["id"],
                                         "status": self.status("course", cid, 0.01)})
                    nsec = int(math.ceil(counts[g] / float(SECTION_SIZE)))
                    lst = []
                    for sec in range(nsec):
                        lst.append(self.new_class(si, cid, "%s - %d" % (ctitle, sec + 1), "%s%s-%02d" % (code, g, sec + 1),
                                                  ctype, [g], subject, ["%s%d" % (t, Y) for t in terms], k + 1))
                    self.sections[(si, g, k)] = lst
            # a summer class from last school year (past), per school
            if sch["students"]:
                cid = self.nid()
                self.courses.append({"id": cid, "title": "Summer Enrichment", "code": "SUM", "grades": lv["grades"],
                                     "subject": "Enrichment", "org": sch["id"], "status": "active"})
                self.sections[(si, "summer")] = [self.new_class(si, cid, "Summer Enrichment %d - 1" % Y, "SUM-01",
                                                                "scheduled", lv["grades"], "Enrichment",
                                                                ["U%d" % (Y - 1)], 1)]
        # a district-level course (org = district) with one class at the first school
        cid = self.nid()
        self.courses.append({"id": cid, "title": "Digital Citizenship", "code": "DIGCIT", "grades": [],
                             "subject": "Technology", "org": self.district["id"], "status": "active"})
        self.district_class = self.new_class(0, cid, "Digital Citizenship - 1", "DIGCIT-01", "scheduled", [],
                                             "Technology", ["Y%d" % Y], 9)
        # teachers: one per five classes of a school, some teaching in two schools
        self.staff = []  # non-student, non-parent users
        for si, sch in enumerate(self.schools):
            nt = max(1, int(math.ceil(len(sch["classes"]) / 5.0)))
            for t in range(nt):
                sch["teachers"].append(self.new_staff("teacher", [si]))
            for j, ci in enumerate(sch["classes"]):
                c = self.classes[ci]
                c["teachers"].append((sch["teachers"][j // 5 % nt], "true"))
                if rng.random() < 0.10 and nt > 1:
                    other = sch["teachers"][rng.randrange(nt)]
                    if other != c["teachers"][0][0]:
                        c["teachers"].append((other, "false"))
        for si, sch in enumerate(self.schools):
            if n_schools < 2:
                break
            for t in sch["teachers"]:
                if rng.random() < 0.15 or (si == 0 and t == sch["teachers"][0]):
                    oi = (si + 1 + rng.randrange(n_schools - 1)) % n_schools
                    other = self.schools[oi]
                    if not other["classes"]:
                        continue
                    ci = other["classes"][rng.randrange(len(other["classes"]))]
                    self.classes[ci]["teachers"].append((t, "false"))
                    self.staff[t]["schools"].append(oi)
                    self.meta["cross_school_teachers"].append(t)
        for si in range(n_schools):
            self.new_staff("administrator", [si])
        for k in range(max(1, n_schools // 3)):
            self.new_staff("aide", [k % n_schools])
        self.new_staff("administrator", [])  # district office: orgs = district only
        self.new_staff("administrator", [])
        # students: scenario flags
        self.studs = studs
        self.plan_students()
        self.plan_parents()
        # ids for users, in users.json order: staff, students, parents
        for s in self.staff:
            s["id"] = self.nid()
        self.stud_ids = [self.nid() for _ in range(n)]
        for p in self.parents:
            p["id"] = self.nid()

    def new_class(self, si, course, title, code, ctype, grades, subject, terms, period):
        cid = self.nid()
        sk = self.skey
        begin = min(sk[t]["start"] for t in terms)
        end = max(sk[t]["end"] for t in terms)
        self.classes.append({"id": cid, "school": si, "course": course, "title": title, "code": code,
                             "type": ctype, "grades": grades, "subject": subject,
                             "terms": [sk[t]["id"] for t in terms], "begin": begin, "end": end,
                             "period": str(period), "teachers": [],
                             "status": self.status("class", cid, 0.01),
                             "room": "Room %d" % (100 + self.rng.randrange(250))})
        self.schools[si]["classes"].append(len(self.classes) - 1)
        return len(self.classes) - 1

    def new_staff(self, role, schools):
        rng = self.rng
        given, family = rng.choice(names.FIRST), rng.choice(names.LAST)
        self.staff.append({"role": role, "given": given, "family": family, "middle": rng.choice(names.FIRST),
                           "schools": list(schools)})
        return len(self.staff) - 1

    def plan_students(self):
        rng = self.rng
        n = self.n
        # scenario per student: mostly 'regular'
        scen = ["regular"] * n
        order = list(range(n))
        rng.shuffle(order)
        # guaranteed cases first (so even 10 students show each), then probabilities
        special = ["left", "boundary_end", "future", "boundary_begin", "no_enrolments"]
        for k, name in enumerate(special):
            if k < n:
                scen[order[k]] = name
        for i in order[len(special):]:
            r = rng.random()
            if r < 0.03:
                scen[i] = "left"
            elif r < 0.035:
                scen[i] = "boundary_end"
            elif r < 0.045:
                scen[i] = "future"
            elif r < 0.048:
                scen[i] = "boundary_begin"
            elif r < 0.058:
                scen[i] = "no_enrolments"
            elif r < 0.088:
                scen[i] = "transfer"
            elif r < 0.108:
                scen[i] = "undated"
        self.scen = scen
        # user-level flags
        self.sflags = []
        for i in range(n):
            f = {}
            r = rng.random()
            if r < 0.01 or (n >= 10 and i == order[-1]):
                f["disabled"] = True
            elif r < 0.02 or (n >= 10 and i == order[-2]):
                f["tobedeleted"] = True
            elif n >= 10 and i == order[-3]:
                f["inactive"] = True
            r = rng.random()
            if r < 0.02 or (n >= 10 and i == order[-4]):
                f["email"] = "none"
            elif r < 0.035 or (n >= 10 and i == order[-5]):
                f["email"] = "masked"
            elif r < 0.040 or (n >= 10 and i == order[-6]):
                f["email"] = "dup"
            elif r < 0.042 or (n >= 10 and i == order[-7]):
                f["email"] = "nonascii"
            if rng.random() < 0.03 or (n >= 10 and i == order[-8]):
                f["second_school"] = True
            if rng.random() < 0.10:
                f["district_org"] = True
            if rng.random() < 0.05:
                f["summer"] = True
            self.sflags.append(f)

    def plan_parents(self):
        rng = self.rng
        self.parents = []
        self.stud_parents = [[] for _ in range(self.n)]  # [(parent index, link mode)]
        self.stud_family = [None] * self.n
        prev = None
        for i in range(self.n):
            r = rng.random()
            fam = rng.choice(names.LAST)
            if self.sflags[i].get("email") == "nonascii":
                fam = rng.choice(names.LAST_NA)
            if r < 0.04:
                hh = []
            elif r < 0.16 and prev:
                hh = prev
                fam = self.stud_family[i - 1]
            else:
                r2 = rng.random()
                roles = ["parent"] if r2 < 0.55 else (["parent", "parent"] if r2 < 0.9 else
                                                       (["guardian", "relative"] if r2 < 0.95 else ["guardian"]))
                hh = []
                for role in roles:
                    self.parents.append({"role": role, "given": rng.choice(names.FIRST), "family": fam,
                                         "children": [], "links": []})
                    hh.append(len(self.parents) - 1)
            self.stud_family[i] = fam
            for p in hh:
                r3 = rng.random()
                mode = "parent_only" if r3 < 0.04 else ("student_only" if r3 < 0.08 else "both")
                self.stud_parents[i].append((p, mode))
                self.parents[p]["children"].append(i)
                self.parents[p]["links"].append(mode)
            prev = hh if hh else None

    # -- writing
    def write(self):
        out = self.out
        os.makedirs(os.path.join(out, "oneroster"), exist_ok=True)
        od = os.path.join(out, "oneroster")
        w = rosterdata.write_collection
        dumps = rosterdata.dumps
        w(os.path.join(od, "orgs.json"), (dumps(r) for r in self.org_records()))
        w(os.path.join(od, "academicSessions.json"), (dumps(r) for r in self.session_records()))
        w(os.path.join(od, "courses.json"), (dumps(r) for r in self.course_records()))
        w(os.path.join(od, "classes.json"), (dumps(r) for r in self.class_records()))
        # users before enrolments in the writing order (they need no enrolment ids), but the
        # enrolment scenarios decide emails of nobody, so the order of rng use is fixed here
        enr = self.enrollment_lines()
        users = self.user_records()
        w(os.path.join(od, "users.json"), (dumps(r) for r in users))
        w(os.path.join(od, "enrollments.json"), enr)
        w(os.path.join(od, "demographics.json"), (dumps(r) for r in self.demographic_records()))
        self.write_export(users)
        meta = {"generator": "tests/roster/gen.py", "version": 1, "seed": self.seed, "students": self.n,
                "as_of": self.as_of.isoformat(), "district": self.district["id"],
                "schools": [s["id"] for s in self.schools], "closed_school": self.closed and self.closed["id"],
                "href_base": self.base, "domain": self.domain,
                "intent": self.meta}
        with open(os.path.join(out, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")

    def org_records(self):
        d = self.district
        kids = [self.ref("orgs", "org", s["id"]) for s in self.schools]
        if self.closed:
            kids.append(self.ref("orgs", "org", self.closed["id"]))
        yield {"sourcedId": d["id"], "status": "active", "dateLastModified": self.when(), "name": d["name"],
               "type": "district", "identifier": d["identifier"], "parent": None, "children": kids}
        for s in self.schools + ([self.closed] if self.closed else []):
            if s["status"] == "tobedeleted":
                self.meta["tobedeleted"]["org"].append(s["id"])
            yield {"sourcedId": s["id"], "status": s["status"], "dateLastModified": self.when(), "name": s["name"],
                   "type": "school", "identifier": s["identifier"],
                   "parent": self.ref("orgs", "org", d["id"]), "children": []}

    def session_records(self):
        for s in self.sessions:
            st = "tobedeleted" if s["key"].startswith("X") else "active"
            if st == "tobedeleted":
                self.meta["tobedeleted"]["academicSession"].append(s["id"])
            par = self.skey[s["parent"]] if s["parent"] else None
            yield {"sourcedId": s["id"], "status": st, "dateLastModified": self.when(), "title": s["title"],
                   "type": s["type"], "startDate": s["start"].isoformat(), "endDate": s["end"].isoformat(),
                   "parent": self.ref("academicSessions", "academicSession", par["id"]) if par else None,
                   "children": [self.ref("academicSessions", "academicSession", c) for c in s["children"]],
                   "schoolYear": s["sy"]}

    def course_records(self):
        yref = self.ref("academicSessions", "academicSession", self.skey["Y%d" % self.Y]["id"])
        for c in self.courses:
            yield {"sourcedId": c["id"], "status": c["status"], "dateLastModified": self.when(), "title": c["title"],
                   "schoolYear": yref, "courseCode": c["code"], "grades": c["grades"], "subjects": [c["subject"]],
                   "org": self.ref("orgs", "org", c["org"]), "subjectCodes": []}

    def class_records(self):
        for c in self.classes:
            yield {"sourcedId": c["id"], "status": c["status"], "dateLastModified": self.when(), "title": c["title"],
                   "classCode": c["code"], "classType": c["type"], "location": c["room"], "grades": c["grades"],
                   "subjects": [c["subject"]], "course": self.ref("courses", "course", c["course"]),
                   "school": self.ref("orgs", "org", self.schools[c["school"]]["id"]),
                   "terms": [self.ref("academicSessions", "academicSession", t) for t in c["terms"]],
                   "subjectCodes": [], "periods": [c["period"]]}

    def enrollment_lines(self):
        """All enrolments as minified strings (teachers by class, then students)."""
        rng = self.rng
        as_of = self.as_of
        T = ('{"sourcedId":"%s","status":"%s","dateLastModified":"%s","user":%s,"class":%s,"school":%s,'
             '"role":"%s","primary":"%s","beginDate":"%s","endDate":"%s"}')
        cref = [rosterdata.dumps(self.ref("classes", "class", c["id"])) for c in self.classes]
        sref = [rosterdata.dumps(self.ref("orgs", "org", s["id"])) for s in self.schools]
        out = []
        for ci, c in enumerate(self.classes):
            for t, primary in c["teachers"]:
                eid = self.nid()
                st = "active" if c["status"] == "active" else "tobedeleted"
                if st == "tobedeleted":
                    self.meta["tobedeleted"]["enrollment"].append(eid)
                out.append(T % (eid, st, self.when(), rosterdata.dumps(self.ref("users", "user", self.staff[t]["id"])),
                                cref[ci], sref[c["school"]], "teacher", primary, c["begin"].isoformat(),
                                c["end"].isoformat()))
        meta = self.meta
        tbd = meta["tobedeleted"]["enrollment"]
        for i in range(self.n):
            sid = self.stud_ids[i]
            scen = self.scen[i]
            flags = self.sflags[i]
            si, g = self.studs[i]
            uref = rosterdata.dumps(self.ref("users", "user", sid))
            if scen in ("left", "boundary_end", "future", "boundary_begin", "no_enrolments", "transfer", "undated"):
                meta[scen].append(sid)
            if scen == "no_enrolments":
                continue
            slots = LEVELS[self.schools[si]["level"]]["slots"]
            picks = []  # (class index, begin, end)
            if scen == "left":
                leave = as_of - ONE_DAY * (1 if not meta["left"][:-1] else rng.randrange(1, 60))
            elif scen == "future":
                start = as_of + ONE_DAY * (1 if not meta["future"][:-1] else rng.randrange(1, 15))
            moved = False
            for k in range(len(slots)):
                secs = self.sections[(si, g, k)]
                ci = secs[rng.randrange(len(secs))]
                c = self.classes[ci]
                b, e = c["begin"], c["end"]
                if scen == "left":
                    if b > leave:
                        continue
                    e = min(e, leave)
                elif scen == "boundary_end":
                    if b > as_of or e < as_of:
                        continue
                    e = as_of
                elif scen == "future":
                    if e < start:
                        continue
                    b = max(b, start)
                elif scen == "boundary_begin":
                    if e < as_of:
                        continue
                    b = as_of
                elif scen == "transfer" and len(secs) > 1 and b <= as_of - ONE_DAY * 10 <= e and not moved:
                    moved = True
                    other = secs[(secs.index(ci) + 1) % len(secs)]
                    picks.append((ci, b.isoformat(), (as_of - ONE_DAY * 10).isoformat()))
                    picks.append((other, (as_of - ONE_DAY * 9).isoformat(), e.isoformat()))
                    continue
                if scen == "undated":
                    picks.append((ci, "", ""))
                else:
                    picks.append((ci, b.isoformat(), e.isoformat()))
            if flags.get("summer") and scen in ("regular", "undated", "transfer"):
                ci = self.sections[(si, "summer")][0]
                c = self.classes[ci]
                picks.append((ci, c["begin"].isoformat(), c["end"].isoformat()))
                meta["past_summer"].append(sid)
            gone = flags.get("tobedeleted")
            for ci, b, e in picks:
                eid = self.nid()
                st = "tobedeleted" if gone or rng.random() < 0.01 else "active"
                if st == "tobedeleted":
                    tbd.append(eid)
                out.append(T % (eid, st, self.when(), uref, cref[ci], sref[self.classes[ci]["school"]],
                                "student", "false", b, e))
        return out

    def email_for(self, given, family, domain, kind_flag, recent):
        rng = self.rng
        if kind_flag == "none":
            return "", None
        if kind_flag == "masked":
            m = rng.choice(MASKS)
            return m.replace("{c}", ascii_fold(given)[:1].lower() or "x").replace("{d}", domain), None
        if kind_flag == "dup" and recent:
            e = recent[rng.randrange(len(recent))]
            if rng.random() < 0.5:
                e = e[:1].upper() + e[1:] if e[:1].isascii() else e
            return e, "dup"
        if kind_flag == "nonascii":
            base = unicodedata.normalize("NFC", "%s.%s" % (given, family)).lower().replace("'", "")
            n = self.used_local.get(base, 0) + 1
            self.used_local[base] = n
            return "%s%s@%s" % (base, "" if n == 1 else n, domain), "nonascii"
        return "%s@%s" % (self.local_part(given, family), domain), None

    def user_records(self):
        rng = self.rng
        meta = self.meta
        dref = self.ref("orgs", "org", self.district["id"])
        users = []
        recent = []
        self.export_info = []  # (user record, real email for accounts whose roster email is unusable)
        for s in self.staff:
            sid = s["id"]
            f = rng.random()
            email_flag = "none" if f < 0.01 else ("masked" if f < 0.015 else ("dup" if f < 0.018 else None))
            email, how = self.email_for(s["given"], s["family"], self.domain, email_flag, recent)
            status = self.status("user", sid, 0.01)
            enabled = "false" if rng.random() < 0.01 else "true"
            orgs = [self.ref("orgs", "org", self.schools[x]["id"]) for x in s["schools"]]
            if not orgs or rng.random() < 0.05:
                orgs.append(dref)
            rec = {"sourcedId": sid, "status": status, "dateLastModified": self.when(),
                   "username": email.split("@")[0] if "@" in email else ascii_fold("%s.%s" % (s["given"], s["family"])).lower(),
                   "userIds": [{"type": "FED", "identifier": sid}], "enabledUser": enabled,
                   "givenName": s["given"], "familyName": s["family"], "middleName": s["middle"], "role": s["role"],
                   "identifier": "E%05d" % int(sid) if s["role"] != "aide" else "", "email": email, "sms": "",
                   "phone": "", "agents": [], "orgs": orgs, "grades": [], "password": ""}
            self.note_user(rec, email_flag, how)
            users.append(rec)
            if email and how is None and email_flag is None:
                recent.append(email)
                recent = recent[-50:]
        for i in range(self.n):
            sid = self.stud_ids[i]
            f = self.sflags[i]
            si, g = self.studs[i]
            nonascii = f.get("email") == "nonascii"
            given = rng.choice(names.FIRST_NA if nonascii else names.FIRST)
            family = self.stud_family[i]
            email, how = self.email_for(given, family, self.sdomain, f.get("email"), recent)
            status = "active"
            if f.get("tobedeleted"):
                status = "tobedeleted"
                meta["tobedeleted"]["user"].append(sid)
            elif f.get("inactive"):
                status = "inactive"
                meta["inactive"]["user"].append(sid)
            orgs = [self.ref("orgs", "org", self.schools[si]["id"])]
            if f.get("second_school") and len(self.schools) > 1:
                oi = (si + 1 + rng.randrange(len(self.schools) - 1)) % len(self.schools)
                orgs.append(self.ref("orgs", "org", self.schools[oi]["id"]))
                meta["multi_school"].append(sid)
            if f.get("district_org"):
                orgs.append(dref)
            agents = [self.ref("users", "user", self.parents[p]["id"]) for p, mode in self.stud_parents[i]
                      if mode != "parent_only"]
            rec = {"sourcedId": sid, "status": status, "dateLastModified": self.when(),
                   "username": email.split("@")[0] if "@" in email else ascii_fold("%s.%s" % (given, family)).lower(),
                   "userIds": [{"type": "FED", "identifier": sid}],
                   "enabledUser": "false" if f.get("disabled") else "true",
                   "givenName": given, "familyName": family, "middleName": rng.choice(names.FIRST) if rng.random() < 0.7 else "",
                   "role": "student", "identifier": str(100000 + i), "email": email, "sms": "", "phone": "",
                   "agents": agents, "orgs": orgs, "grades": [g], "password": ""}
            if f.get("disabled"):
                meta["disabled"].append(sid)
            self.note_user(rec, f.get("email"), how)
            users.append(rec)
            if email and how is None and f.get("email") is None and rng.random() < 0.2:
                recent.append(email)
                recent = recent[-50:]
        for p in self.parents:
            pid = p["id"]
            r = rng.random()
            if r < 0.12:
                email = ""
                meta["parents_no_email"].append(pid)
            elif r < 0.14:
                email = "*****"
                meta["parents_no_email"].append(pid)
            else:
                email = "%s@%s" % (self.local_part(p["given"], p["family"]), rng.choice(names.MAIL_DOMAINS))
            schools = []
            for c in p["children"]:
                sidx = self.schools[self.studs[c][0]]["id"]
                if sidx not in schools:
                    schools.append(sidx)
            agents = []
            for c, mode in zip(p["children"], p["links"]):
                if mode != "student_only":
                    agents.append(self.ref("users", "user", self.stud_ids[c]))
                if mode == "parent_only":
                    meta["parent_only_link"].append([pid, self.stud_ids[c]])
                elif mode == "student_only":
                    meta["student_only_link"].append([pid, self.stud_ids[c]])
            status = self.status("user", pid, 0.01)
            enabled = "true"
            if rng.random() < 0.01:
                enabled = "false"
                meta["disabled"].append(pid)
            rec = {"sourcedId": pid, "status": status, "dateLastModified": self.when(),
                   "username": email.split("@")[0] if "@" in email else "",
                   "userIds": [{"type": "FED", "identifier": pid}], "enabledUser": enabled,
                   "givenName": p["given"], "familyName": p["family"], "middleName": "", "role": p["role"],
                   "identifier": "", "email": email, "sms": "",
                   "phone": "555-01%02d" % rng.randrange(100) if rng.random() < 0.8 else "",
                   "agents": agents, "orgs": [self.ref("orgs", "org", x) for x in schools], "grades": [], "password": ""}
            users.append(rec)
        return users

    def note_user(self, rec, flag, how):
        meta = self.meta
        sid = rec["sourcedId"]
        if flag == "none":
            meta["no_email"].append(sid)
        elif flag == "masked":
            meta["masked_email"].append(sid)
        elif how == "dup":
            meta["dup_roster_email"].append(sid)
        elif how == "nonascii":
            meta["nonascii_email"].append(sid)
        if rec["enabledUser"] == "false" and rec["role"] != "student":
            meta["disabled"].append(sid)

    def demographic_records(self):
        rng = self.rng
        Y = self.Y
        for i in range(self.n):
            if rng.random() >= 0.6:
                continue
            sid = self.stud_ids[i]
            g = self.studs[i][1]
            age = 5 + (0 if g == "KG" else int(g))
            bd = datetime.date(Y - age, 1, 1) + ONE_DAY * rng.randrange(365)
            race = [("true" if rng.random() < p else "false") for p in (0.02, 0.06, 0.13, 0.01, 0.6, 0.04)]
            yield {"sourcedId": sid, "status": self.status("demographic", sid, 0.01),
                   "dateLastModified": self.when(), "birthDate": bd.isoformat(),
                   "sex": "female" if rng.random() < 0.5 else "male",
                   "americanIndianOrAlaskaNative": race[0], "asian": race[1], "blackOrAfricanAmerican": race[2],
                   "nativeHawaiianOrOtherPacificIslander": race[3], "white": race[4],
                   "demographicRaceTwoOrMoreRaces": race[5],
                   "hispanicOrLatinoEthnicity": "true" if rng.random() < 0.25 else "false",
                   "countryOfBirthCode": "US" if rng.random() < 0.9 else "", "stateOfBirthAbbreviation": "",
                   "cityOfBirth": "", "publicSchoolResidenceStatus": ""}

    def smid(self):
        h = "%032x" % self.rng.getrandbits(128)
        return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])

    def write_export(self, users):
        """sm-users.csv: School Manager's user export (BOM, CRLF, quoted fields)."""
        rng = self.rng
        meta = self.meta
        rows = []
        sm_role = {"student": "Student", "teacher": "Teacher"}
        school_name = {s["id"]: s["name"] for s in self.schools}
        dup_roster = set(meta["dup_roster_email"])
        nonascii = set(meta["nonascii_email"])
        forced = False
        for u in users:
            if u["role"] in rosterdata.PARENT_ROLES:
                continue
            role = sm_role.get(u["role"], "Staff")
            ou = "/Students/" + school_name.get(u["orgs"][0]["sourcedId"], "Unassigned") if role == "Student" else \
                ("/Staff/Teachers" if role == "Teacher" else "/Staff/Admin, District Office")
            last = u["familyName"]
            if rng.random() < 0.01:
                last = "%s, %s" % (last, rng.choice(names.SUFFIX))
            first = u["givenName"]
            if rng.random() < 0.003:
                first = '%s "%s"' % (first, first[:3])
            email = u["email"]
            if rosterdata.email_class(email) != "ok":
                # the account exists in School Manager under its real address, which the roster lacks
                if rng.random() < 0.8:
                    real = "%s.%s.sm@%s" % (ascii_fold(first.split(" ")[0]).lower(), ascii_fold(last.split(",")[0]).lower().replace("'", ""),
                                            self.sdomain if role == "Student" else self.domain)
                    rows.append([self.smid(), first, last, real, role, ou])
                continue
            if rng.random() < 0.05 and u["sourcedId"] not in dup_roster:
                meta["not_in_export"].append(u["sourcedId"])
                continue
            e = email
            r = rng.random()
            if u["sourcedId"] in nonascii:
                e = unicodedata.normalize("NFD", e)
            elif r < 0.06:
                loc, _, dom = e.partition("@")
                e = ".".join(x[:1].upper() + x[1:] for x in loc.split(".")) + "@" + dom
            elif r < 0.09:
                e = ascii_upper(e)
            elif r < 0.11:
                e = " " + e
            elif r < 0.13:
                e = e + "  "
            rows.append([self.smid(), first, last, e, role, ou])
            if rng.random() < 0.005 or (not forced and u["role"] == "student" and rosterdata.norm_email(e) == e):
                forced = True
                meta["dup_in_export"].append(u["sourcedId"])
                rows.append([self.smid(), first, last, ascii_upper(email[:1]) + email[1:], role, "/Suspended"])
        # accounts that are not in the roster at all
        n_extra = max(3, len(rows) // 40)
        for k in range(n_extra):
            r = rng.random()
            if r < 0.4:
                row = [self.smid(), "Test", "Student %d" % (k + 1), "test.student%d@%s" % (k + 1, self.sdomain),
                       "Student", "/Students/Test"]
            elif r < 0.7:
                g, f = rng.choice(names.FIRST), rng.choice(names.LAST)
                row = [self.smid(), g, f, "%s.%s.former@%s" % (g.lower(), f.lower().replace("'", ""), self.domain),
                       "Teacher", "/Staff/Former staff"]
            else:
                row = [self.smid(), "Substitute", "Teacher %d" % (k + 1), "sub%d@%s" % (k + 1, self.domain), "Staff",
                       "/Staff/Substitutes, Temporary"]
            meta["export_extra"].append(row[3])
            rows.append(row)
        rows.sort(key=lambda r: (r[2].lower(), r[1].lower(), r[0]))
        header = ["User ID", "First Name", "Last Name", "Email Address", "Role", "Organisational Unit"]
        with open(os.path.join(self.out, "sm-users.csv"), "w", encoding="utf-8", newline="") as f:
            f.write("\ufeff" + ",".join(header) + "\r\n")
            for k, row in enumerate(rows):
                if k == len(rows) // 2 and len(rows) > 4:
                    f.write("\r\n")  # a blank line, as spreadsheet round-trips leave them
                f.write(",".join(csv_field(x) for x in row) + "\r\n")


def generate(seed, students, as_of, out):
    d = District(seed, students, as_of, out)
    d.build()
    d.write()
    return d
