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
/* message.inbound spans waiting for their INBOUND_ACK; then the oldest go. */
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
	uint64_t	 ms = util_now_ms() - w->config_ms;

	if (w->exiting)
		return;
	log_info("ready in %llu ms as @%s (%s), posts of %zu characters",
	    (unsigned long long)ms, username, user_id, w->ad->post_max);
	(void)ipc_send(w->proc.parent, IPC_READY,
	    json_pack("{s:s,s:I,s:s,s:s,s:I}", "hash", w->hash,
	    "connectMs", (json_int_t)ms, "userId", user_id, "username",
	    username, "postMax", (json_int_t)w->ad->post_max));
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

static void
worker_unacked_end(struct worker *w, struct worker_unacked *u,
    const char *error)
{
	TAILQ_REMOVE(&w->ackq, u, entry);
	w->nunacked--;
	otel_span_status(u->span, error);
	otel_span_end(u->span);
	free(u->id);
	free(u);
}

/* No INBOUND_ACK will come for these (link gone, exiting): end them all. */
static void
worker_unacked_fail(struct worker *w, const char *why)
{
	struct worker_unacked	*u;

	while ((u = TAILQ_FIRST(&w->ackq)) != NULL)
		worker_unacked_end(w, u, why);
}

/* sessiond has message id: its span is complete. */
static void
worker_unacked_ack(struct worker *w, const char *id)
{
	struct worker_unacked	*u;

	if (id == NULL)
		return;
	/* Acks come in order, so this is normally the first entry. */
	TAILQ_FOREACH(u, &w->ackq, entry)
		if (strcmp(u->id, id) == 0) {
			worker_unacked_end(w, u, NULL);
			return;
		}
}

/*
 * Start msg's message.inbound span and put its traceparent in msg, so
 * sessiond's spans join the trace.  Telemetry off: nothing at all.
 * Returns the entry waiting for the ack, or NULL.
 */
static struct worker_unacked *
worker_trace_inbound(struct worker *w, json_t *msg)
{
	const char		*id;
	char			 tp[OTEL_TRACEPARENT_LEN];
	struct otel_span	*sp;
	struct worker_unacked	*u;

	id = jx_str(msg, "id");
	if (id == NULL || (sp = otel_span_start("message.inbound", NULL)) ==
	    NULL)
		return (NULL);
	otel_span_str(sp, "message.id", id);
	otel_span_str(sp, "channel", jx_str(msg, "channel"));
	otel_span_str(sp, "platform", jx_str(w->config, "platform"));
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->id = strdup(id)) == NULL ||
	    json_object_set_new(msg, "traceparent",
	    json_string(otel_span_traceparent(sp, tp))) == -1) {
		/* The message matters more than its span: send it untraced. */
		log_warnx("%s: out of memory tracing inbound %s", __func__, id);
		if (u != NULL)
			free(u->id);
		free(u);
		otel_span_drop(sp);
		return (NULL);
	}
	u->span = sp;
	if (w->nunacked >= WORKER_UNACKED_MAX) {
		otel_span_event(TAILQ_FIRST(&w->ackq)->span, "no ack", NULL,
		    NULL);
		worker_unacked_end(w, TAILQ_FIRST(&w->ackq), NULL);
	}
	TAILQ_INSERT_TAIL(&w->ackq, u, entry);
	w->nunacked++;
	return (u);
}

static void
worker_pending_flush(struct worker *w)
{
	struct worker_pending	*p;

	while (w->link != NULL && (p = STAILQ_FIRST(&w->pendq)) != NULL) {
		STAILQ_REMOVE_HEAD(&w->pendq, entry);
		w->npend--;
		(void)ipc_send(w->link, IPC_INBOUND, p->msg);
		free(p);
	}
}

/*
 * Hand msg (taken) to sessiond, or hold it until the link is back.  Every
 * adapter's messages pass here, so this is where message.inbound starts.
 */
static void
worker_inbound(void *arg, json_t *msg)
{
	struct worker		*w = arg;
	struct worker_pending	*p = NULL;
	struct worker_unacked	*u;

	if (msg == NULL)
		return;
	if (w->link == NULL && (w->npend >= WORKER_PENDING_MAX ||
	    (p = malloc(sizeof(*p))) == NULL)) {
		log_warnx("no sessiond link; dropped inbound %s",
		    jx_stre(msg, "id"));
		json_decref(msg);
		return;
	}
	u = worker_trace_inbound(w, msg);
	if (p == NULL) {
		if (ipc_send(w->link, IPC_INBOUND, msg) == -1 && u != NULL)
			worker_unacked_end(w, u, "cannot send to sessiond");
		return;
	}
	p->msg = msg;
	STAILQ_INSERT_TAIL(&w->pendq, p, entry);
	w->npend++;
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

	w->config_ms = util_now_ms();
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
		w->ad->outbound(w->ad_state, m->body);
		break;
	case IPC_INBOUND_ACK:
		id = jx_str(m->body, "id");
		worker_unacked_ack(w, id);
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
	worker_unacked_fail(w, "sessiond link closed");
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
		worker_unacked_fail(w, "sessiond link replaced");
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
	worker_pending_flush(w);
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
	struct worker_pending	*p;

	if (w->ad_state != NULL)
		w->ad->stop(w->ad_state);
	w->ad_state = NULL;
	while ((p = STAILQ_FIRST(&w->pendq)) != NULL) {
		STAILQ_REMOVE_HEAD(&w->pendq, entry);
		json_decref(p->msg);
		free(p);
	}
	if (w->proc.parent != NULL)
		(void)ipc_flush_blocking(w->proc.parent, WORKER_FLUSH_MS);
	if (w->link != NULL)
		(void)ipc_flush_blocking(w->link, WORKER_FLUSH_MS);
	worker_unacked_fail(w, "worker exited");
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
	STAILQ_INIT(&w->pendq);
	TAILQ_INIT(&w->ackq);
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
