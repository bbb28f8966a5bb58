/*
 * otel: spans as OTLP/HTTP JSON (or JSON lines in a file), batched (see
 * otel.h).  This file is the module's top: the settings (config and
 * apply), the exporter in force and the ones draining, a span's start and
 * end, flush, shutdown and stats.  The rest is below it (otel_int.h):
 * otel_exp.c, otel_file.c, otel_span.c, otel_enc.c.
 *
 * A reconfigured exporter is moved to a draining list where it keeps
 * sending what it holds for at most OTEL_FLUSH_MS.
 *
 * Single-threaded: everything here runs on the loop thread.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "jx.h"
#include "log.h"
#include "otel_int.h"
#include "util.h"

static struct {
	struct event_base	*base;
	struct otel_exp		*cur;
	struct otel_exps	 drain;
	struct otel_totals	 totals;	/* of freed exporters */
	int			 curl_ok;
	int			 fresh;		/* stats restart at configure */
	json_t			*applied;	/* otel_apply()'s settings, a copy */
	int			 have_applied;
} otel = { .drain = TAILQ_HEAD_INITIALIZER(otel.drain) };

/* ------------------------------------------------------------ spans */

struct otel_span *
otel_span_start(const char *name, const char *parent)
{
	if (otel.cur == NULL)
		return (NULL);
	return (otel_span_new(name, parent));
}

void
otel_span_end(struct otel_span *s)
{
	if (s == NULL)
		return;
	s->end_ns = otel_span_now_ns();
	if (s->end_ns < s->start_ns)
		s->end_ns = s->start_ns;	/* the wall clock stepped back */
	if (otel.cur == NULL) {
		otel_span_free(s);
		return;
	}
	otel_exp_enqueue(otel.cur, s);
}

/* ------------------------------------------------------------ settings */

static const char *
otel_conf_str(const json_t *t, const char *key)
{
	const char	*v = jx_str(t, key);

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
	memset(&otel.totals, 0, sizeof(otel.totals));
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
			otel_exp_drain(otel.cur, 0, &otel.drain, &otel.totals);
		while ((e = TAILQ_FIRST(&otel.drain)) != NULL)
			otel_exp_retire(e);
		otel.cur = NULL;
	}
	if (otel.cur != NULL)
		otel_exp_drain(otel.cur, OTEL_FLUSH_MS, &otel.drain,
		    &otel.totals);
	otel.cur = NULL;
	otel.base = base;
	if (!otel_conf_parse(telemetry, &c))
		return (0);
	if (base == NULL) {
		log_warnx("otel: no event loop: telemetry off");
		return (-1);
	}
	if ((c.kind == OTEL_HTTP && otel_curl_init() == -1) ||
	    (e = otel_exp_new(base, &c, role, bot, gen)) == NULL) {
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
		otel_exp_kick(otel.cur);
	}
	/*
	 * Draining ones send at once anyway.  otel_exp_kick() never frees (a
	 * drained exporter goes from its reap timer), so this walk is safe.
	 */
	TAILQ_FOREACH(e, &otel.drain, entry)
		otel_exp_kick(e);
}

static void
otel_wake(int fd, short what, void *arg)
{
}

/* Run the loop until every exporter is gone or the deadline passes. */
static void
otel_run(int wait_ms)
{
	struct event	*wake;
	uint64_t	 now, deadline = util_now_ms() + (uint64_t)wait_ms;

	if (otel.base == NULL || TAILQ_EMPTY(&otel.drain) || wait_ms <= 0)
		return;
	if ((wake = evtimer_new(otel.base, otel_wake, NULL)) == NULL)
		return;
	while (!TAILQ_EMPTY(&otel.drain) && (now = util_now_ms()) < deadline) {
		if (util_timer_ms(wake, deadline - now) == -1) {
			log_warnx("otel: cannot arm the flush timer");
			break;
		}
		/* -1: we are inside one of its callbacks (reentrant). */
		if (event_base_loop(otel.base, EVLOOP_ONCE) == -1) {
			otel_exp_run_sync(&otel.drain, deadline);
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
		otel_exp_drain(otel.cur, wait_ms, &otel.drain,
		    &otel.totals);
	otel.cur = NULL;
	otel_run(wait_ms);
	while ((e = TAILQ_FIRST(&otel.drain)) != NULL)
		otel_exp_retire(e);
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
	st->sent = otel.totals.sent;
	st->dropped = otel.totals.dropped;
	st->retries = otel.totals.retries;
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
