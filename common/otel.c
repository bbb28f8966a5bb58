/*
 * otel: spans as OTLP/HTTP JSON (or JSON lines in a file), batched.
 *
 * A span is a small struct until it ends; then it waits in its exporter's
 * bounded queue and is encoded only when a batch goes out, so a slow or
 * dead collector costs at most OTEL_QUEUE_MAX spans plus one encoded batch.
 * Each HTTP exporter sends through its own common/net on the caller's
 * libevent loop, one request at a time, and retries 5xx, 429 and I/O errors
 * with backoff.  A reconfigured exporter is moved to a draining list where
 * it keeps sending what it holds for at most OTEL_FLUSH_MS.
 *
 * Exporters are freed from their own zero-delay "reap" timer, never from
 * inside a request's callback.
 *
 * Single-threaded: everything here runs on the loop thread.
 */
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "backoff.h"
#include "log.h"
#include "net.h"
#include "otel.h"
#include "util.h"

#define OTEL_SCOPE		"copilot-bridge"
#define OTEL_SOURCE		"copilot-bridge"
#define OTEL_RETRY_MS		500
#define OTEL_RETRY_MAX_MS	30000
#define OTEL_HTTP_MS		5000
#define OTEL_CONNECT_MS		2000
#define OTEL_LOG_MS		60000	/* one warning a minute per reason */
#define OTEL_ATTRS_MAX		64	/* per span or event: bounds memory */
#define OTEL_EVENTS_MAX		64
#define OTEL_VALUE_MAX		4096	/* bytes of a string value or name */

#define OTEL_KIND_INTERNAL	1
#define OTEL_STATUS_OK		1
#define OTEL_STATUS_ERROR	2

/* Reasons for exp_report(); HTTP statuses are reasons too. */
#define OTEL_WHY_IO		(-1)
#define OTEL_WHY_FULL		(-2)
#define OTEL_WHY_NOMEM		(-3)
#define OTEL_WHY_FILE		(-4)

struct otel_span {
	TAILQ_ENTRY(otel_span)	 entry;
	uint8_t			 trace[16];
	uint8_t			 id[8];
	uint8_t			 parent[8];
	int			 has_parent;
	int			 status;	/* 0 unset, OK or ERROR */
	uint64_t		 start_ns, end_ns;
	uint64_t		 queued_ms;	/* monotonic, when it ended */
	char			*name;
	char			*status_msg;
	json_t			*attrs;		/* OTLP KeyValue list or NULL */
	json_t			*events;
};
TAILQ_HEAD(otel_spanq, otel_span);

enum otel_kind {
	OTEL_HTTP,
	OTEL_FILE
};

#define OTEL_HDRS_MAX	3	/* Content-Type, Authorization, NULL */
#define OTEL_RESP_MAX	(64 * 1024)	/* the collector's answer, unused */

struct otel_exp {
	TAILQ_ENTRY(otel_exp)	 entry;
	struct event_base	*base;
	enum otel_kind		 kind;
	char			*target;	/* URL or file path */
	json_t			*resource;	/* resource attributes */
	struct otel_spanq	 queue;
	size_t			 nqueue;
	int			 draining;
	int			 flush_now;
	struct event		*tick;		/* batch delay or retry backoff */
	struct event		*reap;		/* drain deadline, or drained */

	/* HTTP: the batch out (or waiting to retry) and its request. */
	char			*body;
	size_t			 nbody;
	struct net		*net;
	struct net_req		*req;
	char			*hdrs[OTEL_HDRS_MAX];
	struct backoff		 bo;

	uint64_t		 sent, dropped, retries;
	long			 rep_why;	/* last reason logged, 0: none */
	uint64_t		 rep_ms;
};

static struct {
	struct event_base	*base;
	struct otel_exp		*cur;
	TAILQ_HEAD(, otel_exp)	 drain;
	int			 curl_ok;
	int			 fresh;		/* stats restart at configure */
	json_t			*applied;	/* otel_apply()'s settings, a copy */
	int			 have_applied;
	uint64_t		 sent, dropped, retries; /* of freed exporters */
} otel = { .drain = TAILQ_HEAD_INITIALIZER(otel.drain) };

static void	exp_kick(struct otel_exp *);
static void	exp_retire(struct otel_exp *);

/* ------------------------------------------------------------ helpers */

static uint64_t
otel_now_ns(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return (0);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* Random, never all zero: OTLP reads an all-zero id as "no id". */
static int
otel_random(uint8_t *buf, size_t n)
{
	size_t	i;

	for (;;) {
		if (RAND_bytes(buf, (int)n) != 1 &&
		    getrandom(buf, n, GRND_NONBLOCK) != (ssize_t)n)
			return (-1);
		for (i = 0; i < n; i++)
			if (buf[i] != 0)
				return (0);
	}
}

static void
otel_hex(const uint8_t *b, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int
otel_unhex(const char *s, uint8_t *b, size_t n)
{
	size_t	i, j;
	int	v, c;

	for (i = 0; i < n; i++) {
		for (v = 0, j = 0; j < 2; j++) {
			c = s[2 * i + j];
			if (c >= '0' && c <= '9')
				v = v * 16 + c - '0';
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + c - 'a' + 10;
			else
				return (-1);	/* W3C: lowercase only */
		}
		b[i] = (uint8_t)v;
	}
	return (0);
}

static int
otel_zero(const uint8_t *b, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return (0);
	return (1);
}

/*
 * W3C trace context "vv-<32 hex>-<16 hex>-ff": version ff and all-zero ids
 * are invalid; version 00 is exactly 55 characters, a later version may
 * carry more after a '-'.  Any flags are accepted.
 */
static int
otel_parse_tp(const char *tp, uint8_t trace[16], uint8_t span[8])
{
	uint8_t	ver, flags;
	size_t	len = strnlen(tp, 256);

	if (len < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' ||
	    otel_unhex(tp, &ver, 1) == -1 || ver == 0xff ||
	    (ver == 0 && len != 55) || (len > 55 && tp[55] != '-') ||
	    otel_unhex(tp + 3, trace, 16) == -1 ||
	    otel_unhex(tp + 36, span, 8) == -1 ||
	    otel_unhex(tp + 53, &flags, 1) == -1 ||
	    otel_zero(trace, 16) || otel_zero(span, 8))
		return (-1);
	return (0);
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
otel_utf8_len(const unsigned char *p, size_t n)
{
	size_t		len, i;
	uint32_t	c;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, c = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, c = p[0] & 0x07;
	else
		return (0);
	if (len > n)
		return (0);
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (c >= 0xd800 && c <= 0xdfff) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return (0);
	return (len);
}

/*
 * A JSON string of s: at most OTEL_VALUE_MAX bytes, cut on a character
 * boundary, invalid UTF-8 bytes as '?', because one bad byte from a chat
 * message must not cost the span (jansson refuses invalid UTF-8).
 */
static json_t *
otel_jstr(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	/* + 4: room to finish the character that crosses the limit */
	size_t			 n = strnlen(s, OTEL_VALUE_MAX + 4), i = 0, o = 0, k;
	char			*buf;
	json_t			*j;

	if ((buf = malloc(n + 1)) == NULL)
		return (NULL);
	while (i < n) {
		if ((k = otel_utf8_len(p + i, n - i)) == 0) {
			if (o + 1 > OTEL_VALUE_MAX)
				break;
			buf[o++] = '?';
			i++;
			continue;
		}
		if (o + k > OTEL_VALUE_MAX)
			break;
		memcpy(buf + o, p + i, k);
		o += k;
		i += k;
	}
	j = json_stringn_nocheck(buf, o);
	free(buf);
	return (j);
}

static char *
otel_strdup_clean(const char *s)
{
	json_t	*j;
	char	*out;

	if ((j = otel_jstr(s)) == NULL)
		return (NULL);
	out = strdup(json_string_value(j));
	json_decref(j);
	return (out);
}

/*
 * Containers of one member.  Each takes its argument's reference even on
 * failure, and a NULL argument fails, so nested calls need one NULL test.
 */
static json_t *
otel_obj1(const char *key, json_t *value)
{
	json_t	*o;

	if (value == NULL || (o = json_object()) == NULL) {
		json_decref(value);
		return (NULL);
	}
	if (json_object_set_new(o, key, value) == -1) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

static json_t *
otel_arr1(json_t *value)
{
	json_t	*a;

	if (value == NULL || (a = json_array()) == NULL) {
		json_decref(value);
		return (NULL);
	}
	if (json_array_append_new(a, value) == -1) {
		json_decref(a);
		return (NULL);
	}
	return (a);
}

/* An OTLP KeyValue; takes value's reference. */
static json_t *
otel_kv(const char *key, json_t *value)
{
	json_t	*kv;

	if ((kv = otel_obj1("key", json_string(key))) == NULL) {
		json_decref(value);
		return (NULL);
	}
	if (json_object_set_new(kv, "value", value) == -1) {
		json_decref(kv);
		return (NULL);
	}
	return (kv);
}

static json_t *
otel_val_str(const char *v)
{
	return (otel_obj1("stringValue", otel_jstr(v)));
}

/* OTLP JSON: 64-bit integers travel as decimal strings. */
static json_t *
otel_val_int(int64_t v)
{
	char	buf[24];

	(void)snprintf(buf, sizeof(buf), "%" PRId64, v);
	return (otel_obj1("intValue", json_string(buf)));
}

/* Set key in a KeyValue list (*list made on demand); a later value wins. */
static void
otel_attr_set(json_t **list, const char *key, json_t *value)
{
	json_t	*kv;
	size_t	 i;

	if (value == NULL)
		return;
	if (*list == NULL && (*list = json_array()) == NULL) {
		json_decref(value);
		return;
	}
	json_array_foreach(*list, i, kv) {
		if (strcmp(json_string_value(json_object_get(kv, "key")),
		    key) == 0) {
			(void)json_object_set_new(kv, "value", value);
			return;
		}
	}
	if (json_array_size(*list) >= OTEL_ATTRS_MAX) {
		json_decref(value);
		return;
	}
	(void)json_array_append_new(*list, otel_kv(key, value));
}

/* ------------------------------------------------------------ spans */

static void
otel_span_free(struct otel_span *s)
{
	free(s->name);
	free(s->status_msg);
	json_decref(s->attrs);
	json_decref(s->events);
	free(s);
}

static void
otel_spanq_free(struct otel_spanq *q)
{
	struct otel_span	*s;

	while ((s = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, s, entry);
		otel_span_free(s);
	}
}

struct otel_span *
otel_span_start(const char *name, const char *parent)
{
	struct otel_span	*s;

	if (otel.cur == NULL)
		return (NULL);
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->name = otel_strdup_clean(name != NULL && *name != '\0' ?
	    name : "span")) == NULL) {
		log_warnx("otel: out of memory for a span");
		free(s);
		return (NULL);
	}
	if (parent != NULL && *parent != '\0') {
		if (otel_parse_tp(parent, s->trace, s->parent) == 0)
			s->has_parent = 1;
		else
			log_debug("otel: bad traceparent for %s: new trace",
			    s->name);
	}
	if ((!s->has_parent && otel_random(s->trace, sizeof(s->trace)) == -1) ||
	    otel_random(s->id, sizeof(s->id)) == -1) {
		log_warnx("otel: no random bytes for span ids");
		otel_span_free(s);
		return (NULL);
	}
	s->start_ns = otel_now_ns();
	return (s);
}

void
otel_span_str(struct otel_span *s, const char *key, const char *v)
{
	if (s == NULL || key == NULL)
		return;
	otel_attr_set(&s->attrs, key, otel_val_str(v != NULL ? v : ""));
}

void
otel_span_int(struct otel_span *s, const char *key, int64_t v)
{
	if (s == NULL || key == NULL)
		return;
	otel_attr_set(&s->attrs, key, otel_val_int(v));
}

void
otel_span_event(struct otel_span *s, const char *name, const char *key,
    const char *value)
{
	json_t	*ev, *attrs = NULL;
	char	 t[24];

	if (s == NULL || name == NULL)
		return;
	if (s->events == NULL && (s->events = json_array()) == NULL)
		return;
	if (json_array_size(s->events) >= OTEL_EVENTS_MAX)
		return;
	(void)snprintf(t, sizeof(t), "%" PRIu64, otel_now_ns());
	if ((ev = otel_obj1("timeUnixNano", json_string(t))) == NULL)
		return;
	if (json_object_set_new(ev, "name", otel_jstr(name)) == -1) {
		json_decref(ev);
		return;
	}
	if (key != NULL) {
		otel_attr_set(&attrs, key, otel_val_str(value != NULL ?
		    value : ""));
		if (attrs != NULL)
			(void)json_object_set_new(ev, "attributes", attrs);
	}
	(void)json_array_append_new(s->events, ev);
}

void
otel_span_status(struct otel_span *s, const char *error)
{
	if (s == NULL)
		return;
	free(s->status_msg);
	s->status_msg = NULL;
	s->status = OTEL_STATUS_OK;
	if (error == NULL)
		return;
	s->status = OTEL_STATUS_ERROR;
	s->status_msg = otel_strdup_clean(error);	/* NULL: no message */
}

const char *
otel_span_traceparent(const struct otel_span *s,
    char buf[OTEL_TRACEPARENT_LEN])
{
	char	trace[33], id[17];

	buf[0] = '\0';
	if (s == NULL)
		return (buf);
	otel_hex(s->trace, sizeof(s->trace), trace);
	otel_hex(s->id, sizeof(s->id), id);
	(void)snprintf(buf, OTEL_TRACEPARENT_LEN, "00-%s-%s-01", trace, id);
	return (buf);
}

void
otel_span_drop(struct otel_span *s)
{
	if (s != NULL)
		otel_span_free(s);
}

/* ------------------------------------------------------------ encoding */

static json_t *
otel_status_json(const struct otel_span *s)
{
	json_t	*j;

	if ((j = otel_obj1("code", json_integer(s->status))) == NULL)
		return (NULL);
	if (s->status_msg != NULL && json_object_set_new(j, "message",
	    json_string(s->status_msg)) == -1) {
		json_decref(j);
		return (NULL);
	}
	return (j);
}

static json_t *
otel_span_json(const struct otel_span *s)
{
	char	tid[33], sid[17], pid[17], t0[24], t1[24];
	json_t	*j;

	otel_hex(s->trace, sizeof(s->trace), tid);
	otel_hex(s->id, sizeof(s->id), sid);
	(void)snprintf(t0, sizeof(t0), "%" PRIu64, s->start_ns);
	(void)snprintf(t1, sizeof(t1), "%" PRIu64, s->end_ns);
	if ((j = json_pack("{s:s, s:s}", "traceId", tid, "spanId", sid)) ==
	    NULL)
		return (NULL);
	if (s->has_parent) {
		otel_hex(s->parent, sizeof(s->parent), pid);
		if (json_object_set_new(j, "parentSpanId",
		    json_string(pid)) == -1)
			goto fail;
	}
	if (json_object_set_new(j, "name", json_string(s->name)) == -1 ||
	    json_object_set_new(j, "kind",
	    json_integer(OTEL_KIND_INTERNAL)) == -1 ||
	    json_object_set_new(j, "startTimeUnixNano", json_string(t0)) ==
	    -1 ||
	    json_object_set_new(j, "endTimeUnixNano", json_string(t1)) == -1)
		goto fail;
	if ((s->attrs != NULL && json_object_set(j, "attributes",
	    s->attrs) == -1) ||
	    (s->events != NULL && json_object_set(j, "events",
	    s->events) == -1) ||
	    (s->status != 0 && json_object_set_new(j, "status",
	    otel_status_json(s)) == -1))
		goto fail;
	return (j);
fail:
	json_decref(j);
	return (NULL);
}

/* One ExportTraceServiceRequest on one line, '\n'-terminated if nl. */
static char *
otel_encode(const struct otel_exp *e, const struct otel_spanq *q, int nl)
{
	const struct otel_span	*s;
	json_t			*spans, *scope, *rs, *req;
	char			*out, *line;
	size_t			 len;

	if ((spans = json_array()) == NULL)
		return (NULL);
	TAILQ_FOREACH(s, q, entry) {
		if (json_array_append_new(spans, otel_span_json(s)) == -1) {
			json_decref(spans);
			return (NULL);
		}
	}
	if ((scope = otel_obj1("scope", otel_obj1("name",
	    json_string(OTEL_SCOPE)))) == NULL ||
	    json_object_set_new(scope, "spans", spans) == -1) {
		json_decref(scope == NULL ? spans : scope);
		return (NULL);
	}
	if ((rs = otel_obj1("resource", otel_obj1("attributes",
	    json_incref(e->resource)))) == NULL ||
	    json_object_set_new(rs, "scopeSpans", otel_arr1(scope)) == -1) {
		json_decref(rs == NULL ? scope : rs);
		return (NULL);
	}
	if ((req = otel_obj1("resourceSpans", otel_arr1(rs))) == NULL)
		return (NULL);
	out = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (out == NULL || !nl)
		return (out);
	len = strlen(out);
	if ((line = realloc(out, len + 2)) == NULL) {
		free(out);
		return (NULL);
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	return (line);
}

/* ------------------------------------------------------------ reporting */

/*
 * Warn about lost or delayed spans: at once when the reason changes, else
 * once per OTEL_LOG_MS, so a dead collector does not flood the log.
 */
static void
exp_report(struct otel_exp *e, long why, const char *fmt, ...)
{
	char		 msg[512];
	uint64_t	 now = util_now_ms();
	va_list		 ap;

	if (why == e->rep_why && now - e->rep_ms < OTEL_LOG_MS)
		return;
	e->rep_why = why;
	e->rep_ms = now;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("otel: %s: %s (%" PRIu64 " spans dropped, %" PRIu64
	    " retries so far)", e->target, msg, e->dropped, e->retries);
}

static void
exp_report_ok(struct otel_exp *e)
{
	if (e->rep_why == 0)
		return;
	log_info("otel: %s: exporting again", e->target);
	e->rep_why = 0;
}

/* ------------------------------------------------------------ exporting */

static void	exp_resp(const struct net_resp *, void *);

static int
exp_post(struct otel_exp *e)
{
	struct net_opts	o = { OTEL_HTTP_MS, OTEL_CONNECT_MS, OTEL_RESP_MAX };

	e->req = net_request(e->net, "POST", e->target,
	    (const char *const *)e->hdrs, e->body, &o, exp_resp, e);
	return (e->req == NULL ? -1 : 0);
}

static void
exp_batch_done(struct otel_exp *e)
{
	free(e->body);
	e->body = NULL;
	e->nbody = 0;
}

/* Keep the batch and try again later; new spans still queue meanwhile. */
static void
exp_retry(struct otel_exp *e, long why, const char *detail)
{
	struct timeval	tv;
	uint32_t	ms = backoff_next(&e->bo);

	e->retries++;
	exp_report(e, why, "%s; retrying %zu spans in %u ms", detail,
	    e->nbody, ms);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (evtimer_add(e->tick, &tv) == -1) {
		log_warnx("otel: cannot arm the retry timer");
		e->dropped += e->nbody;
		exp_batch_done(e);
	}
}

/* The collector's answer to the batch out. */
static void
exp_resp(const struct net_resp *r, void *arg)
{
	struct otel_exp	*e = arg;
	char		 detail[64];

	e->req = NULL;
	if (r->status == 0) {
		exp_retry(e, OTEL_WHY_IO, r->error != NULL ? r->error :
		    "no answer");
		return;
	}
	if (r->status >= 200 && r->status < 300) {
		e->sent += e->nbody;
		backoff_reset(&e->bo);
		exp_report_ok(e);
	} else if (r->status >= 500 || r->status == 429) {
		(void)snprintf(detail, sizeof(detail), "collector answered %ld",
		    r->status);
		exp_retry(e, r->status, detail);
		return;
	} else {
		/* The collector will never take this batch: it goes. */
		e->dropped += e->nbody;
		exp_report(e, r->status, "collector refused a batch with %ld",
		    r->status);
	}
	exp_batch_done(e);
	exp_kick(e);
}

/* One line per batch: O_APPEND keeps lines of several processes whole. */
static void
exp_write(struct otel_exp *e, const char *line, size_t n)
{
	size_t	 len = strlen(line), off = 0;
	ssize_t	 w;
	int	 fd, saved = 0;

	if ((fd = open(e->target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1) {
		e->dropped += n;
		exp_report(e, OTEL_WHY_FILE, "open: %s", strerror(errno));
		return;
	}
	while (off < len) {
		if ((w = write(fd, line + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			break;
		}
		if (w == 0) {
			saved = EIO;	/* would loop forever otherwise */
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) == -1 && off == len) {
		saved = errno;
		off = 0;		/* e.g. NFS reports write errors here */
	}
	if (off < len) {
		e->dropped += n;
		exp_report(e, OTEL_WHY_FILE, "write: %s", strerror(saved));
		return;
	}
	e->sent += n;
	exp_report_ok(e);
}

/* Take up to OTEL_BATCH_MAX spans, encode them, send or write them. */
static void
exp_send(struct otel_exp *e)
{
	struct otel_spanq	 batch = TAILQ_HEAD_INITIALIZER(batch);
	struct otel_span	*s;
	char			*body;
	size_t			 n = 0;

	(void)evtimer_del(e->tick);
	while (n < OTEL_BATCH_MAX && (s = TAILQ_FIRST(&e->queue)) != NULL) {
		TAILQ_REMOVE(&e->queue, s, entry);
		TAILQ_INSERT_TAIL(&batch, s, entry);
		e->nqueue--;
		n++;
	}
	body = otel_encode(e, &batch, e->kind == OTEL_FILE);
	otel_spanq_free(&batch);
	if (body == NULL) {
		e->dropped += n;
		exp_report(e, OTEL_WHY_NOMEM, "out of memory encoding spans");
		return;
	}
	if (e->kind == OTEL_FILE) {
		exp_write(e, body, n);
		free(body);
		return;
	}
	e->body = body;
	e->nbody = n;
	if (exp_post(e) == -1)
		exp_retry(e, OTEL_WHY_IO, "cannot start a request");
}

/* A draining exporter that has nothing left is freed from its reap timer. */
static void
exp_check_drained(struct otel_exp *e)
{
	struct timeval	tv = { 0, 0 };

	if (e->draining && e->body == NULL && e->nqueue == 0 &&
	    evtimer_add(e->reap, &tv) == -1)
		log_warnx("otel: cannot arm the reap timer");
}

/*
 * Send what is due: a full batch, a batch whose oldest span has waited
 * OTEL_BATCH_MS, or everything when flushing or draining; else wait.
 */
static void
exp_kick(struct otel_exp *e)
{
	struct timeval	 tv;
	uint64_t	 age, now = util_now_ms();

	while (e->body == NULL && e->nqueue > 0) {
		age = now - TAILQ_FIRST(&e->queue)->queued_ms;
		if (e->nqueue < OTEL_BATCH_MAX && !e->flush_now &&
		    !e->draining && age < OTEL_BATCH_MS) {
			if (evtimer_pending(e->tick, NULL))
				return;
			tv.tv_sec = (OTEL_BATCH_MS - age) / 1000;
			tv.tv_usec = (OTEL_BATCH_MS - age) % 1000 * 1000;
			if (evtimer_add(e->tick, &tv) == -1)
				log_warnx("otel: cannot arm the batch timer");
			return;
		}
		exp_send(e);
	}
	if (e->nqueue == 0)
		e->flush_now = 0;
	if (e->body == NULL)
		exp_check_drained(e);
}

/* Batch delay over, or retry backoff over. */
static void
exp_tick(int fd, short what, void *arg)
{
	struct otel_exp	*e = arg;

	if (e->body == NULL)
		exp_kick(e);
	else if (e->req == NULL && exp_post(e) == -1)
		exp_retry(e, OTEL_WHY_IO, "cannot start a request");
}

static void
exp_reap(int fd, short what, void *arg)
{
	exp_retire(arg);
}

static void
exp_enqueue(struct otel_exp *e, struct otel_span *s)
{
	struct otel_span	*old;

	if (e->nqueue >= OTEL_QUEUE_MAX) {
		old = TAILQ_FIRST(&e->queue);
		TAILQ_REMOVE(&e->queue, old, entry);
		otel_span_free(old);
		e->nqueue--;
		e->dropped++;
		exp_report(e, OTEL_WHY_FULL, "queue full, dropping the oldest");
	}
	s->queued_ms = util_now_ms();
	TAILQ_INSERT_TAIL(&e->queue, s, entry);
	e->nqueue++;
	exp_kick(e);
}

void
otel_span_end(struct otel_span *s)
{
	if (s == NULL)
		return;
	s->end_ns = otel_now_ns();
	if (s->end_ns < s->start_ns)
		s->end_ns = s->start_ns;	/* the wall clock stepped back */
	if (otel.cur == NULL) {
		otel_span_free(s);
		return;
	}
	exp_enqueue(otel.cur, s);
}

/* ------------------------------------------------------------ exporters */

struct otel_conf {
	enum otel_kind	 kind;
	const char	*endpoint;
	const char	*path;
	const char	*source;
	const char	*authenv;
};

static const char *
otel_conf_str(const json_t *t, const char *key)
{
	const char	*v = json_string_value(json_object_get(t, key));

	return (v != NULL && *v != '\0' ? v : NULL);
}

/*
 * 1: on, 0: off.  The preferred exporter lacking its setting falls back to
 * the other one, since telemetry is on iff an endpoint or a file is set.
 */
static int
otel_conf_parse(const json_t *t, struct otel_conf *c)
{
	const char	*type;

	memset(c, 0, sizeof(*c));
	if (t == NULL || !json_is_object(t))
		return (0);
	c->endpoint = otel_conf_str(t, "otlpEndpoint");
	c->path = otel_conf_str(t, "filePath");
	c->authenv = otel_conf_str(t, "authEnv");
	if ((c->source = otel_conf_str(t, "sourceName")) == NULL)
		c->source = OTEL_SOURCE;
	type = otel_conf_str(t, "exporterType");
	if (c->endpoint == NULL && c->path == NULL)
		return (0);
	if (type != NULL && strcmp(type, "file") == 0)
		c->kind = c->path != NULL ? OTEL_FILE : OTEL_HTTP;
	else
		c->kind = c->endpoint != NULL ? OTEL_HTTP : OTEL_FILE;
	return (1);
}

static json_t *
otel_resource(const char *source, const char *role, const char *bot,
    int gen)
{
	json_t	*a;

	if ((a = json_array()) == NULL)
		return (NULL);
	if (json_array_append_new(a, otel_kv("service.name",
	    otel_val_str(source))) == -1 ||
	    json_array_append_new(a, otel_kv("copilot_bridge.process",
	    otel_val_str(role != NULL ? role : "unknown"))) == -1 ||
	    (bot != NULL && json_array_append_new(a, otel_kv(
	    "copilot_bridge.bot", otel_val_str(bot))) == -1) ||
	    (gen > 0 && json_array_append_new(a, otel_kv(
	    "copilot_bridge.generation", otel_val_int(gen))) == -1) ||
	    json_array_append_new(a, otel_kv("process.pid",
	    otel_val_int(getpid()))) == -1) {
		json_decref(a);
		return (NULL);
	}
	return (a);
}

/* Headers for every request; the Authorization value is never logged. */
static int
exp_headers(struct otel_exp *e, const char *authenv)
{
	const char	*v;

	if ((e->hdrs[0] = strdup("Content-Type: application/json")) == NULL)
		return (-1);
	if (authenv == NULL)
		return (0);
	if ((v = getenv(authenv)) == NULL) {
		log_warnx("otel: %s is not set: exporting without "
		    "Authorization", authenv);
		return (0);
	}
	if (strpbrk(v, "\r\n") != NULL) {
		log_warnx("otel: %s holds a line break: not sent", authenv);
		return (0);
	}
	if (asprintf(&e->hdrs[1], "Authorization: %s", v) == -1) {
		e->hdrs[1] = NULL;
		return (-1);
	}
	return (0);
}

static int
exp_target(struct otel_exp *e, const struct otel_conf *c)
{
	size_t	len;

	if (c->kind == OTEL_FILE)
		return ((e->target = strdup(c->path)) == NULL ? -1 : 0);
	len = strlen(c->endpoint);
	if (len > 0 && c->endpoint[len - 1] == '/')
		len--;
	return (asprintf(&e->target, "%.*s/v1/traces", (int)len,
	    c->endpoint) == -1 ? (e->target = NULL, -1) : 0);
}

static void
exp_free(struct otel_exp *e)
{
	size_t	i;

	net_cancel(e->req);
	net_free(e->net);
	for (i = 0; i < OTEL_HDRS_MAX; i++) {
		if (e->hdrs[i] != NULL)
			explicit_bzero(e->hdrs[i], strlen(e->hdrs[i]));
		free(e->hdrs[i]);
	}
	if (e->tick != NULL)
		event_free(e->tick);
	if (e->reap != NULL)
		event_free(e->reap);
	otel_spanq_free(&e->queue);
	free(e->body);
	free(e->target);
	json_decref(e->resource);
	free(e);
}

static struct otel_exp *
exp_new(struct event_base *base, const struct otel_conf *c,
    const char *role, const char *bot, int gen)
{
	struct otel_exp	*e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (NULL);
	e->base = base;
	e->kind = c->kind;
	TAILQ_INIT(&e->queue);
	backoff_init(&e->bo, OTEL_RETRY_MS, OTEL_RETRY_MAX_MS);
	if (exp_target(e, c) == -1 ||
	    (e->resource = otel_resource(c->source, role, bot, gen)) == NULL ||
	    (e->tick = evtimer_new(base, exp_tick, e)) == NULL ||
	    (e->reap = evtimer_new(base, exp_reap, e)) == NULL ||
	    (e->kind == OTEL_HTTP && (exp_headers(e, c->authenv) == -1 ||
	    (e->net = net_new(base)) == NULL))) {
		exp_free(e);
		return (NULL);
	}
	return (e);
}

/* Free a draining exporter; what it still holds is lost. */
static void
exp_retire(struct otel_exp *e)
{
	size_t	lost = e->nqueue + e->nbody;

	if (lost > 0) {
		e->dropped += lost;
		log_warnx("otel: %s: %zu spans not exported in time",
		    e->target, lost);
	}
	otel.sent += e->sent;
	otel.dropped += e->dropped;
	otel.retries += e->retries;
	TAILQ_REMOVE(&otel.drain, e, entry);
	exp_free(e);
}

/* Stop feeding e; let it send what it holds for at most ms. */
static void
exp_drain(struct otel_exp *e, int ms)
{
	struct timeval	tv;

	e->draining = 1;
	TAILQ_INSERT_TAIL(&otel.drain, e, entry);
	exp_kick(e);			/* a file exporter is done after this */
	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	if (ms <= 0 || (e->body == NULL && e->nqueue == 0) ||
	    evtimer_add(e->reap, &tv) == -1)
		exp_retire(e);
}

/* ------------------------------------------------------------ API */

static int
otel_curl_init(void)
{
	if (otel.curl_ok)
		return (0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("otel: curl_global_init failed");
		return (-1);
	}
	otel.curl_ok = 1;
	return (0);
}

static void
otel_restart_stats(void)
{
	if (!otel.fresh)
		return;
	otel.fresh = 0;
	otel.sent = otel.dropped = otel.retries = 0;
}

int
otel_configure(struct event_base *base, const json_t *telemetry,
    const char *role, const char *bot, int gen)
{
	struct otel_conf	 c;
	struct otel_exp		*e;

	otel_restart_stats();
	/* Exporters live on one loop: a new one means the old ones go now. */
	if (otel.base != NULL && base != otel.base) {
		if (otel.cur != NULL)
			exp_drain(otel.cur, 0);
		while ((e = TAILQ_FIRST(&otel.drain)) != NULL)
			exp_retire(e);
		otel.cur = NULL;
	}
	if (otel.cur != NULL)
		exp_drain(otel.cur, OTEL_FLUSH_MS);
	otel.cur = NULL;
	otel.base = base;
	if (!otel_conf_parse(telemetry, &c))
		return (0);
	if (base == NULL) {
		log_warnx("otel: no event loop: telemetry off");
		return (-1);
	}
	if ((c.kind == OTEL_HTTP && otel_curl_init() == -1) ||
	    (e = exp_new(base, &c, role, bot, gen)) == NULL) {
		log_warnx("otel: cannot set up the exporter: telemetry off");
		return (-1);
	}
	otel.cur = e;
	log_info("otel: exporting spans to %s", e->target);
	return (0);
}

int
otel_enabled(void)
{
	return (otel.cur != NULL);
}

void
otel_flush(void)
{
	struct otel_exp	*e;

	if (otel.cur != NULL) {
		otel.cur->flush_now = 1;
		exp_kick(otel.cur);
	}
	/*
	 * Draining ones send at once anyway.  exp_kick() never frees (a
	 * drained exporter goes from its reap timer), so this walk is safe.
	 */
	TAILQ_FOREACH(e, &otel.drain, entry)
		exp_kick(e);
}

static void
otel_wake(int fd, short what, void *arg)
{
}

/* One blocking POST of body, bounded by deadline; 0 if it was taken. */
static int
exp_post_sync(struct otel_exp *e, const char *body, uint64_t deadline)
{
	struct net_opts	o = { 0, OTEL_CONNECT_MS, OTEL_RESP_MAX };
	long		status;

	o.timeout_ms = (long)(deadline - util_now_ms());
	status = net_request_sync("POST", e->target,
	    (const char *const *)e->hdrs, body, &o);
	return (status >= 200 && status < 300 ? 0 : -1);
}

/*
 * Called from inside one of the loop's own callbacks (a daemon exiting from
 * its SHUTDOWN handler), the loop cannot run again: send what each HTTP
 * exporter holds with blocking requests instead, bounded by the deadline.
 */
static void
otel_run_sync(uint64_t deadline)
{
	struct otel_exp	*e;
	char		*body;

	TAILQ_FOREACH(e, &otel.drain, entry) {
		if (e->kind != OTEL_HTTP)
			continue;
		net_cancel(e->req);	/* the request in flight is abandoned */
		e->req = NULL;
		if (e->body != NULL && util_now_ms() < deadline &&
		    exp_post_sync(e, e->body, deadline) == 0) {
			e->sent += e->nbody;
			exp_batch_done(e);
		}
		if (e->nqueue == 0 || util_now_ms() >= deadline ||
		    (body = otel_encode(e, &e->queue, 0)) == NULL)
			continue;
		if (exp_post_sync(e, body, deadline) == 0) {
			e->sent += e->nqueue;
			otel_spanq_free(&e->queue);
			e->nqueue = 0;
		}
		free(body);
	}
}

/* Run the loop until every exporter is gone or the deadline passes. */
static void
otel_run(int wait_ms)
{
	struct event	*wake;
	struct timeval	 tv;
	uint64_t	 now, deadline = util_now_ms() + (uint64_t)wait_ms;

	if (otel.base == NULL || TAILQ_EMPTY(&otel.drain) || wait_ms <= 0)
		return;
	if ((wake = evtimer_new(otel.base, otel_wake, NULL)) == NULL)
		return;
	while (!TAILQ_EMPTY(&otel.drain) && (now = util_now_ms()) < deadline) {
		tv.tv_sec = (deadline - now) / 1000;
		tv.tv_usec = (deadline - now) % 1000 * 1000;
		if (evtimer_add(wake, &tv) == -1)
			break;
		/* -1: we are inside one of its callbacks (reentrant). */
		if (event_base_loop(otel.base, EVLOOP_ONCE) == -1) {
			otel_run_sync(deadline);
			break;
		}
	}
	event_free(wake);
}

void
otel_shutdown(int wait_ms)
{
	struct otel_exp	*e;

	if (otel.cur != NULL)
		exp_drain(otel.cur, wait_ms);
	otel.cur = NULL;
	otel_run(wait_ms);
	while ((e = TAILQ_FIRST(&otel.drain)) != NULL)
		exp_retire(e);
	if (otel.curl_ok) {
		curl_global_cleanup();
		otel.curl_ok = 0;
	}
	otel.base = NULL;
	otel.fresh = 1;
	json_decref(otel.applied);
	otel.applied = NULL;
	otel.have_applied = 0;
}

/*
 * Configure from a process's "telemetry" object unless it is the one in
 * force; the first call always configures.  Every process does this on
 * every config it gets, so a change needs no restart.  Returns 1 when the
 * exporter was rebuilt (logged, but for the first time), 0 if unchanged.
 */
int
otel_apply(struct event_base *base, const json_t *telemetry,
    const char *role, const char *bot, int gen)
{
	const json_t	*t = json_is_object(telemetry) ? telemetry : NULL;
	int		 again = otel.have_applied;

	if (again && (t == NULL ? otel.applied == NULL :
	    otel.applied != NULL && json_equal(t, otel.applied)))
		return (0);
	json_decref(otel.applied);
	/* Out of memory here only makes the next call rebuild again. */
	otel.applied = t != NULL ? json_deep_copy(t) : NULL;
	otel.have_applied = 1;
	(void)otel_configure(base, t, role, bot, gen);
	if (again)
		log_info("telemetry reconfigured: %s", otel.cur != NULL ?
		    otel.cur->target : "off");
	return (1);
}

void
otel_get_stats(struct otel_stats *st)
{
	const struct otel_exp	*e;

	memset(st, 0, sizeof(*st));
	st->sent = otel.sent;
	st->dropped = otel.dropped;
	st->retries = otel.retries;
	if (otel.cur != NULL) {
		st->queued += otel.cur->nqueue + otel.cur->nbody;
		st->sent += otel.cur->sent;
		st->dropped += otel.cur->dropped;
		st->retries += otel.cur->retries;
	}
	TAILQ_FOREACH(e, &otel.drain, entry) {
		st->queued += e->nqueue + e->nbody;
		st->sent += e->sent;
		st->dropped += e->dropped;
		st->retries += e->retries;
	}
}
