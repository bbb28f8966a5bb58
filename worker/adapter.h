/*
 * adapter: what a platform (Mattermost, Slack) plugs into the worker.
 *
 * The worker core (main.c) owns the IPC channels; an adapter owns the
 * platform connection.  The core calls the adapter through struct
 * adapter_ops, always from the libevent thread; the adapter reports back
 * only through the struct adapter_events it was started with (calls go
 * down, reports come up through callbacks):
 *
 *   start()           connect; then ready() once the platform has confirmed
 *                     the connection (Mattermost: /users/me and the
 *                     WebSocket hello), or failed(reason)
 *   config_update()   a reloaded config: apply only its live part (access,
 *                     channels); never tokens or URLs (botReloadNeeded)
 *   outbound()        one OUTBOUND body ({ref, op, ...}) and the descriptor
 *                     that came with it (a file to send or to fill, taken;
 *                     -1: none); answer it, now or later, with exactly one
 *                     outbound_done()
 *   inbound_ack()     sessiond has inbound message id (Slack acks now)
 *   drain()           stop reading events, finish the outbound held, then
 *                     drained()
 *   stop()            free everything now (SHUTDOWN, exit); no callbacks
 *
 * Inbound messages go to inbound(); received events are handled only while
 * may_take() says so (the core holds them while sessiond is behind).
 * post_max is a platform fact the core sends in READY: the longest text,
 * in characters, that one post or edit of the platform carries whole.
 */
#ifndef WORKER_ADAPTER_H
#define WORKER_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;

/* The answer to one OUTBOUND. */
struct adapter_answer {
	json_int_t	 ref;
	int		 ok;
	int		 token_refused;	/* not ok: the platform refused the token */
	const char	*post;		/* the post made, or NULL */
	const char	*error;		/* not ok: why */
	uint64_t	 platform_us;	/* its last request's time, 0: unknown */
};

struct adapter_events {
	void	*arg;
	void	(*ready)(void *arg, const char *user_id, const char *username);
	void	(*failed)(void *arg, const char *reason);
	void	(*inbound)(void *arg, json_t *msg);	/* msg is taken */
	void	(*outbound_done)(void *arg, const struct adapter_answer *);
	void	(*drained)(void *arg);
	/* 0: hold received platform events for now (NULL: never held). */
	int	(*may_take)(void *arg);
};

struct adapter_ops {
	const char	*platform;
	size_t		 post_max;
	void		*(*start)(struct event_base *, const json_t *config,
			    const struct adapter_events *);
	void		 (*config_update)(void *, const json_t *config);
	void		 (*outbound)(void *, const json_t *op, int fd);
	void		 (*inbound_ack)(void *, const char *id);
	/* sessiond's per-channel cursors {id: ms}; NULL if not needed. */
	void		 (*cursors)(void *, const json_t *channels);
	void		 (*drain)(void *);
	void		 (*stop)(void *);
};

extern const struct adapter_ops	mm_adapter;
extern const struct adapter_ops	slack_adapter;

/* The adapter serving platform, or NULL (no adapter: the worker FAILs). */
const struct adapter_ops	*adapter_find(const char *platform);

#endif
