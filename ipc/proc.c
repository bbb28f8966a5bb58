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

	switch (m->hdr.type) {
	case IPC_CONFIG:
	case IPC_CONFIG_UPDATE:
		if (m->hdr.type == IPC_CONFIG && configured) {
			log_warnx("supervisor sent CONFIG twice; ignored");
			return;
		}
		conf = json_object_get(m->body, "config");
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
	fprintf(stderr, "usage: copilot-bridge-%s -g generation [-b bot]\n"
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
	int			 ch, i;

	proc = p;
	while ((ch = getopt(argc, argv, "b:g:")) != -1) {
		switch (ch) {
		case 'b':
			p->bot = optarg;
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
	if (errstr != NULL || (strcmp(p->role, "worker") == 0) != (p->bot != NULL))
		proc_usage();
	log_init(p->role, p->bot, p->gen);
	srandom((unsigned int)(time(NULL) ^ getpid()));	/* backoff jitter */
	if (p->bot == NULL)
		snprintf(p->logfile, sizeof(p->logfile), "%s.log", p->role);
	else {
		snprintf(p->logfile, sizeof(p->logfile), "worker-%s.log", p->bot);
		for (end = p->logfile; *end != '\0'; end++)
			if (*end == ':' || *end == '/')
				*end = '-';
	}
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
