/*
 * libFuzzer target for what the schedule tool reads from the agent
 * (common/cron.c, common/tz.c): a cron expression, and a run_at time in
 * ISO 8601.  The input is split at its first newline: the expression (or
 * time) first, then a zone name.  Whatever the text, a parse either fails
 * with a reason or gives fields within their ranges, the next run of an
 * accepted expression is after the time asked about (and on a whole
 * minute of the zone's wall clock unless it is a DST jump), and the
 * description never overruns its buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "common/tz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct tz *
fuzz_zone(const char *name)
{
	static struct tz	*utc, *ny, *lh;
	char			 err[256];

	if (utc == NULL && ((utc = tz_load("UTC", err, sizeof(err))) == NULL ||
	    (ny = tz_load("America/New_York", err, sizeof(err))) == NULL ||
	    (lh = tz_load("Australia/Lord_Howe", err, sizeof(err))) == NULL))
		abort();
	if (strcmp(name, "ny") == 0)
		return (ny);
	if (strcmp(name, "lh") == 0)
		return (lh);
	return (utc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t	 starts[] = { 0, 1772953200, 1793491200,
				    4102444800, -86400 };
	struct cron		 c;
	struct tz		*z;
	char			*in, *nl, err[256], words[64];
	int64_t			 ms, n, local, u[2], gap;
	size_t			 i;

	if ((in = malloc(size + 1)) == NULL)
		return (0);
	memcpy(in, data, size);
	in[size] = '\0';
	nl = strchr(in, '\n');
	if (nl != NULL)
		*nl++ = '\0';
	z = fuzz_zone(nl != NULL ? nl : "");
	err[0] = '\0';
	if (cron_parse(in, &c, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
	} else {
		if ((c.min >> 60) != 0 || (c.hour >> 24) != 0 ||
		    (c.dom & 1) != 0 || (c.mon & 0xe001) != 0 ||
		    (c.dow >> 7) != 0)
			abort();
		for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
			n = cron_next(&c, z, starts[i]);
			if (n == -1)
				continue;
			if (n <= starts[i])
				abort();
			local = n + tz_offset(z, n, NULL);
			if (local % 60 != 0 && tz_local(z, local - local % 60,
			    u, &gap) != 0)
				abort();
		}
	}
	cron_describe(in, words, sizeof(words));
	if (memchr(words, '\0', sizeof(words)) == NULL)
		abort();
	if (tz_iso_parse(in, z, &ms, err, sizeof(err)) == 0 &&
	    (ms < -62167219200000LL - 86400000LL * 2 ||
	    ms > 253402300800000LL + 86400000LL * 2))
		abort();
	free(in);
	return (0);
}
