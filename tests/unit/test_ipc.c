/*
 * ipc: framing, descriptor passing, the send queue, and every rejection
 * path of the decoder.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/log.h"
#include "ipc/ipc.h"

static uint8_t	buf[IPC_HDR_LEN + IPC_BODY_MAX + 64];

static size_t
enc(uint16_t type, const char *json)
{
	json_t	*j = json_loads(json, 0, NULL);
	ssize_t	 n;

	assert_non_null(j);
	n = ipc_encode(type, 7, 0, j, buf, sizeof(buf));
	json_decref(j);
	assert_true(n > 0);
	return ((size_t)n);
}

static void
set_u32(size_t off, uint32_t v)
{
	memcpy(buf + off, &v, 4);
}

static void
set_u16(size_t off, uint16_t v)
{
	memcpy(buf + off, &v, 2);
}

/* Decoding must fail with err containing want. */
static void
reject(size_t len, int fd, const char *want)
{
	struct ipc_msg	m;
	char		err[256] = "";

	assert_int_equal(ipc_decode(buf, len, fd, &m, err, sizeof(err)), -1);
	assert_null(m.body);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void
test_roundtrip(void **state)
{
	struct ipc_msg	m;
	char		err[128];
	size_t		n = enc(IPC_HELLO, "{\"proto\":1,\"role\":\"worker\",\"pid\":42}");

	assert_int_equal(ipc_decode(buf, n, -1, &m, err, sizeof(err)), 0);
	assert_int_equal(m.hdr.type, IPC_HELLO);
	assert_int_equal(m.hdr.seq, 7);
	assert_int_equal(m.hdr.version, IPC_VERSION);
	assert_int_equal(json_integer_value(json_object_get(m.body, "pid")), 42);
	assert_string_equal(ipc_type_name(m.hdr.type), "HELLO");
	ipc_msg_clear(&m);
}

static void
test_every_type_has_a_name(void **state)
{
	int	t;

	for (t = 1; t < IPC_TYPE_MAX; t++)
		assert_string_not_equal(ipc_type_name(t), "UNKNOWN");
	assert_string_equal(ipc_type_name(0), "UNKNOWN");
	assert_string_equal(ipc_type_name(IPC_TYPE_MAX), "UNKNOWN");
}

static void
test_reject_short(void **state)
{
	size_t	n = enc(IPC_DRAIN, "{}");

	reject(0, -1, "short message");
	reject(IPC_HDR_LEN - 1, -1, "short message");
	(void)n;
}

static void
test_reject_version(void **state)
{
	size_t	n = enc(IPC_DRAIN, "{}");

	set_u32(0, IPC_VERSION + 1);
	reject(n, -1, "protocol version 2, expected 1");
}

static void
test_reject_type(void **state)
{
	size_t	n = enc(IPC_DRAIN, "{}");

	set_u16(4, 0);
	reject(n, -1, "unknown message type 0");
	set_u16(4, IPC_TYPE_MAX);
	reject(n, -1, "unknown message type");
	set_u16(4, 0xffff);
	reject(n, -1, "unknown message type 65535");
}

static void
test_reject_flags_and_fd(void **state)
{
	size_t	n = enc(IPC_DRAIN, "{}");

	set_u16(6, 0x8000);
	reject(n, -1, "unknown flags");
	set_u16(6, IPC_F_FD);
	reject(n, -1, "descriptor missing");
	set_u16(6, 0);
	reject(n, 99, "descriptor not expected");
}

static void
test_reject_length(void **state)
{
	size_t	n = enc(IPC_DRAIN, "{}");

	set_u32(12, 3);
	reject(n, -1, "body length 3 does not match 2");
	set_u32(12, IPC_BODY_MAX + 1);
	reject(n, -1, "does not match");
}

static void
test_reject_body(void **state)
{
	size_t	n;

	n = enc(IPC_DRAIN, "{}");
	memcpy(buf + IPC_HDR_LEN, "{x", 2);
	reject(n, -1, "bad JSON body");
	n = enc(IPC_DRAIN, "[1]");
	reject(n, -1, "body is not an object");
	n = enc(IPC_HELLO, "{\"proto\":1,\"role\":\"worker\"}");
	reject(n, -1, "HELLO: field \"pid\" missing");
	n = enc(IPC_HELLO, "{\"proto\":\"1\",\"role\":\"worker\",\"pid\":1}");
	reject(n, -1, "HELLO: field \"proto\" has the wrong type");
	n = enc(IPC_OUTBOUND_DONE, "{\"ref\":1,\"ok\":1}");
	reject(n, -1, "field \"ok\" has the wrong type");
	/* Duplicate keys could smuggle a second meaning past the schema. */
	n = enc(IPC_DRAIN, "{}");
	memcpy(buf + IPC_HDR_LEN, "{\"a\":1,\"a\":2}", 13);
	set_u32(12, 13);
	reject(IPC_HDR_LEN + 13, -1, "bad JSON body");
}

static void
test_encode_limits(void **state)
{
	json_t	*j = json_object();
	char	*big = malloc(IPC_BODY_MAX + 1);

	memset(big, 'x', IPC_BODY_MAX);
	big[IPC_BODY_MAX] = '\0';
	json_object_set_new(j, "text", json_string(big));
	assert_int_equal(ipc_encode(IPC_DRAIN, 1, 0, j, buf, sizeof(buf)), -1);
	assert_int_equal(ipc_encode(IPC_DRAIN, 1, 0, j, buf, 8), -1);
	json_decref(j);
	free(big);
}

/* A channel pair on one event base, recording what arrives. */
struct rec {
	int		 n;
	int		 closed;
	char		 why[256];
	int		 fd;
	uint16_t	 type;
	struct ipc_chan	*self;
	int		 free_in_cb;
};

static void
rec_msg(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct rec	*r = arg;

	r->n++;
	r->type = m->hdr.type;
	if (m->fd != -1) {
		r->fd = m->fd;
		m->fd = -1;
	}
	if (r->free_in_cb) {
		ipc_chan_free(ch);
		r->self = NULL;
	}
}

static void
rec_close(struct ipc_chan *ch, const char *why, void *arg)
{
	struct rec	*r = arg;

	r->closed++;
	snprintf(r->why, sizeof(r->why), "%s", why);
}

static void
run_until(struct event_base *base, int *flag, int want)
{
	int	i;

	for (i = 0; i < 1000 && *flag < want; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static void
test_channel_fd_passing(void **state)
{
	struct event_base	*base = event_base_new();
	struct rec		 ra = { .fd = -1 }, rb = { .fd = -1 };
	struct ipc_chan		*a, *b;
	int			 sv[2], p[2];
	char			 c = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	a = ipc_chan_new(base, sv[0], "a", rec_msg, rec_close, &ra);
	b = ipc_chan_new(base, sv[1], "b", rec_msg, rec_close, &rb);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(ipc_send_fd(a, IPC_ATTACH, json_pack("{s:s,s:i}",
	    "bot", "mattermost:a", "generation", 3), p[1]), 0);
	close(p[1]);
	run_until(base, &rb.n, 1);
	assert_int_equal(rb.n, 1);
	assert_int_equal(rb.type, IPC_ATTACH);
	assert_true(rb.fd >= 0);
	assert_true((fcntl(rb.fd, F_GETFD) & FD_CLOEXEC) != 0);
	/* The passed descriptor is the pipe's write end. */
	assert_int_equal(write(rb.fd, "z", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'z');
	close(rb.fd);
	close(p[0]);
	ipc_chan_free(a);
	run_until(base, &rb.closed, 1);
	assert_int_equal(rb.closed, 1);
	assert_string_equal(rb.why, "peer closed the channel");
	ipc_chan_free(b);
	event_base_free(base);
}

static void
test_channel_queue_survives_eagain(void **state)
{
	struct event_base	*base = event_base_new();
	struct rec		 ra = { .fd = -1 }, rb = { .fd = -1 };
	struct ipc_chan		*a, *b;
	int			 sv[2], i, sndbuf = 4096;
	json_t			*j;
	char			 text[2000];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf)), 0);
	a = ipc_chan_new(base, sv[0], "a", rec_msg, rec_close, &ra);
	b = ipc_chan_new(base, sv[1], "b", rec_msg, rec_close, &rb);
	memset(text, 'y', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (i = 0; i < 500; i++) {
		j = json_pack("{s:i,s:s,s:s}", "ref", i, "op", "post", "text", text);
		assert_int_equal(ipc_send(a, IPC_OUTBOUND, j), 0);
	}
	assert_true(ipc_queued(a) > 0);	/* the socket filled up */
	run_until(base, &rb.n, 500);
	assert_int_equal(rb.n, 500);
	assert_int_equal(ipc_queued(a), 0);
	assert_int_equal(ipc_last_seq(a), 500);
	ipc_chan_free(a);
	ipc_chan_free(b);
	event_base_free(base);
}

/*
 * ipc_backlog() says whether the peer's messages wait to be read: through
 * a read that stops at its batch bound, until the last one was read.
 */
static void
test_channel_backlog(void **state)
{
	struct event_base	*base = event_base_new();
	struct rec		 ra = { .fd = -1 }, rb = { .fd = -1 };
	struct ipc_chan		*a, *b;
	int			 sv[2], i;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	a = ipc_chan_new(base, sv[0], "a", rec_msg, rec_close, &ra);
	b = ipc_chan_new(base, sv[1], "b", rec_msg, rec_close, &rb);
	assert_int_equal(ipc_backlog(b), 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(ipc_send(a, IPC_INBOUND_ACK, json_pack("{s:s}",
		    "id", "x")), 0);
	assert_int_equal(ipc_backlog(b), 1);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_true(rb.n > 0 && rb.n < 100);	/* one batch */
	assert_int_equal(ipc_backlog(b), 1);
	run_until(base, &rb.n, 100);
	assert_int_equal(rb.n, 100);
	assert_int_equal(ipc_backlog(b), 0);
	assert_int_equal(ipc_backlog(a), 0);
	ipc_chan_free(a);
	ipc_chan_free(b);
	event_base_free(base);
}

/*
 * A peer that reads nothing costs at most IPC_SENDQ_BYTES: with messages
 * of ~100 KiB the byte bound, not the message count, closes the channel.
 */
static void
test_channel_queue_bounded_in_bytes(void **state)
{
	struct event_base	*base = event_base_new();
	struct rec		 ra = { .fd = -1 };
	struct ipc_chan		*a;
	int			 sv[2], i, rc = 0;
	static char		 text[100 * 1024];
	json_t			*j;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	a = ipc_chan_new(base, sv[0], "a", rec_msg, rec_close, &ra);
	memset(text, 'y', sizeof(text) - 1);
	for (i = 0; i < IPC_SENDQ_MAX && rc == 0; i++) {
		j = json_pack("{s:i,s:s,s:s}", "ref", i, "op", "post", "text", text);
		rc = ipc_send(a, IPC_OUTBOUND, j);
	}
	assert_int_equal(rc, -1);
	assert_true(i < 300);		/* 16 MiB / 100 KiB, plus the socket's */
	assert_true(ipc_queued(a) * sizeof(text) <= IPC_SENDQ_BYTES);
	run_until(base, &ra.closed, 1);
	assert_int_equal(ra.closed, 1);
	assert_string_equal(ra.why, "send queue full; closing the channel");
	ipc_chan_free(a);
	close(sv[1]);
	event_base_free(base);
}

static void
test_channel_rejects_garbage_and_closes(void **state)
{
	struct event_base	*base = event_base_new();
	struct rec		 rb = { .fd = -1 };
	struct ipc_chan		*b;
	int			 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	b = ipc_chan_new(base, sv[1], "worker x g1", rec_msg, rec_close, &rb);
	assert_int_equal(send(sv[0], "garbage", 7, 0), 7);
	run_until(base, &rb.closed, 1);
	assert_int_equal(rb.closed, 1);
	assert_int_equal(rb.n, 0);
	assert_non_null(strstr(rb.why, "short message"));
	/* A closed channel refuses sends instead of crashing. */
	assert_int_equal(ipc_send(b, IPC_DRAIN, json_object()), -1);
	ipc_chan_free(b);
	close(sv[0]);
	event_base_free(base);
}

static void
test_channel_oversized_datagram(void **state)
{
	struct event_base	*base = event_base_new();
	struct rec		 rb = { .fd = -1 };
	struct ipc_chan		*b;
	int			 sv[2], big = 1 << 20;
	char			*junk = calloc(1, IPC_HDR_LEN + IPC_BODY_MAX + 100);

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	b = ipc_chan_new(base, sv[1], "b", rec_msg, rec_close, &rb);
	assert_true(send(sv[0], junk, IPC_HDR_LEN + IPC_BODY_MAX + 100, 0) > 0);
	run_until(base, &rb.closed, 1);
	assert_int_equal(rb.closed, 1);
	assert_string_equal(rb.why, "truncated message");
	ipc_chan_free(b);
	close(sv[0]);
	free(junk);
	event_base_free(base);
}

/*
 * The blocking pair (the fork server's): a message with a descriptor each
 * way, a timeout, garbage and a closed peer.
 */
static void
test_blocking_messages(void **state)
{
	struct ipc_msg	m;
	char		why[256] = "", c = 0;
	int		sv[2], p[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(ipc_read_msg(sv[1], 0, &m, why, sizeof(why)), 0);
	assert_int_equal(ipc_write_msg(sv[0], IPC_FORK, json_pack("{s:i}",
	    "parent", 42), p[1]), 0);
	assert_int_equal(ipc_read_msg(sv[1], 1000, &m, why, sizeof(why)), 1);
	assert_int_equal(m.hdr.type, IPC_FORK);
	assert_int_equal(json_integer_value(json_object_get(m.body, "parent")),
	    42);
	assert_true(m.fd >= 0 && m.fd != p[1]);
	assert_true((fcntl(m.fd, F_GETFD) & FD_CLOEXEC) != 0);
	assert_int_equal(write(m.fd, "y", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	ipc_msg_clear(&m);
	assert_int_equal(m.fd, -1);
	/* A body that misses its schema's field is refused. */
	assert_int_equal(ipc_write_msg(sv[1], IPC_FORKED, json_object(), -1), 0);
	assert_int_equal(ipc_read_msg(sv[0], 1000, &m, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "pid"));
	/* Garbage, then a closed peer. */
	assert_int_equal(send(sv[1], "garbage", 7, 0), 7);
	assert_int_equal(ipc_read_msg(sv[0], 1000, &m, why, sizeof(why)), -1);
	assert_int_equal(ipc_write_msg(sv[0], IPC_FORKED, NULL, -1), -1);
	close(sv[1]);
	assert_int_equal(ipc_read_msg(sv[0], 1000, &m, why, sizeof(why)), -1);
	assert_string_equal(why, "peer closed the channel");
	assert_int_equal(ipc_write_msg(sv[0], IPC_FORKED, json_pack("{s:i}",
	    "pid", 1), -1), -1);
	close(sv[0]);
	close(p[0]);
	close(p[1]);
}

static void
test_channel_free_inside_callback(void **state)
{
	struct event_base	*base = event_base_new();
	struct rec		 ra = { .fd = -1 }, rb = { .fd = -1, .free_in_cb = 1 };
	struct ipc_chan		*a;
	int			 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	a = ipc_chan_new(base, sv[0], "a", rec_msg, rec_close, &ra);
	rb.self = ipc_chan_new(base, sv[1], "b", rec_msg, rec_close, &rb);
	/* Two queued messages: the second must not reach a freed channel. */
	assert_int_equal(ipc_send(a, IPC_DRAIN, json_object()), 0);
	assert_int_equal(ipc_send(a, IPC_DRAIN, json_object()), 0);
	run_until(base, &rb.n, 2);
	assert_int_equal(rb.n, 1);
	assert_null(rb.self);
	assert_int_equal(rb.closed, 0);
	ipc_chan_free(a);
	event_base_free(base);
}

static void
test_send_null_body_fails_cleanly(void **state)
{
	struct event_base	*base = event_base_new();
	struct rec		 ra = { .fd = -1 };
	struct ipc_chan		*a;
	int			 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	a = ipc_chan_new(base, sv[0], "a", rec_msg, rec_close, &ra);
	/* What ipc_send(ch, T, json_pack(...)) sees when json_pack fails. */
	assert_int_equal(ipc_send(a, IPC_DRAIN, NULL), -1);
	assert_int_equal(ipc_queued(a), 0);
	ipc_chan_free(a);
	close(sv[1]);
	event_base_free(base);
}

/* A failed send never calls close_cb from inside ipc_send(). */
static void
test_send_failure_closes_from_the_loop(void **state)
{
	struct event_base	*base = event_base_new();
	struct rec		 ra = { .fd = -1 };
	struct ipc_chan		*a;
	int			 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	a = ipc_chan_new(base, sv[0], "a", rec_msg, rec_close, &ra);
	close(sv[1]);				/* the peer is gone: EPIPE */
	assert_int_equal(ipc_send(a, IPC_DRAIN, json_object()), -1);
	assert_int_equal(ra.closed, 0);		/* not yet */
	assert_int_equal(ipc_send(a, IPC_DRAIN, json_object()), -1);
	run_until(base, &ra.closed, 1);
	assert_int_equal(ra.closed, 1);
	assert_non_null(strstr(ra.why, "sendmsg"));
	ipc_chan_free(a);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_every_type_has_a_name),
		cmocka_unit_test(test_reject_short),
		cmocka_unit_test(test_reject_version),
		cmocka_unit_test(test_reject_type),
		cmocka_unit_test(test_reject_flags_and_fd),
		cmocka_unit_test(test_reject_length),
		cmocka_unit_test(test_reject_body),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_channel_fd_passing),
		cmocka_unit_test(test_channel_queue_survives_eagain),
		cmocka_unit_test(test_channel_rejects_garbage_and_closes),
		cmocka_unit_test(test_channel_oversized_datagram),
		cmocka_unit_test(test_blocking_messages),
		cmocka_unit_test(test_channel_free_inside_callback),
		cmocka_unit_test(test_send_null_body_fails_cleanly),
		cmocka_unit_test(test_channel_queue_bounded_in_bytes),
		cmocka_unit_test(test_channel_backlog),
		cmocka_unit_test(test_send_failure_closes_from_the_loop),
	};

	log_set_level(LOG_LERROR);
	return (cmocka_run_group_tests_name("ipc", tests, NULL, NULL));
}
