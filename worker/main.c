/*
 * copilot-bridge-worker: started by the supervisor, one per bot and
 * generation, with its channel on fd 3.  It receives its config (and its
 * secrets) over that channel, never in argv or the environment, picks the
 * adapter of the bot's platform and relays between it and sessiond.
 *
 * This file is the top of the worker (see worker.h): IPC messages are
 * dispatched down to the adapter, and the adapter's reports come back up
 * through the struct adapter_events given to it at start.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/otel.h"
#include "common/util.h"
#include "worker/adapter.h"
#include "worker/platform.h"
#include "worker/worker.h"

/* Inbound held while sessiond's link is down (at start, or a relink). */
#define WORKER_PENDING_MAX	256
/* Inbound kept for their INBOUND_ACK; then the oldest are not kept. */
#define WORKER_UNACKED_MAX	1024
#define WORKER_OTEL_WAIT_MS	1000	/* at exit, for the last spans */
#define WORKER_FLUSH_MS		1000	/* at exit, for the last messages */
/* Messages queued for sessiond above which platform events are held. */
#define WORKER_LINK_HIGH	256

/* The one worker; only main() and proc's callbacks (no argument) use it. */
static struct worker	worker_root;

/*
 * Leave the event loop; main() then stops the adapter (and with it the
 * WebSocket thread) before exiting, so no thread outlives exit().
 */
static void
worker_exit(struct worker *w, int code)
{
	if (!w->exiting)
		w->exit_code = code;
	w->exiting = 1;
	if (event_base_loopbreak(w->proc.base) == -1)
		log_warnx("cannot leave the event loop");
}

/* ------------------------------------------------------------ reports */

static void
worker_ready(void *arg, const char *user_id, const char *username)
{
	struct worker	*w = arg;
	uint64_t	 us = util_now_us() - w->config_us;

	if (w->exiting)
		return;
	log_info("ready in %llu ms as @%s (%s), posts of %zu characters",
	    (unsigned long long)(us / 1000), username, user_id,
	    w->ad->post_max);
	/* The two phases of a start-up, for the swap's log line. */
	(void)ipc_send(w->proc.parent, IPC_READY,
	    json_pack("{s:s,s:I,s:I,s:I,s:s,s:s,s:I}", "hash", w->hash,
	    "connectMs", (json_int_t)(us / 1000), "startUs",
	    (json_int_t)w->start_us, "connectUs", (json_int_t)us, "userId",
	    user_id, "username", username, "postMax",
	    (json_int_t)w->ad->post_max));
}

static void
worker_failed(void *arg, const char *reason)
{
	struct worker	*w = arg;

	if (w->exiting)
		return;
	log_errorx("failed: %s", reason);
	(void)ipc_send(w->proc.parent, IPC_FAILED, json_pack("{s:s%}",
	    "reason", reason, platform_valid_prefix(reason, strlen(reason))));
	worker_exit(w, 1);
}

/* sessiond has q's message, or never will: q is done. */
static void
worker_inq_end(struct worker *w, struct worker_inq *q, const char *error)
{
	TAILQ_REMOVE(&w->inq, q, entry);
	w->ninq--;
	if (!q->sent)
		w->nunsent--;
	otel_span_status(q->span, error);
	otel_span_end(q->span);
	json_decref(q->msg);
	free(q);
}

/* Exiting: no INBOUND_ACK will come. */
static void
worker_inq_clear(struct worker *w, const char *why)
{
	struct worker_inq	*q;

	while ((q = TAILQ_FIRST(&w->inq)) != NULL)
		worker_inq_end(w, q, why);
}

/* sessiond has message id. */
static void
worker_inq_ack(struct worker *w, const char *id)
{
	struct worker_inq	*q;

	if (id == NULL)
		return;
	/* Acks come in order, so this is normally the first entry. */
	TAILQ_FOREACH(q, &w->inq, entry)
		if (q->sent && strcmp(jx_stre(q->msg, "id"), id) == 0) {
			worker_inq_end(w, q, NULL);
			return;
		}
}

/*
 * The link went before sessiond acknowledged what was sent on it (sessiond
 * died, or closed it): all of that goes again on the next link, once;
 * sessiond's dedup drops what it had seen after all.  Twice unacknowledged
 * is a message sessiond refuses: dropped, said.
 */
static void
worker_inq_unsend(struct worker *w)
{
	struct worker_inq	*q, *next;

	for (q = TAILQ_FIRST(&w->inq); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		if (!q->sent)
			continue;
		if (q->resent) {
			log_warnx("sessiond did not acknowledge inbound %s on "
			    "two links; dropped", jx_stre(q->msg, "id"));
			worker_inq_end(w, q, "not acknowledged twice");
			continue;
		}
		q->sent = 0;
		q->resent = 1;
		w->nunsent++;
	}
}

static void
worker_inq_send(struct worker *w)
{
	struct worker_inq	*q;

	TAILQ_FOREACH(q, &w->inq, entry) {
		if (w->link == NULL)
			return;
		if (q->sent)
			continue;
		/* Failing, the link is closing: it goes on the next one. */
		if (ipc_send(w->link, IPC_INBOUND, json_incref(q->msg)) == -1)
			return;
		q->sent = 1;
		w->nunsent--;
	}
}

/*
 * Start msg's message.inbound span and put its traceparent in msg, so
 * sessiond's spans join the trace.  Telemetry off: nothing at all.
 */
static struct otel_span *
worker_trace_inbound(struct worker *w, json_t *msg)
{
	const char		*id = jx_str(msg, "id");
	char			 tp[OTEL_TRACEPARENT_LEN];
	struct otel_span	*sp;

	if (id == NULL || (sp = otel_span_start("message.inbound", NULL)) ==
	    NULL)
		return (NULL);
	otel_span_str(sp, "message.id", id);
	otel_span_str(sp, "channel", jx_str(msg, "channel"));
	otel_span_str(sp, "platform", jx_str(w->config, "platform"));
	if (json_object_set_new(msg, "traceparent",
	    json_string(otel_span_traceparent(sp, tp))) == -1) {
		/* The message matters more than its span: send it untraced. */
		log_warnx("%s: out of memory tracing inbound %s", __func__, id);
		otel_span_drop(sp);
		return (NULL);
	}
	return (sp);
}

/*
 * Hand msg (taken) to sessiond, keeping it until sessiond acknowledges it;
 * with no link, it waits for one.  Every adapter's messages pass here, so
 * this is where message.inbound starts.
 */
static void
worker_inbound(void *arg, json_t *msg)
{
	struct worker		*w = arg;
	struct worker_inq	*q, *old;

	if (msg == NULL)
		return;
	if ((w->link == NULL && w->nunsent >= WORKER_PENDING_MAX) ||
	    (q = calloc(1, sizeof(*q))) == NULL) {
		log_warnx("no sessiond link; dropped inbound %s",
		    jx_stre(msg, "id"));
		json_decref(msg);
		return;
	}
	if (w->ninq >= WORKER_UNACKED_MAX) {
		/* The oldest is no longer kept: sent, it is not sent again. */
		old = TAILQ_FIRST(&w->inq);
		if (!old->sent)
			log_warnx("%u inbound messages wait for sessiond; "
			    "dropped the oldest, %s", w->ninq,
			    jx_stre(old->msg, "id"));
		otel_span_event(old->span, "no ack", NULL, NULL);
		worker_inq_end(w, old, NULL);
	}
	q->msg = msg;
	q->span = worker_trace_inbound(w, msg);
	TAILQ_INSERT_TAIL(&w->inq, q, entry);
	w->ninq++;
	w->nunsent++;
	worker_inq_send(w);
}

/*
 * Platform events wait (in ws.c) while sessiond is behind: it has more to
 * say than we read in one go, or our queue to it is long.  A burst then
 * moves at sessiond's pace instead of filling the link until it is closed
 * (which would lose what it held).  Without a link, the pending queue
 * above applies.
 */
static int
worker_may_take(void *arg)
{
	struct worker	*w = arg;

	return (w->link == NULL || (ipc_queued(w->link) < WORKER_LINK_HIGH &&
	    !ipc_backlog(w->link)));
}

static void
worker_outbound_done(void *arg, const struct adapter_answer *a)
{
	struct worker	*w = arg;
	json_t		*b;

	b = json_pack("{s:I,s:b}", "ref", a->ref, "ok", a->ok);
	if (b != NULL && a->post != NULL &&
	    json_object_set_new(b, "post", json_string(a->post)) == -1)
		b = (json_decref(b), NULL);
	/* A text cut inside a character keeps what is whole. */
	if (b != NULL && !a->ok && a->error != NULL &&
	    json_object_set_new(b, "error", json_stringn(a->error,
	    platform_valid_prefix(a->error, strlen(a->error)))) == -1)
		b = (json_decref(b), NULL);
	/*
	 * The platform's own time, and when its answer was read (now: the
	 * answer comes straight from the request's end): the bridge's share of
	 * a turn is the rest, up to the platform's answer rather than to
	 * sessiond's reading of this.
	 */
	if (b != NULL && a->platform_us > 0 && (json_object_set_new(b,
	    "platformUs", json_integer((json_int_t)a->platform_us)) == -1 ||
	    json_object_set_new(b, "ackUs",
	    json_integer((json_int_t)util_now_us())) == -1))
		b = (json_decref(b), NULL);
	/* The op waits for the bot's next generation (a rotated token). */
	if (b != NULL && !a->ok && a->token_refused &&
	    json_object_set_new(b, "tokenRefused", json_true()) == -1)
		b = (json_decref(b), NULL);
	if (b == NULL) {
		log_warnx("OUTBOUND_DONE %lld: out of memory", (long long)a->ref);
		return;
	}
	if (w->link == NULL) {
		log_warnx("no sessiond link for OUTBOUND_DONE %lld",
		    (long long)a->ref);
		json_decref(b);
		return;
	}
	if (ipc_send(w->link, IPC_OUTBOUND_DONE, b) == -1)
		log_warnx("cannot send OUTBOUND_DONE %lld", (long long)a->ref);
}

static void
worker_drained(void *arg)
{
	struct worker	*w = arg;

	if (w->exiting)
		return;
	log_info("drained");
	(void)ipc_send(w->proc.parent, IPC_DRAINED, json_object());
	worker_exit(w, 0);
}

/* ------------------------------------------------------------ dispatch */

static void
worker_start(struct worker *w, json_t *config)
{
	const char	*platform;
	char		 reason[128];

	w->config_us = util_now_us();
	/* The resource names the bot and generation of every span. */
	(void)otel_apply(w->proc.base, json_object_get(config, "telemetry"),
	    "worker", w->proc.bot, w->proc.gen);
	if (proc_config_hash(config, w->hash) == -1) {
		worker_failed(w, "cannot hash the config");
		return;
	}
	platform = jx_str(config, "platform");
	if ((w->ad = adapter_find(platform)) == NULL) {
		snprintf(reason, sizeof(reason), "no adapter for platform "
		    "\"%.64s\"", platform != NULL ? platform : "?");
		worker_failed(w, reason);
		return;
	}
	w->ad_state = w->ad->start(w->proc.base, config, &w->events);
	w->start_us = util_now_us() - w->config_us;
	if (w->ad_state == NULL) {
		/* Unless the adapter said why already. */
		snprintf(reason, sizeof(reason), "cannot start the %s adapter",
		    platform);
		worker_failed(w, reason);
	}
}

static void
worker_on_config(json_t *config, int first)
{
	struct worker	*w = &worker_root;

	json_decref(w->config);
	w->config = json_incref(config);
	if (first) {
		worker_start(w, config);
		return;
	}
	log_info("config updated");
	/* Not while exiting: worker_cleanup() is flushing the exporter. */
	if (!w->exiting)
		(void)otel_apply(w->proc.base, json_object_get(config,
		    "telemetry"), "worker", w->proc.bot, w->proc.gen);
	if (w->ad_state != NULL && !w->exiting)
		w->ad->config_update(w->ad_state, config);
}

static void
worker_link_msg(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct worker		*w = arg;
	struct adapter_answer	 a;
	const char		*id;

	switch (m->hdr.type) {
	case IPC_OUTBOUND:
		if (w->ad_state == NULL || w->exiting) {
			memset(&a, 0, sizeof(a));
			a.ref = jx_int(m->body, "ref", 0);
			a.error = "worker is stopping";
			worker_outbound_done(w, &a);
			break;
		}
		w->ad->outbound(w->ad_state, m->body, m->fd);
		m->fd = -1;	/* the adapter's now */
		break;
	case IPC_INBOUND_ACK:
		id = jx_str(m->body, "id");
		worker_inq_ack(w, id);
		if (w->ad_state != NULL)
			w->ad->inbound_ack(w->ad_state, id);
		break;
	case IPC_CURSORS:
		if (w->ad_state != NULL && w->ad->cursors != NULL)
			w->ad->cursors(w->ad_state,
			    json_object_get(m->body, "channels"));
		break;
	default:
		log_debug("link: %s from sessiond ignored",
		    ipc_type_name(m->hdr.type));
		break;
	}
}

/* sessiond closed our link but lives on: ask the supervisor for another. */
static void
worker_link_closed(struct ipc_chan *ch, const char *why, void *arg)
{
	struct worker	*w = arg;

	ipc_chan_free(ch);
	w->link = NULL;
	worker_inq_unsend(w);
	if (w->draining || w->exiting)
		return;
	/* Also seen at shutdown, when sessiond stops first: not a warning. */
	log_info("sessiond link closed (%s); asking for a new one", why);
	(void)ipc_send(w->proc.parent, IPC_RELINK, json_pack("{s:s,s:i}",
	    "bot", w->proc.bot, "generation", w->proc.gen));
}

static void
worker_attach(struct worker *w, struct ipc_msg *m)
{
	if (m->fd == -1) {
		log_warnx("ATTACH without a descriptor; ignored");
		return;
	}
	if (w->link != NULL) {
		ipc_chan_free(w->link);
		worker_inq_unsend(w);
	}
	w->link = ipc_chan_new(w->proc.base, m->fd, "sessiond link",
	    worker_link_msg, worker_link_closed, w);
	if (w->link == NULL) {
		log_warnx("cannot set up the sessiond link");
		return;
	}
	m->fd = -1;	/* the channel owns it now */
	(void)ipc_send(w->link, IPC_HELLO, json_pack("{s:i,s:s,s:i,s:s,s:i}",
	    "proto", IPC_VERSION, "role", "worker", "pid", (int)getpid(),
	    "bot", w->proc.bot, "generation", w->proc.gen));
	log_debug("attached to sessiond");
	worker_inq_send(w);
}

static void
worker_on_msg(struct ipc_msg *m)
{
	struct worker	*w = &worker_root;

	switch (m->hdr.type) {
	case IPC_ATTACH:
		worker_attach(w, m);
		break;
	case IPC_DRAIN:
		if (w->draining)
			break;
		w->draining = 1;
		log_info("draining");
		if (w->ad_state != NULL)
			w->ad->drain(w->ad_state);
		else
			worker_drained(w);
		break;
	default:
		log_warnx("unexpected %s from the supervisor; ignored",
		    ipc_type_name(m->hdr.type));
		break;
	}
}

static void
worker_on_shutdown(const char *why)
{
	struct worker	*w = &worker_root;

	log_info("stopping: %s", why);
	w->draining = 1;
	worker_exit(w, 0);
}

static void
worker_cleanup(struct worker *w)
{
	if (w->ad_state != NULL)
		w->ad->stop(w->ad_state);
	w->ad_state = NULL;
	if (w->proc.parent != NULL)
		(void)ipc_flush_blocking(w->proc.parent, WORKER_FLUSH_MS);
	if (w->link != NULL)
		(void)ipc_flush_blocking(w->link, WORKER_FLUSH_MS);
	worker_inq_clear(w, "worker exited");
	/*
	 * The loop has returned (worker_exit() only breaks it), so running it
	 * again here to send the last spans is not reentrant.  Bounded well
	 * within the supervisor's exit grace.
	 */
	otel_shutdown(WORKER_OTEL_WAIT_MS);
	json_decref(w->config);
	w->config = NULL;
}

int
main(int argc, char *argv[])
{
	struct worker	*w = &worker_root;

	/* Before any event base: ws.c wakes the loop from its thread. */
	if (evthread_use_pthreads() == -1) {
		fprintf(stderr, "copilot-bridge-worker: no libevent threads\n");
		return (1);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "copilot-bridge-worker: curl_global_init\n");
		return (1);
	}
	/* A fork server returns here only in each worker it forks. */
	if (forksrv_flag(argc, argv) != NULL)
		forksrv_serve(argc, argv);
	TAILQ_INIT(&w->inq);
	w->events.arg = w;
	w->events.ready = worker_ready;
	w->events.failed = worker_failed;
	w->events.inbound = worker_inbound;
	w->events.outbound_done = worker_outbound_done;
	w->events.drained = worker_drained;
	w->events.may_take = worker_may_take;
	w->proc.role = "worker";
	w->proc.on_config = worker_on_config;
	w->proc.on_msg = worker_on_msg;
	w->proc.on_shutdown = worker_on_shutdown;
	proc_init(&w->proc, argc, argv);
	if (event_base_dispatch(w->proc.base) == -1)
		fatalx("event loop failed");
	worker_cleanup(w);
	return (w->exit_code);
}
