/*
 * Fuzz the Retry-After header's parser (seconds or an HTTP date) and the
 * wait it becomes, which must stay within its cap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CAP_MS	30000

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_resp	 r;
	char		 v[128];

	if (size >= sizeof(v))
		return (0);
	memcpy(v, data, size);
	v[size] = '\0';
	memset(&r, 0, sizeof(r));
	r.retry_after = net_parse_retry_after(v);
	if (r.retry_after < -1 || net_retry_after_ms(&r, FUZZ_CAP_MS) >
	    FUZZ_CAP_MS)
		abort();
	return (0);
}
