#!/usr/bin/python3
"""check.py: checks a report.html that cl-report wrote against its run folder.

    check.py REPORT.html RUN_FOLDER NIGHTS [TEXT...]

- the structure, with Python's html.parser: every element closed in order (void
  elements aside), one <style> in <head>, no <script>, no event-handler
  attribute, no URL that leaves the page (only "#..." links), a
  Content-Security-Policy that forbids scripts and network;
- every number marked data-key equals the number at that path of the run
  folder's report.json, and the four School Manager counts are there;
- the unmatched users by reason equal report.json's "unmatched";
- the table per school equals what match.ndjson (plain or .zst) says, counted
  here independently: students and teachers linked or unmatched, classes;
- the chart has one status dot per night: NIGHTS of them;
- each TEXT appears in the page's text as text (hostile names: shown, never run).
Prints every problem found; exits 1 if there is one.
"""
import html.parser
import json
import os
import subprocess
import sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}
SVG_EMPTY = {"rect", "circle", "line", "path"}  # may be written <x/> or <x></x>

problems = []


def bad(msg):
    problems.append(msg)


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.text = []
        self.keys = {}        # data-key -> text
        self.reasons = {}     # data-reason -> text
        self.schools = {}     # data-school -> {data-col: text}
        self.styles = 0
        self.dots = 0
        self.csp = None
        self.cur_key = None
        self.cur_reason = None
        self.cur_school = None
        self.cur_col = None
        self.buf = ""
        self.status = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            bad("a <script> element")
        for k, v in attrs:
            if k.startswith("on"):
                bad("an event handler attribute %s=%r on <%s>" % (k, v, tag))
            if k in ("href", "src", "action", "xlink:href") and v is not None and not v.startswith("#"):
                bad("a URL that leaves the page: <%s %s=%r>" % (tag, k, v))
        if tag == "style":
            self.styles += 1
            if self.stack != ["html", "head"]:
                bad("a <style> outside <head>: %s" % "/".join(self.stack))
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = a.get("content")
        if tag == "circle" and "svg" in self.stack and a.get("r") != "5":
            self.dots += 1
        if tag == "section" and "data-status" in a:
            self.status = a["data-status"]
        if tag == "tr" and "data-school" in a:
            self.cur_school = a["data-school"]
            self.schools[self.cur_school] = {}
        if "data-key" in a:
            self.cur_key = a["data-key"]
            self.buf = ""
        if "data-reason" in a:
            self.cur_reason = a["data-reason"]
            self.buf = ""
        if "data-col" in a:
            self.cur_col = a["data-col"]
            self.buf = ""
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        if tag not in VOID and tag not in SVG_EMPTY:
            bad("a self-closed <%s/>" % tag)
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            bad("an end tag for the void element <%s>" % tag)
            return
        if not self.stack or self.stack[-1] != tag:
            bad("</%s> closes <%s> (open: %s)" % (tag, self.stack[-1] if self.stack else "nothing",
                                                "/".join(self.stack)))
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        if self.cur_key is not None:
            self.keys[self.cur_key] = self.buf
            self.cur_key = None
        if self.cur_reason is not None:
            self.reasons[self.cur_reason] = self.buf
            self.cur_reason = None
        if self.cur_col is not None:
            self.schools[self.cur_school][self.cur_col] = self.buf
            self.cur_col = None
        if tag == "tr":
            self.cur_school = None

    def handle_data(self, data):
        self.text.append(data)
        self.buf += data


def number(s):
    s = s.strip().replace(",", "")
    return int(s) if s.isdigit() else None


def at(obj, path):
    for k in path.split("."):
        if not isinstance(obj, dict) or k not in obj:
            return None
        obj = obj[k]
    return obj


def stream_lines(folder, name):
    p = os.path.join(folder, name)
    if os.path.exists(p):
        with open(p, "rb") as f:
            data = f.read()
    else:
        data = subprocess.run(["zstd", "-dc", p + ".zst"], check=True, capture_output=True).stdout
    for line in data.decode("utf-8").splitlines():
        yield json.loads(line)


def main():
    page_path, folder, nights = sys.argv[1], sys.argv[2], int(sys.argv[3])
    texts = sys.argv[4:]
    with open(page_path, encoding="utf-8") as f:
        src = f.read()
    p = Page()
    p.feed(src)
    p.close()
    if p.stack:
        bad("unclosed at the end: %s" % "/".join(p.stack))
    if not src.startswith("<!DOCTYPE html>"):
        bad("no <!DOCTYPE html> first")
    if p.styles != 1:
        bad("%d <style> elements, want 1" % p.styles)
    if not p.csp or "default-src 'none'" not in p.csp or "script-src" in p.csp:
        bad("no Content-Security-Policy forbidding scripts and network: %r" % p.csp)

    with open(os.path.join(folder, "report.json")) as f:
        rep = json.load(f)
    for k in ("counts.unmatched_users", "counts.matched_students", "counts.matched_teachers",
              "counts.imported_classes"):
        if k not in p.keys:
            bad("no %s in the page" % k)
    for k, v in p.keys.items():
        want = at(rep, k)
        if number(v) != want:
            bad("%s: the page says %r, report.json %r" % (k, v, want))
    if len(p.keys) < 10:
        bad("only %d numbers marked: %s" % (len(p.keys), sorted(p.keys)))

    got = {k: number(v) for k, v in p.reasons.items()}
    if got != rep.get("unmatched", {}):
        bad("unmatched by reason: the page says %r, report.json %r" % (got, rep.get("unmatched")))

    schools, classes = {}, {}
    want = {}
    for line in stream_lines(folder, "match.ndjson"):
        d = line.get("data", {})
        if line["kind"] == "org" and d.get("type") == "school":
            want[d["sourcedId"]] = {"students-linked": 0, "students-unmatched": 0,
                                    "teachers-linked": 0, "teachers-unmatched": 0, "classes": 0}
        elif line["kind"] == "class":
            s = (d.get("school") or {}).get("sourcedId")
            if s in want:
                want[s]["classes"] += 1
        elif line["kind"] == "user" and d.get("role") in ("student", "teacher"):
            col = ("students-" if d["role"] == "student" else "teachers-") + \
                ("linked" if isinstance(line.get("match"), dict) else "unmatched")
            for o in d.get("orgs") or []:
                if o.get("sourcedId") in want:
                    want[o["sourcedId"]][col] += 1
    got = {s: {c: number(v) for c, v in cols.items()} for s, cols in p.schools.items() if cols}
    if got != want:
        bad("schools: the page says %r, match.ndjson %r" % (got, want))
    excluded = [s for s, cols in p.schools.items() if not cols]
    print("schools synced %s, excluded %s" % (sorted(got), excluded))

    if p.dots != nights:
        bad("the chart has %d nights, want %d" % (p.dots, nights))
    text = "".join(p.text)
    for t in texts:
        if t not in text:
            bad("%r is not in the page's text" % t)
    for msg in problems:
        print("check.py: %s: %s" % (page_path, msg), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
