/*
 * worker: one bot's platform connection.  It holds no conversation state:
 * it can be killed at any moment and nothing but its connection is lost.
 *
 * main.c owns the IPC channels (the supervisor on fd 3, the sessiond link)
 * and picks the platform adapter (adapter.h); net.c and ws.c are the HTTP
 * and WebSocket clients the adapters use.
 */
#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ipc/ipc.h"

struct adapter_ops;

struct worker {
	json_t				*config;	/* as last received */
	struct ipc_chan			*link;		/* to sessiond, or NULL */
	const struct adapter_ops	*ad;
	void				*ad_state;
	uint64_t			 config_ms;	/* CONFIG arrived */
	int				 draining;
	int				 exiting;
	int				 exit_code;
};

extern struct worker	*worker;

/* main.c: what adapters report (see adapter.h). */
void	worker_ready(const char *user_id, const char *username);
void	worker_failed(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	worker_inbound(json_t *msg);
void	worker_outbound_done(json_int_t ref, int ok, const char *post,
	    const char *error);
void	worker_drained(void);

/*
 * adapters/mattermost.c: the pure parts, for tests and the fuzzer.
 */
#define MM_ID_LEN	26		/* Mattermost ids: 26 of [a-z0-9] */
#define MM_POST_MAX	16383		/* runes in a post */
#define MM_SEEN_MAX	2048		/* recent post ids kept for dedup */

enum mm_ev_kind {
	MM_EV_REPLY,		/* {status, seq_reply} */
	MM_EV_HELLO,
	MM_EV_POSTED,
	MM_EV_REACTION,		/* reaction_added */
	MM_EV_OTHER		/* any other event */
};

struct mm_event {
	enum mm_ev_kind	 kind;
	json_t		*frame;		/* the whole frame (owned) */
	const char	*name;		/* event name */
	json_int_t	 seq;		/* event seq, -1 for a reply */
	json_int_t	 seq_reply;	/* reply */
	int		 ok;		/* reply: status "OK" */
	const char	*error_id;	/* reply: error.id, or NULL */
	json_int_t	 server_time;	/* reply: data.server_time, or 0 */
	const char	*conn_id;	/* hello */
	json_t		*post;		/* posted: data.post, parsed (owned);
					   reaction_added: data.reaction */
	const char	*channel_type;	/* posted: or "" */
	const char	*sender_name;	/* posted: or "" */
	json_t		*mentions;	/* posted: data.mentions, parsed, or NULL */
};

struct mm_self {
	const char	*id;		/* the bot's user id */
	const char	*username;	/* the bot's username */
	const char	*key;		/* "mattermost:a" */
};

struct mm_seen {
	char		 ids[MM_SEEN_MAX][MM_ID_LEN + 1];
	size_t		 next, n;
};

int	 mm_parse_event(const char *buf, size_t len, struct mm_event *,
	    char *err, size_t errlen);
void	 mm_event_clear(struct mm_event *);
int	 mm_inbound(const struct mm_self *, const json_t *post,
	    const char *channel_type, const char *sender_name,
	    const json_t *mentions, json_t **out, const char **why);
int	 mm_mentions(const char *text, const char *username);
char	*mm_strip_mention(const char *text, const char *username);
int	 mm_valid_id(const char *);
int	 mm_base_url(const char *url, char *out, size_t outlen);
int	 mm_ws_url(const char *base, const char *conn_id, json_int_t seq,
	    char *out, size_t outlen);
int	 mm_op_request(const json_t *op, const char *bot_id, char *method,
	    size_t methodlen, char *path, size_t pathlen, json_t **body,
	    char *err, size_t errlen);
char	*mm_truncate(const char *text, size_t max_runes);
int	 mm_seen_has(const struct mm_seen *, const char *id);
void	 mm_seen_add(struct mm_seen *, const char *id);

#endif
