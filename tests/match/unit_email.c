/* unit_email: cl-match's email normalisation, masks, aliases, NFC and CSV cells. */
#include <stdlib.h>
#include <string.h>

#include "email.h"
#include "export.h"
#include "csvout.h"
#include "t.h"

static struct cl_buf out = CL_BUF_INIT;

static const char *
norm(const struct cl_aliases *a, const char *s, enum cl_email_class *c)
{
	*c = cl_email_norm(a, s, strlen(s), &out);
	return out.p;
}

static void
check_norm(const struct cl_aliases *a, const char *in, enum cl_email_class want_c, const char *want)
{
	enum cl_email_class c;
	const char *got = norm(a, in, &c);

	CHECK_INT(c, want_c);
	CHECK_STR(got, want);
}

static const char *
nfc(const char *s)
{
	cl_buf_reset(&out);
	cl_nfc(s, strlen(s), &out);
	return out.p;
}

static const char *
cell(const char *s)
{
	cl_buf_reset(&out);
	cl_csv_cell(&out, s, strlen(s));
	return out.p;
}

static const char *
squash(const char *s)
{
	match_header_squash(s, strlen(s), &out);
	return out.p;
}

int
main(void)
{
	struct cl_aliases a;

	cl_aliases_init(&a);
	/* trimming and ASCII folding */
	check_norm(NULL, "  Billy.Flores@Example.ORG \t\r\n", CL_EMAIL_OK,
	           "billy.flores@example.org");
	check_norm(NULL, "", CL_EMAIL_NONE, "");
	check_norm(NULL, " \t\v\f ", CL_EMAIL_NONE, "");
	/* NFC: decomposed and precomposed agree; only ASCII case folds */
	check_norm(NULL, "Jose\xCC\x81@x.org", CL_EMAIL_OK, "jos\xC3\xA9@x.org");
	check_norm(NULL, "jos\xC3\xA9@X.org", CL_EMAIL_OK, "jos\xC3\xA9@x.org");
	check_norm(NULL, "JOS\xC3\x89@x.org", CL_EMAIL_OK, "jos\xC3\x89@x.org");
	/* not UTF-8: compared as bytes, folded only in ASCII */
	check_norm(NULL, "Jos\xE9@x.org", CL_EMAIL_OK, "jos\xE9@x.org");
	/* masks and placeholders */
	check_norm(NULL, "*****", CL_EMAIL_MASKED, "*****");
	check_norm(NULL, "REDACTED", CL_EMAIL_MASKED, "redacted");
	check_norm(NULL, "j*****@example.org", CL_EMAIL_MASKED, "j*****@example.org");
	check_norm(NULL, "a*b@example.org", CL_EMAIL_MASKED, "a*b@example.org");
	check_norm(NULL, "@example.org", CL_EMAIL_MASKED, "@example.org");
	check_norm(NULL, "jane@", CL_EMAIL_MASKED, "jane@");
	check_norm(NULL, "<Redacted>@example.org", CL_EMAIL_MASKED, "<redacted>@example.org");
	check_norm(NULL, "no.email@example.org", CL_EMAIL_MASKED, "no.email@example.org");
	check_norm(NULL, "jane@mail.invalid", CL_EMAIL_MASKED, "jane@mail.invalid");
	check_norm(NULL, "jane@invalid", CL_EMAIL_MASKED, "jane@invalid");
	check_norm(NULL, "none.such@example.org", CL_EMAIL_OK, "none.such@example.org");
	check_norm(NULL, "jane@invalid.example.org", CL_EMAIL_OK, "jane@invalid.example.org");
	check_norm(NULL, "[x]@example.org", CL_EMAIL_OK, "[x]@example.org");
	/* domain aliases: normalised, first wins, only the whole domain */
	CHECK_INT(cl_aliases_add(&a, "Students.Example.org=example.org"), 0);
	CHECK_INT(cl_aliases_add(&a, "@staff.example.org=EXAMPLE.ORG"), 0);
	CHECK_INT(cl_aliases_add(&a, "students.example.org=other.org"), 0);
	CHECK_INT(cl_aliases_add(&a, "example.org"), -1);
	CHECK_INT(cl_aliases_add(&a, "=example.org"), -1);
	CHECK_INT(cl_aliases_add(&a, "a.org="), -1);
	CHECK_INT(cl_aliases_add(&a, "a b.org=c.org"), -1);
	CHECK_INT(cl_aliases_add(&a, "x@a.org=c.org"), -1);
	CHECK_INT(cl_aliases_add(&a, "example.org=students.example.org"), -2); /* a loop */
	CHECK_INT(cl_aliases_add(&a, "other.org=third.org"), -2);              /* a chain */
	CHECK_INT(cl_aliases_add(&a, "old.org=students.example.org"), -2);     /* TO is a FROM */
	CHECK_INT(cl_aliases_add(&a, "same.org=same.org"), -2);
	CHECK_INT(a.n, 3);
	check_norm(&a, "Kid@STUDENTS.example.org", CL_EMAIL_OK, "kid@example.org");
	check_norm(&a, "t@staff.example.org", CL_EMAIL_OK, "t@example.org");
	check_norm(&a, "t@x.students.example.org", CL_EMAIL_OK, "t@x.students.example.org");
	check_norm(&a, "*@students.example.org", CL_EMAIL_MASKED, "*@students.example.org");
	/* NFC over the table's repertoire */
	CHECK_STR(nfc("a\xCC\x81"), "\xC3\xA1");             /* a + acute */
	CHECK_STR(nfc("e\xCC\xA3\xCC\x82"), "\xE1\xBB\x87"); /* e + dot below + circumflex */
	CHECK_STR(nfc("e\xCC\x82\xCC\xA3"), "\xE1\xBB\x87"); /* the marks in the other order */
	CHECK_STR(nfc("\xC3\xAA\xCC\xA3"), "\xE1\xBB\x87");  /* precomposed e-circumflex + dot */
	CHECK_STR(nfc("\xE2\x84\xAA"), "K");                 /* KELVIN SIGN */
	/* a fixed point: J + combining caron only composes once lower case (U+01F0) */
	check_norm(NULL, "J\xCC\x8Cohn.Doe@example.org", CL_EMAIL_OK,
	           "\xC7\xB0ohn.doe@example.org");
	check_norm(NULL, "\xC7\xB0ohn.doe@example.org", CL_EMAIL_OK, "\xC7\xB0ohn.doe@example.org");
	/* and NFC may make a capital: KELVIN SIGN is K, then k */
	check_norm(NULL, "\xE2\x84\xAAim@example.org", CL_EMAIL_OK, "kim@example.org");
	CHECK_STR(nfc("\xE2\x84\xAB"), "\xC3\x85");              /* ANGSTROM SIGN */
	CHECK_STR(nfc("a\xCC\xB4\xCC\x81"), "\xC3\xA1\xCC\xB4"); /* tilde overlay (ccc 1) first */
	CHECK_STR(nfc("\xCC\x81\x61"), "\xCC\x81\x61");          /* a leading mark stays */
	CHECK_STR(nfc("u\xCC\x88\xCC\x84"), "\xC7\x96");         /* u diaeresis macron */
	CHECK_STR(nfc("\xCE\xB1\xCC\x81"), "\xCE\xB1\xCC\x81");  /* Greek: outside the tables */
	CHECK_STR(nfc("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");  /* astral plane passes */
	CHECK_INT(cl_utf8_valid("\xC0\xAF", 2), 0);              /* overlong */
	CHECK_INT(cl_utf8_valid("\xED\xA0\x80", 3), 0);          /* surrogate */
	CHECK_INT(cl_utf8_valid("\xF4\x90\x80\x80", 4), 0);      /* beyond U+10FFFF */
	CHECK_INT(cl_utf8_valid("\xC3\xA9", 2), 1);
	/* CSV cells: formula injection and RFC 4180 quoting */
	CHECK_STR(cell("plain"), "plain");
	CHECK_STR(cell("=1+1"), "'=1+1");
	CHECK_STR(cell("+1"), "'+1");
	CHECK_STR(cell("-1"), "'-1");
	CHECK_STR(cell("@SUM(A1)"), "'@SUM(A1)");
	CHECK_STR(cell("\tx"), "'\tx");
	CHECK_STR(cell("\rx"), "\"'\rx\"");
	CHECK_STR(cell("a,b"), "\"a,b\"");
	CHECK_STR(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
	CHECK_STR(cell("=a,\"b\""), "\"'=a,\"\"b\"\"\"");
	CHECK_STR(cell("x=1"), "x=1");
	CHECK_STR(cell(""), "");
	/* header spellings */
	CHECK_STR(squash("E-mail Address"), "emailaddress");
	CHECK_STR(squash(" User_ID "), "userid");
	CHECK_STR(squash("S.M. Id"), "smid");
	cl_aliases_release(&a);
	cl_buf_release(&out);
	return T_DONE();
}
