/*
 * copilot-bridge-worker: started by the supervisor, one per bot and
 * generation, with its channel on fd 3.  It receives its config (and its
 * secrets) over that channel, never in argv or the environment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "worker.h"

static struct worker	 worker_store;
struct worker		*worker = &worker_store;
static struct proc	 wproc = { .role = "worker" };

static void
worker_exit(int code)
{
	if (wproc.parent != NULL)
		(void)ipc_flush_blocking(wproc.parent, 1000);
	if (worker->link != NULL)
		(void)ipc_flush_blocking(worker->link, 1000);
	exit(code);
}

static void
worker_on_config(json_t *config, int first)
{
	char	hash[65];

	json_decref(worker->config);
	worker->config = json_incref(config);
	if (!first) {
		log_info("config updated");
		return;
	}
	if (proc_config_hash(config, hash) == -1) {
		(void)ipc_send(wproc.parent, IPC_FAILED, json_pack("{s:s}",
		    "reason", "cannot hash the config"));
		worker_exit(1);
	}
	/* No platform adapter yet: having the config is being ready. */
	(void)ipc_send(wproc.parent, IPC_READY, json_pack("{s:s}", "hash", hash));
}

static void
worker_link_msg(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	log_debug("link: %s from sessiond", ipc_type_name(m->hdr.type));
}

/* sessiond closed our link but lives on: ask the supervisor for another. */
static void
worker_link_closed(struct ipc_chan *ch, const char *why, void *arg)
{
	ipc_chan_free(ch);
	worker->link = NULL;
	if (worker->draining)
		return;
	log_warnx("sessiond link closed (%s); asking for a new one", why);
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
	if (worker->link != NULL)
		ipc_chan_free(worker->link);
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
}

static void
worker_on_msg(struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case IPC_ATTACH:
		worker_attach(m);
		break;
	case IPC_DRAIN:
		/* Nothing held yet: drained at once. */
		worker->draining = 1;
		log_info("draining");
		(void)ipc_send(wproc.parent, IPC_DRAINED, json_object());
		worker_exit(0);
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

int
main(int argc, char *argv[])
{
	wproc.on_config = worker_on_config;
	wproc.on_msg = worker_on_msg;
	wproc.on_shutdown = worker_on_shutdown;
	proc_init(&wproc, argc, argv);
	if (event_base_dispatch(wproc.base) == -1)
		fatalx("event loop failed");
	return (0);
}
