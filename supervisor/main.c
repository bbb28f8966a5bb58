/*
 * copilot-bridge: the supervisor.
 *
 *	copilot-bridge [run] [-c config] [--check]
 *	copilot-bridge ctl [-c config] [-s socket] command [arg]
 *
 * Signals arrive through libevent, so every handler runs in the loop:
 * SIGHUP reloads the config, SIGTERM/SIGINT shut down, SIGCHLD reaps,
 * SIGUSR1 reopens the logs.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/otel.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "supervisor.h"

static struct sup	 sup_store;
struct sup		*sup = &sup_store;

static int
usage(void)
{
	fprintf(stderr,
	    "usage: copilot-bridge [run] [-c config] [--check]\n"
	    "       copilot-bridge ctl [-c config] [-s socket] status | reload |"
	    " reload-bot NAME | reopen-logs\n");
	return (2);
}

void
sup_reopen_logs(void)
{
	struct child	*c;

	if (log_reopen() == -1)
		log_warn("cannot reopen %s", log_path());
	TAILQ_FOREACH(c, &sup->children, entry)
		if (c->chan != NULL)
			(void)ipc_send(c->chan, IPC_LOG_REOPEN, json_object());
	log_info("logs reopened");
}

static void
sup_kill_all(int fd, short ev, void *arg)
{
	struct child	*c;

	TAILQ_FOREACH(c, &sup->children, entry) {
		log_warnx("%s pid %ld did not stop in time; killing it",
		    c->role == ROLE_SESSIOND ? "sessiond" : c->bot->key,
		    (long)c->pid);
		(void)kill(c->pid, SIGKILL);
	}
	event_base_loopexit(sup->base, NULL);
}

static void
sup_shutdown(const char *why)
{
	struct timeval	 tv = { SUP_SHUTDOWN_MS / 1000 + 1, 0 };
	struct child	*c;
	struct bot	*b;

	if (sup->shutting_down)
		return;
	sup->shutting_down = 1;
	log_info("shutting down (%s)", why);
	(void)sd_notify_status("STOPPING=1", "shutting down");
	watch_stop();
	control_stop();
	if (sup->sess_restart_ev != NULL)
		evtimer_del(sup->sess_restart_ev);
	TAILQ_FOREACH(b, &sup->bots, entry)
		evtimer_del(b->restart_ev);
	TAILQ_FOREACH(c, &sup->children, entry)
		child_send_shutdown(c);
	if (TAILQ_EMPTY(&sup->children)) {
		event_base_loopexit(sup->base, NULL);
		return;
	}
	if ((sup->shutdown_ev = evtimer_new(sup->base, sup_kill_all, NULL)) ==
	    NULL || evtimer_add(sup->shutdown_ev, &tv) == -1)
		sup_kill_all(-1, 0, NULL);
}

static void
sup_signal(int sig, short ev, void *arg)
{
	switch (sig) {
	case SIGHUP:
		/*
		 * Not once stopping: the last loop runs only to flush spans
		 * (otel_shutdown), and a reload would rebuild the exporter.
		 */
		if (sup->shutting_down)
			log_info("SIGHUP ignored: shutting down");
		else
			(void)reload_config("SIGHUP", NULL);
		break;
	case SIGTERM:
	case SIGINT:
		sup_shutdown(sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGCHLD:
		child_reap();
		break;
	case SIGUSR1:
		sup_reopen_logs();
		break;
	}
}

static void
sup_spawn_sessiond(int fd, short ev, void *arg)
{
	if (sup->shutting_down || sup->sessiond != NULL)
		return;
	if ((sup->sessiond = child_spawn(ROLE_SESSIOND, NULL)) == NULL) {
		struct timeval tv = { backoff_next(&sup->sess_backoff) / 1000, 0 };

		log_warnx("cannot spawn sessiond; retrying in %ld s",
		    (long)tv.tv_sec);
		evtimer_add(sup->sess_restart_ev, &tv);
	}
}

/*
 * The watcher, the reload path and ctl status use this path for the life of
 * the process: make it absolute so it never depends on the working directory.
 */
static void
sup_absolute(char *path, size_t len)
{
	char	cwd[4096], abs[8200];

	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return;
	if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, path) < len)
		strcpy(path, abs);
}

/* Everything `run` needs before the loop; fatal on any error. */
static void
sup_setup(void)
{
	static const int	 sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGUSR1 };
	struct event		*ev;
	size_t			 i;

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	if (util_exe_dir(sup->exedir, sizeof(sup->exedir)) == -1)
		fatal("cannot find our own executable");
	if (util_mkdir_p(sup->cfg->state_dir, 0700) == -1)
		fatal("cannot create stateDir %s", sup->cfg->state_dir);
	if (sup->cfg->log_dir != NULL) {
		if (util_mkdir_p(sup->cfg->log_dir, 0700) == -1)
			fatal("cannot create logDir %s", sup->cfg->log_dir);
		if (log_open(sup->cfg->log_dir, "supervisor.log") == -1)
			fatal("cannot open %s/supervisor.log", sup->cfg->log_dir);
	}
	if ((sup->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	for (i = 0; i < nitems(sigs); i++)
		if ((ev = evsignal_new(sup->base, sigs[i], sup_signal, NULL)) ==
		    NULL || event_add(ev, NULL) == -1)
			fatalx("cannot handle signal %d", sigs[i]);
	if ((sup->sess_restart_ev = evtimer_new(sup->base, sup_spawn_sessiond,
	    NULL)) == NULL)
		fatalx("evtimer_new failed");
	if (control_start(sup->cfg->control_socket) == -1)
		fatal("control socket %s", sup->cfg->control_socket);
	if (watch_start(sup->cfgpath) == -1)
		log_warn("cannot watch %s for changes; use SIGHUP or ctl reload",
		    sup->cfgpath);
}

static int
sup_run(void)
{
	struct bot	*b;
	size_t		 i;

	TAILQ_INIT(&sup->bots);
	TAILQ_INIT(&sup->children);
	backoff_init(&sup->sess_backoff, SUP_BACKOFF_BASE_MS, SUP_BACKOFF_MAX_MS);
	sup->started_ms = util_now_ms();
	srandom((unsigned int)(time(NULL) ^ getpid()));
	sup_setup();
	log_set_level(sup->cfg->log_level);
	(void)otel_apply(sup->base, json_object_get(sup->cfg->root,
	    "telemetry"), "supervisor", NULL, 0);
	log_info("starting: config %s (%.8s), %zu bot(s)", sup->cfgpath,
	    sup->cfg->hash, sup->cfg->nbots);
	sup_spawn_sessiond(-1, 0, NULL);
	for (i = 0; i < sup->cfg->nbots; i++) {
		if (!sup->cfg->bots[i].has_adapter) {
			log_warnx("No adapter for platform \"%s\" — skipping",
			    sup->cfg->bots[i].platform);
			continue;
		}
		if ((b = bot_get(sup->cfg->bots[i].key)) == NULL)
			fatalx("out of memory");
		b->in_config = 1;
		bot_start(b);
	}
	(void)sd_notify_status("READY=1", "running, config %.8s",
	    sup->cfg->hash);
	if (event_base_dispatch(sup->base) == -1)
		fatalx("event loop failed");
	/*
	 * otel_shutdown() runs the loop itself, so only here, once dispatch
	 * has returned: from a callback it would be a reentrant loop.
	 */
	swap_abandon_all();
	otel_shutdown(2000);
	log_info("stopped");
	return (0);
}

/* The control socket named by the config, even if the config is invalid. */
static int
sup_ctl(const char *cfgarg, const char *sockarg, int argc, char *argv[])
{
	char		 path[4096], sock[4096], err[CFG_ERR_MAX];
	struct cfg	*c;

	if (sockarg != NULL)
		return (ctl_main(sockarg, argc, argv));
	if (cfg_resolve_path(cfgarg, path, sizeof(path)) == -1) {
		fprintf(stderr, "ctl: cannot find the config; use -s SOCKET\n");
		return (1);
	}
	if ((c = cfg_load(path, err, sizeof(err))) != NULL) {
		snprintf(sock, sizeof(sock), "%s", c->control_socket);
		cfg_free(c);
	} else if (cfg_control_socket_hint(path, sock, sizeof(sock)) == -1) {
		fprintf(stderr, "ctl: %s\nctl: cannot tell the control socket; "
		    "use -s SOCKET\n", err);
		return (1);
	}
	return (ctl_main(sock, argc, argv));
}

int
main(int argc, char *argv[])
{
	static const struct option	 longopts[] = {
		{ "check", no_argument, NULL, 't' },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*cfgarg = NULL, *sockarg = NULL, *cmd = "run";
	char		 err[CFG_ERR_MAX];
	int		 ch, check = 0;

	log_init("supervisor", "-", 0);
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argc--;
		argv++;
	}
	while ((ch = getopt_long(argc, argv, "+c:s:t", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfgarg = optarg;
			break;
		case 's':
			sockarg = optarg;
			break;
		case 't':
			check = 1;
			break;
		default:
			return (usage());
		}
	}
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "ctl") == 0)
		return (sup_ctl(cfgarg, sockarg, argc, argv));
	if (strcmp(cmd, "run") != 0 || argc != 0)
		return (usage());
	if (cfg_resolve_path(cfgarg, sup->cfgpath, sizeof(sup->cfgpath)) == -1)
		fatalx("cannot resolve the config path");
	sup_absolute(sup->cfgpath, sizeof(sup->cfgpath));
	if ((sup->cfg = cfg_load(sup->cfgpath, err, sizeof(err))) == NULL) {
		if (check) {
			fprintf(stderr, "copilot-bridge: %s\ncopilot-bridge: "
			    "configuration file %s test failed\n", err,
			    sup->cfgpath);
			return (1);
		}
		fatalx("%s", err);
	}
	if (check) {
		printf("copilot-bridge: configuration file %s test is "
		    "successful (%zu bot(s), config %.8s)\n", sup->cfgpath,
		    sup->cfg->nbots, sup->cfg->hash);
		cfg_free(sup->cfg);
		return (0);
	}
	return (sup_run());
}
