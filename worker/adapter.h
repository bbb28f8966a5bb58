/*
 * adapter: what a platform (Mattermost, Slack) plugs into the worker.
 *
 * The worker core (main.c) owns the IPC channels; an adapter owns the
 * platform connection.  The core calls the adapter through struct
 * adapter_ops, always from the libevent thread; the adapter reports back
 * through the worker_*() functions declared in worker.h:
 *
 *   start()           connect; then worker_ready() once the platform has
 *                     confirmed the connection (Mattermost: /users/me and
 *                     the WebSocket hello), or worker_failed(reason)
 *   config_update()   a reloaded config: apply only its live part (access,
 *                     channels); never tokens or URLs (botReloadNeeded)
 *   outbound()        one OUTBOUND body ({ref, op, ...}); answer it, now or
 *                     later, with exactly one worker_outbound_done()
 *   inbound_ack()     sessiond has inbound message id (Slack acks now)
 *   drain()           stop reading events, finish the outbound held, then
 *                     worker_drained()
 *   stop()            free everything now (SHUTDOWN, exit); no callbacks
 *
 * Inbound messages go to worker_inbound().
 */
#ifndef WORKER_ADAPTER_H
#define WORKER_ADAPTER_H

#include <jansson.h>

struct event_base;

struct adapter_ops {
	const char	*platform;
	void		*(*start)(struct event_base *, const json_t *config);
	void		 (*config_update)(void *, const json_t *config);
	void		 (*outbound)(void *, const json_t *op);
	void		 (*inbound_ack)(void *, const char *id);
	/* sessiond's per-channel cursors {id: ms}; NULL if not needed. */
	void		 (*cursors)(void *, const json_t *channels);
	void		 (*drain)(void *);
	void		 (*stop)(void *);
};

extern const struct adapter_ops	mm_adapter;
extern const struct adapter_ops	slack_adapter;

const struct adapter_ops	*adapter_find(const char *platform);

/*
 * Access control (upstream's checkUserAccess): platform-level then
 * bot-level access objects {mode, users}; users match by id or username,
 * case-insensitively.  Shared by every adapter.
 */
int	access_allowed(const json_t *platform_access, const json_t *bot_access,
	    const char *user_id, const char *username);

#endif
