/*
 * libFuzzer target for the W3C traceparent a span takes as its parent
 * (common/otel.c), which arrives in every INBOUND.  A span must always
 * start; a parent that parsed is kept (same trace id, the parent's span id
 * as the parent), anything else starts a new trace; the span's own
 * traceparent is always well formed.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/log.h"
#include "common/otel.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_setup(void)
{
	static int		 done;
	struct event_base	*base;
	json_t			*t;

	if (done++)
		return;
	log_set_level(LOG_LERROR);
	/* A file exporter that nothing flushes: spans are dropped, not sent. */
	if ((base = event_base_new()) == NULL ||
	    (t = json_pack("{s:s,s:s}", "exporterType", "file", "filePath",
	    "/dev/null")) == NULL ||
	    otel_configure(base, t, "sessiond", NULL, 0) == -1)
		abort();
	json_decref(t);
}

static int
fuzz_hex(const char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]) && (p[i] < 'a' || p[i] > 'f'))
			return (0);
	return (1);
}

/* "00-<32 hex>-<16 hex>-<2 hex>", lowercase, ids not all zero. */
static int
fuzz_tp_ok(const char *tp, size_t len)
{
	return (len == 55 && strncmp(tp, "00-", 3) == 0 && tp[35] == '-' &&
	    tp[52] == '-' && fuzz_hex(tp + 3, 32) && fuzz_hex(tp + 36, 16) &&
	    fuzz_hex(tp + 53, 2) && strspn(tp + 3, "0") < 32 &&
	    strspn(tp + 36, "0") < 16);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			*in, tp[OTEL_TRACEPARENT_LEN];
	struct otel_span	*s;

	fuzz_setup();
	if ((in = malloc(size + 1)) == NULL)
		return (0);
	memcpy(in, data, size);
	in[size] = '\0';
	if ((s = otel_span_start("fuzz", in)) == NULL)
		abort();
	otel_span_traceparent(s, tp);
	if (!fuzz_tp_ok(tp, strlen(tp)))
		abort();
	/* A well-formed parent is kept: the same trace. */
	if (fuzz_tp_ok(in, size) && memcmp(in + 3, tp + 3, 32) != 0)
		abort();
	otel_span_drop(s);
	free(in);
	return (0);
}
