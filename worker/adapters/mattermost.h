/*
 * mattermost: the pure parts of the Mattermost adapter (frames, filtering,
 * OUTBOUND ops as REST calls, what an answer means), for
 * tests/unit/test_mattermost.c and tests/fuzz/fuzz_mm_event.c.
 */
#ifndef WORKER_ADAPTERS_MATTERMOST_H
#define WORKER_ADAPTERS_MATTERMOST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "worker/call.h"

#define MM_ID_LEN	26		/* Mattermost ids: 26 of [a-z0-9] */
#define MM_POST_MAX	16383		/* characters (runes) in a post */
#define MM_SEEN_MAX	2048		/* recent post ids kept for dedup */
#define MM_SEQ_MAX	((json_int_t)1 << 53)	/* a larger seq is refused */
#define MM_FILES_MAX	10		/* files of a post (the server's MaxFileCount) */
#define MM_FILE_NAME_MAX 255		/* bytes of a file's name passed on */

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

/*
 * The ring of recent post ids, hashed: a look-up is one short chain, not a
 * scan of the ring (each post is looked up, and a burst is thousands).
 * Zeroed memory is an empty ring.
 */
#define MM_SEEN_BUCKETS	4096
struct mm_seen {
	char		 ids[MM_SEEN_MAX][MM_ID_LEN + 1];
	uint16_t	 chain[MM_SEEN_MAX];	 /* next slot + 1 in the bucket; 0: end */
	uint16_t	 head[MM_SEEN_BUCKETS]; /* first slot + 1; 0: empty */
	size_t		 next, n;
};

int	 mm_parse_event(const char *buf, size_t len, struct mm_event *,
	    char *err, size_t errlen);
void	 mm_event_clear(struct mm_event *);
int	 mm_inbound(const struct mm_self *, const json_t *post,
	    const char *channel_type, const char *sender_name,
	    const json_t *mentions, json_t **out, const char **why);
json_t	*mm_files(const json_t *post);
int	 mm_mentions(const char *text, const char *username);
char	*mm_strip_mention(const char *text, const char *username);
int	 mm_valid_id(const char *);
int	 mm_base_url(const char *url, char *out, size_t outlen);
int	 mm_ws_url(const char *base, const char *conn_id, json_int_t seq,
	    char *out, size_t outlen);
int	 mm_op_request(const json_t *op, const char *bot_id, char *method,
	    size_t methodlen, char *path, size_t pathlen, json_t **body,
	    char *err, size_t errlen);
char	*mm_truncate(const char *text, size_t max_chars);
/* A file op (download, upload) as REST: see mm_file_request(). */
struct mm_file_req {
	int		 upload;
	char		 path[64];	/* under /api/v4 */
	const char	*channel, *root, *name, *text;	/* upload */
	json_int_t	 size;		/* upload: bytes; download: at most */
};
int	 mm_file_request(const json_t *op, struct mm_file_req *, char *err,
	    size_t errlen);
int	 mm_seen_has(const struct mm_seen *, const char *id);
void	 mm_seen_add(struct mm_seen *, const char *id);
/* What a REST answer means (worker/call.h); a 401 refused the token. */
enum call_verdict mm_classify(struct call_result *);

#endif
