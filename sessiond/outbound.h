/*
 * outbound: platform calls sessiond asks a worker to make (post, patch,
 * delete, typing, react, download, upload), each held until its
 * OUTBOUND_DONE.
 */
#ifndef SESSIOND_OUTBOUND_H
#define SESSIOND_OUTBOUND_H

#include <stdint.h>

#include <jansson.h>

struct event_base;

/* What became of an op. */
struct outbound_result {
	int		 ok;
	const char	*post;		/* the post made, or NULL */
	const char	*error;		/* not ok: why */
	uint64_t	 platform_us;	/* the platform's time on it, 0: unknown */
	uint64_t	 ack_us;	/* when the worker read its answer, 0: unknown */
};

typedef void	(*outbound_cb)(void *arg, const struct outbound_result *);

void	 outbound_init(struct event_base *);
/*
 * Queue op (an object with "op" and its fields; stolen) for bot's worker;
 * cb, if not NULL, gets the result.  -1, without cb, when it cannot even
 * be queued (logged here with the reason).
 */
int	 outbound_op(const char *bot, json_t *op, outbound_cb, void *arg);
/*
 * The same with a file (taken; closed once the op is answered): each
 * generation the op goes to gets a copy of the descriptor with it.
 */
int	 outbound_op_fd(const char *bot, json_t *op, int fd, outbound_cb,
	    void *arg);
void	 outbound_done(json_t *body);
/* Generation gen of bot is gone: what it never answered goes out again. */
void	 outbound_link_gone(const char *bot, int gen);
/* Send bot's unsent ops, in order, to the generation it is routed to. */
void	 outbound_flush(const char *bot);
/* arg is going away: its ops still run, but report to nobody. */
void	 outbound_forget(void *arg);
void	 outbound_free_all(void);

#endif
