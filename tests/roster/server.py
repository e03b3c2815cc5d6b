#!/usr/bin/python3
"""OneRoster 1.1 (or 1.2) REST test server with OAuth 1.0a / OAuth 2.0 and fault injection.

Loopback only, Python standard library only.  See tests/roster/README.md.
"""
import argparse
import base64
import calendar
import collections
import email.utils
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rosterdata  # noqa: E402

PREFIX = "/ims/oneroster/v1p1"
PREFIX12 = "/ims/oneroster/rostering/v1p2"
SCOPE12 = "https://purl.imsglobal.org/spec/or/v1p2/scope/"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10000
TS_WINDOW = 300

# route name -> (base collection, selector, envelope key, singular key)
TOP = {
    "orgs": ("orgs", None, "orgs", "org"),
    "schools": ("orgs", ("type", "school"), "orgs", "org"),
    "academicSessions": ("academicSessions", None, "academicSessions", "academicSession"),
    "terms": ("academicSessions", ("type", "term"), "academicSessions", "academicSession"),
    "gradingPeriods": ("academicSessions", ("type", "gradingPeriod"), "academicSessions", "academicSession"),
    "courses": ("courses", None, "courses", "course"),
    "classes": ("classes", None, "classes", "class"),
    "enrollments": ("enrollments", None, "enrollments", "enrollment"),
    "users": ("users", None, "users", "user"),
    "students": ("users", ("role", "student"), "users", "user"),
    "teachers": ("users", ("role", "teacher"), "users", "user"),
    "demographics": ("demographics", None, "demographics", "demographics"),
}

# nested route "parent/{id}/child" -> envelope key
NESTED = {
    "schools/classes": "classes",
    "schools/courses": "courses",
    "schools/enrollments": "enrollments",
    "schools/students": "users",
    "schools/teachers": "users",
    "schools/terms": "academicSessions",
    "classes/students": "users",
    "classes/teachers": "users",
    "classes/enrollments": "enrollments",
    "students/classes": "classes",
    "teachers/classes": "classes",
    "users/classes": "classes",
    "terms/classes": "classes",
    "terms/gradingPeriods": "academicSessions",
    "courses/classes": "classes",
    "schools/classes/enrollments": "enrollments",
    "schools/classes/students": "users",
    "schools/classes/teachers": "users",
}

# fields a filter may name (OneRoster 1.1 data model), per base collection
FIELDS = {
    "orgs": "sourcedId status dateLastModified metadata name type identifier parent children",
    "academicSessions": "sourcedId status dateLastModified metadata title startDate endDate type parent children schoolYear",
    "courses": "sourcedId status dateLastModified metadata title schoolYear courseCode grades subjects org subjectCodes resources",
    "classes": "sourcedId status dateLastModified metadata title classCode classType location grades subjects course school terms subjectCodes periods resources",
    "enrollments": "sourcedId status dateLastModified metadata user class school role primary beginDate endDate",
    "users": "sourcedId status dateLastModified metadata username userIds enabledUser givenName familyName middleName role identifier email sms phone agents orgs grades password",
    "demographics": "sourcedId status dateLastModified metadata birthDate sex americanIndianOrAlaskaNative asian blackOrAfricanAmerican nativeHawaiianOrOtherPacificIslander white demographicRaceTwoOrMoreRaces hispanicOrLatinoEthnicity countryOfBirthCode stateOfBirthAbbreviation cityOfBirth publicSchoolResidenceStatus",
}
FIELDS = {k: set(v.split()) for k, v in FIELDS.items()}
# OneRoster 1.2's users: roles (with their orgs) and primaryOrg instead of role and orgs
FIELDS12 = dict(FIELDS, users=(FIELDS["users"] - {"role", "orgs"}) | set(
    "roles primaryOrg userProfiles userMasterIdentifier preferredFirstName preferredMiddleName "
    "preferredLastName pronouns resources".split()))


def user12(line):
    """A 1.1 user record (bytes) as a OneRoster 1.2 server sends it: "role" and "orgs" become
    "roles" (one per org: primary at the first, secondary at the others) and "primaryOrg";
    "userProfiles" is added. Some users get more roles, chosen by sourcedId, so that the
    rule that reads a 1.2 user's role (lib/role.h) has work to do while it still gives the
    1.1 role: a secondary role listed first (one in 4 users with one org), or a primary role
    of another kind at the second org listed first (one in 3 users with two orgs or more)."""
    u = json.loads(line)
    role, orgs = u.get("role", ""), u.get("orgs") or []
    sid = u.get("sourcedId", "")
    h = int(hashlib.sha256(sid.encode()).hexdigest()[:8], 16)
    other = "aide" if role != "aide" else "proctor"
    roles = [{"roleType": "primary" if k == 0 else "secondary", "role": role, "org": o}
             for k, o in enumerate(orgs)] or [{"roleType": "primary", "role": role, "org": None}]
    if len(orgs) == 1 and h % 4 == 1:
        roles.insert(0, {"roleType": "secondary", "role": other, "org": orgs[0]})
    elif len(orgs) >= 2 and h % 3 == 1:
        roles.insert(0, {"roleType": "primary", "role": other, "org": orgs[1]})
    out = {}
    for k, v in u.items():
        if k == "role":
            out["roles"] = roles
        elif k == "orgs":
            out["primaryOrg"] = orgs[0] if orgs else None
            out["userProfiles"] = []
        else:
            out[k] = v
    return rosterdata.dumps(out).encode("utf-8")

REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}
MINOR = {400: "invalid_filter_field", 401: "unauthorisedrequest", 403: "forbidden", 404: "unknownobject",
         405: "invaliddata", 429: "server_busy", 500: "internal_server_error", 502: "server_busy",
         503: "server_busy"}


class HTTPError(Exception):
    def __init__(self, status, description, minor=None, headers=None, note=None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.minor = minor or MINOR.get(status, "invaliddata")
        self.headers = headers or {}
        self.note = note


def imsx_body(status, description, minor):
    return rosterdata.dumps({
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": minor}]},
    }).encode("utf-8")


def enc(s):
    """RFC 3986 percent-encoding (unreserved: ALPHA DIGIT - . _ ~)."""
    return urllib.parse.quote(s, safe="-._~")


# ---------------------------------------------------------------------------
# the dataset

class Dataset:
    def __init__(self, d, oneroster="1.1"):
        self.dir = d
        self.lines = rosterdata.load_dataset(d)
        self.users11 = self.lines["users"]  # role and orgs, whatever the version served
        self.index = {}
        for c, lines in self.lines.items():
            self.index[c] = {rosterdata.sourced_id(x): i for i, x in enumerate(lines)}
        self.attr = {}  # (coll, field) -> list of value per record
        for c, field in (("orgs", "type"), ("academicSessions", "type"), ("users", "role")):
            self.attr[(c, field)] = [self._field(c, x, field) for x in self.lines[c]]
        if oneroster == "1.2":
            self.lines = {c: [x.replace(b"/ims/oneroster/v1p1/", PREFIX12.encode() + b"/")
                              for x in (map(user12, v) if c == "users" else v)]
                          for c, v in self.lines.items()}
        self._rel = None
        self._rel_lock = threading.Lock()
        self.load_deleted(d)

    def load_deleted(self, d):
        """The records gen.py mutate deleted (DIR/oneroster/deleted/), what a delta query is told
        of as tobedeleted; and the dataset's night (meta.json's as_of) for --clock dataset."""
        self.deleted = rosterdata.load_deleted(d)
        self.deleted_attr = {}
        for c, field in (("orgs", "type"), ("academicSessions", "type"), ("users", "role")):
            self.deleted_attr[(c, field)] = [self._field(c, x, field) for x in self.deleted[c]]
        self.as_of = None
        try:
            with open(os.path.join(d, "meta.json"), encoding="utf-8") as f:
                self.as_of = json.load(f).get("as_of")
        except (OSError, ValueError):
            pass

    def deletions(self, coll, sel, forget):
        """(reported, forgotten): the deleted records of coll (selector sel) a delta query lists,
        and those the server forgets (forget: the share of them, chosen by sourcedId)."""
        rep, lost = [], []
        for i, x in enumerate(self.deleted[coll]):
            if sel and self.deleted_attr[(coll, sel[0])][i] != sel[1]:
                continue
            (lost if forgotten(rosterdata.sourced_id(x), forget) else rep).append(x)
        return rep, lost

    @staticmethod
    def _field(coll, line, field):
        if coll == "users" and field == "role":
            i = line.find(b'"role":"')
            if i >= 0:
                return line[i + 8:line.find(b'"', i + 8)].decode()
        return json.loads(line).get(field, "")

    def select(self, coll, sel):
        lines = self.lines[coll]
        if sel is None:
            return list(range(len(lines)))
        vals = self.attr[(coll, sel[0])]
        return [i for i, v in enumerate(vals) if v == sel[1]]

    def rel(self):
        """Relationship indexes for nested collections, built on first use."""
        with self._rel_lock:
            if self._rel is not None:
                return self._rel
            r = collections.defaultdict(lambda: collections.defaultdict(list))
            for i, x in enumerate(self.lines["classes"]):
                c = json.loads(x)
                r["class_school"][ref(c.get("school"))].append(i)
                r["class_course"][ref(c.get("course"))].append(i)
                for t in c.get("terms") or []:
                    r["class_term"][ref(t)].append(i)
            for i, x in enumerate(self.lines["courses"]):
                c = json.loads(x)
                r["course_org"][ref(c.get("org"))].append(i)
            for i, x in enumerate(self.lines["academicSessions"]):
                s = json.loads(x)
                r["session_parent"][ref(s.get("parent"))].append(i)
            for i, x in enumerate(self.lines["enrollments"]):
                e = json.loads(x)
                u, k, s = ref(e.get("user")), ref(e.get("class")), ref(e.get("school"))
                r["enr_school"][s].append(i)
                r["enr_class"][k].append(i)
                r["class_users"][k].append((e.get("role", ""), u))
                r["user_classes"][u].append(k)
            for i, x in enumerate(self.users11):
                u = json.loads(x)
                for o in u.get("orgs") or []:
                    r["user_org"][ref(o)].append(i)
            self._rel = r
            return r

    def nested(self, name, ids):
        """Index list (into the base collection) for a nested route."""
        name = name.replace("/{id}", "")
        r = self.rel()
        uidx = self.index["users"]
        cidx = self.index["classes"]
        roles = self.attr[("users", "role")]
        if name == "schools/classes":
            return "classes", sorted(r["class_school"].get(ids[0], []))
        if name == "schools/courses":
            return "courses", sorted(r["course_org"].get(ids[0], []))
        if name == "schools/enrollments":
            return "enrollments", sorted(r["enr_school"].get(ids[0], []))
        if name in ("schools/students", "schools/teachers"):
            want = "student" if name.endswith("students") else "teacher"
            return "users", sorted(set(i for i in r["user_org"].get(ids[0], []) if roles[i] == want))
        if name == "schools/terms":
            sidx = self.index["academicSessions"]
            types = self.attr[("academicSessions", "type")]
            out = set()
            for ci in r["class_school"].get(ids[0], []):
                for t in json.loads(self.lines["classes"][ci]).get("terms") or []:
                    j = sidx.get(ref(t))
                    if j is not None and types[j] == "term":
                        out.add(j)
            return "academicSessions", sorted(out)
        if name in ("classes/students", "classes/teachers", "schools/classes/students", "schools/classes/teachers"):
            cid = ids[-1]
            if len(ids) == 2 and cid not in [rosterdata.sourced_id(self.lines["classes"][i]) for i in r["class_school"].get(ids[0], [])]:
                return "users", []
            want = "student" if name.endswith("students") else "teacher"
            out = set()
            for role, u in r["class_users"].get(cid, []):
                j = uidx.get(u)
                if role == want and j is not None:
                    out.add(j)
            return "users", sorted(out)
        if name in ("classes/enrollments", "schools/classes/enrollments"):
            cid = ids[-1]
            idx = r["enr_class"].get(cid, [])
            if len(ids) == 2:
                school = set(r["enr_school"].get(ids[0], []))
                idx = [i for i in idx if i in school]
            return "enrollments", sorted(idx)
        if name in ("students/classes", "teachers/classes", "users/classes"):
            j = uidx.get(ids[0])
            if j is None or (name != "users/classes" and roles[j] != name.split("/")[0][:-1]):
                return "classes", []
            return "classes", sorted(set(cidx[k] for k in r["user_classes"].get(ids[0], []) if k in cidx))
        if name == "terms/classes":
            return "classes", sorted(r["class_term"].get(ids[0], []))
        if name == "terms/gradingPeriods":
            types = self.attr[("academicSessions", "type")]
            return "academicSessions", sorted(i for i in r["session_parent"].get(ids[0], []) if types[i] == "gradingPeriod")
        if name == "courses/classes":
            return "classes", sorted(r["class_course"].get(ids[0], []))
        raise HTTPError(404, "no such collection")


def ref(v):
    if isinstance(v, dict):
        return v.get("sourcedId", "")
    return v or ""


# a query that names dateLastModified is a delta: deleted records are listed, as tobedeleted
DELTA_FILTER = re.compile(r"(?<![A-Za-z0-9_.])dateLastModified\s*(>=|<=|!=|=|>|<|~)")


def forgotten(sid, share):
    """Whether a server that forgets this share (0 to 1) of its deletions forgets this one:
    decided by the sourcedId alone, so that every page and every request agree."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    return int(hashlib.sha256(sid.encode("utf-8")).hexdigest()[:8], 16) < share * 2 ** 32


def parse_forget(items):
    """--forget-deletions [COLLECTION=]SHARE... (or the control endpoint's number or object)
    -> {collection or "*": share}."""
    if isinstance(items, (int, float)):
        items = {"*": items}
    if isinstance(items, dict):
        items = ["%s=%s" % kv for kv in items.items()]
    out = {}
    for it in items or []:
        c, sep, v = str(it).rpartition("=")
        c = c if sep else "*"
        if c != "*" and c not in rosterdata.COLLECTIONS:
            raise ValueError("--forget-deletions: no collection %r" % c)
        share = float(v)
        if not 0 <= share <= 1:
            raise ValueError("--forget-deletions: the share %r is not from 0 to 1" % v)
        out[c] = share
    return out


def parse_clock(v):
    """--clock real | dataset | a UTC time (2026-11-30T18:00:00Z)."""
    if v in ("real", "dataset"):
        return v
    try:
        return float(calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ")))
    except (TypeError, ValueError):
        raise ValueError("--clock: %r is not real, dataset or a UTC time (2026-11-30T18:00:00Z)" % v)


# ---------------------------------------------------------------------------
# filter / sort / fields

_CLAUSE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|!=|=|>|<|~)\s*'((?:[^']|'')*)'\s*")
_LOGIC = re.compile(r"\s*(AND|OR)\b", re.I)


def parse_filter(text, coll):
    """-> list of OR-groups, each a list of AND-ed (field, op, value)."""
    pos = 0
    groups = [[]]
    while True:
        m = _CLAUSE.match(text, pos)
        if not m:
            raise HTTPError(400, "invalid filter expression at character %d: %r" % (pos, text), "invaliddata")
        field, op, value = m.group(1), m.group(2), m.group(3).replace("''", "'")
        if field.split(".")[0] not in FIELDS[coll]:
            raise HTTPError(400, "invalid filter field '%s'" % field, "invalid_filter_field")
        groups[-1].append((field, op, value))
        pos = m.end()
        if pos >= len(text):
            return groups
        m = _LOGIC.match(text, pos)
        if not m:
            raise HTTPError(400, "invalid filter expression at character %d: %r" % (pos, text), "invaliddata")
        if m.group(1).upper() == "OR":
            groups.append([])
        pos = m.end()


def _values(rec, field):
    v = rec
    for part in field.split("."):
        if isinstance(v, list):
            v = [x.get(part) if isinstance(x, dict) else None for x in v]
        elif isinstance(v, dict):
            v = v.get(part)
        else:
            return []
    if isinstance(v, list):
        return [ref(x) if isinstance(x, dict) else x for x in v if x is not None]
    if isinstance(v, dict):
        return [ref(v)]
    if v is None:
        return []
    return [v if isinstance(v, str) else json.dumps(v)]


def _cmp(a, op, b):
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    return b.lower() in a.lower()  # ~ contains, case-insensitive


def matches(rec, groups):
    for g in groups:
        ok = True
        for field, op, value in g:
            vals = _values(rec, field)
            if op == "!=":
                hit = all(v != value for v in vals)
            else:
                hit = any(_cmp(v, op, value) for v in vals)
            if not hit:
                ok = False
                break
        if ok:
            return True
    return False


# ---------------------------------------------------------------------------
# faults

FAULT_TYPES = {"latency", "status", "reset", "truncate", "trickle", "wrong_total", "drift",
               "missing_envelope", "no_total", "repeat", "invent"}
# the faults that shape a collection page's body or headers, decided at pre-fault time
BODY_FAULTS = ("reset", "truncate", "trickle", "wrong_total", "missing_envelope", "drift", "no_total",
               "repeat", "invent")


def parse_fault_arg(s):
    """'type:k=v,k=v' or a JSON object -> fault dict."""
    s = s.strip()
    if s.startswith("{"):
        return normalise_fault(json.loads(s))
    typ, _, rest = s.partition(":")
    f = {"type": typ}
    for kv in filter(None, rest.split(",")):
        k, _, v = kv.partition("=")
        k = k.strip()
        v = v.strip()
        if v in ("inf", "null", "none"):
            f[k] = None
        else:
            try:
                f[k] = int(v)
            except ValueError:
                try:
                    f[k] = float(v)
                except ValueError:
                    f[k] = v
    return normalise_fault(f)


def normalise_fault(f):
    f = dict(f)
    t = f.get("type")
    if t == "rate_limit":
        f["type"], t = "status", "status"
        f.setdefault("code", 429)
    elif t == "unauthorized_after":
        f["type"], t = "status", "status"
        f["code"] = 401
        f["from"] = int(f.pop("n", f.pop("after", 0))) + 1
        f["count"] = None
    elif t in ("429", "500", "502", "503", "401", "403"):
        f["code"] = int(t)
        f["type"], t = "status", "status"
    if t not in FAULT_TYPES:
        raise ValueError("unknown fault type %r" % t)
    if "status" in f and t == "status" and "code" not in f:
        f["code"] = f.pop("status")
    if t == "status":
        f["code"] = int(f.get("code", 503))
    if "from" in f and "count" not in f:
        f["count"] = 1
    return f


def fault_due(f, n):
    every = f.get("every")
    if every:
        return n % int(every) == 0
    if "from" in f:
        start = int(f["from"])
        cnt = f.get("count")
        return n >= start and (cnt is None or n < start + int(cnt))
    return True


def path_matches(f, route, rel):
    p = f.get("path")
    if not p:
        return True
    p = p.strip("/")
    if p.startswith(PREFIX.strip("/") + "/"):
        p = p[len(PREFIX.strip("/")) + 1:]
    return p == route or p == rel


# ---------------------------------------------------------------------------
# server state

class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.oneroster = args.oneroster
        self.prefix = PREFIX12 if args.oneroster == "1.2" else PREFIX
        self.dataset = Dataset(args.dataset, args.oneroster)
        self.creds = load_credentials(args)
        # OneRoster 1.2 takes OAuth 2.0 client credentials only
        self.auth = "oauth2" if args.oneroster == "1.2" and args.auth == "any" else args.auth
        self.token_lifetime = args.token_lifetime
        self.forbidden = set(args.forbid or [])
        self.log_path = args.log
        self.logf = open(args.log, "a", buffering=1, encoding="utf-8") if args.log else None
        self.forget = parse_forget(args.forget_deletions)
        self.clock = parse_clock(args.clock)
        self.reset(faults=[parse_fault_arg(x) for x in (args.fault or [])] + load_fault_file(args.faults))

    def reset(self, faults=None):
        with self.lock:
            self.faults = faults or []
            self.counters = [0] * len(self.faults)
            self.drift = {}      # rel path -> (op, at, record bytes)
            self.drift_armed = [False] * len(self.faults)
            self.version = 0
            self.cache = collections.OrderedDict()
            self.cache_bytes = 0
            self.views = {}
            self.nonces = {}
            self.tokens = {}
            self.seq = 0
            self.log = []
            if self.logf:
                self.logf.truncate(0)
                self.logf.seek(0)

    def set_faults(self, faults):
        with self.lock:
            self.faults = faults
            self.counters = [0] * len(faults)
            self.drift_armed = [False] * len(faults)
            self.drift = {}
            self.version += 1
            self.views = {}

    def now(self):
        """The server's time, as its Date header says it (--clock)."""
        if self.clock == "dataset" and self.dataset.as_of:
            return float(calendar.timegm(time.strptime(self.dataset.as_of + "T18:00:00Z", "%Y-%m-%dT%H:%M:%SZ")))
        if isinstance(self.clock, float):
            return self.clock
        return time.time()

    def forget_share(self, coll):
        return self.forget.get(coll, self.forget.get("*", 0.0))

    def record(self, method, target, status, route, note, ms):
        with self.lock:
            self.seq += 1
            line = "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%.1f" % (
                self.seq, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), method, target,
                status, route or "-", note or "-", ms)
            self.log.append(line)
            if self.logf:
                self.logf.write(line + "\n")

    def cache_get(self, key):
        with self.lock:
            v = self.cache.get(key)
            if v is not None:
                self.cache.move_to_end(key)
            return v

    def cache_put(self, key, value, budget=512 << 20):
        with self.lock:
            if key in self.cache:
                return
            self.cache[key] = value
            self.cache_bytes += len(value[0])
            while self.cache_bytes > budget and self.cache:
                _, old = self.cache.popitem(last=False)
                self.cache_bytes -= len(old[0])


def load_credentials(args):
    creds = {}
    text = ""
    if args.credentials:
        with open(args.credentials, encoding="utf-8") as f:
            text = f.read()
    elif os.environ.get("ROSTER_CREDENTIALS"):
        text = os.environ["ROSTER_CREDENTIALS"]
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        k, sep, s = ln.partition(":")
        if not sep:
            raise SystemExit("server.py: credentials line without ':'")
        creds[k] = s
    if not creds and args.auth != "none":
        raise SystemExit("server.py: no credentials: use --credentials FILE or ROSTER_CREDENTIALS, or --auth none")
    return creds


def load_fault_file(path):
    if not path:
        return []
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict):
        data = data.get("faults", [])
    return [normalise_fault(x) for x in data]


# ---------------------------------------------------------------------------
# the handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends: with Nagle's algorithm on, the
    # body would wait for the client's delayed ACK (40 ms) on every request.
    disable_nagle_algorithm = True
    server_version = "RosterTestServer/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):  # silence the default stderr log
        pass

    def date_time_string(self, timestamp=None):
        """The Date header: the server's clock (--clock), not necessarily the real one."""
        return email.utils.formatdate(self.server.state.now() if timestamp is None else timestamp, usegmt=True)

    # -- plumbing
    def send(self, status, body, headers=None, ctype="application/json; charset=utf-8", mode=None):
        """mode: None | ('reset',) | ('truncate',) | ('trickle', chunk, interval)."""
        ctx = getattr(self, "log_ctx", None)
        if ctx is not None:  # log before the client can see the answer
            self.log_ctx = None
            self.server.state.record(self.command, self.path, status, ctx[0], ctx[1],
                                     (time.monotonic() - ctx[2]) * 1000)
        full = len(body)
        if mode and mode[0] == "truncate":
            body = body[:max(1, full // 2)]
            full = len(body)
        self.send_response(status, REASONS.get(status))
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(full))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if mode and mode[0] == "reset":
                self.wfile.write(body[:max(1, len(body) // 2)])
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.server.aborted.add(self.connection)
                self.close_connection = True
            elif mode and mode[0] == "trickle":
                chunk, interval = mode[1], mode[2]
                for i in range(0, len(body), chunk):
                    self.wfile.write(body[i:i + chunk])
                    if i + chunk < len(body):
                        time.sleep(interval)
                    if self.server.stopping:
                        self.close_connection = True
                        return
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def dispatch(self):
        t0 = time.monotonic()
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        self.log_ctx = None
        if path.startswith("/_control/"):
            return self.control(path[len("/_control/"):], url)
        route, rel, note = None, None, None
        status = 500
        self.log_ctx = [None, None, t0]
        try:
            body_in = self.read_body() if self.command in ("POST", "PUT") else b""
            if path in ("/oauth2/token", "/oauth/token", "/token", st.prefix + "/oauth2/token"):
                route = rel = "oauth2/token"
                self.log_ctx[0] = route
                self.apply_pre_faults(route, rel)
                status, note = self.token(body_in)
                return
            if not path.startswith(st.prefix + "/"):
                raise HTTPError(404, "unknown endpoint %s" % path)
            rel = path[len(st.prefix) + 1:].strip("/")
            parts = [urllib.parse.unquote(p) for p in rel.split("/")] if rel else []
            route = route_name(parts)
            self.log_ctx[0] = route
            self.apply_pre_faults(route, rel)
            self.authenticate(url)
            if self.command not in ("GET", "HEAD"):
                raise HTTPError(405, "method %s not allowed" % self.command, headers={"Allow": "GET"})
            status, note = self.api(parts, route, rel, url)
        except HTTPError as e:
            status = e.status
            note = e.note or e.minor
            if self.log_ctx is not None:
                self.log_ctx[1] = note
            h = dict(e.headers)
            self.send(status, imsx_body(status, e.description, e.minor), h)
        except Exception as e:  # a bug in the server: report it as a 500
            status = 500
            note = "exception:%s" % type(e).__name__
            if self.log_ctx is not None:
                self.log_ctx[1] = note
            self.send(500, imsx_body(500, "internal error: %s" % e, "internal_server_error"))
            import traceback
            traceback.print_exc()
        finally:
            if self.log_ctx is not None:  # nothing was sent
                self.log_ctx = None
                st.record(self.command, self.path, status, route, note, (time.monotonic() - t0) * 1000)

    # -- faults
    def apply_pre_faults(self, route, rel):
        """Count this request against every fault whose path matches; apply latency and
        status faults.  Body faults are decided here too and kept for send time."""
        st = self.server.state
        self.body_faults = []
        note = None
        with st.lock:
            due = []
            for i, f in enumerate(st.faults):
                if not path_matches(f, route, rel):
                    continue
                st.counters[i] += 1
                if fault_due(f, st.counters[i]):
                    due.append((i, f))
        for i, f in due:
            if f["type"] == "latency":
                time.sleep(float(f.get("ms", 0)) / 1000.0)
        for i, f in due:
            if f["type"] == "status":
                code = int(f["code"])
                h = {}
                if code == 429 or "retry_after" in f:
                    h["Retry-After"] = str(f.get("retry_after", 1))
                desc = f.get("description") or {
                    401: "authorization rejected (injected fault)",
                    403: "forbidden (injected fault)",
                    429: "too many requests: retry later (injected fault)",
                }.get(code, "server error %d (injected fault)" % code)
                raise HTTPError(code, desc, headers=h, note="fault:status:%d" % code)
        for i, f in due:
            if f["type"] in BODY_FAULTS:
                self.body_faults.append((i, f))
        return note

    # -- auth
    def authenticate(self, url):
        st = self.server.state
        if st.auth == "none":
            return
        h = self.headers.get("Authorization", "")
        scheme = h.split(" ", 1)[0].lower()
        if scheme == "oauth" and st.auth in ("any", "oauth1"):
            return self.check_oauth1(h, url)
        if scheme == "bearer" and st.auth in ("any", "oauth2"):
            tok = h.split(" ", 1)[1].strip() if " " in h else ""
            with st.lock:
                t = st.tokens.get(tok)
            if t is None:
                raise HTTPError(401, "invalid access token", note="auth:bad-token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            if time.time() >= t[1]:
                raise HTTPError(401, "access token expired", note="auth:token-expired",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'})
            if st.oneroster == "1.2" and url.path.rstrip("/").split("/")[-1] == "demographics" and not (
                    {SCOPE12 + "roster-demographics.readonly", SCOPE12 + "roster.readonly"} & t[2]):
                raise HTTPError(403, "the token's scope does not cover demographics", note="auth:scope",
                                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
            return
        if scheme == "oauth" and st.oneroster == "1.2":
            raise HTTPError(401, "OneRoster 1.2 takes OAuth 2.0 bearer tokens only", note="auth:oauth1-in-1.2",
                            headers={"WWW-Authenticate": 'Bearer realm="oneroster"'})
        raise HTTPError(401, "missing or unsupported Authorization header", note="auth:missing",
                        headers={"WWW-Authenticate": 'OAuth realm="oneroster"'})

    def check_oauth1(self, header, url):
        st = self.server.state
        www = {"WWW-Authenticate": 'OAuth realm="oneroster"'}
        params = {}
        for m in re.finditer(r'([A-Za-z0-9_]+)\s*=\s*"([^"]*)"', header[6:]):
            params[urllib.parse.unquote(m.group(1))] = urllib.parse.unquote(m.group(2))
        params.pop("realm", None)
        for k in ("oauth_consumer_key", "oauth_signature_method", "oauth_timestamp", "oauth_nonce", "oauth_signature"):
            if k not in params:
                raise HTTPError(401, "missing %s" % k, note="auth:missing-param", headers=www)
        if params["oauth_signature_method"] != "HMAC-SHA256":
            raise HTTPError(401, "unsupported oauth_signature_method %s (want HMAC-SHA256)" % params["oauth_signature_method"],
                            note="auth:method", headers=www)
        if params.get("oauth_version", "1.0") != "1.0":
            raise HTTPError(401, "unsupported oauth_version", note="auth:version", headers=www)
        key = params["oauth_consumer_key"]
        secret = st.creds.get(key)
        if secret is None:
            raise HTTPError(401, "unknown oauth_consumer_key", note="auth:unknown-key", headers=www)
        try:
            ts = int(params["oauth_timestamp"])
        except ValueError:
            raise HTTPError(401, "invalid oauth_timestamp", note="auth:timestamp", headers=www)
        skew = ts - int(time.time())
        if abs(skew) > TS_WINDOW:
            raise HTTPError(401, "oauth_timestamp is %d s off the server clock (more than %d s): stale or future timestamp"
                            % (skew, TS_WINDOW), note="auth:timestamp", headers=www)
        sig = params.pop("oauth_signature")
        allp = [(k, v) for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True)]
        allp += list(params.items())
        norm = "&".join("%s=%s" % kv for kv in sorted((enc(k), enc(v)) for k, v in allp))
        host = (self.headers.get("Host") or "127.0.0.1").lower()
        if host.endswith(":80"):
            host = host[:-3]
        base_uri = "http://%s%s" % (host, url.path)
        base = "&".join((self.command.upper(), enc(base_uri), enc(norm)))
        keyb = (enc(secret) + "&").encode("utf-8")
        want = base64.b64encode(hmac.new(keyb, base.encode("utf-8"), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(want, sig):
            raise HTTPError(401, "invalid oauth_signature (check the consumer secret and the signature base string)",
                            note="auth:signature", headers=www)
        now = time.time()
        with st.lock:
            nk = (key, params["oauth_nonce"])
            if nk in st.nonces:
                raise HTTPError(401, "oauth_nonce already used (replayed request)", note="auth:nonce", headers=www)
            st.nonces[nk] = now
            if len(st.nonces) > 100000:
                st.nonces = {k: v for k, v in st.nonces.items() if now - v < 2 * TS_WINDOW}

    def token(self, body):
        st = self.server.state
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        cid, csec = None, None
        h = self.headers.get("Authorization", "")
        if h.lower().startswith("basic "):
            try:
                dec = base64.b64decode(h[6:].strip()).decode("utf-8")
                cid, _, csec = dec.partition(":")
                cid, csec = urllib.parse.unquote(cid), urllib.parse.unquote(csec)
            except Exception:
                cid = None
        if cid is None:
            cid, csec = form.get("client_id"), form.get("client_secret")
        js = lambda o: json.dumps(o).encode()  # noqa: E731
        nocache = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if self.command != "POST":
            self.log_ctx[1] = "token:method"
            self.send(405, js({"error": "invalid_request", "error_description": "POST required"}), {"Allow": "POST"})
            return 405, "token:method"
        if form.get("grant_type") != "client_credentials":
            self.log_ctx[1] = "token:grant"
            self.send(400, js({"error": "unsupported_grant_type"}), nocache)
            return 400, "token:grant"
        if cid is None or st.creds.get(cid) is None or not hmac.compare_digest(st.creds[cid].encode(), (csec or "").encode()):
            self.log_ctx[1] = "token:invalid-client"
            self.send(401, js({"error": "invalid_client"}), dict(nocache, **{"WWW-Authenticate": 'Basic realm="oneroster"'}))
            return 401, "token:invalid-client"
        scopes = set(form.get("scope", "").split())
        if st.oneroster == "1.2" and not ({SCOPE12 + "roster-core.readonly", SCOPE12 + "roster.readonly"} & scopes):
            self.log_ctx[1] = "token:scope"
            self.send(400, js({"error": "invalid_scope", "error_description": "ask for a OneRoster 1.2 rostering scope"}),
                      nocache)
            return 400, "token:scope"
        tok = secrets.token_urlsafe(24)
        life = float(st.token_lifetime)
        with st.lock:
            st.tokens[tok] = (cid, time.time() + life, scopes)
        self.send(200, js({"access_token": tok, "token_type": "bearer", "expires_in": int(math.ceil(life)),
                           "scope": form.get("scope", "")}), nocache)
        return 200, None

    # -- the API
    def api(self, parts, route, rel, url):
        st = self.server.state
        ds = st.dataset
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        if not parts or route is None:
            raise HTTPError(404, "unknown endpoint /%s" % "/".join(parts))
        top = parts[0]
        if top in st.forbidden or (TOP.get(top) and TOP[top][0] in st.forbidden):
            raise HTTPError(403, "this application is not permitted to read %s" % top, note="forbidden")
        if len(parts) == 2:
            coll, sel, _, single = TOP[top]
            i = ds.index[coll].get(parts[1])
            if i is None or (sel and ds.attr[(coll, sel[0])][i] != sel[1]):
                raise HTTPError(404, "%s %s not found" % (single, parts[1]))
            body = b'{"' + single.encode() + b'":' + ds.lines[coll][i] + b"}"
            fields = q.get("fields")
            if fields:
                body = rosterdata.dumps({single: select_fields(json.loads(ds.lines[coll][i]), fields, coll)}).encode()
            self.send(200, body, {"X-Total-Count": "1"})
            return 200, None
        if len(parts) == 1:
            coll, sel, key, _ = TOP[top]
        else:
            key = NESTED[route.replace("/{id}", "")]
        # offsets and limits
        try:
            limit = int(q.get("limit", DEFAULT_LIMIT))
            offset = int(q.get("offset", 0))
        except ValueError:
            raise HTTPError(400, "limit and offset must be integers", "invaliddata")
        if limit < 1 or offset < 0:
            raise HTTPError(400, "limit must be at least 1 and offset at least 0", "invaliddata")
        limit = min(limit, MAX_LIMIT)
        filt, sort, order, fields = q.get("filter", ""), q.get("sort", ""), q.get("orderBy", "asc"), q.get("fields", "")
        if order not in ("asc", "desc"):
            raise HTTPError(400, "orderBy must be asc or desc", "invaliddata")
        coll, items = self.view(parts, route, rel, filt, sort, order)
        # body faults chosen at pre-fault time
        mode, total_delta, total_value, missing = None, 0, None, None
        no_total, no_link, invent, src_offset = False, False, False, offset
        drift_faults = []
        for i, f in self.body_faults:
            t = f["type"]
            if t == "reset":
                mode = ("reset",)
            elif t == "truncate":
                mode = ("truncate",)
            elif t == "trickle":
                mode = ("trickle", int(f.get("chunk", 256)), float(f.get("interval_ms", 1000)) / 1000.0)
            elif t == "wrong_total":
                if "value" in f:
                    total_value = int(f["value"])
                else:
                    total_delta += int(f.get("delta", 1))
            elif t == "missing_envelope":
                missing = f.get("body", "{}")
            elif t == "drift":
                drift_faults.append((i, f))
            elif t == "no_total":
                no_total = True
                no_link = no_link or f.get("link") in (False, 0, "no", "false")
            elif t == "repeat":
                # a server that ignores offset (back absent: every page is the first) or
                # steps back by `back` records (pages overlap: records come twice)
                back = f.get("back")
                src_offset = 0 if back is None else max(0, offset - int(back))
            elif t == "invent":
                invent = True
        total = len(items)
        ckey = (rel, st.version, filt, sort, order, fields, src_offset, limit)
        cached = st.cache_get(ckey) if not invent else None
        if invent:
            # every page is full: past the data, records are made up (copies of stored ones
            # with the sourcedId inv-<position>), for ever
            recs = []
            for k in range(src_offset, src_offset + limit):
                if k < len(items):
                    x = items[k]
                else:
                    r = json.loads(items[k % len(items)]) if items else {}
                    r["sourcedId"] = "inv-%d" % k
                    x = rosterdata.dumps(r).encode()
                if fields:
                    x = rosterdata.dumps(select_fields(json.loads(x), fields, coll)).encode()
                recs.append(x)
            body = b'{"' + key.encode() + b'":[' + b",".join(recs) + b"]}"
        elif cached is None:
            page = items[src_offset:src_offset + limit]
            if fields:
                recs = b",".join(rosterdata.dumps(select_fields(json.loads(x), fields, coll)).encode() for x in page)
            else:
                recs = b",".join(page)
            body = b'{"' + key.encode() + b'":[' + recs + b"]}"
            st.cache_put(ckey, (body,))
        else:
            body = cached[0]
        if missing is not None:
            body = missing.encode("utf-8")
        headers = {"X-Total-Count": str(total_value if total_value is not None else total + total_delta),
                   "Link": self.link(url, offset, limit, offset + limit + 1 if invent else total)}
        if no_total:
            del headers["X-Total-Count"]
        if no_link:
            del headers["Link"]
        notes = [f["type"] for _, f in self.body_faults if f["type"] != "drift" or offset == 0]
        note = ("fault:" + "+".join(notes)) if notes else None
        self.log_ctx[1] = note
        # a drift fault strikes after the first page of its collection went out
        if offset == 0:
            for i, f in drift_faults:
                self.arm_drift(i, f, rel)
        self.send(200, body, headers, mode=mode)
        return 200, note

    def arm_drift(self, i, f, rel):
        st = self.server.state
        with st.lock:
            if st.drift_armed[i]:
                return
            st.drift_armed[i] = True
            st.drift[rel] = (f.get("op", "insert"), int(f.get("at", 0)))
            st.version += 1
            st.views = {}

    def view(self, parts, route, rel, filt, sort, order):
        """(base collection, list of record bytes) for a collection route."""
        st = self.server.state
        ds = st.dataset
        vkey = (rel, filt, sort, order)
        with st.lock:
            v = st.views.get(vkey)
            drift = st.drift.get(rel)
        if v is not None:
            return v
        if len(parts) == 1:
            coll, sel, _, _ = TOP[parts[0]]
            idx = ds.select(coll, sel)
        else:
            coll, idx = ds.nested(route, [p for k, p in enumerate(parts) if k % 2 == 1])
        lines = ds.lines[coll]
        items = [lines[i] for i in idx]
        if len(parts) == 1 and DELTA_FILTER.search(filt):
            # a delta: the records deleted since are listed too (those the server remembers)
            items += ds.deletions(coll, TOP[parts[0]][1], st.forget_share(coll))[0]
        if drift:
            op, at = drift
            if items:
                at = min(at, len(items) - 1)
                if op == "delete":
                    del items[at]
                else:
                    rec = json.loads(items[at])
                    rec["sourcedId"] = "9" + rec["sourcedId"] + "0"
                    rec["dateLastModified"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
                    items.insert(at, rosterdata.dumps(rec).encode())
        if filt:
            groups = parse_filter(filt, coll)
            items = [x for x in items if matches(json.loads(x), groups)]
        if sort:
            keys = [s.strip() for s in sort.split(",") if s.strip()]
            keys = [k for k in keys if k.split(".")[0] in FIELDS[coll]]
            if keys:
                def sk(x, _keys=keys):
                    r = json.loads(x)
                    return tuple(min(_values(r, k), default="") for k in _keys)
                items = sorted(items, key=sk, reverse=(order == "desc"))
        with st.lock:
            if len(st.views) > 256:
                st.views.clear()
            st.views[vkey] = (coll, items)
        return coll, items

    def link(self, url, offset, limit, total):
        host = self.headers.get("Host") or "127.0.0.1"
        q = [(k, v) for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True) if k not in ("offset", "limit")]

        def u(off):
            return "<http://%s%s?%s>" % (host, url.path, urllib.parse.urlencode(q + [("limit", limit), ("offset", off)],
                                                                          quote_via=urllib.parse.quote))
        out = []
        if offset + limit < total:
            out.append('%s; rel="next"' % u(offset + limit))
        if offset > 0:
            out.append('%s; rel="prev"' % u(max(0, offset - limit)))
        out.append('%s; rel="first"' % u(0))
        last = ((total - 1) // limit) * limit if total > 0 else 0
        out.append('%s; rel="last"' % u(last))
        return ", ".join(out)

    # -- control endpoint (not logged, no auth)
    def control(self, what, url):
        st = self.server.state
        body = self.read_body() if self.command in ("POST", "PUT") else b""
        js = lambda o: (json.dumps(o, indent=1) + "\n").encode()  # noqa: E731
        try:
            if what == "faults" and self.command == "GET":
                with st.lock:
                    out = {"faults": st.faults, "counters": st.counters}
                return self.send(200, js(out))
            if what == "faults" and self.command == "POST":
                data = json.loads(body or b"{}")
                if isinstance(data, dict):
                    data = data.get("faults", [])
                st.set_faults([normalise_fault(x) if isinstance(x, dict) else parse_fault_arg(x) for x in data])
                return self.send(200, js({"faults": st.faults}))
            if what == "reset" and self.command == "POST":
                data = json.loads(body or b"{}")
                st.reset(faults=[normalise_fault(x) for x in data.get("faults", [])])
                return self.send(200, js({"ok": True}))
            if what == "deletions" and self.command == "GET":
                ds = st.dataset
                out = {"reported": {}, "forgotten": {}}
                with st.lock:
                    for c in rosterdata.COLLECTIONS:
                        rep, lost = ds.deletions(c, None, st.forget_share(c))
                        out["reported"][c] = [rosterdata.sourced_id(x) for x in rep]
                        out["forgotten"][c] = [rosterdata.sourced_id(x) for x in lost]
                return self.send(200, js(out))
            if what == "log" and self.command == "GET":
                with st.lock:
                    text = "".join(x + "\n" for x in st.log)
                return self.send(200, text.encode("utf-8"), ctype="text/plain; charset=utf-8")
            if what == "config" and self.command == "POST":
                data = json.loads(body or b"{}")
                with st.lock:
                    if "token_lifetime" in data:
                        st.token_lifetime = float(data["token_lifetime"])
                    if "auth" in data:
                        st.auth = data["auth"]
                    if "forbid" in data:
                        st.forbidden = set(data["forbid"])
                    if "credentials" in data:
                        st.creds = dict(data["credentials"])
                    if "forget_deletions" in data:
                        st.forget = parse_forget(data["forget_deletions"])
                    if "clock" in data:
                        st.clock = parse_clock(data["clock"])
                    st.version += 1
                    st.views = {}
                    st.cache.clear()
                    st.cache_bytes = 0
                return self.send(200, js({"ok": True}))
            if what == "dataset" and self.command == "POST":
                data = json.loads(body or b"{}")
                ds = Dataset(data["dir"], st.oneroster)
                with st.lock:
                    st.dataset = ds
                    st.version += 1
                    st.views = {}
                    st.cache.clear()
                    st.cache_bytes = 0
                return self.send(200, js({"ok": True, "counts": {k: len(v) for k, v in ds.lines.items()}}))
            self.send(404, js({"error": "unknown control endpoint"}))
        except (ValueError, KeyError, OSError) as e:
            self.send(400, js({"error": str(e)}))


def route_name(parts):
    """'users', 'users/{id}', 'schools/{id}/classes', ... or None."""
    n = len(parts)
    if n == 0 or parts[0] not in TOP:
        return None
    if n == 1:
        return parts[0]
    if n == 2:
        return parts[0] + "/{id}"
    if n == 3 and "%s/%s" % (parts[0], parts[2]) in NESTED:
        return "%s/{id}/%s" % (parts[0], parts[2])
    if n == 5 and "%s/%s/%s" % (parts[0], parts[2], parts[4]) in NESTED:
        return "%s/{id}/%s/{id}/%s" % (parts[0], parts[2], parts[4])
    return None


def select_fields(rec, fields, coll):
    want = [f.strip() for f in fields.split(",") if f.strip()]
    known = FIELDS12[coll] if "roles" in rec or "primaryOrg" in rec else FIELDS[coll]
    if not want or any(f not in known for f in want):
        return rec  # OneRoster 1.1: an unknown field selects the whole record
    return {k: v for k, v in rec.items() if k in want}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, state):
        self.state = state
        self.aborted = set()
        self.stopping = False
        super().__init__(addr, handler)

    def shutdown_request(self, request):
        if request in self.aborted:
            self.aborted.discard(request)
            try:
                request.close()  # SO_LINGER 0: the peer sees a reset
            except OSError:
                pass
            return
        super().shutdown_request(request)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="server.py", description="OneRoster 1.1 or 1.2 test server (loopback only)")
    ap.add_argument("--dataset", required=True, help="dataset directory (DIR or DIR/oneroster)")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="port, 0 for an ephemeral one (default)")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--credentials", help="file of client_id:secret lines (else $ROSTER_CREDENTIALS)")
    ap.add_argument("--auth", choices=["any", "oauth1", "oauth2", "none"], default="any")
    ap.add_argument("--oneroster", choices=["1.1", "1.2"], default="1.1",
                    help="the version served: 1.2 is the same dataset under %s, users with roles[], "
                         "OAuth 2.0 only" % PREFIX12)
    ap.add_argument("--token-lifetime", type=float, default=3600.0, help="OAuth 2 token lifetime in seconds")
    ap.add_argument("--forbid", action="append", help="collection answered with 403 (repeatable)")
    ap.add_argument("--log", help="append one line per request to this file")
    ap.add_argument("--fault", action="append", help="TYPE:k=v,... or a JSON object (repeatable)")
    ap.add_argument("--faults", help="JSON file: a list of faults or {\"faults\": [...]}")
    ap.add_argument("--forget-deletions", action="append", metavar="[COLLECTION=]SHARE",
                    help="a delta query omits this share (0 to 1) of the deleted records (repeatable)")
    ap.add_argument("--clock", default="real", help="the Date header: real (default), dataset (its as-of at "
                    "18:00:00Z) or a UTC time")
    args = ap.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("--host must be a loopback address")
    if args.oneroster == "1.2" and args.auth == "oauth1":
        ap.error("--oneroster 1.2 takes OAuth 2.0 only: not --auth oauth1")
    try:
        state = State(args)
    except (OSError, ValueError) as e:
        print("server.py: %s" % e, file=sys.stderr)
        return 64 if str(e).startswith("--") else 66
    srv = Server((args.host, args.port), Handler, state)
    port = srv.server_address[1]

    def stop(signum, frame):
        srv.stopping = True
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print(port, flush=True)
    print("server.py: listening on http://%s:%d%s (%s)" % (args.host, port, state.prefix,
          ", ".join("%s=%d" % (k, len(v)) for k, v in state.dataset.lines.items())), file=sys.stderr, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        if state.logf:
            state.logf.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
