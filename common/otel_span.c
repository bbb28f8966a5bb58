/*
 * otel_span: the span model (see otel_int.h): ids, the W3C traceparent,
 * attributes and events.  A span is a small struct until it ends.
 */
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/types.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "log.h"
#include "otel_int.h"

uint64_t
otel_span_now_ns(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return (0);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* Random, never all zero: OTLP reads an all-zero id as "no id". */
static int
otel_span_random(uint8_t *buf, size_t n)
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

static int
otel_span_unhex(const char *s, uint8_t *b, size_t n)
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
otel_span_zero(const uint8_t *b, size_t n)
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
otel_span_parse_tp(const char *tp, uint8_t trace[16], uint8_t span[8])
{
	uint8_t	ver, flags;
	size_t	len = strnlen(tp, 256);

	if (len < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' ||
	    otel_span_unhex(tp, &ver, 1) == -1 || ver == 0xff ||
	    (ver == 0 && len != 55) || (len > 55 && tp[55] != '-') ||
	    otel_span_unhex(tp + 3, trace, 16) == -1 ||
	    otel_span_unhex(tp + 36, span, 8) == -1 ||
	    otel_span_unhex(tp + 53, &flags, 1) == -1 ||
	    otel_span_zero(trace, 16) || otel_span_zero(span, 8))
		return (-1);
	return (0);
}

/* ------------------------------------------------------------ spans */

void
otel_span_free(struct otel_span *s)
{
	free(s->name);
	free(s->status_msg);
	json_decref(s->attrs);
	json_decref(s->events);
	free(s);
}

void
otel_spanq_free(struct otel_spanq *q)
{
	struct otel_span	*s;

	while ((s = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, s, entry);
		otel_span_free(s);
	}
}

/* A new span (otel.c's otel_span_start() decides whether to make one). */
struct otel_span *
otel_span_new(const char *name, const char *parent)
{
	struct otel_span	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->name = otel_enc_strdup(name != NULL && *name != '\0' ?
	    name : "span")) == NULL) {
		log_warnx("otel: out of memory for a span");
		free(s);
		return (NULL);
	}
	if (parent != NULL && *parent != '\0') {
		if (otel_span_parse_tp(parent, s->trace, s->parent) == 0)
			s->has_parent = 1;
		else
			log_debug("otel: bad traceparent for %s: new trace",
			    s->name);
	}
	if ((!s->has_parent && otel_span_random(s->trace, sizeof(s->trace)) == -1) ||
	    otel_span_random(s->id, sizeof(s->id)) == -1) {
		log_warnx("otel: no random bytes for span ids");
		otel_span_free(s);
		return (NULL);
	}
	s->start_ns = otel_span_now_ns();
	return (s);
}

void
otel_span_str(struct otel_span *s, const char *key, const char *v)
{
	if (s == NULL || key == NULL)
		return;
	otel_enc_attr_set(&s->attrs, key, otel_enc_val_str(v != NULL ? v : ""));
}

void
otel_span_int(struct otel_span *s, const char *key, int64_t v)
{
	if (s == NULL || key == NULL)
		return;
	otel_enc_attr_set(&s->attrs, key, otel_enc_val_int(v));
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
	(void)snprintf(t, sizeof(t), "%" PRIu64, otel_span_now_ns());
	if ((ev = otel_enc_obj1("timeUnixNano", json_string(t))) == NULL)
		return;
	if (json_object_set_new(ev, "name", otel_enc_str(name)) == -1) {
		json_decref(ev);
		return;
	}
	if (key != NULL) {
		otel_enc_attr_set(&attrs, key, otel_enc_val_str(value != NULL ?
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
	s->status_msg = otel_enc_strdup(error);	/* NULL: no message */
}

const char *
otel_span_traceparent(const struct otel_span *s,
    char buf[OTEL_TRACEPARENT_LEN])
{
	char	trace[33], id[17];

	buf[0] = '\0';
	if (s == NULL)
		return (buf);
	otel_enc_hex(s->trace, sizeof(s->trace), trace);
	otel_enc_hex(s->id, sizeof(s->id), id);
	(void)snprintf(buf, OTEL_TRACEPARENT_LEN, "00-%s-%s-01", trace, id);
	return (buf);
}

void
otel_span_drop(struct otel_span *s)
{
	if (s != NULL)
		otel_span_free(s);
}

