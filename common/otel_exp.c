/*
 * otel_exp: one exporter (see otel_int.h).  Ended spans wait in its
 * bounded queue and are encoded only when a batch goes out, so a slow or
 * dead collector costs at most OTEL_QUEUE_MAX spans plus one encoded
 * batch.  An HTTP exporter sends through its own common/net on the
 * caller's loop, one request at a time, and retries 5xx, 429 and I/O
 * errors with backoff, waiting at least what a Retry-After asks (the rule
 * of net_retry_after_ms()).  A draining exporter sends what it holds for
 * a bounded time; exporters are freed from their own zero-delay "reap"
 * timer, never from inside a request's callback.
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "net.h"
#include "otel_int.h"
#include "util.h"

static void	otel_exp_report(struct otel_exp *, long, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	otel_exp_resp(const struct net_resp *, void *);
static void	otel_exp_tick(int, short, void *);
static void	otel_exp_reap(int, short, void *);

/* ------------------------------------------------------------ reporting */

/*
 * Warn about lost or delayed spans: at once when the reason changes, else
 * once per OTEL_LOG_MS, so a dead collector does not flood the log.
 */
static void
otel_exp_report(struct otel_exp *e, long why, const char *fmt, ...)
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
otel_exp_report_ok(struct otel_exp *e)
{
	if (e->rep_why == 0)
		return;
	log_info("otel: %s: exporting again", e->target);
	e->rep_why = 0;
}

/* ------------------------------------------------------------ exporting */

static int
otel_exp_post(struct otel_exp *e)
{
	struct net_opts	o = { .timeout_ms = OTEL_HTTP_MS,
			    .connect_ms = OTEL_CONNECT_MS,
			    .max_body = OTEL_RESP_MAX };

	e->req = net_request(e->net, "POST", e->target,
	    (const char *const *)e->hdrs, e->body, &o, otel_exp_resp, e);
	return (e->req == NULL ? -1 : 0);
}

static void
otel_exp_batch_done(struct otel_exp *e)
{
	free(e->body);
	e->body = NULL;
	e->nbody = 0;
}

/*
 * Keep the batch and try again later, after the backoff or what the
 * answer's Retry-After asks if longer; new spans still queue meanwhile.
 */
static void
otel_exp_retry(struct otel_exp *e, long why, const char *detail,
    uint32_t at_least_ms)
{
	uint32_t	ms = backoff_next(&e->bo);

	if (ms < at_least_ms)
		ms = at_least_ms;
	e->retries++;
	otel_exp_report(e, why, "%s; retrying %zu spans in %u ms", detail,
	    e->nbody, ms);
	if (util_timer_ms(e->tick, ms) == -1) {
		log_warnx("otel: cannot arm the retry timer");
		e->dropped += e->nbody;
		otel_exp_batch_done(e);
	}
}

/* The collector's answer to the batch out. */
static void
otel_exp_resp(const struct net_resp *r, void *arg)
{
	struct otel_exp	*e = arg;
	char		 detail[64];

	e->req = NULL;
	if (r->status == 0) {
		otel_exp_retry(e, OTEL_WHY_IO, r->error != NULL ? r->error :
		    "no answer", 0);
		return;
	}
	if (r->status >= 200 && r->status < 300) {
		e->sent += e->nbody;
		backoff_reset(&e->bo);
		otel_exp_report_ok(e);
	} else if (r->status >= 500 || r->status == 429) {
		(void)snprintf(detail, sizeof(detail), "collector answered %ld",
		    r->status);
		/* A 429 or 503 may say how long to wait; others wait 0. */
		otel_exp_retry(e, r->status, detail, r->status == 429 ||
		    r->retry_after >= 0 ? net_retry_after_ms(r,
		    OTEL_RETRY_MAX_MS) : 0);
		return;
	} else {
		/* The collector will never take this batch: it goes. */
		e->dropped += e->nbody;
		otel_exp_report(e, r->status, "collector refused a batch with %ld",
		    r->status);
	}
	otel_exp_batch_done(e);
	otel_exp_kick(e);
}

/* A file exporter's batch: written at once. */
static void
otel_exp_write(struct otel_exp *e, const char *line, size_t n)
{
	char	err[128];

	if (otel_file_write(e->target, line, err, sizeof(err)) == -1) {
		e->dropped += n;
		otel_exp_report(e, OTEL_WHY_FILE, "%s", err);
		return;
	}
	e->sent += n;
	otel_exp_report_ok(e);
}

/* Take up to OTEL_BATCH_MAX spans, encode them, send or write them. */
static void
otel_exp_send(struct otel_exp *e)
{
	struct otel_spanq	 batch = TAILQ_HEAD_INITIALIZER(batch);
	struct otel_span	*s;
	char			*body;
	size_t			 n = 0;

	if (evtimer_del(e->tick) == -1)
		log_warnx("otel: cannot disarm the batch timer");
	while (n < OTEL_BATCH_MAX && (s = TAILQ_FIRST(&e->queue)) != NULL) {
		TAILQ_REMOVE(&e->queue, s, entry);
		TAILQ_INSERT_TAIL(&batch, s, entry);
		e->nqueue--;
		n++;
	}
	body = otel_enc_batch(e->resource, &batch, e->kind == OTEL_FILE);
	otel_spanq_free(&batch);
	if (body == NULL) {
		e->dropped += n;
		otel_exp_report(e, OTEL_WHY_NOMEM, "out of memory encoding spans");
		return;
	}
	if (e->kind == OTEL_FILE) {
		otel_exp_write(e, body, n);
		free(body);
		return;
	}
	e->body = body;
	e->nbody = n;
	if (otel_exp_post(e) == -1)
		otel_exp_retry(e, OTEL_WHY_IO, "cannot start a request", 0);
}

/* A draining exporter that has nothing left is freed from its reap timer. */
static void
otel_exp_check_drained(struct otel_exp *e)
{
	if (e->draining && e->body == NULL && e->nqueue == 0 &&
	    util_timer_ms(e->reap, 0) == -1)
		log_warnx("otel: cannot arm the reap timer");
}

/*
 * Send what is due: a full batch, a batch whose oldest span has waited
 * OTEL_BATCH_MS, or everything when flushing or draining; else wait.
 */
void
otel_exp_kick(struct otel_exp *e)
{
	uint64_t	 age, now = util_now_ms();

	while (e->body == NULL && e->nqueue > 0) {
		age = now - TAILQ_FIRST(&e->queue)->queued_ms;
		if (e->nqueue < OTEL_BATCH_MAX && !e->flush_now &&
		    !e->draining && age < OTEL_BATCH_MS) {
			if (evtimer_pending(e->tick, NULL))
				return;
			if (util_timer_ms(e->tick, OTEL_BATCH_MS - age) == -1)
				log_warnx("otel: cannot arm the batch timer");
			return;
		}
		otel_exp_send(e);
	}
	if (e->nqueue == 0)
		e->flush_now = 0;
	if (e->body == NULL)
		otel_exp_check_drained(e);
}

/* Batch delay over, or retry backoff over. */
static void
otel_exp_tick(int fd, short what, void *arg)
{
	struct otel_exp	*e = arg;

	if (e->body == NULL)
		otel_exp_kick(e);
	else if (e->req == NULL && otel_exp_post(e) == -1)
		otel_exp_retry(e, OTEL_WHY_IO, "cannot start a request", 0);
}

static void
otel_exp_reap(int fd, short what, void *arg)
{
	otel_exp_retire(arg);
}

void
otel_exp_enqueue(struct otel_exp *e, struct otel_span *s)
{
	struct otel_span	*old;

	if (e->nqueue >= OTEL_QUEUE_MAX) {
		old = TAILQ_FIRST(&e->queue);
		TAILQ_REMOVE(&e->queue, old, entry);
		otel_span_free(old);
		e->nqueue--;
		e->dropped++;
		otel_exp_report(e, OTEL_WHY_FULL, "queue full, dropping the oldest");
	}
	s->queued_ms = util_now_ms();
	TAILQ_INSERT_TAIL(&e->queue, s, entry);
	e->nqueue++;
	otel_exp_kick(e);
}

/* Headers for every request; the Authorization value is never logged. */
static int
otel_exp_headers(struct otel_exp *e, const char *authenv)
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
otel_exp_target(struct otel_exp *e, const struct otel_conf *c)
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
otel_exp_free(struct otel_exp *e)
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

struct otel_exp *
otel_exp_new(struct event_base *base, const struct otel_conf *c,
    const char *role, const char *bot, int gen)
{
	struct otel_exp	*e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (NULL);
	e->base = base;
	e->kind = c->kind;
	TAILQ_INIT(&e->queue);
	backoff_init(&e->bo, OTEL_RETRY_MS, OTEL_RETRY_MAX_MS);
	if (otel_exp_target(e, c) == -1 ||
	    (e->resource = otel_enc_resource(c->source, role, bot, gen)) == NULL ||
	    (e->tick = evtimer_new(base, otel_exp_tick, e)) == NULL ||
	    (e->reap = evtimer_new(base, otel_exp_reap, e)) == NULL ||
	    (e->kind == OTEL_HTTP && (otel_exp_headers(e, c->authenv) == -1 ||
	    (e->net = net_new(base)) == NULL))) {
		otel_exp_free(e);
		return (NULL);
	}
	return (e);
}

/*
 * Free a draining exporter, its counts added to the totals of its list;
 * what it still holds is lost.
 */
void
otel_exp_retire(struct otel_exp *e)
{
	size_t	lost = e->nqueue + e->nbody;

	if (lost > 0) {
		e->dropped += lost;
		log_warnx("otel: %s: %zu spans not exported in time",
		    e->target, lost);
	}
	e->totals->sent += e->sent;
	e->totals->dropped += e->dropped;
	e->totals->retries += e->retries;
	TAILQ_REMOVE(e->list, e, entry);
	otel_exp_free(e);
}

/*
 * Stop feeding e; let it send what it holds for at most ms, on list (its
 * counts going to totals when it is freed).
 */
void
otel_exp_drain(struct otel_exp *e, int ms, struct otel_exps *list,
    struct otel_totals *totals)
{
	e->draining = 1;
	e->list = list;
	e->totals = totals;
	TAILQ_INSERT_TAIL(list, e, entry);
	otel_exp_kick(e);		/* a file exporter is done after this */
	if (ms <= 0 || (e->body == NULL && e->nqueue == 0))
		otel_exp_retire(e);
	else if (util_timer_ms(e->reap, (uint64_t)ms) == -1) {
		log_warnx("otel: cannot arm the drain timer");
		otel_exp_retire(e);
	}
}

/* One blocking POST of body, bounded by deadline; 0 if it was taken. */
static int
otel_exp_post_sync(struct otel_exp *e, const char *body, uint64_t deadline)
{
	struct net_opts	o = { .connect_ms = OTEL_CONNECT_MS,
			    .max_body = OTEL_RESP_MAX };
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
void
otel_exp_run_sync(struct otel_exps *list, uint64_t deadline)
{
	struct otel_exp	*e;
	char		*body;

	TAILQ_FOREACH(e, list, entry) {
		if (e->kind != OTEL_HTTP)
			continue;
		net_cancel(e->req);	/* the request in flight is abandoned */
		e->req = NULL;
		if (e->body != NULL && util_now_ms() < deadline &&
		    otel_exp_post_sync(e, e->body, deadline) == 0) {
			e->sent += e->nbody;
			otel_exp_batch_done(e);
		}
		if (e->nqueue == 0 || util_now_ms() >= deadline ||
		    (body = otel_enc_batch(e->resource, &e->queue, 0)) == NULL)
			continue;
		if (otel_exp_post_sync(e, body, deadline) == 0) {
			e->sent += e->nqueue;
			otel_spanq_free(&e->queue);
			e->nqueue = 0;
		}
		free(body);
	}
}

