/*
 * copilot-bridge: the supervisor.
 *
 *	copilot-bridge [run] [-c config] [--check]
 *	copilot-bridge ctl [-c config] [-s socket] command [arg]
 *	copilot-bridge --help | --version
 *	copilot-bridge import-state [-c config] [--force] PATH
 *
 * Signals arrive through libevent, so every handler runs in the loop:
 * SIGHUP reloads the config, SIGTERM/SIGINT shut down, SIGUSR1 reopens the
 * logs.  Children are reaped by their pidfd watchers (child.c); SIGCHLD
 * matters only to a supervisor that is PID 1 (in a container) or a
 * subreaper (for the fork server's workers: forksrv.c), which must also
 * reap the orphans re-parented to it.
 *
 * main() owns the one struct sup and hands it down; nothing below reaches
 * it any other way.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/otel.h"
#include "common/runtime.h"
#include "common/pidwatch.h"
#include "common/sdnotify.h"
#include "common/spawn.h"
#include "common/util.h"
#include "common/version.h"
#include "supervisor.h"

/* Asked for (--help): stdout and success; otherwise a usage error. */
static int
usage(int asked)
{
	fprintf(asked ? stdout : stderr,
	    "usage: copilot-bridge [run] [-c config] [--check]\n"
	    "       copilot-bridge ctl [-c config] [-s socket] status | reload |\n"
	    "           reload-bot NAME | reload-platform NAME |\n"
	    "           reload-hooks CHANNEL | reopen-logs\n"
	    "       copilot-bridge import-state [-c config] [--force] PATH\n"
	    "       copilot-bridge --help | --version\n");
	return (asked ? 0 : 2);
}

static void
sup_kill_all(int fd, short ev, void *arg)
{
	struct sup	*sup = arg;
	struct child	*c;

	TAILQ_FOREACH(c, &sup->children, entry) {
		log_warnx("%s pid %ld did not stop in time; killing it",
		    child_name(c), (long)c->pid);
		child_kill(c, SIGKILL, NULL);
	}
	if (event_base_loopexit(sup->base, NULL) == -1)
		fatalx("event_base_loopexit failed");
}

static void
sup_shutdown(struct sup *sup, const char *why)
{
	struct child	*c;
	struct bot	*b;

	if (sup->shutting_down)
		return;
	sup->shutting_down = 1;
	log_info("shutting down (%s)", why);
	(void)sd_notify_status("STOPPING=1", "shutting down");
	watch_stop(sup->watch);
	sup->watch = NULL;
	forksrv_shutdown(sup);
	control_stop(sup->control);
	if (evtimer_del(sup->sess_restart_ev) == -1)
		log_warnx("%s: cannot cancel sessiond's restart", __func__);
	TAILQ_FOREACH(b, &sup->bots, entry)
		if (evtimer_del(b->restart_ev) == -1)
			log_warnx("%s: cannot cancel the restart of %s",
			    __func__, b->key);
	/* Exits are reaped later, from the loop: the list stays as it is. */
	TAILQ_FOREACH(c, &sup->children, entry)
		child_event(c, CE_SHUTDOWN);
	if (TAILQ_EMPTY(&sup->children)) {
		if (event_base_loopexit(sup->base, NULL) == -1)
			fatalx("event_base_loopexit failed");
		return;
	}
	if ((sup->shutdown_ev = evtimer_new(sup->base, sup_kill_all,
	    sup)) == NULL || util_timer_ms(sup->shutdown_ev,
	    SUP_SHUTDOWN_MS + 1000) == -1)
		sup_kill_all(-1, 0, sup);
}

static void
sup_signal(int sig, short ev, void *arg)
{
	struct sup	*sup = arg;

	switch (sig) {
	case SIGHUP:
		/*
		 * Not once stopping: the last loop runs only to flush spans
		 * (otel_shutdown), and a reload would rebuild the exporter.
		 */
		if (sup->shutting_down)
			log_info("SIGHUP ignored: shutting down");
		else
			(void)reload_config(sup, "SIGHUP", NULL);
		break;
	case SIGTERM:
	case SIGINT:
		sup_shutdown(sup, sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGCHLD:
		/* Our own children's exits go to their watchers. */
		if (sup->pid1 || sup->subreaper)
			(void)pidwatch_reap_orphans();
		break;
	case SIGUSR1:
		child_reopen_logs(sup);
		break;
	}
}

static void
sup_config_changed(void *arg)
{
	(void)reload_config(arg, "file watch", NULL);
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
sup_setup(struct sup *sup)
{
	static const int	 sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGUSR1 };
	struct event		*ev;
	size_t			 i;

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	if (spawn_raise_nofile() == -1)
		log_warn("cannot raise the limit of open files");
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
		if ((ev = evsignal_new(sup->base, sigs[i], sup_signal, sup)) ==
		    NULL || event_add(ev, NULL) == -1)
			fatalx("cannot handle signal %d", sigs[i]);
	if ((sup->control = control_start(sup, sup->cfg->control_socket)) ==
	    NULL)
		fatal("control socket %s", sup->cfg->control_socket);
	if ((sup->watch = watch_start(sup->base, sup->cfgpath,
	    sup->cfg->watch_mode, sup->cfg->watch_interval_ms,
	    sup_config_changed, sup)) == NULL)
		log_warn("cannot watch %s for changes; use SIGHUP or ctl reload",
		    sup->cfgpath);
}

/* Every bot of the config that has an adapter gets its worker. */
static void
sup_start_bots(struct sup *sup)
{
	struct bot	*b;
	size_t		 i;

	for (i = 0; i < sup->cfg->nbots; i++) {
		if (!sup->cfg->bots[i].has_adapter) {
			log_warnx("No adapter for platform \"%s\" — skipping",
			    sup->cfg->bots[i].platform);
			continue;
		}
		if ((b = bot_get(sup, sup->cfg->bots[i].key)) == NULL)
			fatalx("out of memory");
		b->in_config = 1;
		bot_start(b);
	}
}

static int
sup_run(struct sup *sup)
{
	TAILQ_INIT(&sup->bots);
	TAILQ_INIT(&sup->children);
	dispatch_init(sup);
	sup->started_ms = util_now_ms();
	sup->pid1 = getpid() == 1;
	srandom((unsigned int)(time(NULL) ^ getpid()));
	sup_setup(sup);
	log_set_level(sup->cfg->log_level);
	(void)otel_apply(sup->base, sup->cfg->telemetry, "supervisor", NULL, 0);
	log_info("starting: config %s (%.8s), %zu bot(s)%s", sup->cfgpath,
	    sup->cfg->hash, sup->cfg->nbots, sup->pid1 ? ", as PID 1" : "");
	if (sess_start(sup) == -1)
		fatalx("cannot start sessiond");
	if (spare_init(sup) == -1)
		fatalx("cannot set up the spare worker");
	forksrv_init(sup);
	sup_start_bots(sup);
	spare_refill(sup, 0);
	(void)sd_notify_status("READY=1", "running, config %.8s",
	    sup->cfg->hash);
	if (event_base_dispatch(sup->base) == -1)
		fatalx("event loop failed");
	/*
	 * otel_shutdown() runs the loop itself, so only here, once dispatch
	 * has returned: from a callback it would be a reentrant loop.
	 */
	swap_abandon_all(sup);
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

/*
 * --check: a copilot backend without a runtime to run passes (the runtime
 * may be installed before the start) but is worth a warning.
 */
static void
sup_check_runtime(const struct cfg *c)
{
	const json_t	*s = json_object_get(c->root, "session");
	const char	*backend = jx_str(s, "backend");
	const char	*configured = jx_str(s, "runtimePath");
	char		 path[PATH_MAX], places[8192];

	if (backend != NULL && strcmp(backend, "copilot") != 0)
		return;
	if (runtime_find(configured, NULL, path, sizeof(path)) != RUNTIME_NONE)
		return;
	runtime_places(configured, NULL, places, sizeof(places));
	fprintf(stderr, "copilot-bridge: warning: no Copilot runtime found; "
	    "looked at %s. Install it with copilot-bridge-install-runtime or "
	    "set session.runtimePath.\n", places);
}

int
main(int argc, char *argv[])
{
	static const struct option	 longopts[] = {
		{ "check", no_argument, NULL, 't' },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static struct sup	 sup_store;
	struct sup	*sup = &sup_store;
	const char	*cfgarg = NULL, *sockarg = NULL, *cmd = "run";
	char		 err[CFG_ERR_MAX];
	int		 ch, check = 0;

	log_init("supervisor", "-", 0);
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argc--;
		argv++;
	}
	if (strcmp(cmd, "import-state") == 0)
		return (import_main(argc, argv));
	while ((ch = getopt_long(argc, argv, "+c:s:th", longopts, NULL)) != -1) {
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
		case 'h':
			return (usage(1));
		case 'V':
			version_print(stdout);
			return (0);
		default:
			return (usage(0));
		}
	}
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "ctl") == 0)
		return (sup_ctl(cfgarg, sockarg, argc, argv));
	if (strcmp(cmd, "help") == 0 && argc == 0)
		return (usage(1));
	if (strcmp(cmd, "run") != 0 || argc != 0)
		return (usage(0));
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
		sup_check_runtime(sup->cfg);
		printf("copilot-bridge: configuration file %s test is "
		    "successful (%zu bot(s), config %.8s)\n", sup->cfgpath,
		    sup->cfg->nbots, sup->cfg->hash);
		cfg_free(sup->cfg);
		return (0);
	}
	return (sup_run(sup));
}
