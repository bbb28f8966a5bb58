/*
 * Fuzz the JSON-RPC framing decoder: any byte stream the runtime's stdout
 * could carry.  The first byte picks the chunk size (0: all at once) and
 * the body limit, so splits and the skip path are reached too.  Every
 * message decoded is classified, encoded again and decoded again, and must
 * come back equal.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sessiond/jsonrpc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
roundtrip(const json_t *m)
{
	struct jsonrpc_dec	 d;
	json_t			*again = NULL;
	char			*buf;
	size_t			 len, used;

	(void)jsonrpc_classify(m);
	if ((buf = jsonrpc_encode(m, &len)) == NULL)
		return;
	jsonrpc_dec_init(&d, 0);
	if (jsonrpc_dec_feed(&d, buf, len, &used, &again, NULL, 0) !=
	    JSONRPC_MSG || used != len || !json_equal(again, m))
		abort();
	json_decref(again);
	jsonrpc_dec_reset(&d);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonrpc_dec	 d;
	enum jsonrpc_rc		 rc;
	json_t			*msg;
	size_t			 chunk, off, n, used;
	char			 err[128];

	if (size == 0)
		return (0);
	chunk = data[0] & 0x1f;
	jsonrpc_dec_init(&d, data[0] & 0x20 ? 64 : 0);
	data++;
	size--;
	for (off = 0; off < size; ) {
		n = chunk == 0 || size - off < chunk ? size - off : chunk;
		rc = jsonrpc_dec_feed(&d, data + off, n, &used, &msg, err,
		    sizeof(err));
		if (used > n)
			abort();
		off += used;
		if (rc == JSONRPC_MSG) {
			roundtrip(msg);
			json_decref(msg);
		} else if (rc == JSONRPC_FATAL)
			break;
		else if (rc == JSONRPC_MORE && used != n)
			abort();
	}
	jsonrpc_dec_reset(&d);
	return (0);
}
