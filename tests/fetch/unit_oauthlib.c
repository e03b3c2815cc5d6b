/*
 * unit_oauthlib.c: cl-fetch's signer against python3-oauthlib, live: runs
 * tests/fetch/oauthlib-vectors (random keys, secrets and URLs signed by
 * oauthlib with HMAC-SHA256) and checks that every signature is the same.
 * Skipped, with a note, when /usr/bin/python3 has no oauthlib.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "oauth1.h"
#include "t.h"

int
main(void)
{
	const char *top = getenv("CL_TOP");
	struct cl_buf cmd = CL_BUF_INIT, auth = CL_BUF_INIT, want = CL_BUF_INIT;
	char line[8192];
	FILE *p;
	int n = 0, st;

	if (system("/usr/bin/python3 -c 'import oauthlib' 2>/dev/null") != 0) {
		fprintf(stderr, "unit_oauthlib: no python3-oauthlib: skipped\n");
		return 0;
	}
	cl_buf_addf(&cmd, "/usr/bin/python3 '%s/tests/fetch/oauthlib-vectors' 300 %d",
	            top ? top : ".", 5849);
	p = popen(cmd.p, "r");
	CHECK(p != NULL);
	while (p && fgets(line, sizeof line, p)) {
		char *f[6], *s = line;
		int i;

		line[strcspn(line, "\n")] = '\0';
		for (i = 0; i < 6; i++) {
			f[i] = s;
			s = strchr(s, '\t');
			if (s)
				*s++ = '\0';
			else if (i < 5)
				break;
		}
		if (i < 6)
			continue;
		{
			struct fetch_oauth1 o = { .consumer_key = f[0],
				                  .consumer_secret = f[1],
				                  .method = FETCH_OAUTH1_HMAC_SHA256,
				                  .nonce = f[3],
				                  .timestamp = atoll(f[4]) };

			cl_buf_reset(&auth);
			cl_buf_reset(&want);
			CHECK_INT(fetch_oauth1_sign(&auth, &o, "GET", f[2], NULL), 0);
			cl_buf_adds(&want, "oauth_signature=\"");
			fetch_pct_encode(&want, f[5], strlen(f[5]));
			cl_buf_adds(&want, "\"");
			if (!auth.p || !strstr(auth.p, want.p)) {
				t_checks++;
				t_failures++;
				fprintf(stderr,
				        "unit_oauthlib: %s: signature differs from oauthlib's %s\n",
				        f[2], f[5]);
			} else {
				t_checks++;
			}
			n++;
		}
	}
	st = p ? pclose(p) : -1;
	CHECK_INT(st, 0);
	CHECK(n >= 250);
	fprintf(stderr, "unit_oauthlib: %d requests signed as oauthlib signs them\n", n);
	cl_buf_release(&cmd);
	cl_buf_release(&auth);
	cl_buf_release(&want);
	return T_DONE();
}
