"""Helpers for the tests/roster/t-* scripts: scratch space, generator, server, HTTP."""
import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
PREFIX = "/ims/oneroster/v1p1"
_failures = []


def tmpdir():
    d = os.environ.get("CL_TMP")
    if not d:
        d = tempfile.mkdtemp(prefix="roster-test-")
    os.makedirs(d, exist_ok=True)
    return d


def check(cond, what):
    if not cond:
        _failures.append(what)
        print("FAIL: %s" % what, file=sys.stderr)
    return cond


def eq(got, want, what):
    if got != want:
        g, w = repr(got), repr(want)
        _failures.append(what)
        print("FAIL: %s\n  got:  %s\n  want: %s" % (what, g[:600], w[:600]), file=sys.stderr)
        return False
    return True


def done(name):
    if _failures:
        print("%s: %d check(s) failed" % (name, len(_failures)), file=sys.stderr)
        sys.exit(1)
    print("%s: ok" % name)
    sys.exit(0)


def gen(*args, stdout=None):
    r = subprocess.run([PY, os.path.join(HERE, "gen.py")] + [str(a) for a in args], stdout=stdout or subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("gen.py %s failed: %s" % (" ".join(map(str, args)), r.stderr.decode()))
    return r.stdout


def district(d, seed, students, *extra):
    gen("district", "--seed", seed, "--students", students, "--out", d, "-q", *extra)
    return d


class Server:
    def __init__(self, dataset, *args, env=None, creds=None):
        self.dir = tmpdir()
        self.portfile = os.path.join(self.dir, "port.%d" % os.getpid() + ".%d" % int(time.time() * 1e6))
        self.log = self.portfile + ".log"
        cmd = [PY, os.path.join(HERE, "server.py"), "--dataset", dataset, "--port", "0",
               "--port-file", self.portfile, "--log", self.log] + list(args)
        if creds is not None:
            cf = self.portfile + ".creds"
            with open(cf, "w") as f:
                f.write(creds)
            os.chmod(cf, 0o600)
            cmd += ["--credentials", cf]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=dict(os.environ, **(env or {})))
        t0 = time.time()
        while not os.path.exists(self.portfile):
            if self.proc.poll() is not None:
                sys.exit("server.py exited: %s" % self.proc.stderr.read().decode())
            if time.time() - t0 > 20:
                self.stop()
                sys.exit("server.py did not start")
            time.sleep(0.02)
        with open(self.portfile) as f:
            self.port = int(f.read())
        self.first_line = self.proc.stdout.readline().decode().strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def request(self, method, path, headers=None, body=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def get(self, path, headers=None):
        if not path.startswith("/"):
            path = PREFIX + "/" + path
        return self.request("GET", path, headers)

    def getj(self, path, headers=None):
        s, h, b = self.get(path, headers)
        return s, h, json.loads(b)

    def control(self, what, obj=None):
        if obj is None:
            s, h, b = self.request("GET", "/_control/" + what)
        else:
            s, h, b = self.request("POST", "/_control/" + what, {"Content-Type": "application/json"},
                                   json.dumps(obj).encode())
        if s != 200:
            sys.exit("control %s: %d %s" % (what, s, b))
        return b

    def log_lines(self):
        return [ln.split("\t") for ln in self.control("log").decode().splitlines()]


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def records(d, coll):
    sys.path.insert(0, HERE)
    import rosterdata
    return [json.loads(x) for x in rosterdata.read_lines(os.path.join(d, "oneroster", coll + ".json"))]


def raw_lines(d, coll):
    sys.path.insert(0, HERE)
    import rosterdata
    return rosterdata.read_lines(os.path.join(d, "oneroster", coll + ".json"))
