/*
 * link: the transport between sessiond and the workers.  Each link is a
 * socketpair to one worker generation, handed over by the supervisor in an
 * ATTACH.  What arrives on a link goes up through the callbacks given to
 * link_init(); link.c itself knows nothing of channels or routes.
 */
#ifndef SESSIOND_LINK_H
#define SESSIOND_LINK_H

#include <sys/queue.h>
#include <sys/types.h>

#include <jansson.h>

struct event_base;
struct ipc_chan;

struct link {
	TAILQ_ENTRY(link)	 entry;
	struct ipc_chan		*chan;
	char			*bot;		/* "platform:name" */
	int			 gen;
	pid_t			 pid;		/* from the worker's HELLO, or 0 */
};

struct link_events {
	void	(*hello)(struct link *);		/* the worker said HELLO */
	void	(*inbound)(struct link *, json_t *);	/* INBOUND body */
	void	(*done)(struct link *, json_t *);	/* OUTBOUND_DONE body */
	void	(*gone)(struct link *);			/* about to be freed */
};

void		 link_init(struct event_base *, const struct link_events *);
/* A new link on fd (taken, also on failure) for bot's generation gen. */
int		 link_attach(int fd, const char *bot, int gen);
struct link	*link_find(const char *bot, int gen);
/* Send body (stolen) on l; ipc_send()'s result. */
int		 link_send(struct link *, int type, json_t *body);
/* The same with a descriptor (a copy goes; -1: none). */
int		 link_send_fd(struct link *, int type, json_t *body, int fd);
void		 link_free_all(void);

#endif
