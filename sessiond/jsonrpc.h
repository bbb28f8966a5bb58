/*
 * jsonrpc: JSON-RPC 2.0 with LSP-style "Content-Length" framing, as the
 * Copilot runtime speaks it on its stdio.  A pure module: no I/O, no event
 * loop.  The decoder is incremental: feed it whatever the pipe gave, in any
 * chunking, and it hands back one message at a time.
 *
 *	Content-Length: <N>\r\n
 *	[Other-Header: ignored\r\n]
 *	\r\n
 *	<N bytes of UTF-8 JSON>
 *
 * Limits are hard: a header block longer than JSONRPC_HEADER_MAX, a
 * Content-Length that is missing, duplicated or not a decimal number, or a
 * body larger than JSONRPC_SKIP_MAX breaks the stream (FATAL: the peer is
 * not speaking the protocol and the only way on is a new connection).  A
 * body larger than the decoder's body_max, or one that is not a JSON object,
 * is dropped (SKIP) without losing the framing, so one oversized event does
 * not cost the whole runtime.
 */
#ifndef SESSIOND_JSONRPC_H
#define SESSIOND_JSONRPC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define JSONRPC_HEADER_MAX	4096			/* header block, bytes */
#define JSONRPC_BODY_MAX	(64u * 1024 * 1024)	/* default body_max */
#define JSONRPC_SKIP_MAX	(1024u * 1024 * 1024)	/* larger is FATAL */

enum jsonrpc_rc {
	JSONRPC_MORE = 0,	/* all input consumed; feed more */
	JSONRPC_MSG,		/* *msg is a message (caller owns it) */
	JSONRPC_SKIP,		/* a message was dropped; err says why */
	JSONRPC_FATAL		/* the stream is broken; err says why */
};

struct jsonrpc_dec {
	int		 state;		/* JD_* in jsonrpc.c */
	size_t		 body_max;
	char		 line[JSONRPC_HEADER_MAX];	/* current header line */
	size_t		 llen;
	size_t		 hbytes;	/* bytes of this header block so far */
	int		 nheaders;	/* header lines of this block */
	int		 have_len;
	uint64_t	 clen;		/* Content-Length of this message */
	char		*body;		/* clen bytes, while reading a body */
	size_t		 blen;
	uint64_t	 skip;		/* body bytes still to drop */
	char		 why[160];	/* reason of a SKIP or FATAL */
};

/* body_max 0 means JSONRPC_BODY_MAX; it is capped at JSONRPC_SKIP_MAX. */
void		 jsonrpc_dec_init(struct jsonrpc_dec *, size_t body_max);
/* Free what the decoder holds and start over, as for a new stream. */
void		 jsonrpc_dec_reset(struct jsonrpc_dec *);
/*
 * Consume up to len bytes of buf and set *used to how many were consumed.
 * MORE means *used == len.  After MSG or SKIP, call again with the rest.
 * After FATAL the decoder stays broken until jsonrpc_dec_reset().
 * err (may be NULL) receives the reason of a SKIP or FATAL.
 */
enum jsonrpc_rc	 jsonrpc_dec_feed(struct jsonrpc_dec *, const void *buf,
		    size_t len, size_t *used, json_t **msg, char *err,
		    size_t errlen);

/*
 * A framed message: malloc'd header + compact JSON, *len bytes (not NUL
 * terminated).  NULL when msg cannot be encoded or memory is short.
 */
char		*jsonrpc_encode(const json_t *msg, size_t *len);

/* Builders; params and result are stolen (NULL params: {}).  NULL on ENOMEM. */
json_t		*jsonrpc_request(int64_t id, const char *method, json_t *params);
json_t		*jsonrpc_notification(const char *method, json_t *params);
json_t		*jsonrpc_result(const json_t *id, json_t *result);
json_t		*jsonrpc_error(const json_t *id, int code, const char *message);

enum jsonrpc_kind {
	JSONRPC_INVALID = 0,
	JSONRPC_REQUEST,	/* method + id (integer or string) */
	JSONRPC_NOTIFICATION,	/* method, no id */
	JSONRPC_RESPONSE	/* id + exactly one of result, error (an object) */
};
enum jsonrpc_kind jsonrpc_classify(const json_t *msg);

/* JSON-RPC error codes we send. */
#define JSONRPC_METHOD_NOT_FOUND	(-32601)
#define JSONRPC_INTERNAL_ERROR		(-32603)

#endif
