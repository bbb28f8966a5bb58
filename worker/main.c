/*
 * copilot-bridge-worker: started by the supervisor, one per bot and
 * generation, with its channel on fd 3.  It receives its config (and its
 * secrets) over that channel, never in argv or the environment, picks the
 * adapter of the bot's platform and relays between it and sessiond.
 */
#include <sys/queue.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "adapter.h"
#include "common/log.h"
#include "common/otel.h"
#include "common/util.h"
#include "worker.h"

/* Inbound held while sessiond's link is down (at start, or a relink). */
#define WORKER_PENDING_MAX	256
/* message.inbound spans waiting for their INBOUND_ACK; then the oldest go. */
#define WORKER_UNACKED_MAX	1024
#define WORKER_OTEL_WAIT_MS	1000	/* at exit, for the last spans */

struct pending {
	STAILQ_ENTRY(pending)	 entry;
	json_t			*msg;
};

struct unacked {
	TAILQ_ENTRY(unacked)	 entry;
	char			*id;		/* the message's "id" */
	struct otel_span	*span;		/* message.inbound */
};

static struct worker		 worker_store;
struct worker			*worker = &worker_store;
static struct proc		 wproc = { .role = "worker" };
static char			 worker_hash[65];
static STAILQ_HEAD(, pending)	 pendq = STAILQ_HEAD_INITIALIZER(pendq);
static unsigned int		 npend;
static TAILQ_HEAD(, unacked)	 ackq = TAILQ_HEAD_INITIALIZER(ackq);
static unsigned int		 nunacked;

/*
 * Leave the event loop; main() then stops the adapter (and with it the
 * WebSocket thread) before exiting, so no thread outlives exit().
 */
static void
worker_exit(int code)
{
	if (!worker->exiting)
		worker->exit_code = code;
	worker->exiting = 1;
	(void)event_base_loopbreak(wproc.base);
}

void
worker_ready(const char *user_id, const char *username)
{
	uint64_t	ms = util_now_ms() - worker->config_ms;
	char		binary[13];

	if (worker->exiting)
		return;
	if (util_self_digest(binary) == -1)
		snprintf(binary, sizeof(binary), "unknown");
	log_info("ready in %llu ms as @%s (%s), binary %s",
	    (unsigned long long)ms, username, user_id, binary);
	(void)ipc_send(wproc.parent, IPC_READY, json_pack("{s:s,s:I,s:s,s:s,s:s}",
	    "hash", worker_hash, "connectMs", (json_int_t)ms, "userId",
	    user_id, "username", username, "binary", binary));
}

void
worker_failed(const char *fmt, ...)
{
	char	reason[512];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (worker->exiting)
		return;
	log_errorx("failed: %s", reason);
	(void)ipc_send(wproc.parent, IPC_FAILED, json_pack("{s:s}", "reason",
	    reason));
	worker_exit(1);
}

static void
worker_unacked_end(struct unacked *u, const char *error)
{
	TAILQ_REMOVE(&ackq, u, entry);
	nunacked--;
	otel_span_status(u->span, error);
	otel_span_end(u->span);
	free(u->id);
	free(u);
}

/* No INBOUND_ACK will come for these (link gone, exiting): end them all. */
static void
worker_unacked_fail(const char *why)
{
	struct unacked	*u;

	while ((u = TAILQ_FIRST(&ackq)) != NULL)
		worker_unacked_end(u, why);
}

/* sessiond has message id: its span is complete. */
static void
worker_unacked_ack(const char *id)
{
	struct unacked	*u;

	if (id == NULL)
		return;
	/* Acks come in order, so this is normally the first entry. */
	TAILQ_FOREACH(u, &ackq, entry)
		if (strcmp(u->id, id) == 0) {
			worker_unacked_end(u, NULL);
			return;
		}
}

/*
 * Start msg's message.inbound span and put its traceparent in msg, so
 * sessiond's spans join the trace.  Telemetry off: nothing at all.
 * Returns the entry waiting for the ack, or NULL.
 */
static struct unacked *
worker_trace_inbound(json_t *msg)
{
	const char		*id;
	char			 tp[OTEL_TRACEPARENT_LEN];
	struct otel_span	*sp;
	struct unacked		*u;

	id = json_string_value(json_object_get(msg, "id"));
	if (id == NULL || (sp = otel_span_start("message.inbound", NULL)) ==
	    NULL)
		return (NULL);
	otel_span_str(sp, "message.id", id);
	otel_span_str(sp, "channel", json_string_value(json_object_get(msg,
	    "channel")));
	otel_span_str(sp, "platform", json_string_value(json_object_get(
	    worker->config, "platform")));
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
	if (nunacked >= WORKER_UNACKED_MAX) {
		otel_span_event(TAILQ_FIRST(&ackq)->span, "no ack", NULL, NULL);
		worker_unacked_end(TAILQ_FIRST(&ackq), NULL);
	}
	TAILQ_INSERT_TAIL(&ackq, u, entry);
	nunacked++;
	return (u);
}

static void
worker_pending_flush(void)
{
	struct pending	*p;

	while (worker->link != NULL && (p = STAILQ_FIRST(&pendq)) != NULL) {
		STAILQ_REMOVE_HEAD(&pendq, entry);
		npend--;
		(void)ipc_send(worker->link, IPC_INBOUND, p->msg);
		free(p);
	}
}

/*
 * Hand msg (taken) to sessiond, or hold it until the link is back.  Every
 * adapter's messages pass here, so this is where message.inbound starts.
 */
void
worker_inbound(json_t *msg)
{
	struct pending	*p = NULL;
	struct unacked	*u;

	if (msg == NULL)
		return;
	if (worker->link == NULL && (npend >= WORKER_PENDING_MAX ||
	    (p = malloc(sizeof(*p))) == NULL)) {
		log_warnx("no sessiond link; dropped inbound %s",
		    json_string_value(json_object_get(msg, "id")));
		json_decref(msg);
		return;
	}
	u = worker_trace_inbound(msg);
	if (p == NULL) {
		if (ipc_send(worker->link, IPC_INBOUND, msg) == -1 && u != NULL)
			worker_unacked_end(u, "cannot send to sessiond");
		return;
	}
	p->msg = msg;
	STAILQ_INSERT_TAIL(&pendq, p, entry);
	npend++;
}

void
worker_outbound_done(json_int_t ref, int ok, const char *post,
    const char *error)
{
	json_t	*b;

	b = json_pack("{s:I,s:b}", "ref", ref, "ok", ok);
	if (b != NULL && post != NULL &&
	    json_object_set_new(b, "post", json_string(post)) == -1)
		b = (json_decref(b), NULL);
	if (b != NULL && error != NULL &&
	    json_object_set_new(b, "error", json_string(error)) == -1)
		b = (json_decref(b), NULL);
	if (worker->link == NULL) {
		log_warnx("no sessiond link for OUTBOUND_DONE %lld",
		    (long long)ref);
		json_decref(b);
		return;
	}
	if (ipc_send(worker->link, IPC_OUTBOUND_DONE, b) == -1)
		log_warnx("cannot send OUTBOUND_DONE %lld", (long long)ref);
}

void
worker_drained(void)
{
	if (worker->exiting)
		return;
	log_info("drained");
	(void)ipc_send(wproc.parent, IPC_DRAINED, json_object());
	worker_exit(0);
}

static void
worker_start(json_t *config)
{
	const char	*platform;

	worker->config_ms = util_now_ms();
	/* The resource names the bot and generation of every span. */
	(void)otel_apply(wproc.base, json_object_get(config, "telemetry"),
	    "worker", wproc.bot, wproc.gen);
	if (proc_config_hash(config, worker_hash) == -1) {
		worker_failed("cannot hash the config");
		return;
	}
	platform = json_string_value(json_object_get(config, "platform"));
	if ((worker->ad = adapter_find(platform)) == NULL) {
		worker_failed("no adapter for platform \"%s\"",
		    platform != NULL ? platform : "?");
		return;
	}
	worker->ad_state = worker->ad->start(wproc.base, config);
	if (worker->ad_state == NULL)
		worker_failed("cannot start the %s adapter", platform);
}

static void
worker_on_config(json_t *config, int first)
{
	json_decref(worker->config);
	worker->config = json_incref(config);
	if (first) {
		worker_start(config);
		return;
	}
	log_info("config updated");
	/* Not while exiting: worker_cleanup() is flushing the exporter. */
	if (!worker->exiting)
		(void)otel_apply(wproc.base, json_object_get(config,
		    "telemetry"), "worker", wproc.bot, wproc.gen);
	if (worker->ad_state != NULL && !worker->exiting)
		worker->ad->config_update(worker->ad_state, config);
}

static void
worker_link_msg(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const char	*id;

	switch (m->hdr.type) {
	case IPC_OUTBOUND:
		if (worker->ad_state == NULL || worker->exiting) {
			worker_outbound_done(json_integer_value(
			    json_object_get(m->body, "ref")), 0, NULL,
			    "worker is stopping");
			break;
		}
		worker->ad->outbound(worker->ad_state, m->body);
		break;
	case IPC_INBOUND_ACK:
		id = json_string_value(json_object_get(m->body, "id"));
		worker_unacked_ack(id);
		if (worker->ad_state != NULL)
			worker->ad->inbound_ack(worker->ad_state, id);
		break;
	case IPC_CURSORS:
		if (worker->ad_state != NULL && worker->ad->cursors != NULL)
			worker->ad->cursors(worker->ad_state,
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
	ipc_chan_free(ch);
	worker->link = NULL;
	worker_unacked_fail("sessiond link closed");
	if (worker->draining || worker->exiting)
		return;
	/* Also seen at shutdown, when sessiond stops first: not a warning. */
	log_info("sessiond link closed (%s); asking for a new one", why);
	(void)ipc_send(wproc.parent, IPC_RELINK, json_pack("{s:s,s:i}", "bot",
	    wproc.bot, "generation", wproc.gen));
}

static void
worker_attach(struct ipc_msg *m)
{
	if (m->fd == -1) {
		log_warnx("ATTACH without a descriptor; ignored");
		return;
	}
	if (worker->link != NULL) {
		ipc_chan_free(worker->link);
		worker_unacked_fail("sessiond link replaced");
	}
	worker->link = ipc_chan_new(wproc.base, m->fd, "sessiond link",
	    worker_link_msg, worker_link_closed, NULL);
	if (worker->link == NULL) {
		log_warnx("cannot set up the sessiond link");
		return;
	}
	m->fd = -1;	/* the channel owns it now */
	(void)ipc_send(worker->link, IPC_HELLO, json_pack("{s:i,s:s,s:i,s:s,s:i}",
	    "proto", IPC_VERSION, "role", "worker", "pid", (int)getpid(),
	    "bot", wproc.bot, "generation", wproc.gen));
	log_debug("attached to sessiond");
	worker_pending_flush();
}

static void
worker_on_msg(struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case IPC_ATTACH:
		worker_attach(m);
		break;
	case IPC_DRAIN:
		if (worker->draining)
			break;
		worker->draining = 1;
		log_info("draining");
		if (worker->ad_state != NULL)
			worker->ad->drain(worker->ad_state);
		else
			worker_drained();
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
	log_info("stopping: %s", why);
	worker->draining = 1;
	worker_exit(0);
}

static void
worker_cleanup(void)
{
	struct pending	*p;

	if (worker->ad_state != NULL)
		worker->ad->stop(worker->ad_state);
	worker->ad_state = NULL;
	while ((p = STAILQ_FIRST(&pendq)) != NULL) {
		STAILQ_REMOVE_HEAD(&pendq, entry);
		json_decref(p->msg);
		free(p);
	}
	if (wproc.parent != NULL)
		(void)ipc_flush_blocking(wproc.parent, 1000);
	if (worker->link != NULL)
		(void)ipc_flush_blocking(worker->link, 1000);
	worker_unacked_fail("worker exited");
	/*
	 * The loop has returned (worker_exit() only breaks it), so running it
	 * again here to send the last spans is not reentrant.  Bounded well
	 * within the supervisor's exit grace.
	 */
	otel_shutdown(WORKER_OTEL_WAIT_MS);
	json_decref(worker->config);
	worker->config = NULL;
}

int
main(int argc, char *argv[])
{
	/* Before any event base: ws.c wakes the loop from its thread. */
	if (evthread_use_pthreads() == -1) {
		fprintf(stderr, "copilot-bridge-worker: no libevent threads\n");
		return (1);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "copilot-bridge-worker: curl_global_init\n");
		return (1);
	}
	wproc.on_config = worker_on_config;
	wproc.on_msg = worker_on_msg;
	wproc.on_shutdown = worker_on_shutdown;
	proc_init(&wproc, argc, argv);
	if (event_base_dispatch(wproc.base) == -1)
		fatalx("event loop failed");
	worker_cleanup();
	return (worker->exit_code);
}
