/*
 * jsonrpc: Content-Length framing (every chunking, every rejection path,
 * the limits), the message builders and the classifier.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sessiond/jsonrpc.h"

#define MAXMSG	16

/* What a decoder made of a stream. */
struct result {
	json_t	*msgs[MAXMSG];
	int	 nmsg;
	int	 nskip;
	int	 fatal;
	char	 err[256];	/* the last SKIP or FATAL reason */
};

static void
result_clear(struct result *r)
{
	int	i;

	for (i = 0; i < r->nmsg; i++)
		json_decref(r->msgs[i]);
	memset(r, 0, sizeof(*r));
}

/* Feed buf in chunks of at most chunk bytes (0: all at once). */
static void
feed(struct jsonrpc_dec *d, const void *buf, size_t len, size_t chunk,
    struct result *r)
{
	const unsigned char	*p = buf;
	size_t			 off = 0, n, used;
	enum jsonrpc_rc		 rc;
	json_t			*msg;

	while (off < len && !r->fatal) {
		n = chunk == 0 || len - off < chunk ? len - off : chunk;
		while (n > 0) {
			rc = jsonrpc_dec_feed(d, p + off, n, &used, &msg, r->err,
			    sizeof(r->err));
			assert_true(used <= n);
			off += used;
			n -= used;
			if (rc == JSONRPC_MSG) {
				assert_non_null(msg);
				assert_true(r->nmsg < MAXMSG);
				r->msgs[r->nmsg++] = msg;
			} else if (rc == JSONRPC_SKIP)
				r->nskip++;
			else if (rc == JSONRPC_FATAL) {
				r->fatal = 1;
				break;
			} else
				assert_int_equal(n, 0);	/* MORE: all used */
		}
	}
}

static void
decode_all(const char *s, size_t chunk, struct result *r)
{
	struct jsonrpc_dec	d;

	jsonrpc_dec_init(&d, 0);
	memset(r, 0, sizeof(*r));
	feed(&d, s, strlen(s), chunk, r);
	jsonrpc_dec_reset(&d);
}

static void
expect_fatal(const char *stream, const char *want)
{
	struct result	r;

	decode_all(stream, 0, &r);
	assert_int_equal(r.fatal, 1);
	if (strstr(r.err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", r.err, want);
	result_clear(&r);
}

static void
test_roundtrip(void **state)
{
	json_t			*m, *params;
	char			*buf;
	size_t			 len;
	struct result		 r;
	struct jsonrpc_dec	 d;

	params = json_pack("{s:s,s:s}", "sessionId", "x", "prompt",
	    "héllo \"wörld\"\n");
	m = jsonrpc_request(42, "session.send", params);
	assert_non_null(m);
	buf = jsonrpc_encode(m, &len);
	assert_non_null(buf);
	assert_memory_equal(buf, "Content-Length: ", 16);
	assert_non_null(memmem(buf, len, "\r\n\r\n", 4));

	jsonrpc_dec_init(&d, 0);
	memset(&r, 0, sizeof(r));
	feed(&d, buf, len, 0, &r);
	assert_int_equal(r.nmsg, 1);
	assert_true(json_equal(r.msgs[0], m));
	assert_int_equal(jsonrpc_classify(r.msgs[0]), JSONRPC_REQUEST);
	result_clear(&r);
	jsonrpc_dec_reset(&d);
	free(buf);
	json_decref(m);
}

/* Every split of three messages, byte by byte and in odd chunks. */
static void
test_chunking(void **state)
{
	json_t			*m[3], *id;
	char			*b[3], *all;
	size_t			 l[3], total, chunk;
	struct result		 r;
	struct jsonrpc_dec	 d;
	int			 i;

	m[0] = jsonrpc_request(1, "connect", NULL);
	m[1] = jsonrpc_notification("session.event",
	    json_pack("{s:s,s:{s:s,s:{s:s}}}", "sessionId", "s",
	    "event", "type", "assistant.message_delta", "data",
	    "deltaContent", "€ and 🙂"));
	id = json_integer(7);
	m[2] = jsonrpc_result(id, json_pack("{s:b}", "ok", 1));
	json_decref(id);
	total = 0;
	for (i = 0; i < 3; i++) {
		assert_non_null(m[i]);
		b[i] = jsonrpc_encode(m[i], &l[i]);
		assert_non_null(b[i]);
		total += l[i];
	}
	all = malloc(total);
	assert_non_null(all);
	memcpy(all, b[0], l[0]);
	memcpy(all + l[0], b[1], l[1]);
	memcpy(all + l[0] + l[1], b[2], l[2]);
	for (chunk = 0; chunk <= 64; chunk = chunk == 0 ? 1 : chunk + 1) {
		jsonrpc_dec_init(&d, 0);
		memset(&r, 0, sizeof(r));
		feed(&d, all, total, chunk, &r);
		assert_int_equal(r.fatal, 0);
		assert_int_equal(r.nskip, 0);
		assert_int_equal(r.nmsg, 3);
		for (i = 0; i < 3; i++)
			assert_true(json_equal(r.msgs[i], m[i]));
		result_clear(&r);
		jsonrpc_dec_reset(&d);
	}
	for (i = 0; i < 3; i++) {
		free(b[i]);
		json_decref(m[i]);
	}
	free(all);
}

static void
test_several_in_one_chunk(void **state)
{
	struct result	r;

	decode_all("Content-Length: 2\r\n\r\n{}"
	    "content-length:7\r\n\r\n{\"a\":1}"
	    "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
	    "CONTENT-LENGTH:   9  \r\n\r\n{\"b\":[2]}", 0, &r);
	assert_int_equal(r.fatal, 0);
	assert_int_equal(r.nmsg, 3);
	assert_int_equal(json_object_size(r.msgs[0]), 0);
	assert_int_equal(json_integer_value(json_object_get(r.msgs[1], "a")), 1);
	assert_true(json_is_array(json_object_get(r.msgs[2], "b")));
	result_clear(&r);
}

static void
test_lenient_lines(void **state)
{
	struct result	r;

	/* Bare LF line ends, and blank lines between frames. */
	decode_all("Content-Length: 2\n\n{}\r\n\r\nContent-Length: 2\r\n\r\n{}",
	    1, &r);
	assert_int_equal(r.fatal, 0);
	assert_int_equal(r.nmsg, 2);
	result_clear(&r);
}

static void
test_bad_headers(void **state)
{
	expect_fatal("Content-Length 2\r\n\r\n{}", "without ':'");
	expect_fatal(": 2\r\n\r\n{}", "without a name");
	expect_fatal("Content Length: 2\r\n\r\n{}", "bad header name");
	expect_fatal("Content-Length : 2\r\n\r\n{}", "bad header name");
	expect_fatal("Content-Length: 2\r\x01\r\n\r\n{}", "control character");
	expect_fatal("Content-Type: x\r\n\r\n{}", "without Content-Length");
	expect_fatal("Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
	    "duplicate Content-Length");
	expect_fatal("Content-Length: -2\r\n\r\n{}", "bad Content-Length");
	expect_fatal("Content-Length: +2\r\n\r\n{}", "bad Content-Length");
	expect_fatal("Content-Length: 2x\r\n\r\n{}", "bad Content-Length");
	expect_fatal("Content-Length: 2 2\r\n\r\n{}", "bad Content-Length");
	expect_fatal("Content-Length: \r\n\r\n{}", "bad Content-Length");
	expect_fatal("Content-Length: 0x10\r\n\r\n{}", "bad Content-Length");
	/* Larger than anything we would skip, and integer overflow. */
	expect_fatal("Content-Length: 1073741825\r\n\r\n", "bad Content-Length");
	expect_fatal("Content-Length: 99999999999999999999999\r\n\r\n",
	    "bad Content-Length");
	expect_fatal("{\"jsonrpc\":\"2.0\"}\r\n", "bad header name");
}

static void
test_header_limit(void **state)
{
	char		*s;
	size_t		 n = JSONRPC_HEADER_MAX + 100, i;
	struct result	 r;

	s = malloc(n + 32);
	assert_non_null(s);
	strcpy(s, "X-Long: ");
	for (i = strlen(s); i < n; i++)
		s[i] = 'a';
	strcpy(s + n, "\r\n\r\n");
	decode_all(s, 0, &r);
	assert_int_equal(r.fatal, 1);
	assert_non_null(strstr(r.err, "header longer"));
	result_clear(&r);
	decode_all(s, 7, &r);		/* the limit holds across chunks */
	assert_int_equal(r.fatal, 1);
	result_clear(&r);

	/* Endless blank lines count too. */
	for (i = 0; i < n; i += 2)
		memcpy(s + i, "\r\n", 2);
	s[n] = '\0';
	decode_all(s, 0, &r);
	assert_int_equal(r.fatal, 1);
	result_clear(&r);

	/* Just under the limit is fine. */
	memset(s, 0, n + 32);
	strcpy(s, "Content-Length: 2\r\nX-Pad: ");
	i = strlen(s);
	memset(s + i, 'p', JSONRPC_HEADER_MAX - i - 4);
	strcpy(s + JSONRPC_HEADER_MAX - 4, "\r\n\r\n{}");
	decode_all(s, 0, &r);
	assert_int_equal(r.fatal, 0);
	assert_int_equal(r.nmsg, 1);
	result_clear(&r);
	free(s);
}

static void
test_fatal_sticks(void **state)
{
	struct jsonrpc_dec	d;
	struct result		r;
	const char		*good = "Content-Length: 2\r\n\r\n{}";

	jsonrpc_dec_init(&d, 0);
	memset(&r, 0, sizeof(r));
	feed(&d, "garbage\r\n", 9, 0, &r);
	assert_int_equal(r.fatal, 1);
	r.fatal = 0;
	feed(&d, good, strlen(good), 0, &r);
	assert_int_equal(r.fatal, 1);
	assert_int_equal(r.nmsg, 0);
	/* Reset: a new stream. */
	jsonrpc_dec_reset(&d);
	memset(&r, 0, sizeof(r));
	feed(&d, good, strlen(good), 0, &r);
	assert_int_equal(r.fatal, 0);
	assert_int_equal(r.nmsg, 1);
	result_clear(&r);
	jsonrpc_dec_reset(&d);
}

/* A bad body costs one message, not the stream. */
static void
test_bad_bodies(void **state)
{
	struct result	r;

	decode_all("Content-Length: 5\r\n\r\nhello"
	    "Content-Length: 2\r\n\r\n[]"
	    "Content-Length: 0\r\n\r\n"
	    "Content-Length: 4\r\n\r\n{\"a\""
	    "Content-Length: 3\r\n\r\n{} "
	    "Content-Length: 5\r\n\r\n\"\xff\xfe\" "
	    "Content-Length: 12\r\n\r\n{\"ok\":\"yes\"}", 1, &r);
	assert_int_equal(r.fatal, 0);
	assert_int_equal(r.nskip, 5);
	assert_int_equal(r.nmsg, 2);	/* "{} " is JSON with a space */
	assert_string_equal(json_string_value(json_object_get(r.msgs[1], "ok")),
	    "yes");
	result_clear(&r);

	decode_all("Content-Length: 2\r\n\r\n[]", 0, &r);
	assert_non_null(strstr(r.err, "not a JSON object"));
	result_clear(&r);
	decode_all("Content-Length: 5\r\n\r\nhello", 0, &r);
	assert_non_null(strstr(r.err, "not JSON"));
	result_clear(&r);
}

/* Over body_max: skipped, and the next message still decodes. */
static void
test_body_limit(void **state)
{
	struct jsonrpc_dec	 d;
	struct result		 r;
	char			 big[200];
	const char		*hdr = "Content-Length: 150\r\n\r\n";
	const char		*next = "Content-Length: 7\r\n\r\n{\"n\":2}";
	size_t			 chunk;

	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"a\":\"", 6);
	memcpy(big + 148, "\"}", 2);
	for (chunk = 0; chunk < 40; chunk += 13) {
		jsonrpc_dec_init(&d, 100);
		memset(&r, 0, sizeof(r));
		feed(&d, hdr, strlen(hdr), chunk, &r);
		feed(&d, big, 150, chunk, &r);
		feed(&d, next, strlen(next), chunk, &r);
		assert_int_equal(r.fatal, 0);
		assert_int_equal(r.nskip, 1);
		assert_non_null(strstr(r.err, "exceeds the limit"));
		assert_int_equal(r.nmsg, 1);
		assert_int_equal(json_integer_value(json_object_get(r.msgs[0],
		    "n")), 2);
		result_clear(&r);
		jsonrpc_dec_reset(&d);
	}
	/* Exactly body_max is fine. */
	jsonrpc_dec_init(&d, 150);
	memset(&r, 0, sizeof(r));
	feed(&d, hdr, strlen(hdr), 0, &r);
	feed(&d, big, 150, 0, &r);
	assert_int_equal(r.nmsg, 1);
	result_clear(&r);
	jsonrpc_dec_reset(&d);
}

static void
test_builders(void **state)
{
	json_t	*m, *id;

	m = jsonrpc_error(json_object_get(NULL, "x"), JSONRPC_METHOD_NOT_FOUND,
	    "Unhandled method x");
	assert_non_null(m);
	assert_true(json_is_null(json_object_get(m, "id")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m,
	    "error"), "code")), -32601);
	assert_int_equal(jsonrpc_classify(m), JSONRPC_RESPONSE);
	json_decref(m);

	id = json_string("abc");
	m = jsonrpc_result(id, NULL);
	assert_string_equal(json_string_value(json_object_get(m, "id")), "abc");
	assert_true(json_is_object(json_object_get(m, "result")));
	assert_string_equal(json_string_value(json_object_get(m, "jsonrpc")),
	    "2.0");
	json_decref(m);
	json_decref(id);

	m = jsonrpc_notification("x", NULL);
	assert_int_equal(jsonrpc_classify(m), JSONRPC_NOTIFICATION);
	json_decref(m);
	assert_null(jsonrpc_request(1, NULL, NULL));
	assert_null(jsonrpc_encode(NULL, NULL));
}

static void
test_classify(void **state)
{
	static const struct {
		const char		*json;
		enum jsonrpc_kind	 kind;
	} cases[] = {
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{}}",
		    JSONRPC_REQUEST },
		{ "{\"id\":\"s\",\"method\":\"m\"}", JSONRPC_REQUEST },
		{ "{\"method\":\"m\",\"params\":[1]}", JSONRPC_NOTIFICATION },
		{ "{\"id\":1,\"result\":null}", JSONRPC_RESPONSE },
		{ "{\"id\":null,\"error\":{\"code\":1}}", JSONRPC_RESPONSE },
		{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":1}", JSONRPC_INVALID },
		{ "{\"id\":1,\"method\":5}", JSONRPC_INVALID },
		{ "{\"id\":1.5,\"method\":\"m\"}", JSONRPC_INVALID },
		{ "{\"id\":null,\"method\":\"m\"}", JSONRPC_INVALID },
		{ "{\"method\":\"m\",\"params\":3}", JSONRPC_INVALID },
		{ "{\"id\":1}", JSONRPC_INVALID },
		{ "{\"id\":1,\"result\":1,\"error\":{}}", JSONRPC_INVALID },
		{ "{\"id\":1,\"error\":\"no\"}", JSONRPC_INVALID },
		{ "{\"id\":[],\"result\":1}", JSONRPC_INVALID },
		{ "{}", JSONRPC_INVALID },
	};
	json_t	*j;
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		j = json_loads(cases[i].json, 0, NULL);
		assert_non_null(j);
		if (jsonrpc_classify(j) != cases[i].kind)
			fail_msg("%s: kind %d, want %d", cases[i].json,
			    jsonrpc_classify(j), cases[i].kind);
		json_decref(j);
	}
	assert_int_equal(jsonrpc_classify(NULL), JSONRPC_INVALID);
}

/* A large message, as model.messages_snapshot is, in pipe-sized reads. */
static void
test_large(void **state)
{
	size_t			 n = 3 * 1024 * 1024, len;
	char			*text, *buf;
	json_t			*m;
	struct result		 r;
	struct jsonrpc_dec	 d;

	text = malloc(n + 1);
	assert_non_null(text);
	memset(text, 'z', n);
	text[n] = '\0';
	m = jsonrpc_notification("session.event", json_pack("{s:s}", "big",
	    text));
	buf = jsonrpc_encode(m, &len);
	assert_non_null(buf);
	jsonrpc_dec_init(&d, 0);
	memset(&r, 0, sizeof(r));
	feed(&d, buf, len, 65536, &r);
	assert_int_equal(r.nmsg, 1);
	assert_true(json_equal(r.msgs[0], m));
	result_clear(&r);
	jsonrpc_dec_reset(&d);
	free(buf);
	free(text);
	json_decref(m);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_chunking),
		cmocka_unit_test(test_several_in_one_chunk),
		cmocka_unit_test(test_lenient_lines),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_fatal_sticks),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_large),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
