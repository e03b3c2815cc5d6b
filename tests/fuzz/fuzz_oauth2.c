/*
 * fuzz_oauth2: libFuzzer harness for the parser of the OAuth 2.0 token
 * endpoint's answer (fetch_oauth2_parse_token in fetch/oauth2.c, included
 * below with fetch/oauth1.c, fetch/net.c for the network's failures and
 * fetch/progress.c for fetch_fail; the two
 * functions of fetch/http.c that oauth2.c calls are stubbed: the harness
 * never sends a request). The input is the response body. A broken invariant aborts:
 * - a token is returned exactly when the parser says 0, and it is one word
 *   of visible ASCII (it goes into a request header);
 * - the lifetime is a number of seconds from 1 to a day.
 */
#define _GNU_SOURCE /* memfd_create, in fuzz.h */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../fetch/net.c"
#include "../../fetch/oauth1.c"
#include "../../fetch/oauth2.c"
#include "../../fetch/progress.c"
#include "fuzz.h"

double
fetch_now_mono(void)
{
	return 0;
}

double
fetch_backoff_delay(const struct fetch_opts *o, int attempt, double retry_after)
{
	(void)o;
	(void)attempt;
	return retry_after;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1), *tok = NULL;
	double life = 0;
	size_t i;
	int rc;

	if (!p)
		return 0;
	if (size)
		memcpy(p, data, size);
	rc = fetch_oauth2_parse_token(p, size, &tok, &life);
	if ((rc == 0) != (tok != NULL) || (rc != 0 && rc != -1))
		abort();
	if (tok) {
		if (!tok[0])
			abort();
		for (i = 0; tok[i]; i++)
			if (tok[i] < 0x21 || tok[i] > 0x7e)
				abort();
	}
	if (isnan(life) || life < 1 || life > 86400)
		abort();
	free(tok);
	free(p);
	return 0;
}
