/*
 * copilot-bridge-sessiond: started by the supervisor with its channel on
 * fd 3.  Workers reach it over links the supervisor hands out (ATTACH).
 *
 * This file is the top of sessiond: it owns the process (event base,
 * supervisor channel, the config in force, the backend) and dispatches
 * what the supervisor and the workers send to the modules below, which
 * get what they need from here when they are set up.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/cfg_js.h"
#include "common/jx.h"
#include "common/lag.h"
#include "common/log.h"
#include "common/otel.h"
#include "agent.h"
#include "common/spawn.h"
#include "backend.h"
#include "cmd.h"
#include "conf.h"
#include "files.h"
#include "hooks.h"
#include "inbound.h"
#include "link.h"
#include "outbound.h"
#include "plan.h"
#include "route.h"
#include "sched.h"
#include "sessiond.h"
#include "store.h"
#include "stream.h"

#define SD_CURSOR_WINDOW_MS	(60LL * 60 * 1000)	/* as the worker's catch-up */
#define SD_OTEL_WAIT_MS		200	/* the last spans, at exit */
#define SD_FLUSH_MS		100	/* the last messages to the supervisor */

static struct proc	 sproc = { .role = "sessiond" };
static const struct backend *sd_backend;	/* NULL until the first CONFIG */
static int		 sd_stopping;		/* SHUTDOWN: nothing new starts */

/* Now, in ms since the epoch, as the platforms' times are; 0 if unknown. */
static long long
sd_wall_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return (0);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Tell a new worker generation where each of its bot's channels stood, so
 * it catches up what was posted while no worker was connected.
 */
static void
sd_link_hello(struct link *l)
{
	long long	 now = sd_wall_ms();
	json_t		*c;

	if (now == 0 || (c = store_cursors(l->bot, now -
	    SD_CURSOR_WINDOW_MS)) == NULL)
		return;
	if (json_object_size(c) == 0) {
		json_decref(c);
		return;
	}
	log_debug("link %s g%d: %zu channel cursor(s)", l->bot, l->gen,
	    json_object_size(c));
	(void)link_send(l, IPC_CURSORS, json_pack("{s:o}", "channels", c));
}

static void
sd_link_done(struct link *l, json_t *body)
{
	outbound_done(body);
}

/*
 * A link goes: what its worker never answered goes to the routed
 * generation, and when an older generation goes, its swap is over.
 */
static void
sd_link_gone(struct link *l)
{
	json_t	*stats;

	outbound_link_gone(l->bot, l->gen);
	if ((stats = route_swap_over(l->bot, l->gen)) != NULL)
		(void)ipc_send(sproc.parent, IPC_SWAP_STATS, stats);
}

/*
 * While stopping, a message is not even acknowledged: the platform keeps
 * it (Slack redelivers, Mattermost is caught up from the cursor) for the
 * next start.
 */
static void
sd_link_inbound(struct link *l, json_t *msg)
{
	if (!sd_stopping)
		inbound_msg(l, msg);
}

static const struct link_events sd_link_events = {
	.hello = sd_link_hello,
	.inbound = sd_link_inbound,
	.done = sd_link_done,
	.gone = sd_link_gone,
};

/* The engine has news for `ctl status` (RUNTIME). */
static void
sd_runtime_changed(void)
{
	struct backend_info	bi;

	if (sd_backend == NULL || sd_backend->info == NULL)
		return;
	memset(&bi, 0, sizeof(bi));
	sd_backend->info(&bi);
	(void)ipc_send(sproc.parent, IPC_RUNTIME, json_pack("{s:i,s:s,s:s}",
	    "pid", (int)bi.pid, "version", bi.version, "auth", bi.auth));
}

static void
sd_seen(const char *bot, const char *id)
{
	(void)dedup_check(bot, id);
}

/*
 * What was answered in the span a catch-up reads again, before this start
 * (the store kept it with the cursors that go out in CURSORS): dedup drops
 * it when a new worker reads it again.
 */
static void
sd_seen_load(void)
{
	long long	now = sd_wall_ms();
	size_t		n;

	if (now > 0 && (n = store_seen_each(now - SD_CURSOR_WINDOW_MS,
	    sd_seen)) > 0)
		log_info("dedup: %zu message(s) seen before this start", n);
}

/* The first CONFIG: everything that needs the config starts here. */
static void
sd_start(struct conf *c)
{
	char	hash[65];

	if (proc_config_hash(c->root, hash) == -1)
		fatalx("cannot hash the config");
	link_init(sproc.base, &sd_link_events);
	outbound_init(sproc.base);
	stream_init(sproc.base);
	plan_init(sproc.base);
	admin_init(sproc.parent);
	hookrun_init(sproc.base);
	dirwatch_init(sproc.base);
	sd_backend = strcmp(c->backend, "echo") == 0 ? &backend_echo :
	    &backend_copilot;
	chan_init(sd_backend);
	command_init();
	cmd_provider_init(sproc.base);
	files_init(sproc.base);
	if (store_open(sproc.base, c->state_dir) == -1)
		fatalx("cannot set up the state store");
	agent_init(sproc.base);
	sched_init(sproc.base);
	sd_seen_load();
	if (sd_backend->start(sproc.base, c->root, sd_runtime_changed) == -1) {
		(void)ipc_send(sproc.parent, IPC_FAILED, json_pack("{s:s}",
		    "reason", "cannot start the Copilot runtime"));
		(void)ipc_flush_blocking(sproc.parent, 1000);
		exit(1);
	}
	log_info("backend %s started", sd_backend->name);
	(void)ipc_send(sproc.parent, IPC_READY, json_pack("{s:s}", "hash", hash));
}

/* How sessiond's directories are watched: the config's watch keys. */
static void
sd_watch_config(json_t *root)
{
	enum pollwatch_mode	 mode;
	json_t			*v;
	int			 ms;

	if (pollwatch_mode_parse(jx_str(root, "watch"), &mode) == -1)
		mode = POLLWATCH_AUTO;
	if ((v = json_object_get(root, "watchIntervalMs")) == NULL ||
	    cfg_js_int(v, POLLWATCH_INTERVAL_MIN, POLLWATCH_INTERVAL_MAX,
	    &ms) == -1)
		ms = POLLWATCH_INTERVAL_MS;
	dirwatch_config(mode, ms);
}

static void
sd_on_config(json_t *config, int first)
{
	struct conf	*c;
	char		 err[256], hash[65];

	if ((c = conf_parse(config, err, sizeof(err))) == NULL) {
		if (first)
			fatalx("cannot use the config: %s", err);
		log_warnx("config update not applied: %s", err);
		return;
	}
	conf_set(c);
	chook_config(c->root);
	sd_watch_config(c->root);
	(void)otel_apply(sproc.base, c->telemetry, "sessiond", NULL, 0);
	if (first) {
		sd_start(c);
		return;
	}
	if (proc_config_hash(c->root, hash) == 0)
		log_info("config updated (%.8s)", hash);
	chan_config_changed();
	if (sd_backend->reconfigure != NULL)
		sd_backend->reconfigure(c->root);
}

static void
sd_reload_hooks(json_t *body)
{
	char	msg[1536];
	int	ok;

	ok = chan_ctl_reload_hooks(jx_stre(body, "channel"), msg,
	    sizeof(msg)) == 0;
	(void)ipc_send(sproc.parent, IPC_HOOKS_RESULT, json_pack("{s:O,s:b,s:s}",
	    "ref", json_object_get(body, "ref"), "ok", ok, "text", msg));
}

static void
sd_attach(struct ipc_msg *m)
{
	int	fd = m->fd;

	if (fd == -1) {
		log_warnx("ATTACH for %s without a descriptor; ignored",
		    jx_stre(m->body, "bot"));
		return;
	}
	m->fd = -1;
	(void)link_attach(fd, jx_stre(m->body, "bot"),
	    (int)jx_int(m->body, "generation", 0));
}

static void
sd_route(json_t *body)
{
	const char	*bot = jx_stre(body, "bot");
	json_int_t	 max = jx_int(body, "postMax", 0);

	route_set(bot, (int)jx_int(body, "generation", 0), jx_str(body,
	    "userId"), max > 0 ? (size_t)max : 0);
	outbound_flush(bot);
}

static void
sd_on_msg(struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case IPC_ATTACH:
		sd_attach(m);
		break;
	case IPC_ADMIN_RESULT:
		admin_result(m->body);
		break;
	case IPC_NOTIFY:
		stream_post(jx_stre(m->body, "bot"), jx_stre(m->body, "channel"),
		    "", jx_stre(m->body, "text"));
		break;
	case IPC_RELOAD_HOOKS:
		sd_reload_hooks(m->body);
		break;
	case IPC_ROUTE:
		sd_route(m->body);
		break;
	default:
		log_warnx("unexpected %s from the supervisor; ignored",
		    ipc_type_name(m->hdr.type));
		break;
	}
}

static void
sd_stopped(void *arg)
{
	if (event_base_loopexit(sproc.base, NULL) == -1)
		fatalx("cannot leave the event loop");
}

/*
 * Stop: the channels answer what waits for a user ("user not available")
 * and let go of their sessions, then the backend stops its runtime; the
 * loop runs meanwhile, and main() finishes once the backend says so.
 */
static void
sd_on_shutdown(const char *why)
{
	if (sd_stopping)
		return;
	sd_stopping = 1;
	log_info("stopping: %s", why);
	sched_shutdown();
	agent_shutdown();
	files_shutdown();
	chan_unsee_unanswered();
	chan_free_all();
	hookrun_shutdown();
	dirwatch_shutdown();
	if (sd_backend != NULL)
		sd_backend->stop(sd_stopped, NULL);
	else
		sd_stopped(NULL);
}

/* After the loop: what is left is freed, the last spans go out. */
static void
sd_exit(void)
{
	cmd_provider_free();
	store_close();
	admin_free_all();
	stream_free_all();
	outbound_free_all();
	dedup_free();
	link_free_all();
	route_free_all();
	conf_set(NULL);
	otel_shutdown(SD_OTEL_WAIT_MS);
	if (sproc.parent != NULL)
		(void)ipc_flush_blocking(sproc.parent, SD_FLUSH_MS);
	log_info("stopped");
	exit(0);
}

int
main(int argc, char *argv[])
{
	sproc.on_config = sd_on_config;
	sproc.on_msg = sd_on_msg;
	sproc.on_shutdown = sd_on_shutdown;
	proc_init(&sproc, argc, argv);
	/* One link per worker generation: hundreds of bots. */
	if (spawn_raise_nofile() == -1)
		log_warn("cannot raise the limit of open files");
	if (lag_start(sproc.base) == -1)
		log_warnx("cannot start the loop probe");
	if (event_base_dispatch(sproc.base) == -1)
		fatalx("event loop failed");
	if (!sd_stopping)
		fatalx("the event loop ended with nothing to wait for");
	sd_exit();
	return (0);
}
