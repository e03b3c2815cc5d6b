"""A district as a OneRoster 1.1 CSV bundle (gen.py bundle): what cl-bundle reads.

Written as an SIS writes one, with the oddities cl-bundle must take: a UTF-8 BOM and CRLF line
ends, columns in an order of their own per file (by header name, never by position), cells
quoted where they hold commas (lists: "09,10"), every cell quoted in classes.csv, optional
columns left empty (status and dateLastModified are blank in a bulk file, as the 1.1 CSV
binding says) or left out (users.csv has no password column, courses.csv no subjectCodes),
and a metadata.* column in orgs.csv.

A bulk file lists what exists: records whose status is tobedeleted (or the legacy inactive)
are not in it. A delta bundle (--delta OLD: the changes from the dataset OLD to this one)
lists the records added or changed, with status active and their dateLastModified, and the
records removed with status tobedeleted.
"""
import csv
import io
import json
import os
import zipfile

import rosterdata

# (CSV column, REST key, how): str, ref, refs, list, userids. In the REST shape's key order.
COMMON = [("sourcedId", "sourcedId", "str"), ("status", "status", "str"),
          ("dateLastModified", "dateLastModified", "str")]
FILES = {
    "orgs": COMMON + [("name", "name", "str"), ("type", "type", "str"), ("identifier", "identifier", "str"),
                      ("parentSourcedId", "parent", "ref")],
    "academicSessions": COMMON + [("title", "title", "str"), ("type", "type", "str"),
                                  ("startDate", "startDate", "str"), ("endDate", "endDate", "str"),
                                  ("parentSourcedId", "parent", "ref"), ("schoolYear", "schoolYear", "str")],
    "courses": COMMON + [("schoolYearSourcedId", "schoolYear", "ref"), ("title", "title", "str"),
                         ("courseCode", "courseCode", "str"), ("grades", "grades", "list"),
                         ("orgSourcedId", "org", "ref"), ("subjects", "subjects", "list")],
    "classes": COMMON + [("title", "title", "str"), ("grades", "grades", "list"),
                         ("courseSourcedId", "course", "ref"), ("classCode", "classCode", "str"),
                         ("classType", "classType", "str"), ("location", "location", "str"),
                         ("schoolSourcedId", "school", "ref"), ("termSourcedIds", "terms", "refs"),
                         ("subjects", "subjects", "list"), ("subjectCodes", "subjectCodes", "list"),
                         ("periods", "periods", "list")],
    "enrollments": COMMON + [("classSourcedId", "class", "ref"), ("schoolSourcedId", "school", "ref"),
                             ("userSourcedId", "user", "ref"), ("role", "role", "str"),
                             ("primary", "primary", "str"), ("beginDate", "beginDate", "str"),
                             ("endDate", "endDate", "str")],
    "users": COMMON + [("enabledUser", "enabledUser", "str"), ("orgSourcedIds", "orgs", "refs"),
                       ("role", "role", "str"), ("username", "username", "str"),
                       ("userIds", "userIds", "userids"), ("givenName", "givenName", "str"),
                       ("familyName", "familyName", "str"), ("middleName", "middleName", "str"),
                       ("identifier", "identifier", "str"), ("email", "email", "str"),
                       ("sms", "sms", "str"), ("phone", "phone", "str"),
                       ("agentSourcedIds", "agents", "refs"), ("grades", "grades", "list")],
    "demographics": COMMON + [(k, k, "str") for k in (
        "birthDate", "sex", "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity", "countryOfBirthCode", "stateOfBirthAbbreviation", "cityOfBirth",
        "publicSchoolResidenceStatus")],
}
MANIFEST_FILES = ["academicSessions", "categories", "classes", "classResources", "courses", "courseResources",
                  "demographics", "enrollments", "lineItems", "orgs", "resources", "results", "users"]


def cell(rec, key, how):
    v = rec.get(key)
    if v is None:
        return ""
    if how == "ref":
        return v["sourcedId"] if v else ""
    if how == "refs":
        return ",".join(r["sourcedId"] for r in v)
    if how == "list":
        for x in v:
            if "," in x:
                raise SystemExit("gen.py: bundle: a list item holds a comma, which 1.1 CSV cannot carry: %r" % x)
        return ",".join(v)
    if how == "userids":
        return ",".join("{%s:%s}" % (u["type"], u["identifier"]) for u in v)
    return v


def columns(coll):
    """The file's columns in an order of its own: rotated by the file's name."""
    cols = FILES[coll]
    k = sum(map(ord, coll)) % len(cols)
    return cols[k:] + cols[:k]


def write_csv(path, coll, records, bulk, extra=None):
    cols = columns(coll)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n",
                   quoting=csv.QUOTE_ALL if coll == "classes" else csv.QUOTE_MINIMAL)
    head = [c for c, _, _ in cols] + ([e[0] for e in extra] if extra else [])
    w.writerow(head)
    for r in records:
        row = []
        for c, key, how in cols:
            if bulk and c in ("status", "dateLastModified"):
                row.append("")  # blank in a bulk file (OneRoster 1.1 CSV)
            else:
                row.append(cell(r, key, how))
        if extra:
            row += [e[1](r) for e in extra]
        w.writerow(row)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\ufeff")
        f.write(buf.getvalue())


def write_manifest(path, modes):
    rows = [("manifest.version", "1.0"), ("oneroster.version", "1.1")]
    rows += [("file." + f, modes.get(f, "absent")) for f in MANIFEST_FILES]
    rows += [("source.systemName", "gen.py"), ("source.systemCode", "")]
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\ufeff")
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["propertyName", "value"])
        w.writerows(rows)


def live(r):
    return r.get("status", "active") not in ("tobedeleted", "inactive")


def write_bundle(src, out, demographics=True, delta_from=None, zip_path=None, prefix="", as_of="2026-11-29"):
    """Writes the bundle folder out (and zip_path, its members under prefix). Returns the files' modes."""
    os.makedirs(out, exist_ok=True)
    base = rosterdata.dataset_dir(src)
    modes = {}
    colls = [c for c in FILES if c != "demographics" or demographics]
    for coll in colls:
        new = [json.loads(x) for x in rosterdata.read_lines(os.path.join(base, coll + ".json"))]
        extra = [("metadata.gen.seedFile", lambda r: "orgs.json")] if coll == "orgs" else None
        if delta_from is None:
            recs = [r for r in new if live(r)]
            modes[coll] = "bulk"
        else:
            old = {r["sourcedId"]: r for r in (json.loads(x) for x in rosterdata.read_lines(
                os.path.join(rosterdata.dataset_dir(delta_from), coll + ".json")))}
            seen = set()
            recs = []
            for r in new:
                seen.add(r["sourcedId"])
                if old.get(r["sourcedId"]) != r:
                    recs.append(r)
            for sid, r in old.items():
                if sid not in seen and live(r):
                    r = dict(r, status="tobedeleted", dateLastModified="%sT00:00:00.000Z" % as_of)
                    recs.append(r)
            modes[coll] = "delta"
        write_csv(os.path.join(out, coll + ".csv"), coll, recs, delta_from is None, extra)
    write_manifest(os.path.join(out, "manifest.csv"), modes)
    if zip_path:
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
            for name in ["manifest.csv"] + [c + ".csv" for c in colls]:
                info = zipfile.ZipInfo(prefix + name, date_time=(2026, 11, 29, 18, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o600 << 16
                with open(os.path.join(out, name), "rb") as f:
                    z.writestr(info, f.read())
    return modes
