/*
 * opq: a worker's outbound ops (OUTBOUND from sessiond), in one queue per
 * channel.  The ops of a channel run one at a time, in the order they came,
 * so a post, its edits and its deletion reach the platform in that order;
 * channels do not wait for each other.  An op with a "lane" runs in that
 * lane of its channel, beside the others: a file taking a minute to move
 * ("files") never holds a channel's posts and edits.  Every op pushed is answered to
 * sessiond exactly once (OUTBOUND_DONE), unless the queue is freed.
 *
 * The adapter says how to start an op and is told nothing else: it calls
 * opq_done() when the op's platform call is over.  The answers go up
 * through the adapter's events (outbound_done).
 */
#ifndef WORKER_OPQ_H
#define WORKER_OPQ_H

#include <stddef.h>

#include <jansson.h>

#include "worker/adapter.h"

struct opq;

struct opq_op {
	json_t		*body;		/* the OUTBOUND body */
	int		 fd;		/* the file that came with it, or -1 */
	json_int_t	 ref;
	void		*data;		/* the adapter's: opq_new()'s datasize */
};

struct opq_cbs {
	/*
	 * Start op's platform call: 0 when it runs (opq_done() follows,
	 * never from inside start), 1 when no call is needed (the op is done
	 * and ok), -1 when it cannot be made (err says why).
	 */
	int	(*start)(void *arg, struct opq_op *, char *err, size_t errlen);
	/* Release what op->data holds (the zeroed data is freed by opq). */
	void	(*clear)(void *arg, struct opq_op *);
	/* Ops were answered: the adapter may have finished draining. */
	void	(*answered)(void *arg);
};

struct opq	*opq_new(const struct opq_cbs *, void *arg,
		    const struct adapter_events *, size_t datasize,
		    unsigned int max);
/* fd (taken, -1: none) is closed when the op is answered. */
void		 opq_push(struct opq *, const json_t *body, int fd);
/* op's call is over; a's ref is op's (filled in here). */
void		 opq_done(struct opq *, struct opq_op *,
		    const struct adapter_answer *a);
unsigned int	 opq_len(const struct opq *);
void		 opq_free(struct opq *);

#endif
