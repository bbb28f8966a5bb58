/*
 * otel_enc: OTLP JSON (see otel_int.h): values and attributes, a span, an
 * ExportTraceServiceRequest.  Pure: no I/O, no state.
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "jx.h"
#include "otel_int.h"
#include "utf8.h"

void
otel_enc_hex(const uint8_t *b, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/*
 * A JSON string of s: at most OTEL_VALUE_MAX bytes, cut on a character
 * boundary, invalid UTF-8 bytes as '?', because one bad byte from a chat
 * message must not cost the span (jansson refuses invalid UTF-8).
 */
json_t *
otel_enc_str(const char *s)
{
	/* + 4: room to finish the character that crosses the limit */
	size_t		 n = strnlen(s, OTEL_VALUE_MAX + 4), i = 0, o = 0, k;
	uint32_t	 cp;
	char		*buf;
	json_t		*j;

	if ((buf = malloc(n + 1)) == NULL)
		return (NULL);
	while (i < n) {
		k = utf8_char(s + i, n - i, &cp);
		if (k == 1 && (unsigned char)s[i] >= 0x80) {
			if (o + 1 > OTEL_VALUE_MAX)
				break;
			buf[o++] = '?';
			i++;
			continue;
		}
		/* A character cut short by n is one that went over anyway. */
		if (o + k > OTEL_VALUE_MAX)
			break;
		memcpy(buf + o, s + i, k);
		o += k;
		i += k;
	}
	j = json_stringn_nocheck(buf, o);
	free(buf);
	return (j);
}

char *
otel_enc_strdup(const char *s)
{
	json_t	*j;
	char	*out;

	if ((j = otel_enc_str(s)) == NULL)
		return (NULL);
	out = strdup(json_string_value(j));
	json_decref(j);
	return (out);
}

/*
 * Containers of one member.  Each takes its argument's reference even on
 * failure, and a NULL argument fails, so nested calls need one NULL test.
 */
json_t *
otel_enc_obj1(const char *key, json_t *value)
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
otel_enc_arr1(json_t *value)
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
json_t *
otel_enc_kv(const char *key, json_t *value)
{
	json_t	*kv;

	if ((kv = otel_enc_obj1("key", json_string(key))) == NULL) {
		json_decref(value);
		return (NULL);
	}
	if (json_object_set_new(kv, "value", value) == -1) {
		json_decref(kv);
		return (NULL);
	}
	return (kv);
}

json_t *
otel_enc_val_str(const char *v)
{
	return (otel_enc_obj1("stringValue", otel_enc_str(v)));
}

/* OTLP JSON: 64-bit integers travel as decimal strings. */
json_t *
otel_enc_val_int(int64_t v)
{
	char	buf[24];

	(void)snprintf(buf, sizeof(buf), "%" PRId64, v);
	return (otel_enc_obj1("intValue", json_string(buf)));
}

/* Set key in a KeyValue list (*list made on demand); a later value wins. */
void
otel_enc_attr_set(json_t **list, const char *key, json_t *value)
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
		if (strcmp(jx_stre(kv, "key"),
		    key) == 0) {
			(void)json_object_set_new(kv, "value", value);
			return;
		}
	}
	if (json_array_size(*list) >= OTEL_ATTRS_MAX) {
		json_decref(value);
		return;
	}
	(void)json_array_append_new(*list, otel_enc_kv(key, value));
}

json_t *
otel_enc_resource(const char *source, const char *role, const char *bot,
    int gen)
{
	json_t	*a;

	if ((a = json_array()) == NULL)
		return (NULL);
	if (json_array_append_new(a, otel_enc_kv("service.name",
	    otel_enc_val_str(source))) == -1 ||
	    json_array_append_new(a, otel_enc_kv("copilot_bridge.process",
	    otel_enc_val_str(role != NULL ? role : "unknown"))) == -1 ||
	    (bot != NULL && json_array_append_new(a, otel_enc_kv(
	    "copilot_bridge.bot", otel_enc_val_str(bot))) == -1) ||
	    (gen > 0 && json_array_append_new(a, otel_enc_kv(
	    "copilot_bridge.generation", otel_enc_val_int(gen))) == -1) ||
	    json_array_append_new(a, otel_enc_kv("process.pid",
	    otel_enc_val_int(getpid()))) == -1) {
		json_decref(a);
		return (NULL);
	}
	return (a);
}

static json_t *
otel_enc_status(const struct otel_span *s)
{
	json_t	*j;

	if ((j = otel_enc_obj1("code", json_integer(s->status))) == NULL)
		return (NULL);
	if (s->status_msg != NULL && json_object_set_new(j, "message",
	    json_string(s->status_msg)) == -1) {
		json_decref(j);
		return (NULL);
	}
	return (j);
}

static json_t *
otel_enc_span(const struct otel_span *s)
{
	char	tid[33], sid[17], pid[17], t0[24], t1[24];
	json_t	*j;

	otel_enc_hex(s->trace, sizeof(s->trace), tid);
	otel_enc_hex(s->id, sizeof(s->id), sid);
	(void)snprintf(t0, sizeof(t0), "%" PRIu64, s->start_ns);
	(void)snprintf(t1, sizeof(t1), "%" PRIu64, s->end_ns);
	if ((j = json_pack("{s:s, s:s}", "traceId", tid, "spanId", sid)) ==
	    NULL)
		return (NULL);
	if (s->has_parent) {
		otel_enc_hex(s->parent, sizeof(s->parent), pid);
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
	    otel_enc_status(s)) == -1))
		goto fail;
	return (j);
fail:
	json_decref(j);
	return (NULL);
}

/* One ExportTraceServiceRequest on one line, '\n'-terminated if nl. */
char *
otel_enc_batch(const json_t *resource, const struct otel_spanq *q, int nl)
{
	const struct otel_span	*s;
	json_t			*spans, *scope, *rs, *req;
	char			*out, *line;
	size_t			 len;

	if ((spans = json_array()) == NULL)
		return (NULL);
	TAILQ_FOREACH(s, q, entry) {
		if (json_array_append_new(spans, otel_enc_span(s)) == -1) {
			json_decref(spans);
			return (NULL);
		}
	}
	if ((scope = otel_enc_obj1("scope", otel_enc_obj1("name",
	    json_string(OTEL_SCOPE)))) == NULL ||
	    json_object_set_new(scope, "spans", spans) == -1) {
		json_decref(scope == NULL ? spans : scope);
		return (NULL);
	}
	if ((rs = otel_enc_obj1("resource", otel_enc_obj1("attributes",
	    json_incref((json_t *)resource)))) == NULL ||
	    json_object_set_new(rs, "scopeSpans", otel_enc_arr1(scope)) == -1) {
		json_decref(rs == NULL ? scope : rs);
		return (NULL);
	}
	if ((req = otel_enc_obj1("resourceSpans", otel_enc_arr1(rs))) == NULL)
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

