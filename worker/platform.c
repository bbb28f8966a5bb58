/*
 * platform: what the platform adapters share (see platform.h).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "worker/platform.h"

#define PLATFORM_REASON_MAX	512
#define PLATFORM_TIMEOUT_MS	10000	/* no reconnectTimeoutMs */
#define PLATFORM_MARGIN_MS	500
#define PLATFORM_BACKOFF_MS	1000	/* a dropped connection's first wait */
#define PLATFORM_BACKOFF_MAX_MS	30000

int
platform_file_add(json_t *files, const char *id, const char *name,
    size_t max, json_int_t size, const char *mime, const char *url)
{
	char	*nm;
	size_t	 n;
	json_t	*f;
	int	 rc;

	if (name == NULL || *name == '\0') {
		if (asprintf(&nm, "file-%s", id) == -1)
			return (-1);
	} else {
		n = utf8_cut_bytes(name, strlen(name), max);
		if ((nm = strndup(name, n)) == NULL)
			return (-1);
	}
	f = json_pack("{s:s,s:s,s:I,s:s}", "id", id, "name", nm, "size",
	    size >= 0 ? size : (json_int_t)-1, "mime", mime != NULL ? mime : "");
	free(nm);
	if (f != NULL && url != NULL &&
	    json_object_set_new(f, "url", json_string(url)) == -1)
		f = (json_decref(f), NULL);
	rc = f != NULL ? json_array_append_new(files, f) : -1;
	return (rc);
}

void
platform_failed(const struct adapter_events *ev, const char *fmt, ...)
{
	char	reason[PLATFORM_REASON_MAX];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	ev->failed(ev->arg, reason);
}

int
platform_arm(const struct adapter_events *ev, struct event *t, uint64_t ms,
    const char *what)
{
	if (util_timer_ms(t, ms) == 0)
		return (0);
	platform_failed(ev, "cannot arm the %s timer", what);
	return (-1);
}

void
platform_disarm(struct event *t, const char *what)
{
	if (t != NULL && evtimer_del(t) == -1)
		log_warnx("cannot disarm the %s timer", what);
}

int
platform_deadline_ms(const json_t *config)
{
	json_int_t	rt;

	rt = json_integer_value(json_object_get(config, "reconnectTimeoutMs"));
	rt = rt > 0 && rt < 3600000 ? rt : PLATFORM_TIMEOUT_MS;
	return ((int)(rt - (rt / 10 < PLATFORM_MARGIN_MS ? rt / 10 :
	    PLATFORM_MARGIN_MS)));
}

int
platform_auth_header(char **out, const char *tok, const char *prefix)
{
	*out = NULL;
	if (tok == NULL || *tok == '\0' ||
	    strncmp(tok, prefix, strlen(prefix)) != 0 ||
	    strpbrk(tok, "\r\n") != NULL)
		return (-1);
	if (asprintf(out, "Authorization: Bearer %s", tok) == -1) {
		*out = NULL;
		return (-1);
	}
	return (0);
}

static void
platform_link_deadline(int fd, short what, void *arg)
{
	struct platform_link	*l = arg;

	platform_failed(l->ev, "no %s hello within %d ms%s%s", l->hello,
	    l->deadline_ms, l->last_err[0] != '\0' ? ": " : "", l->last_err);
}

int
platform_link_init(struct platform_link *l, struct event_base *base,
    const json_t *config, const struct adapter_events *ev, const char *name,
    const char *hello, void (*reconnect)(int, short, void *), void *arg)
{
	l->ev = ev;
	l->name = name;
	l->hello = hello;
	l->deadline_ms = platform_deadline_ms(config);
	backoff_init(&l->bo, PLATFORM_BACKOFF_MS, PLATFORM_BACKOFF_MAX_MS);
	if ((l->reconnect_ev = evtimer_new(base, reconnect, arg)) == NULL ||
	    (l->deadline_ev = evtimer_new(base, platform_link_deadline, l)) ==
	    NULL)
		return (-1);
	return (0);
}

int
platform_link_start(struct platform_link *l)
{
	return (platform_arm(l->ev, l->deadline_ev, (uint64_t)l->deadline_ms,
	    "deadline"));
}

void
platform_link_retry(struct platform_link *l, const char *why)
{
	uint32_t	ms = backoff_next(&l->bo);

	if (l->ready)
		log_warnx("%s: %s; reconnecting in %u ms", l->name, why, ms);
	else
		log_info("%s: %s; retrying in %u ms", l->name, why, ms);
	(void)platform_arm(l->ev, l->reconnect_ev, ms, "reconnect");
}

int
platform_link_up(struct platform_link *l)
{
	backoff_reset(&l->bo);
	l->last_err[0] = '\0';
	if (l->ready)
		return (0);
	l->ready = 1;
	platform_disarm(l->deadline_ev, "deadline");
	return (1);
}

void
platform_link_stop(struct platform_link *l)
{
	platform_disarm(l->reconnect_ev, "reconnect");
	platform_disarm(l->deadline_ev, "deadline");
}

void
platform_link_free(struct platform_link *l)
{
	if (l->reconnect_ev != NULL)
		event_free(l->reconnect_ev);
	if (l->deadline_ev != NULL)
		event_free(l->deadline_ev);
	l->reconnect_ev = l->deadline_ev = NULL;
}

char *
platform_strip_mentions(const char *text, platform_mention_at at,
    const void *arg, int *found)
{
	const char	*p = text != NULL ? text : "";
	char		*out, *o;
	size_t		 m;

	if (found != NULL)
		*found = 0;
	if ((out = malloc(strlen(p) + 1)) == NULL)
		return (NULL);
	o = out;
	while (*p != '\0') {
		if (arg == NULL || (m = at(text, p, arg)) == 0) {
			*o++ = *p++;
			continue;
		}
		if (found != NULL)
			*found = 1;
		p += m;
		if (*p == ':' || *p == ',')
			p++;
		if (o == out || o[-1] == ' ' || o[-1] == '\t' ||
		    o[-1] == '\n')
			while (*p == ' ' || *p == '\t')
				p++;
	}
	while (o > out && isspace((unsigned char)o[-1]))
		o--;
	*o = '\0';
	for (p = out; isspace((unsigned char)*p); p++)
		;
	memmove(out, p, strlen(p) + 1);
	return (out);
}

size_t
platform_valid_prefix(const char *s, size_t len)
{
	while (len > 0 && !utf8_valid(s, len))
		len--;
	return (len);
}
