/*
 * proc: the child side of the supervisor channel.  See ipc.h.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc.h"

struct proc	*proc;

/* The hash a child reports in READY: sha256 of the canonical config. */
int
proc_config_hash(const json_t *config, char out[65])
{
	char	*s;
	int	 rc;

	if ((s = json_dumps(config, JSON_SORT_KEYS | JSON_COMPACT)) == NULL)
		return (-1);
	rc = util_sha256_hex(s, strlen(s), out);
	free(s);
	return (rc);
}

/*
 * A spare's argv, after argv[0], as one writable area: once adopted it
 * reads "-g N -b BOT" there, as a worker started for its bot does, so ps
 * and /proc/PID/cmdline name the bot (OpenBSD's setproctitle(3), by hand).
 */
static void
proc_title_area(struct proc *p, int argc, char *argv[])
{
	int	i;

	for (i = 1; i + 1 < argc; i++)
		if (argv[i + 1] != argv[i] + strlen(argv[i]) + 1)
			return;		/* not contiguous: keep the argv */
	if (argc < 2)
		return;
	p->title = argv[1];
	p->titlelen = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 -
	    argv[1]);
}

static void
proc_retitle(struct proc *p)
{
	char	buf[512];
	int	n;

	if (p->title == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "-g%c%d%c-b%c%s", 0, p->gen, 0, 0,
	    p->bot);
	if (n < 0 || (size_t)n + 1 > p->titlelen || (size_t)n + 1 > sizeof(buf))
		return;		/* no room: "-s" stays */
	memset(p->title, 0, p->titlelen);
	memcpy(p->title, buf, (size_t)n);
}

/*
 * Who we are in logs and which log file is ours.  A spare worker (started
 * without -b, ahead of need) learns its bot and generation from its CONFIG,
 * before the log file is opened.
 */
static void
proc_set_identity(struct proc *p, const char *bot, int gen)
{
	static char	 botbuf[160];
	char		*end;

	if (bot != NULL && bot != p->bot) {
		snprintf(botbuf, sizeof(botbuf), "%s", bot);
		p->bot = botbuf;
	}
	p->gen = gen;
	log_set_identity(p->bot, gen);
	if (p->bot == NULL) {
		snprintf(p->logfile, sizeof(p->logfile), "%s.log",
		    strcmp(p->role, "worker") == 0 ? "worker-spare" : p->role);
		return;
	}
	proc_retitle(p);
	snprintf(p->logfile, sizeof(p->logfile), "worker-%s.log", p->bot);
	for (end = p->logfile; *end != '\0'; end++)
		if (*end == ':' || *end == '/')
			*end = '-';
}

/* logLevel and logDir are every process's business; apply them here. */
static void
proc_apply_logging(const json_t *config)
{
	enum log_level	 lvl;
	const char	*dir;

	if (log_parse_level(json_string_value(json_object_get(config,
	    "logLevel")), &lvl) == 0)
		log_set_level(lvl);
	else
		log_set_level(LOG_LINFO);
	dir = json_string_value(json_object_get(config, "logDir"));
	if (log_open(dir, proc->logfile) == -1)
		log_warn("cannot open %s/%s", dir, proc->logfile);
}

static void
proc_msg(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	static int	 configured;
	json_t		*conf;
	const char	*bot;

	switch (m->hdr.type) {
	case IPC_CONFIG:
	case IPC_CONFIG_UPDATE:
		if (m->hdr.type == IPC_CONFIG && configured) {
			log_warnx("supervisor sent CONFIG twice; ignored");
			return;
		}
		conf = json_object_get(m->body, "config");
		if (m->hdr.type == IPC_CONFIG && proc->bot == NULL &&
		    strcmp(proc->role, "worker") == 0) {
			if ((bot = jx_str(m->body, "bot")) == NULL)
				fatalx("a spare's CONFIG names no bot");
			proc_set_identity(proc, bot,
			    (int)jx_int(m->body, "generation", 0));
		}
		proc_apply_logging(conf);
		proc->on_config(conf, m->hdr.type == IPC_CONFIG);
		configured = 1;
		break;
	case IPC_LOG_REOPEN:
		if (log_reopen() == -1)
			log_warn("cannot reopen %s", log_path());
		break;
	case IPC_SHUTDOWN:
		proc->on_shutdown("SHUTDOWN from the supervisor");
		break;
	default:
		if (!configured && m->hdr.type != IPC_ATTACH) {
			log_warnx("%s before CONFIG; ignored",
			    ipc_type_name(m->hdr.type));
			return;
		}
		proc->on_msg(m);
		break;
	}
}

static void
proc_lost(struct ipc_chan *ch, const char *why, void *arg)
{
	proc->parent = NULL;
	ipc_chan_free(ch);
	proc->on_shutdown("lost the supervisor channel");
}

static void
proc_signal(int sig, short ev, void *arg)
{
	proc->on_shutdown(sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void
proc_usage(void)
{
	fprintf(stderr, "usage: copilot-bridge-%s -g generation "
	    "[-b bot | -s room]\n"
	    "(started by copilot-bridge, with its channel on fd %d)\n",
	    proc->role, IPC_CHILD_FD);
	exit(2);
}

void
proc_init(struct proc *p, int argc, char *argv[])
{
	static struct event	*sigev[2];
	const char		*errstr = NULL;
	char			*end;
	long			 g;
	int			 ch, i, spare = 0;

	proc = p;
	while ((ch = getopt(argc, argv, "b:g:s:")) != -1) {
		switch (ch) {
		case 'b':
			p->bot = optarg;
			break;
		case 's':
			spare = 1;	/* its argument: room for proc_retitle() */
			break;
		case 'g':
			errno = 0;
			g = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || g < 0 || g > 1000000)
				errstr = "bad generation";
			p->gen = (int)g;
			break;
		default:
			proc_usage();
		}
	}
	/* A worker is started for a bot, or as a spare that CONFIG names. */
	if (errstr != NULL || (strcmp(p->role, "worker") == 0 ?
	    (p->bot != NULL) == spare : p->bot != NULL || spare))
		proc_usage();
	if (spare)
		proc_title_area(p, argc, argv);
	log_init(p->role, p->bot, p->gen);
	srandom((unsigned int)(time(NULL) ^ getpid()));	/* backoff jitter */
	proc_set_identity(p, p->bot, p->gen);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	if ((p->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	for (i = 0; i < 2; i++)
		if ((sigev[i] = evsignal_new(p->base, i ? SIGINT : SIGTERM,
		    proc_signal, NULL)) == NULL || event_add(sigev[i], NULL) == -1)
			fatalx("cannot handle signals");
	if (util_set_cloexec(IPC_CHILD_FD, 1) == -1)
		fatal("fd %d is not our channel (run by copilot-bridge only)",
		    IPC_CHILD_FD);
	p->parent = ipc_chan_new(p->base, IPC_CHILD_FD, "supervisor", proc_msg,
	    proc_lost, NULL);
	if (p->parent == NULL)
		fatalx("cannot set up the supervisor channel");
	if (ipc_send(p->parent, IPC_HELLO, json_pack("{s:i,s:s,s:i}", "proto",
	    IPC_VERSION, "role", p->role, "pid", (int)getpid())) == -1)
		fatalx("cannot send HELLO");
}
