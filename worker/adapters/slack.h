/*
 * slack: the pure parts of the Slack adapter (Socket Mode frames, event
 * filtering, OUTBOUND ops as Web API calls, what an answer means), for
 * tests/unit/test_slack.c and tests/fuzz/fuzz_slack_envelope.c.
 *
 * Lengths, in characters: sessiond puts at most SLACK_POST_MAX characters
 * of Markdown in one post or edit (the post_max of the worker's READY).
 * Converted to mrkdwn that is at most mrkdwn_max_len(SLACK_POST_MAX),
 * well under the SLACK_MSG_MAX that chat.postMessage and chat.update take
 * whole, so an edit is never cut.  A new post over SLACK_TEXT_MAX is sent
 * as several messages (upstream's readability rule).
 */
#ifndef WORKER_ADAPTERS_SLACK_H
#define WORKER_ADAPTERS_SLACK_H

#include <stddef.h>

#include <jansson.h>

#include "worker/call.h"

#define SLACK_POST_MAX		3900	/* post_max: Markdown per post or edit */
#define SLACK_TEXT_MAX		3900	/* upstream's chunk size for posts */
#define SLACK_MSG_MAX		40000	/* one message's text (msg_too_long) */
#define SLACK_INBOUND_MAX	16383	/* characters of text to sessiond */
#define SLACK_ID_MAX		64	/* channel, user, envelope ids */
#define SLACK_TS_MAX		32	/* "1717000000.000100" */
#define SLACK_TS_SEC_DIGITS	12	/* a ts with more is no time */
#define SLACK_FILES_MAX		10	/* files of a message passed on */
#define SLACK_FILE_NAME_MAX	255	/* bytes of a file's name passed on */
#define SLACK_URL_MAX		2048	/* a longer url_private is not used */

/* Socket Mode frames */
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
	const char	*api_url;	/* "https://slack.com/api/" */
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
json_t	*slack_files(const json_t *event, const char *api_url);
int	 slack_trusted_url(const char *api_url, const char *url);
char	*slack_strip_mention(const char *text, const char *user_id,
	    int *mentioned);
char	*slack_decode_entities(const char *text);
int	 slack_valid_ts(const char *ts);
const char *slack_bare_ts(const char *id);
json_int_t slack_ts_ms(const char *ts);
int	 slack_op_request(const json_t *op, struct slack_req *, char *err,
	    size_t errlen);

/* A file op (download, upload): see slack_file_request(). */
struct slack_file_req {
	int		 upload;
	const char	*channel;
	const char	*thread_ts;	/* upload: bare, or NULL */
	const char	*name, *text;	/* upload */
	const char	*file_id, *url, *mime;	/* download; url may be "" */
	json_int_t	 size;		/* upload: bytes; download: at most */
};
int	 slack_file_request(const json_t *op, const char *api_url,
	    struct slack_file_req *, char *err, size_t errlen);
int	 slack_upload_target(const json_t *answer, const char *api_url,
	    const char **url, const char **file_id);
const char *slack_info_url(const json_t *answer, const char *api_url);
const char *slack_upload_post(const json_t *answer, const char *channel);
/* What a file transfer's answer means: 2xx done, 429 and 5xx retried. */
enum call_verdict slack_classify_file(struct call_result *);
void	 slack_req_clear(struct slack_req *);
int	 slack_is_uid(const char *s);
int	 slack_member_match(const json_t *member, const char *handle);
int	 slack_access_has_handles(const json_t *access);
json_t	*slack_access_resolve(const json_t *access, const json_t *members,
	    json_t *unresolved);
/* Is a Web API error code one for a refused token? */
int	 slack_token_refused(const char *error);
/*
 * What a Web API answer means: ok:true is done; a 429 waits its
 * Retry-After; 5xx and transport errors pass; anything else fails, and
 * ok:false with a token error (slack_token_refused()) refused the token.
 */
enum call_verdict slack_classify(struct call_result *);

#endif
