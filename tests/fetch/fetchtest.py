"""Helpers for the cl-fetch script tests: run cl-fetch, read its stream, check it.

The OneRoster test server comes from tests/roster/testlib.py; every test starts
its own on an ephemeral port on 127.0.0.1 and stops it in a finally block.
"""
import json
import os
import signal
import subprocess
import sys
import time

TOP = os.environ.get("CL_TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "roster"))
import testlib  # noqa: E402,F401
from testlib import check, eq, done, gen, district, tmpdir  # noqa: E402,F401
import rosterdata  # noqa: E402

KEY = "cl-fetch-test-key"
SECRET = "s3cr3t-Value+/with&odd=chars"
CREDS = "%s:%s\n" % (KEY, SECRET)
PARENT_ROLES = ("parent", "guardian", "relative")
RANK = {"header": 0, "org": 1, "academicSession": 2, "course": 3, "class": 4, "enrollment": 5,
        "user": 6, "parent": 7, "demographic": 8, "trailer": 9}


# The test server, now that it sets TCP_NODELAY itself, is testlib's as it is.
Server = testlib.Server


def sigterm_exits():
    """A test killed by SIGTERM still runs its finally blocks (the server is stopped)."""
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))


def env(**extra):
    e = dict(os.environ)
    e.pop("CL_CLIENT_SECRET", None)
    e.pop("CL_CLIENT_ID", None)
    e.update({"CL_CLIENT_ID": KEY, "CL_CLIENT_SECRET": SECRET, "CL_FETCH_BACKOFF_MS": "20"})
    for k, v in extra.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def fetch(args, environ=None, stdin=subprocess.DEVNULL, timeout=300):
    """Runs cl-fetch; returns (status, stdout bytes, stderr text)."""
    r = subprocess.run(["cl-fetch"] + [str(a) for a in args], stdin=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=environ or env(), timeout=timeout)
    err = r.stderr.decode("utf-8", "replace")
    check(SECRET not in err, "the secret is not in stderr")
    check(SECRET.encode() not in r.stdout, "the secret is not in the stream")
    return r.returncode, r.stdout, err


def lines(out):
    return [json.loads(x) for x in out.decode("utf-8").splitlines()]


def stream_ok(out, what):
    """The stream is well formed: header first, trailer last, kinds in order. Returns its lines."""
    try:
        ls = lines(out)
    except ValueError as e:
        check(False, "%s: the stream is JSON lines (%s)" % (what, e))
        return []
    if not check(len(ls) >= 2, "%s: a header and a trailer at least" % what):
        return ls
    check(ls[0].get("kind") == "header", "%s: the first line is the header" % what)
    check(ls[-1].get("kind") == "trailer", "%s: the last line is the trailer" % what)
    last = 0
    for i, x in enumerate(ls):
        k = x.get("kind")
        if k == "user" and x["data"].get("role") in PARENT_ROLES:
            k = "parent"
        if not check(k in RANK and RANK[k] >= last, "%s: line %d (%s) in stream order" % (what, i + 1, k)):
            break
        last = RANK[k]
    return ls


def trailer(ls):
    return ls[-1] if ls and ls[-1].get("kind") == "trailer" else {}


def fetch_stage(ls):
    t = trailer(ls)
    st = [s for s in t.get("stages", []) if s.get("tool") == "cl-fetch"]
    return st[0] if st else {}


def ids_by_coll(ls):
    """{collection: [sourcedId, ...]} of the records in the stream."""
    back = {v: k for k, v in rosterdata.KIND.items()}
    out = {}
    for x in ls[1:-1]:
        out.setdefault(back[x["kind"]], []).append(x["data"]["sourcedId"])
    return out


def never_silently_short(ls, server_ids, what):
    """A stream whose trailer says complete has every record the server holds, each once."""
    got = ids_by_coll(ls)
    for c, ids in got.items():
        check(len(ids) == len(set(ids)), "%s: no %s twice" % (what, c))
    if trailer(ls).get("complete") is True:
        for c, want in server_ids.items():
            missing = set(want) - set(got.get(c, []))
            check(not missing, "%s: complete stream has every %s (missing %s)" % (what, c, sorted(missing)[:5]))


def dataset_ids(d, colls):
    return {c: [rosterdata.sourced_id(x) for x in rosterdata.read_lines(os.path.join(d, "oneroster", c + ".json"))]
            for c in colls}


def body(out):
    """The stream without its header and trailer (they hold times)."""
    ls = out.split(b"\n")
    return b"\n".join(ls[1:-2]) + b"\n"
