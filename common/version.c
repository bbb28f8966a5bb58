/*
 * version: see version.h.  The libraries report the versions loaded at
 * run time, which are what a bug report needs, not those built against.
 */
#include <stdio.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/crypto.h>

#include "revision.h"	/* generated: VERSION_NUMBER, VERSION_REVISION */
#include "version.h"

const char *
version_number(void)
{
	return (VERSION_NUMBER);
}

const char *
version_revision(void)
{
	return (VERSION_REVISION);
}

void
version_print(FILE *fp)
{
	const curl_version_info_data	*cv = curl_version_info(CURLVERSION_NOW);

	fprintf(fp, "copilot-bridge %s (revision %s)\n", VERSION_NUMBER,
	    VERSION_REVISION);
	fprintf(fp, "libevent %s\n", event_get_version());
	fprintf(fp, "libcurl %s\n", cv != NULL ? cv->version : "?");
	fprintf(fp, "jansson %s\n", jansson_version_str());
	fprintf(fp, "libwebsockets %s\n", lws_get_library_version());
	fprintf(fp, "%s\n", OpenSSL_version(OPENSSL_VERSION));
}
