/*
 * copilot-bridge-sessiond: started by the supervisor with its channel on
 * fd 3.  Workers reach it over links the supervisor hands out (ATTACH).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/lag.h"
#include "common/log.h"
#include "common/otel.h"
#include "backend.h"
#include "hooks.h"
#include "sessiond.h"
#include "store.h"

static struct sessiond	 sd_store;
struct sessiond		*sd = &sd_store;
static struct proc	 sproc = { .role = "sessiond" };

static void
sd_on_config(json_t *config, int first)
{
	char	hash[65];

	const char	*be;

	json_decref(sd->config);
	sd->config = json_incref(config);
	if (proc_config_hash(config, hash) == -1)
		fatalx("cannot hash the config");
	chook_config(config);
	(void)otel_apply(sproc.base, json_object_get(config, "telemetry"),
	    "sessiond", NULL, 0);
	if (!first) {
		log_info("config updated (%.8s)", hash);
		chan_config_changed();
		if (sd->backend->reconfigure != NULL)
			sd->backend->reconfigure(config);
		return;
	}
	hookrun_init(sproc.base);
	hookwatch_init(sproc.base);
	be = json_string_value(json_object_get(json_object_get(config,
	    "session"), "backend"));
	sd->backend = be != NULL && strcmp(be, "echo") == 0 ? &backend_echo :
	    &backend_copilot;
	if (store_open(sproc.base, json_string_value(json_object_get(config,
	    "stateDir"))) == -1)
		fatalx("cannot open the state");
	if (sd->backend->start(sproc.base, config) == -1) {
		(void)ipc_send(sproc.parent, IPC_FAILED, json_pack("{s:s}",
		    "reason", "cannot start the Copilot runtime"));
		(void)ipc_flush_blocking(sproc.parent, 1000);
		exit(1);
	}
	log_info("backend %s started", sd->backend->name);
	(void)ipc_send(sproc.parent, IPC_READY, json_pack("{s:s}", "hash", hash));
}

static void
sd_reload_hooks(struct ipc_msg *m)
{
	char	msg[1536];
	int	ok;

	ok = chan_ctl_reload_hooks(json_string_value(json_object_get(m->body,
	    "channel")), msg, sizeof(msg)) == 0;
	(void)ipc_send(sproc.parent, IPC_HOOKS_RESULT, json_pack("{s:O,s:b,s:s}",
	    "ref", json_object_get(m->body, "ref"), "ok", ok, "text", msg));
}

static void
sd_on_msg(struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case IPC_ATTACH:
		(void)link_attach(m);
		break;
	case IPC_ADMIN_RESULT:
		admin_result(m);
		break;
	case IPC_NOTIFY:
		stream_post(json_string_value(json_object_get(m->body, "bot")),
		    json_string_value(json_object_get(m->body, "channel")), "",
		    json_string_value(json_object_get(m->body, "text")));
		break;
	case IPC_RELOAD_HOOKS:
		sd_reload_hooks(m);
		break;
	case IPC_ROUTE:
		link_route(json_string_value(json_object_get(m->body, "bot")),
		    (int)json_integer_value(json_object_get(m->body,
		    "generation")), json_string_value(json_object_get(m->body,
		    "userId")));
		break;
	default:
		log_warnx("unexpected %s from the supervisor; ignored",
		    ipc_type_name(m->hdr.type));
		break;
	}
}

static void
sd_on_shutdown(const char *why)
{
	log_info("stopping: %s", why);
	chan_free_all();
	hookrun_shutdown();
	hookwatch_shutdown();
	if (sd->backend != NULL)
		sd->backend->stop();
	store_close();
	outbound_free_all();
	dedup_free();
	link_free_all();
	json_decref(sd->config);
	sd->config = NULL;
	otel_shutdown(1000);
	if (sproc.parent != NULL)
		(void)ipc_flush_blocking(sproc.parent, 1000);
	exit(0);
}

int
main(int argc, char *argv[])
{
	TAILQ_INIT(&sd->links);
	TAILQ_INIT(&sd->routes);
	sproc.on_config = sd_on_config;
	sproc.on_msg = sd_on_msg;
	sproc.on_shutdown = sd_on_shutdown;
	proc_init(&sproc, argc, argv);
	if (lag_start(sproc.base) == -1)
		log_warnx("cannot start the loop probe");
	if (event_base_dispatch(sproc.base) == -1)
		fatalx("event loop failed");
	return (0);
}
