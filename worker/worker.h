/*
 * worker: one bot's platform connection.  It holds no conversation state:
 * it can be killed at any moment and nothing but its connection is lost.
 *
 * main.c is the top: it owns the IPC channels (the supervisor on fd 3,
 * the sessiond link) and the root struct below, dispatches their
 * messages down to the platform adapter (adapter.h) and hears the
 * adapter's reports through the struct adapter_events it gave it.
 * Under the adapters: call.c (a REST call and its retries), opq.c (the
 * ordered outbound ops), access.c, mrkdwn.c, ws.c, and common/.  Beside
 * them forksrv.c, the fork server, which main() enters first when started
 * as one (-z) and which returns only in each worker it forks.
 */
#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H

#include <sys/queue.h>

#include <stdint.h>

#include <jansson.h>

#include "ipc/ipc.h"
#include "worker/adapter.h"

struct otel_span;

/* An INBOUND until sessiond acknowledges it (main.c, worker_inbound()). */
struct worker_inq {
	TAILQ_ENTRY(worker_inq)		 entry;
	json_t				*msg;
	struct otel_span		*span;		/* message.inbound */
	int				 sent;		/* on the link now */
	int				 resent;	/* a link lost it once */
};

/* The worker: every piece of its state, passed down from main(). */
struct worker {
	struct proc			 proc;		/* base, fd 3 channel */
	json_t				*config;	/* as last received */
	char				 hash[65];	/* of the first CONFIG */
	struct ipc_chan			*link;		/* to sessiond, or NULL */
	const struct adapter_ops	*ad;
	void				*ad_state;
	struct adapter_events		 events;	/* what the adapter reports */
	uint64_t			 config_us;	/* CONFIG arrived */
	uint64_t			 start_us;	/* ... to the adapter started */
	int				 draining;
	int				 exiting;
	int				 exit_code;
	TAILQ_HEAD(, worker_inq)	 inq;		/* oldest first */
	unsigned int			 ninq;
	unsigned int			 nunsent;	/* waiting for a link */
};

/* forksrv.c */
char	*forksrv_flag(int argc, char *argv[]);
void	 forksrv_serve(int argc, char *argv[]);

#endif
