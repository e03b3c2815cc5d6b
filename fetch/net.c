/*
 * net.c: the network's failures, told apart (issue 15): each has its own
 * code and remedy, and its own answer to "is another attempt worth it?".
 *
 * - A certificate that cannot be verified (CL113) and a TLS handshake that
 *   fails on the protocol (CL121: https:// spoken to a plain-http port, no
 *   TLS version or cipher both sides accept) are settings, not weather: the
 *   same URL gets the same answer a second later, so the run stops at once.
 *   A handshake cut by the network (a reset, an EOF) is not one of them: it
 *   is retried as any cut connection is (CL104 when the retries run out).
 * - A host name that does not resolve (CL120) is a typo or a name the DNS
 *   does not have (NXDOMAIN): retrying it for minutes only delays the
 *   diagnostic. libcurl does not tell NXDOMAIN from a resolver that failed
 *   (SERVFAIL, a timeout), so the run's history decides: before any answer
 *   came the name is taken as wrong and the run stops at once; once the
 *   server has answered, the name is known good and a failure is the
 *   resolver's hiccup, retried.
 * - A refused or unreachable connection (CL122) is retried: a server
 *   restarting, a load balancer between back ends, a network coming back.
 *   When the retries run out it is reported as what it is, not as CL104.
 * - Everything else without an answer (a timeout, a connection cut in the
 *   middle) is retried, and is CL104 when the retries run out.
 */
#include <errno.h>
#include <string.h>

#include <curl/curl.h>

#include "diag.h"
#include "fetch.h"

enum fetch_net
fetch_net_class(CURL *h, CURLcode cc, const char *errbuf, long *os_errno)
{
	static const char *const protocol[] = {
		"wrong version number",
		"packet length too long",
		"record layer failure",
		"unexpected TLS packet",
		"http request",
		"alert",
		"unsupported protocol",
		"no protocols available",
		"handshake failure",
		"no shared cipher",
		"no cipher",
	};
	size_t i;

	*os_errno = 0;
	if (h)
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, os_errno);
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return FETCH_NET_DNS;
	case CURLE_COULDNT_CONNECT:
		return FETCH_NET_REFUSED;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return FETCH_NET_CERT;
	case CURLE_SSL_CIPHER:
		return FETCH_NET_TLS;
	case CURLE_SSL_CONNECT_ERROR:
		for (i = 0; i < sizeof protocol / sizeof protocol[0]; i++)
			if (errbuf && strstr(errbuf, protocol[i]))
				return FETCH_NET_TLS;
		return FETCH_NET_OTHER; /* a reset or an EOF in the handshake */
	default:
		return FETCH_NET_OTHER;
	}
}

int
fetch_net_retry(enum fetch_net k, int reached)
{
	switch (k) {
	case FETCH_NET_DNS:
		return reached;
	case FETCH_NET_TLS:
	case FETCH_NET_CERT:
		return 0;
	default:
		return 1;
	}
}

/* A https:// request answered in plain text: OpenSSL's and GnuTLS's words for it. */
static int
plain_http(const char *why)
{
	return strstr(why, "wrong version number") || strstr(why, "packet length too long") ||
	       strstr(why, "record layer failure") || strstr(why, "unexpected TLS packet") ||
	       strstr(why, "http request");
}

void
fetch_net_fail(struct fetch_run *r, enum fetch_net k, long os_errno, const char *url,
               const char *url_name, const char *what, int attempts, const char *why)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	const char *how;
	struct cl_buf tries = CL_BUF_INIT;

	if (!u)
		cl_oom();
	if (url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_HOST, &host, 0);
		curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	}
	if (attempts > 1)
		cl_buf_addf(&tries, " (%d attempts)", attempts);
	else
		cl_buf_adds(&tries, "");
	switch (k) {
	case FETCH_NET_DNS:
		fetch_fail(r, "CL120",
		           "%s: the host name '%s' is not found (DNS)%s: check the %s's host "
		           "name: %s",
		           what, host ? host : "?", tries.p, url_name, why);
		break;
	case FETCH_NET_TLS:
		if (plain_http(why))
			fetch_fail(r, "CL121",
			           "%s: TLS handshake with %s port %s failed: the server answers "
			           "in plain http there, not TLS: check the %s's scheme and port: "
			           "%s",
			           what, host ? host : "?", port ? port : "?", url_name, why);
		else
			fetch_fail(r, "CL121",
			           "%s: TLS handshake with %s port %s failed: no TLS version or "
			           "cipher both sides accept, or not a TLS server: check the %s's "
			           "port and any proxy on the way: %s",
			           what, host ? host : "?", port ? port : "?", url_name, why);
		break;
	case FETCH_NET_REFUSED:
		how = os_errno == ECONNREFUSED   ? "connection refused"
		      : os_errno == EHOSTUNREACH ? "host unreachable"
		      : os_errno == ENETUNREACH  ? "network unreachable"
		      : os_errno == ETIMEDOUT    ? "no answer (a firewall dropping packets?)"
		                                 : "no connection";
		fetch_fail(r, "CL122",
		           "%s: cannot connect to %s port %s: %s%s: check the %s's port, the "
		           "firewall and any proxy: %s",
		           what, host ? host : "?", port ? port : "?", how, tries.p, url_name, why);
		break;
	case FETCH_NET_CERT:
		fetch_fail(r, "CL113", "%s: TLS certificate not verified: %s", what, why);
		break;
	default:
		fetch_fail(r, "CL104", "%s: failed %d times: %s", what, attempts, why);
		break;
	}
	cl_buf_release(&tries);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}
