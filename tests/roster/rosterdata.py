"""Shared helpers for the OneRoster test server and the district generator.

Dataset layout (written by gen.py, read by server.py and gen.py):

    DIR/oneroster/<collection>.json   one JSON array per collection, one minified
                                      record per line:  "[\n{...},\n{...}\n]\n"
    DIR/oneroster/deleted/<collection>.json
                                      the same, of the records deleted so far (gen.py
                                      mutate): status tobedeleted, the night's time

The line layout is what makes loading fast: the server keeps each record's bytes and
never re-serialises them.  Any other valid JSON array is accepted too (slower path).
"""
import json
import os
import re

# Collections in roster-stream order (DESIGN.md), with their stream kind.
COLLECTIONS = ["orgs", "academicSessions", "courses", "classes", "enrollments", "users", "demographics"]
KIND = {
    "orgs": "org",
    "academicSessions": "academicSession",
    "courses": "course",
    "classes": "class",
    "enrollments": "enrollment",
    "users": "user",
    "demographics": "demographic",
}
PARENT_ROLES = ("parent", "guardian", "relative")


def dumps(obj):
    """Minified JSON exactly as the roster stream carries it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def dataset_dir(d):
    """Accept DIR or DIR/oneroster."""
    if os.path.isdir(os.path.join(d, "oneroster")):
        return os.path.join(d, "oneroster")
    return d


def read_lines(path):
    """Return the records of one collection file as a list of minified JSON bytes."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return []
    lines = raw.split(b"\n")
    while lines and lines[-1] == b"":
        lines.pop()
    if len(lines) >= 2 and lines[0] == b"[" and lines[-1] == b"]":
        body = lines[1:-1]
        ok = True
        out = []
        n = len(body)
        for i, ln in enumerate(body):
            if i < n - 1:
                if not ln.endswith(b"},") or not ln.startswith(b"{"):
                    ok = False
                    break
                out.append(ln[:-1])
            else:
                if not ln.endswith(b"}") or not ln.startswith(b"{"):
                    ok = False
                    break
                out.append(ln)
        if ok:
            return out
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, list):
        raise ValueError("%s: not a JSON array" % path)
    return [dumps(r).encode("utf-8") for r in data]


def write_collection(path, encoded_records):
    """Write an iterable of minified record strings (str) in the line layout."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n")
        first = True
        for rec in encoded_records:
            if not first:
                f.write(",\n")
            f.write(rec)
            first = False
        f.write("\n]\n")
    os.replace(tmp, path)


_SID = re.compile(rb'^\{"sourcedId":"((?:[^"\\]|\\.)*)"')


def sourced_id(line):
    if line.startswith(b'{"sourcedId":"'):
        j = line.find(b'"', 14)
        if j > 0 and line[j - 1] != 92:  # no backslash before the closing quote
            return line[14:j].decode("utf-8")
    m = _SID.match(line)
    if m and b"\\" not in m.group(1):
        return m.group(1).decode("utf-8")
    return json.loads(line)["sourcedId"]


def load_dataset(d):
    """{collection: [bytes, ...]} in dataset order."""
    base = dataset_dir(d)
    return {c: read_lines(os.path.join(base, c + ".json")) for c in COLLECTIONS}


def load_deleted(d):
    """{collection: [bytes, ...]}: the records gen.py mutate deleted (DIR/oneroster/deleted/,
    status tobedeleted); empty lists for a dataset without deletions."""
    base = os.path.join(dataset_dir(d), "deleted")
    return {c: read_lines(os.path.join(base, c + ".json")) for c in COLLECTIONS}


def load_records(d, coll):
    base = dataset_dir(d)
    return [json.loads(x) for x in read_lines(os.path.join(base, coll + ".json"))]


# ---------------------------------------------------------------------------
# Dates and emails: the conventions shared with cl-filter and cl-match (README.md)

def day(s):
    """A OneRoster date or dateTime reduced to YYYY-MM-DD; '' stays ''."""
    if not s:
        return ""
    return s[:10]


def current(begin, end, as_of):
    """begin inclusive, end exclusive (OneRoster's endDate); an empty bound is open."""
    b = day(begin)
    e = day(end)
    if b and as_of < b:
        return False
    if e and as_of >= e:
        return False
    return True


def email_class(email):
    """'no-email', 'masked-email' or 'ok' (see README.md, "Emails")."""
    e = (email or "").strip(" \t\r\n")
    if not e:
        return "no-email"
    if "@" not in e or "*" in e:
        return "masked-email"
    return "ok"


def norm_email(email):
    import unicodedata
    e = (email or "").strip(" \t\r\n")
    e = unicodedata.normalize("NFC", e)
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in e)
