/*
 * libFuzzer target for the zone files common/tz.c reads (TZif, RFC 8536,
 * with the POSIX TZ rule at the end).  A file either is refused with a
 * reason or gives a zone whose offsets stay within a day, whose local
 * times map back to themselves, and whose gaps end after they begin.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/tz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t	 t[] = { INT64_MIN / 4, -2147483648LL, -1, 0,
				    1772953200, 2147483647LL, 4102444800LL,
				    7258118400LL, INT64_MAX / 4 };
	struct tz		*z;
	char			 err[256];
	int64_t			 u[2], gap;
	int32_t			 off;
	size_t			 i;
	int			 n, k;

	err[0] = '\0';
	if ((z = tz_parse("fuzz", data, size, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();
		return (0);
	}
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		off = tz_offset(z, t[i], NULL);
		if (off < -26 * 3600 || off > 26 * 3600)
			abort();
		n = tz_local(z, t[i] + off, u, &gap);
		for (k = 0; k < n; k++)
			if (u[k] + tz_offset(z, u[k], NULL) != t[i] + off)
				abort();
		if (n == 2 && u[1] <= u[0])
			abort();
	}
	tz_free(z);
	return (0);
}
