/*
 * worker: one bot's platform connection.  It holds no conversation state:
 * it can be killed at any moment and nothing but its connection is lost.
 */
#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H

#include <jansson.h>

#include "ipc/ipc.h"

struct worker {
	json_t		*config;	/* as last received */
	struct ipc_chan	*link;		/* to sessiond, or NULL */
	int		 draining;
};

extern struct worker	*worker;

#endif
