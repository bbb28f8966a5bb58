/*
 * mrkdwn: Slack's text, and the pure parts of the Slack adapter.
 *
 * Markdown as the model writes it becomes Slack mrkdwn outside code fences
 * (upstream's transform): **bold** -> *bold*, [text](url) -> <url|text>,
 * ~~strike~~ -> ~strike~, "# header" -> *header*, and tables become code
 * blocks.  Long text is cut by upstream's chunkMessage rule; an update,
 * which cannot be chunked, is truncated instead.  Lengths are characters
 * (UTF-8 code points), never bytes.
 *
 * The rest is adapters/slack.c's pure part (Socket Mode frames, event
 * filtering, OUTBOUND ops as Web API calls), here so that
 * tests/unit/test_slack.c and tests/fuzz/fuzz_slack_envelope.c can drive
 * it without a connection.
 */
#ifndef WORKER_MRKDWN_H
#define WORKER_MRKDWN_H

#include <stddef.h>

#include <jansson.h>

#define SLACK_TEXT_MAX		3900	/* upstream's chunk size */
#define SLACK_UPDATE_MAX	3880	/* an update is cut here ... */
#define SLACK_TRUNCATED		"\n\n_(truncated)_"	/* ... and marked */
#define SLACK_INBOUND_MAX	16383	/* characters of text to sessiond */
#define SLACK_ID_MAX		64	/* channel, user, envelope ids */
#define SLACK_TS_MAX		32	/* "1717000000.000100" */

char	*mrkdwn_from_markdown(const char *md);
size_t	 mrkdwn_chunk(const char *text, size_t max, char ***chunks);
void	 mrkdwn_chunks_free(char **chunks, size_t n);
char	*mrkdwn_truncate_update(const char *text);
size_t	 mrkdwn_runes(const char *text);

/* adapters/slack.c: Socket Mode frames */
enum slack_frame_kind {
	SLACK_F_HELLO,
	SLACK_F_DISCONNECT,	/* reason */
	SLACK_F_EVENT,		/* events_api: event (may be NULL: bad) */
	SLACK_F_OTHER		/* any other type (slash_commands, ...) */
};

struct slack_frame {
	enum slack_frame_kind	 kind;
	json_t			*frame;		/* the whole frame (owned) */
	const char		*type;
	char			 env_id[128];	/* envelope_id, or "" */
	const char		*reason;	/* disconnect, or "" */
	const json_t		*event;		/* events_api: payload.event */
	const char		*event_id;	/* payload.event_id, or "" */
	json_int_t		 retry_attempt;
	json_int_t		 num_connections; /* hello */
};

struct slack_self {
	const char	*user_id;	/* the bot's user id (auth.test) */
	const char	*key;		/* "slack:b" */
};

/* What an OUTBOUND op becomes. */
struct slack_req {
	const char	*method;	/* Web API method; NULL: nothing to do */
	json_t		*body;		/* its arguments (post: first chunk) */
	char		**chunks;	/* post: the mrkdwn text in pieces */
	size_t		 nchunks;
};

int	 slack_parse_frame(const char *buf, size_t len, struct slack_frame *,
	    char *err, size_t errlen);
void	 slack_frame_clear(struct slack_frame *);
int	 slack_inbound(const struct slack_self *, const json_t *event,
	    json_t **out, const char **why);
char	*slack_strip_mention(const char *text, const char *user_id,
	    int *mentioned);
char	*slack_decode_entities(const char *text);
int	 slack_valid_ts(const char *ts);
const char *slack_bare_ts(const char *id);
json_int_t slack_ts_ms(const char *ts);
int	 slack_op_request(const json_t *op, struct slack_req *, char *err,
	    size_t errlen);
void	 slack_req_clear(struct slack_req *);
int	 slack_is_uid(const char *s);
int	 slack_member_match(const json_t *member, const char *handle);
int	 slack_access_has_handles(const json_t *access);
json_t	*slack_access_resolve(const json_t *access, const json_t *members,
	    json_t *unresolved);

#endif
