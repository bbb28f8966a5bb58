/*
 * sessiond: every Copilot session, streaming state, hooks and dedup.  It
 * never holds platform tokens: workers do the talking.
 */
#ifndef SESSIOND_SESSIOND_H
#define SESSIOND_SESSIOND_H

#include <sys/queue.h>
#include <sys/types.h>

#include <jansson.h>

#include "ipc/ipc.h"

/* A direct link to one worker generation, handed over by ATTACH. */
struct link {
	TAILQ_ENTRY(link)	 entry;
	struct ipc_chan		*chan;
	char			*bot;		/* "platform:name" */
	int			 gen;
	pid_t			 pid;		/* from the worker's HELLO, or 0 */
};
TAILQ_HEAD(linkq, link);

/* Which generation of a bot new outbound work goes to. */
struct route {
	TAILQ_ENTRY(route)	 entry;
	char			*bot;
	int			 gen;
};
TAILQ_HEAD(routeq, route);

struct sessiond {
	json_t		*config;
	struct linkq	 links;
	struct routeq	 routes;
};

extern struct sessiond	*sd;

/* link.c */
int		 link_attach(struct ipc_msg *);
void		 link_route(const char *bot, int gen);
struct link	*link_for(const char *bot);
void		 link_free_all(void);

#endif
