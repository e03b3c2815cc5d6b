/*
 * email.h: how the stages judge and compare email addresses. cl-match puts
 * both sides (the roster's data.email and the export's email column) through
 * cl_email_norm, so two addresses match exactly when their normal forms are
 * equal bytes; cl-filter keeps a parent only when cl_email_norm calls the
 * address usable, so a masked parent address never reaches School Manager.
 */
#ifndef CL_EMAIL_H
#define CL_EMAIL_H

#include <stddef.h>

#include "buf.h"

/* What an address is good for. */
enum cl_email_class {
	CL_EMAIL_OK,     /* usable: look it up */
	CL_EMAIL_NONE,   /* absent or empty after trimming */
	CL_EMAIL_MASKED, /* redacted or a placeholder: never matched (see cl_email_masked) */
};

/* --domain-alias FROM=TO, in the order given; the first FROM that equals the domain wins. */
struct cl_aliases {
	char **from, **to; /* normalised, owned */
	size_t n;
};

void cl_aliases_init(struct cl_aliases *a);
void cl_aliases_release(struct cl_aliases *a);
/*
 * Adds "FROM=TO" (both domains, normalised as addresses are). Returns 0; -1
 * when arg is not two non-empty domains joined by '='; -2 when it would make
 * a chain or a loop (FROM equals TO, TO is an alias's FROM, or FROM an
 * alias's TO), which would make normalising not idempotent (a unchanged).
 */
int cl_aliases_add(struct cl_aliases *a, const char *arg);

/*
 * Normalises the n bytes at s into out (emptied first): trims ASCII
 * whitespace at both ends, applies NFC (cl_nfc) when a byte is not ASCII,
 * folds ASCII letters to lower case, and applies NFC again (a lower-case
 * letter may compose where its capital did not),
 * classifies the result, and, when it is usable, replaces a domain that
 * equals an alias's FROM by its TO. Returns the class; out holds the normal
 * form for every class (the address before aliasing when not usable). The
 * normal form is a fixed point: normalising it again gives it back.
 */
enum cl_email_class cl_email_norm(const struct cl_aliases *a, const char *s, size_t n,
                                  struct cl_buf *out);

/*
 * 1 when the normalised address p (n bytes, non-empty) is a redaction or a
 * placeholder rather than an address: it has no '@'; the part before the
 * last '@' (the local part) or the part after it (the domain) is empty; it
 * holds an asterisk anywhere (DataGuard's mask); the local part is one of the
 * placeholder words (redacted, masked, hidden, private, withheld, noemail,
 * no-email, no_email, no.email, none, null, nil, unknown, placeholder,
 * optionally in [] () or <>); or the domain is "invalid", "redacted" or
 * ends in ".invalid" (RFC 2606).
 */
int cl_email_masked(const char *p, size_t n);

/*
 * Appends the Unicode NFC form of the n bytes of UTF-8 at s to out, for the
 * repertoire of nfc-table.h (Latin letters with the diacritics
 * U+0300-U+036F, three singletons); other characters pass unchanged, and so
 * does the whole input when it is not valid UTF-8.
 */
void cl_nfc(const char *s, size_t n, struct cl_buf *out);

/* 1 when the n bytes at s are valid UTF-8 (no overlong forms, no surrogates). */
int cl_utf8_valid(const char *s, size_t n);

#endif
