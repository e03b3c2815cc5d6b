/*
 * email.h: how cl-match compares email addresses. Both sides (the roster's
 * data.email and the export's email column) go through cm_email_norm, so
 * two addresses match exactly when their normal forms are equal bytes.
 */
#ifndef CM_EMAIL_H
#define CM_EMAIL_H

#include <stddef.h>

#include "buf.h"

/* What an address is good for. */
enum cm_email_class {
	CM_EMAIL_OK,     /* usable: look it up */
	CM_EMAIL_NONE,   /* absent or empty after trimming */
	CM_EMAIL_MASKED, /* redacted or a placeholder: never matched (see cm_email_masked) */
};

/* --domain-alias FROM=TO, in the order given; the first FROM that equals the domain wins. */
struct cm_aliases {
	char **from, **to; /* normalised, owned */
	size_t n;
};

void cm_aliases_init(struct cm_aliases *a);
void cm_aliases_release(struct cm_aliases *a);
/*
 * Adds "FROM=TO" (both domains, normalised as addresses are). Returns 0, or
 * -1 when arg is not two non-empty domains joined by '=' (a unchanged).
 */
int cm_aliases_add(struct cm_aliases *a, const char *arg);

/*
 * Normalises the n bytes at s into out (emptied first): trims ASCII
 * whitespace at both ends, applies NFC (cm_nfc) when a byte is not ASCII,
 * folds ASCII letters to lower case, classifies the result, and, when it is
 * usable, replaces a domain that equals an alias's FROM by its TO. Returns
 * the class; out holds the normal form for every class (the address before
 * aliasing when not usable).
 */
enum cm_email_class cm_email_norm(const struct cm_aliases *a, const char *s, size_t n,
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
int cm_email_masked(const char *p, size_t n);

/*
 * Appends the Unicode NFC form of the n bytes of UTF-8 at s to out, for the
 * repertoire of nfc-table.h (Latin letters with the diacritics
 * U+0300-U+036F, three singletons); other characters pass unchanged, and so
 * does the whole input when it is not valid UTF-8.
 */
void cm_nfc(const char *s, size_t n, struct cl_buf *out);

/* 1 when the n bytes at s are valid UTF-8 (no overlong forms, no surrogates). */
int cm_utf8_valid(const char *s, size_t n);

#endif
