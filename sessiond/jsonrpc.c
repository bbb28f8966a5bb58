/*
 * jsonrpc: Content-Length framing and JSON-RPC 2.0 messages.  See jsonrpc.h.
 *
 * The header grammar accepted is deliberately narrow, as vscode-jsonrpc's
 * reader is: lines end in "\n" (a "\r" before it is dropped), each is
 * "Name: value" without control characters, names compare case-insensitively,
 * and only Content-Length means anything.  Blank lines before a header
 * block are tolerated (they count against the header limit), because a
 * writer that ends its body with a newline is a common mistake and costs
 * nothing to forgive.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonrpc.h"

enum {
	JD_HEADER = 0,		/* reading header lines */
	JD_BODY,		/* reading clen bytes into body */
	JD_SKIP,		/* dropping an oversized body */
	JD_FAILED		/* FATAL was returned */
};

void
jsonrpc_dec_init(struct jsonrpc_dec *d, size_t body_max)
{
	memset(d, 0, sizeof(*d));
	if (body_max == 0)
		body_max = JSONRPC_BODY_MAX;
	if (body_max > JSONRPC_SKIP_MAX)
		body_max = JSONRPC_SKIP_MAX;
	d->body_max = body_max;
	d->state = JD_HEADER;
}

static void
dec_next(struct jsonrpc_dec *d)
{
	free(d->body);
	d->body = NULL;
	d->blen = 0;
	d->llen = 0;
	d->hbytes = 0;
	d->nheaders = 0;
	d->have_len = 0;
	d->clen = 0;
	d->skip = 0;
	d->state = JD_HEADER;
}

void
jsonrpc_dec_reset(struct jsonrpc_dec *d)
{
	dec_next(d);
	d->why[0] = '\0';
}

static void	dec_why(struct jsonrpc_dec *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
dec_why(struct jsonrpc_dec *d, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
}

static enum jsonrpc_rc
dec_fatal(struct jsonrpc_dec *d)
{
	dec_next(d);
	d->state = JD_FAILED;
	return (JSONRPC_FATAL);
}

/* A decimal number without sign or spaces inside, up to JSONRPC_SKIP_MAX. */
static int
dec_parse_len(const char *s, size_t n, uint64_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (n == 0 || n > 12)
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > JSONRPC_SKIP_MAX)
		return (-1);
	*out = v;
	return (0);
}

/* RFC 9110 token characters: what a header name is made of. */
static int
is_tchar(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL));
}

static int
is_ows(char c)
{
	return (c == ' ' || c == '\t');
}

/*
 * One complete header line (without its "\n", maybe with a "\r").
 * Returns 1 at the end of the block, 0 to go on, -1 on a FATAL error.
 */
static int
dec_header_line(struct jsonrpc_dec *d)
{
	char	*l = d->line, *colon;
	size_t	 n = d->llen, i, nlen, vlen;
	char	*v;

	if (n > 0 && l[n - 1] == '\r')
		n--;
	if (n == 0) {
		if (d->nheaders == 0)
			return (0);		/* stray blank line */
		if (!d->have_len) {
			dec_why(d, "header without Content-Length");
			return (-1);
		}
		return (1);
	}
	for (i = 0; i < n; i++)
		if (((unsigned char)l[i] < 0x20 && l[i] != '\t') ||
		    l[i] == 0x7f) {
			dec_why(d, "control character in header line");
			return (-1);
		}
	if ((colon = memchr(l, ':', n)) == NULL) {
		dec_why(d, "header line without ':'");
		return (-1);
	}
	nlen = (size_t)(colon - l);
	if (nlen == 0) {
		dec_why(d, "header line without a name");
		return (-1);
	}
	for (i = 0; i < nlen; i++)
		if (!is_tchar(l[i])) {
			dec_why(d, "bad header name");
			return (-1);
		}
	v = colon + 1;
	vlen = n - (size_t)(v - l);
	while (vlen > 0 && is_ows(*v)) {
		v++;
		vlen--;
	}
	while (vlen > 0 && is_ows(v[vlen - 1]))
		vlen--;
	d->nheaders++;
	if (nlen == 14 && strncasecmp(l, "Content-Length", 14) == 0) {
		if (d->have_len) {
			dec_why(d, "duplicate Content-Length");
			return (-1);
		}
		if (dec_parse_len(v, vlen, &d->clen) == -1) {
			dec_why(d, "bad Content-Length \"%.*s\"",
			    (int)(vlen > 24 ? 24 : vlen), v);
			return (-1);
		}
		d->have_len = 1;
	}
	return (0);
}

/* The header block is complete: get ready for the body. */
static void
dec_start_body(struct jsonrpc_dec *d)
{
	d->blen = 0;
	if (d->clen > d->body_max) {
		dec_why(d, "body of %llu bytes exceeds the limit of %zu",
		    (unsigned long long)d->clen, d->body_max);
		d->skip = d->clen;
		d->state = JD_SKIP;
		return;
	}
	/* +1: jansson wants no terminator, but malloc(0) is awkward. */
	if ((d->body = malloc((size_t)d->clen + 1)) == NULL) {
		dec_why(d, "out of memory for a body of %llu bytes",
		    (unsigned long long)d->clen);
		d->skip = d->clen;
		d->state = JD_SKIP;
		return;
	}
	d->state = JD_BODY;
}

static enum jsonrpc_rc
dec_finish_body(struct jsonrpc_dec *d, json_t **msg)
{
	json_error_t	 jerr;
	json_t		*j;

	j = json_loadb(d->body, d->blen, 0, &jerr);
	dec_next(d);
	if (j == NULL) {
		dec_why(d, "body is not JSON: %s (at %d:%d)", jerr.text,
		    jerr.line, jerr.column);
		return (JSONRPC_SKIP);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		dec_why(d, "body is not a JSON object");
		return (JSONRPC_SKIP);
	}
	*msg = j;
	return (JSONRPC_MSG);
}

static enum jsonrpc_rc
dec_feed(struct jsonrpc_dec *d, const unsigned char *p, size_t len,
    size_t *used, json_t **msg)
{
	const unsigned char	*nl;
	size_t			 n, i = 0;
	int			 r;

	*used = 0;
	while (i < len || (d->state == JD_BODY && d->blen == d->clen) ||
	    (d->state == JD_SKIP && d->skip == 0)) {
		switch (d->state) {
		case JD_FAILED:
			*used = i;
			return (JSONRPC_FATAL);
		case JD_HEADER:
			nl = memchr(p + i, '\n', len - i);
			n = nl != NULL ? (size_t)(nl - (p + i)) : len - i;
			if (d->hbytes + n + (nl != NULL) > JSONRPC_HEADER_MAX) {
				dec_why(d, "header longer than %d bytes",
				    JSONRPC_HEADER_MAX);
				*used = i;
				return (dec_fatal(d));
			}
			memcpy(d->line + d->llen, p + i, n);
			d->llen += n;
			d->hbytes += n;
			i += n;
			if (nl == NULL)
				break;
			i++;				/* the '\n' */
			d->hbytes++;
			r = dec_header_line(d);
			d->llen = 0;
			if (r == -1) {
				*used = i;
				return (dec_fatal(d));
			}
			if (r == 1)
				dec_start_body(d);
			break;
		case JD_BODY:
			n = (size_t)d->clen - d->blen;
			if (n > len - i)
				n = len - i;
			memcpy(d->body + d->blen, p + i, n);
			d->blen += n;
			i += n;
			if (d->blen == d->clen) {
				*used = i;
				return (dec_finish_body(d, msg));
			}
			break;
		case JD_SKIP:
			n = len - i;
			if ((uint64_t)n > d->skip)
				n = (size_t)d->skip;
			d->skip -= n;
			i += n;
			if (d->skip == 0) {
				dec_next(d);		/* keeps why */
				*used = i;
				return (JSONRPC_SKIP);
			}
			break;
		}
	}
	*used = i;
	return (d->state == JD_FAILED ? JSONRPC_FATAL : JSONRPC_MORE);
}

enum jsonrpc_rc
jsonrpc_dec_feed(struct jsonrpc_dec *d, const void *buf, size_t len,
    size_t *used, json_t **msg, char *err, size_t errlen)
{
	enum jsonrpc_rc	rc;

	*msg = NULL;
	if (len > 0 && buf == NULL) {
		*used = 0;
		dec_why(d, "no buffer");
		rc = JSONRPC_FATAL;
	} else
		rc = dec_feed(d, buf, len, used, msg);
	if ((rc == JSONRPC_SKIP || rc == JSONRPC_FATAL) && err != NULL &&
	    errlen > 0)
		(void)snprintf(err, errlen, "%s", d->why);
	return (rc);
}

char *
jsonrpc_encode(const json_t *msg, size_t *len)
{
	char	 hdr[48];
	char	*buf;
	size_t	 blen, hlen;
	int	 n;

	if (msg == NULL)
		return (NULL);
	if ((blen = json_dumpb(msg, NULL, 0, JSON_COMPACT)) == 0)
		return (NULL);
	n = snprintf(hdr, sizeof(hdr), "Content-Length: %zu\r\n\r\n", blen);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return (NULL);
	hlen = (size_t)n;
	if ((buf = malloc(hlen + blen)) == NULL)
		return (NULL);
	memcpy(buf, hdr, hlen);
	/* Same flags, same value: the size cannot change between the calls. */
	if (json_dumpb(msg, buf + hlen, blen, JSON_COMPACT) != blen) {
		free(buf);
		return (NULL);
	}
	*len = hlen + blen;
	return (buf);
}

static json_t *
rpc_new(void)
{
	json_t	*m = json_object();

	if (m != NULL && json_object_set_new(m, "jsonrpc",
	    json_string("2.0")) == -1) {
		json_decref(m);
		return (NULL);
	}
	return (m);
}

/* A request (id >= 0) or a notification (id < 0); takes params. */
static json_t *
rpc_call(int64_t id, const char *method, json_t *params)
{
	json_t	*m;

	if (params == NULL)
		params = json_object();
	if (params == NULL || method == NULL || (m = rpc_new()) == NULL) {
		json_decref(params);
		return (NULL);
	}
	if ((id >= 0 && json_object_set_new(m, "id", json_integer(id)) == -1) ||
	    json_object_set_new(m, "method", json_string(method)) == -1 ||
	    json_object_set_new(m, "params", params) == -1) {
		json_decref(m);
		return (NULL);
	}
	return (m);
}

json_t *
jsonrpc_request(int64_t id, const char *method, json_t *params)
{
	return (rpc_call(id < 0 ? 0 : id, method, params));
}

json_t *
jsonrpc_notification(const char *method, json_t *params)
{
	return (rpc_call(-1, method, params));
}

static json_t *
rpc_reply(const json_t *id, const char *key, json_t *val)
{
	json_t	*m;

	if (val == NULL || (m = rpc_new()) == NULL) {
		json_decref(val);
		return (NULL);
	}
	if (json_object_set_new(m, "id", id != NULL ? json_deep_copy(id) :
	    json_null()) == -1 || json_object_set_new(m, key, val) == -1) {
		json_decref(m);
		return (NULL);
	}
	return (m);
}

json_t *
jsonrpc_result(const json_t *id, json_t *result)
{
	if (result == NULL)
		result = json_object();
	return (rpc_reply(id, "result", result));
}

json_t *
jsonrpc_error(const json_t *id, int code, const char *message)
{
	return (rpc_reply(id, "error", json_pack("{s:i,s:s}", "code", code,
	    "message", message != NULL ? message : "")));
}

enum jsonrpc_kind
jsonrpc_classify(const json_t *m)
{
	const json_t	*v, *id, *method;
	int		 has_result, has_error;

	if (!json_is_object(m))
		return (JSONRPC_INVALID);
	if ((v = json_object_get(m, "jsonrpc")) != NULL &&
	    (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0))
		return (JSONRPC_INVALID);
	id = json_object_get(m, "id");
	method = json_object_get(m, "method");
	if (method != NULL) {
		if (!json_is_string(method))
			return (JSONRPC_INVALID);
		if ((v = json_object_get(m, "params")) != NULL &&
		    !json_is_object(v) && !json_is_array(v))
			return (JSONRPC_INVALID);
		if (id == NULL)
			return (JSONRPC_NOTIFICATION);
		return (json_is_integer(id) || json_is_string(id) ?
		    JSONRPC_REQUEST : JSONRPC_INVALID);
	}
	if (id == NULL || !(json_is_integer(id) || json_is_string(id) ||
	    json_is_null(id)))
		return (JSONRPC_INVALID);
	has_result = json_object_get(m, "result") != NULL;
	v = json_object_get(m, "error");
	has_error = v != NULL;
	if (has_result == has_error)
		return (JSONRPC_INVALID);
	if (has_error && !json_is_object(v))
		return (JSONRPC_INVALID);
	return (JSONRPC_RESPONSE);
}
