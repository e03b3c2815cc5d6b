# shellcheck shell=bash
# tests/report/lib.sh: shared by cl-report's script tests (sourced, not run),
# on top of tests/sync/lib.sh (the test server, the generator, a config).
# shellcheck source=tests/sync/lib.sh
. "$CL_TOP/tests/sync/lib.sh"

# What a hostile roster puts in names: markup, quotes, the end of the page's
# <style>, an ampersand, and right-to-left text with an override (U+202E).
H_SCRIPT='<script>alert("x")</script>'
H_QUOTES="O'Brien \"&\" </style><b>bold"
H_RTL=$'\u0645\u0631\u064a\u0645 \u202egnp.exe'
H_EMAIL='"><img src=x onerror=alert(1)>@nowhere.example.org'
H_SCHOOL='Lincoln <script>document.write(1)</script> High & "Co"'

hostile() { # DIR: the district's first students get hostile names, one a hostile
	# email (so that it is unmatched, and listed), and its first school a hostile name
	H_SCRIPT=$H_SCRIPT H_QUOTES=$H_QUOTES H_RTL=$H_RTL H_EMAIL=$H_EMAIL H_SCHOOL=$H_SCHOOL \
		"$PY" - "$1" <<'PY'
import json, os, sys
d = os.path.join(sys.argv[1], "oneroster")
def load(n):
    with open(os.path.join(d, n)) as f:
        return json.load(f)
def save(n, v):
    with open(os.path.join(d, n), "w") as f:
        json.dump(v, f, ensure_ascii=False)
users = load("users.json")
students = [u for u in users if u["role"] == "student"]
school = next(o for o in load("orgs.json") if o["type"] == "school")
for u in students[:3]:  # in the first school only: never excluded
    u["orgs"] = [{"href": "https://example.org/orgs/" + school["sourcedId"],
                  "sourcedId": school["sourcedId"], "type": "org"}]
students[0]["givenName"] = os.environ["H_SCRIPT"]
students[0]["email"] = os.environ["H_EMAIL"]
students[1]["familyName"] = os.environ["H_QUOTES"]
students[1]["email"] = "nobody.%s@nowhere.example.org" % students[1]["sourcedId"]
students[2]["givenName"] = os.environ["H_RTL"]
students[2]["email"] = ""
save("users.json", users)
orgs = load("orgs.json")
next(o for o in orgs if o["type"] == "school")["name"] = os.environ["H_SCHOOL"]
save("orgs.json", orgs)
PY
}

second_school() { # DIR: the identifier of the district's second school
	jq -r '[.[] | select(.type == "school")][1].identifier' "$1/oneroster/orgs.json"
}
