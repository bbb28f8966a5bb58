/*
 * mattermost: the Mattermost adapter (API v4 REST + the WebSocket event
 * stream), for one bot.
 *
 *   start     GET /users/me (who we are), then the WebSocket with the
 *             token in the upgrade's Authorization header; READY after the
 *             server's hello.
 *   inbound   "posted" events, filtered (own, system, access) and sent to
 *             sessiond as INBOUND.
 *   outbound  OUTBOUND ops as REST calls, in order per channel, retried on
 *             429 (Retry-After) and 5xx/transport errors (backoff).
 *   liveness  an application ping every 30 s; no reply by the next one
 *             means a dead socket.  A drop is resumed with connection_id
 *             and sequence_number; a hello with a new connection id means
 *             missed events are gone, so recent channels are caught up
 *             over REST (posts?since=), deduplicated by post id.
 *
 * The first part of this file is pure (parsing, filtering, URLs) and is
 * what tests/unit/test_mattermost.c and tests/fuzz/fuzz_mm_event.c drive.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/net.h"
#include "common/util.h"
#include "worker/adapter.h"
#include "worker/opq.h"
#include "worker/worker.h"
#include "worker/ws.h"

/* ------------------------------------------------------------ pure part */

static int
mm_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

/* A Mattermost id: 26 characters of [a-z0-9]. */
int
mm_valid_id(const char *s)
{
	size_t	i;

	if (s == NULL)
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if (i >= MM_ID_LEN || !(islower((unsigned char)s[i]) ||
		    isdigit((unsigned char)s[i])))
			return (0);
	return (i == MM_ID_LEN);
}

/* A string member, or NULL when missing or not a string. */
static const char *
mm_str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/* A string member, or "" when missing or not a string. */
static const char *
mm_stre(const json_t *o, const char *key)
{
	const char	*s = mm_str(o, key);

	return (s != NULL ? s : "");
}

static int
mm_is_word(int ch)
{
	return (isalnum(ch) || ch == '_' || ch >= 0x80);
}

/*
 * Length of "@username" at p if it is a word-exact mention there: not
 * inside a word before, and after it only a run of ".-_" (trailing
 * punctuation, as the server trims it) then a non-word character.
 */
static size_t
mm_mention_at(const char *text, const char *p, const char *username)
{
	size_t		 n = strlen(username);
	const char	*q;

	if (*p != '@' || n == 0 || strncasecmp(p + 1, username, n) != 0)
		return (0);
	if (p > text && (mm_is_word((unsigned char)p[-1]) || p[-1] == '@'))
		return (0);
	for (q = p + 1 + n; *q == '.' || *q == '-' || *q == '_'; q++)
		;
	if (*q != '\0' && mm_is_word((unsigned char)*q))
		return (0);
	return (n + 1);
}

/* Does text mention @username, word-exact and case-insensitively? */
int
mm_mentions(const char *text, const char *username)
{
	const char	*p;

	if (text == NULL || username == NULL)
		return (0);
	for (p = strchr(text, '@'); p != NULL; p = strchr(p + 1, '@'))
		if (mm_mention_at(text, p, username) > 0)
			return (1);
	return (0);
}

/*
 * text without its @username mentions (and a ':' or ',' right after one),
 * with the spaces around them folded and the ends trimmed.  The caller
 * frees it; NULL when out of memory.
 */
char *
mm_strip_mention(const char *text, const char *username)
{
	const char	*p = text != NULL ? text : "";
	char		*out, *o;
	size_t		 m;

	if ((out = malloc(strlen(p) + 1)) == NULL)
		return (NULL);
	o = out;
	while (*p != '\0') {
		if (username == NULL ||
		    (m = mm_mention_at(text, p, username)) == 0) {
			*o++ = *p++;
			continue;
		}
		p += m;
		if (*p == ':' || *p == ',')
			p++;
		if (o == out || o[-1] == ' ' || o[-1] == '\t' ||
		    o[-1] == '\n')
			while (*p == ' ' || *p == '\t')
				p++;
	}
	while (o > out && isspace((unsigned char)o[-1]))
		o--;
	*o = '\0';
	for (p = out; isspace((unsigned char)*p); p++)
		;
	memmove(out, p, strlen(p) + 1);
	return (out);
}

/* A copy of text cut to at most max_runes UTF-8 characters. */
char *
mm_truncate(const char *text, size_t max_runes)
{
	size_t	i, runes = 0;
	char	*out;

	for (i = 0; text[i] != '\0'; i++) {
		if (((unsigned char)text[i] & 0xc0) == 0x80)
			continue;	/* a continuation byte */
		if (runes++ == max_runes)
			break;
	}
	if ((out = malloc(i + 1)) == NULL)
		return (NULL);
	memcpy(out, text, i);
	out[i] = '\0';
	return (out);
}

/* The server URL without trailing slashes; http(s) only. */
int
mm_base_url(const char *url, char *out, size_t outlen)
{
	size_t	n, i;

	if (url == NULL || (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0))
		return (-1);
	n = strlen(url);
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f ||
		    url[i] == '?' || url[i] == '#')
			return (-1);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n >= outlen || n <= (size_t)(url[4] == ':' ? 7 : 8))
		return (-1);
	memcpy(out, url, n);
	out[n] = '\0';
	return (0);
}

/*
 * The WebSocket URL for base: ws(s)://host[/path]/api/v4/websocket, with
 * connection_id and sequence_number (the next seq we expect) to resume.
 */
int
mm_ws_url(const char *base, const char *conn_id, json_int_t seq, char *out,
    size_t outlen)
{
	const char	*scheme, *rest;
	int		 n;

	if (strncasecmp(base, "https://", 8) == 0) {
		scheme = "wss://";
		rest = base + 8;
	} else if (strncasecmp(base, "http://", 7) == 0) {
		scheme = "ws://";
		rest = base + 7;
	} else
		return (-1);
	if (conn_id != NULL && *conn_id != '\0') {
		if (!mm_valid_id(conn_id) || seq < 0)
			return (-1);
		n = snprintf(out, outlen, "%s%s/api/v4/websocket?"
		    "connection_id=%s&sequence_number=%" PRId64, scheme, rest,
		    conn_id, (int64_t)seq);
	} else
		n = snprintf(out, outlen, "%s%s/api/v4/websocket", scheme,
		    rest);
	return (n < 0 || (size_t)n >= outlen ? -1 : 0);
}

/* data.post of a posted event: a JSON string holding the post. */
static int
mm_parse_posted(struct mm_event *ev, const json_t *data, char *err,
    size_t errlen)
{
	json_error_t	 jerr;
	const char	*s;
	json_t		*m;
	size_t		 i;

	if ((s = mm_str(data, "post")) == NULL)
		return (mm_err(err, errlen, "posted without a data.post "
		    "string"));
	if ((ev->post = json_loads(s, 0, &jerr)) == NULL)
		return (mm_err(err, errlen, "posted: data.post is not JSON "
		    "(%s)", jerr.text));
	if (!json_is_object(ev->post) || mm_str(ev->post, "id") == NULL ||
	    mm_str(ev->post, "channel_id") == NULL ||
	    mm_str(ev->post, "user_id") == NULL)
		return (mm_err(err, errlen, "posted: data.post is not a post"));
	ev->channel_type = mm_stre(data, "channel_type");
	ev->sender_name = mm_stre(data, "sender_name");
	/* mentions is optional and only a hint: a bad one is ignored. */
	if ((s = mm_str(data, "mentions")) != NULL &&
	    (ev->mentions = json_loads(s, 0, NULL)) != NULL) {
		json_array_foreach(ev->mentions, i, m)
			if (!json_is_string(m))
				break;
		if (!json_is_array(ev->mentions) ||
		    i < json_array_size(ev->mentions)) {
			json_decref(ev->mentions);
			ev->mentions = NULL;
		}
	}
	return (0);
}

/* reaction_added: data.reaction is a JSON string, as data.post is. */
static int
mm_parse_reaction(struct mm_event *ev, const json_t *data, char *err,
    size_t errlen)
{
	const char	*s;

	if ((s = mm_str(data, "reaction")) == NULL ||
	    (ev->post = json_loads(s, 0, NULL)) == NULL ||
	    !json_is_object(ev->post) || mm_str(ev->post, "user_id") == NULL ||
	    mm_str(ev->post, "post_id") == NULL ||
	    mm_str(ev->post, "emoji_name") == NULL)
		return (mm_err(err, errlen, "reaction_added without a valid "
		    "data.reaction"));
	return (0);
}

static int
mm_parse_reply(struct mm_event *ev, const json_t *f, char *err, size_t errlen)
{
	const json_t	*v = json_object_get(f, "seq_reply");
	const char	*status = mm_str(f, "status");

	if (v != NULL && !json_is_integer(v))
		return (mm_err(err, errlen, "seq_reply is not an integer"));
	if (status == NULL)
		return (mm_err(err, errlen, "a reply without a status"));
	ev->kind = MM_EV_REPLY;
	ev->seq_reply = v != NULL ? json_integer_value(v) : 0;
	ev->ok = strcmp(status, "OK") == 0;
	ev->error_id = mm_str(json_object_get(f, "error"), "id");
	ev->server_time = json_integer_value(json_object_get(
	    json_object_get(f, "data"), "server_time"));
	return (0);
}

/*
 * Parse one WebSocket frame: an event {event, data, broadcast, seq} or a
 * reply {status, seq_reply, ...}.  On success ev holds references the
 * caller releases with mm_event_clear(); on failure err says why and ev
 * needs no clearing.
 */
int
mm_parse_event(const char *buf, size_t len, struct mm_event *ev, char *err,
    size_t errlen)
{
	json_error_t	 jerr;
	const json_t	*data, *seq;
	int		 rc = 0;

	memset(ev, 0, sizeof(*ev));
	ev->seq = -1;
	if ((ev->frame = json_loadb(buf, len, 0, &jerr)) == NULL)
		return (mm_err(err, errlen, "not JSON (%s)", jerr.text));
	if (!json_is_object(ev->frame))
		rc = mm_err(err, errlen, "not a JSON object");
	else if ((ev->name = mm_str(ev->frame, "event")) == NULL)
		rc = mm_parse_reply(ev, ev->frame, err, errlen);
	else if (!json_is_integer(seq = json_object_get(ev->frame, "seq")) ||
	    json_integer_value(seq) < 0)
		rc = mm_err(err, errlen, "%s event without a valid seq",
		    ev->name);
	else {
		ev->seq = json_integer_value(seq);
		data = json_object_get(ev->frame, "data");
		ev->kind = MM_EV_OTHER;
		if (strcmp(ev->name, "hello") == 0) {
			ev->kind = MM_EV_HELLO;
			if (!mm_valid_id(ev->conn_id = mm_str(data,
			    "connection_id")))
				rc = mm_err(err, errlen, "hello without a "
				    "valid connection_id");
		} else if (strcmp(ev->name, "posted") == 0) {
			ev->kind = MM_EV_POSTED;
			rc = mm_parse_posted(ev, data, err, errlen);
		} else if (strcmp(ev->name, "reaction_added") == 0) {
			ev->kind = MM_EV_REACTION;
			rc = mm_parse_reaction(ev, data, err, errlen);
		}
	}
	if (rc == -1)
		mm_event_clear(ev);
	return (rc);
}

void
mm_event_clear(struct mm_event *ev)
{
	json_decref(ev->frame);
	json_decref(ev->post);
	json_decref(ev->mentions);
	memset(ev, 0, sizeof(*ev));
	ev->seq = -1;
}

static int
mm_listed(const json_t *ids, const char *id)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(ids, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return (1);
	return (0);
}

/*
 * Turn a post into sessiond's INBOUND body.  1: *out is it; 0: dropped
 * (own or system or deleted post), *why says which; -1: not a post.
 * channel_type and sender_name come from the posted event ("" from REST),
 * mentions is data.mentions (user ids) or NULL.
 */
int
mm_inbound(const struct mm_self *me, const json_t *post,
    const char *channel_type, const char *sender_name, const json_t *mentions,
    json_t **out, const char **why)
{
	const char	*id = mm_str(post, "id"), *ch = mm_str(post, "channel_id");
	const char	*uid = mm_str(post, "user_id"), *msg;
	char		*stripped, *text;
	int		 dm, mention;

	*out = NULL;
	if (id == NULL || ch == NULL || uid == NULL || *id == '\0' ||
	    *ch == '\0') {
		*why = "not a post (id, channel_id, user_id)";
		return (-1);
	}
	*why = strcmp(uid, me->id) == 0 ? "own post" :
	    *mm_stre(post, "type") != '\0' ? "system post" :
	    json_integer_value(json_object_get(post, "delete_at")) != 0 ?
	    "deleted post" : NULL;
	if (*why != NULL)
		return (0);
	msg = mm_stre(post, "message");
	dm = strcmp(channel_type, "D") == 0 || strcmp(channel_type, "G") == 0;
	mention = mm_mentions(msg, me->username) || mm_listed(mentions, me->id);
	if (*sender_name == '@')
		sender_name++;
	if ((stripped = mm_strip_mention(msg, me->username)) == NULL)
		return (-1);
	text = mm_truncate(stripped, MM_POST_MAX);
	free(stripped);
	if (text != NULL)
		*out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:I}",
		    "id", id, "channel", ch, "bot", me->key, "user",
		    sender_name, "userId", uid, "text", text, "root",
		    mm_stre(post, "root_id"), "isDM", dm, "mentionsBot",
		    mention, "createAt",
		    json_integer_value(json_object_get(post, "create_at")));
	free(text);
	if (*out == NULL) {
		*why = "out of memory (or not UTF-8)";
		return (-1);
	}
	return (1);
}

static json_t *
mm_message_json(const char *text)
{
	char	*t;
	json_t	*j;

	if ((t = mm_truncate(text, MM_POST_MAX)) == NULL)
		return (NULL);
	j = json_string(t);
	free(t);
	return (j);
}

static int
mm_op_post(const json_t *op, char *path, size_t pathlen, json_t **body,
    char *err, size_t errlen)
{
	const char	*ch = mm_str(op, "channel"), *root = mm_stre(op, "root");
	const char	*text = mm_str(op, "text");

	if (!mm_valid_id(ch))
		return (mm_err(err, errlen, "post: bad channel id"));
	if (*root != '\0' && !mm_valid_id(root))
		return (mm_err(err, errlen, "post: bad root id"));
	if (text == NULL)
		return (mm_err(err, errlen, "post: no text"));
	snprintf(path, pathlen, "/posts");
	*body = json_pack("{s:s,s:o,s:s}", "channel_id", ch, "message",
	    mm_message_json(text), "root_id", root);
	return (0);
}

static int
mm_op_react(const json_t *op, const char *bot_id, char *path, size_t pathlen,
    json_t **body, char *err, size_t errlen)
{
	const char	*post = mm_str(op, "post"), *e = mm_stre(op, "emoji");
	char		 emoji[65];
	size_t		 n, i;

	if (!mm_valid_id(post))
		return (mm_err(err, errlen, "react: bad post id"));
	if (*e == ':')
		e++;
	n = strcspn(e, ":");
	if (n == 0 || n >= sizeof(emoji) || (e[n] == ':' && e[n + 1] != '\0'))
		return (mm_err(err, errlen, "react: bad emoji name"));
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)e[i]) ||
		    isdigit((unsigned char)e[i]) || strchr("_+-", e[i]) != NULL))
			return (mm_err(err, errlen, "react: bad emoji name"));
	memcpy(emoji, e, n);
	emoji[n] = '\0';
	snprintf(path, pathlen, "/reactions");
	*body = json_pack("{s:s,s:s,s:s}", "user_id", bot_id, "post_id", post,
	    "emoji_name", emoji);
	return (0);
}

/*
 * The REST call for an OUTBOUND op: method, path under /api/v4 and JSON
 * body (NULL for none; the caller releases it).  -1 with err for an op that
 * cannot be made (unknown, or bad ids: never put in a URL unchecked).
 */
int
mm_op_request(const json_t *op, const char *bot_id, char *method,
    size_t methodlen, char *path, size_t pathlen, json_t **body, char *err,
    size_t errlen)
{
	const char	*name = mm_stre(op, "op"), *post = mm_str(op, "post");
	const char	*ch = mm_str(op, "channel"), *text = mm_str(op, "text");
	int		 rc = 0;

	*body = NULL;
	snprintf(method, methodlen, "POST");
	if (strcmp(name, "post") == 0)
		rc = mm_op_post(op, path, pathlen, body, err, errlen);
	else if (strcmp(name, "patch") == 0) {
		if (!mm_valid_id(post) || text == NULL)
			return (mm_err(err, errlen, "patch: bad post id or no "
			    "text"));
		snprintf(method, methodlen, "PUT");
		snprintf(path, pathlen, "/posts/%s/patch", post);
		*body = json_pack("{s:o}", "message", mm_message_json(text));
	} else if (strcmp(name, "delete") == 0) {
		if (!mm_valid_id(post))
			return (mm_err(err, errlen, "delete: bad post id"));
		snprintf(method, methodlen, "DELETE");
		snprintf(path, pathlen, "/posts/%s", post);
		return (0);
	} else if (strcmp(name, "typing") == 0) {
		if (!mm_valid_id(ch) || !mm_valid_id(bot_id))
			return (mm_err(err, errlen, "typing: bad channel id"));
		snprintf(path, pathlen, "/users/%s/typing", bot_id);
		*body = json_pack("{s:s,s:s}", "channel_id", ch, "parent_id",
		    mm_valid_id(mm_str(op, "root")) ? mm_str(op, "root") : "");
	} else if (strcmp(name, "react") == 0)
		rc = mm_op_react(op, bot_id, path, pathlen, body, err, errlen);
	else
		return (mm_err(err, errlen, "unknown op \"%.32s\"", name));
	if (rc == 0 && *body == NULL)
		return (mm_err(err, errlen, "%s: out of memory", name));
	return (rc);
}

int
mm_seen_has(const struct mm_seen *s, const char *id)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->ids[i], id) == 0)
			return (1);
	return (0);
}

/* Remember id; the oldest is forgotten once MM_SEEN_MAX are kept. */
void
mm_seen_add(struct mm_seen *s, const char *id)
{
	if (mm_seen_has(s, id))
		return;
	snprintf(s->ids[s->next], sizeof(s->ids[0]), "%s", id);
	s->next = (s->next + 1) % MM_SEEN_MAX;
	if (s->n < MM_SEEN_MAX)
		s->n++;
}

/* ------------------------------------------------------------ the adapter */

#define MM_PING_MS		30000	/* as @mattermost/client */
#define MM_PING_ENV		"COPILOT_BRIDGE_TEST_PING_MS"	/* tests only */
#define MM_RETRY_AFTER_MAX	30	/* seconds we wait on a 429, at most */
#define MM_LIMITED_MAX		10	/* 429s a call may meet */
#define MM_TRIES		5	/* tries on 5xx and transport errors */
#define MM_CATCHUP_WINDOW_MS	(60 * 60 * 1000)
#define MM_CATCHUP_MARGIN_MS	5000	/* clock skew, late delivery */
#define MM_CHANNELS_MAX		512
#define MM_USERS_MAX		256
#define MM_OPS_MAX		10000
#define MM_NAME_MAX		72

struct mm;
typedef void	(*mm_call_cb)(struct mm *, long status, json_t *json,
		    const char *err, void *arg);

/* One REST call, with its retries. */
struct mm_call {
	TAILQ_ENTRY(mm_call)	 entry;
	struct mm		*mm;
	char			 method[8];
	char			 path[192];	/* under /api/v4, for messages */
	char			*url;
	char			*body;
	int			 tries, max_tries, limited, in_cb;
	struct net_req		*req;
	struct event		*timer;
	struct backoff		 bo;
	mm_call_cb		 cb;
	void			*arg;
};

/* A channel we saw a post in (for catch-up) or were configured with. */
struct mm_ch {
	TAILQ_ENTRY(mm_ch)	 entry;		/* most recent first */
	char			 id[MM_ID_LEN + 1];
	char			 type;		/* O P D G, '?' unknown, 0 unasked */
	uint64_t		 active_ms;	/* monotonic; 0 = no post seen */
};

struct mm_user {
	char			 id[MM_ID_LEN + 1];
	char			 name[MM_NAME_MAX];
};

/* What an outbound op (worker/opq.c) runs: one REST call. */
struct mm_opx {
	struct mm_call		*call;
};

/* A REST catch-up, one channel after the other. */
struct mm_cu {
	json_int_t		 since;
	char			(*chans)[MM_ID_LEN + 1];
	size_t			 n, i;
	json_t			*backlog;	/* posts to send, oldest first */
	struct mm_call		*call;
	unsigned int		 sent;
};

struct mm {
	struct event_base	*base;
	struct net		*net;
	struct ws		*ws;
	struct ws_conn		*conn;
	json_t			*config;	/* live: access, channels */
	char			 base_url[512];
	char			*auth;		/* "Authorization: Bearer ..." */
	char			 key[128];
	char			 me_id[MM_ID_LEN + 1];
	char			 me_name[MM_NAME_MAX];
	struct mm_self		 self;
	/* the WebSocket */
	char			 conn_id[MM_ID_LEN + 1];
	json_int_t		 next_seq;	/* of the next event */
	json_int_t		 ping_seq, ping_wait;
	int			 open, confirmed, ready, draining;
	int			 ping_ms, deadline_ms;
	struct event		*ping_ev, *reconnect_ev, *deadline_ev;
	struct backoff		 bo;
	char			 last_err[256];
	json_int_t		 server_ms;	/* newest server time seen */
	json_int_t		 down_ms;	/* wall clock of the drop */
	/* inbound */
	struct mm_seen		 seen;
	TAILQ_HEAD(mm_chs, mm_ch) chans;
	size_t			 nchans;
	struct mm_user		 users[MM_USERS_MAX];
	size_t			 nextuser;
	struct mm_cu		*cu;
	int			 cu_again;
	json_int_t		 cu_from;	/* catch up from here (cursors) */
	json_t			*cursors;	/* sessiond's, until the first hello */
	/* outbound */
	struct opq		*opq;		/* outbound ops */
	TAILQ_HEAD(, mm_call)	 calls;
};

static void	mm_connect(struct mm *);
static void	mm_catchup_cursors(struct mm *);
static void	mm_catchup_start(struct mm *);
static void	mm_check_drained(void *);
static void	mm_cu_next(struct mm *);

static json_int_t
mm_wall_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return (0);
	return ((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
mm_timer_ms(struct event *ev, uint32_t ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	if (evtimer_add(ev, &tv) == -1)
		log_warnx("mattermost: cannot arm a timer");
}

/* ------------------------------------------------------------ REST */

static void
mm_call_free(struct mm_call *c)
{
	TAILQ_REMOVE(&c->mm->calls, c, entry);
	net_cancel(c->req);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->url);
	free(c->body);
	free(c);
}

/* Cancelling the call whose callback runs is a no-op. */
static void
mm_call_cancel(struct mm_call *c)
{
	if (c != NULL && !c->in_cb)
		mm_call_free(c);
}

static void
mm_call_finish(struct mm_call *c, long status, json_t *json, const char *err)
{
	c->in_cb = 1;
	c->cb(c->mm, status, json, err, c->arg);
	json_decref(json);
	mm_call_free(c);
}

/* What went wrong, for logs and OUTBOUND_DONE: "404 from /posts/x: ...". */
static void
mm_call_error(struct mm_call *c, const struct net_resp *r, json_t *json,
    char *err, size_t errlen)
{
	const char	*msg = mm_str(json, "message");
	char		 snip[96];
	size_t		 i;

	if (r->status == 0) {
		snprintf(err, errlen, "%s %s: %s", c->method, c->path,
		    r->error != NULL ? r->error : "no response");
		return;
	}
	if (msg == NULL) {
		for (i = 0; i < sizeof(snip) - 1 && i < r->bodylen &&
		    r->body[i] != '\n'; i++)
			snip[i] = isprint((unsigned char)r->body[i]) ?
			    r->body[i] : '?';
		snip[i] = '\0';
		msg = i > 0 ? snip : "no message";
	}
	snprintf(err, errlen, "%ld from %s: %s", r->status, c->path, msg);
}

static void
mm_call_complete(struct mm_call *c, const struct net_resp *r)
{
	json_t	*json = NULL;
	char	 err[384];

	if (strncasecmp(r->ctype, "application/json", 16) == 0 &&
	    r->bodylen > 0)
		json = json_loadb(r->body, r->bodylen, 0, NULL);
	if (r->status >= 200 && r->status < 300) {
		mm_call_finish(c, r->status, json, NULL);
		return;
	}
	mm_call_error(c, r, json, err, sizeof(err));
	mm_call_finish(c, r->status, json, err);
}

static void
mm_call_done(const struct net_resp *r, void *arg)
{
	struct mm_call	*c = arg;
	long		 ra;
	uint32_t	 ms;

	c->req = NULL;
	if (r->status == 429 && c->limited++ < MM_LIMITED_MAX) {
		ra = r->retry_after < 0 ? 1 : r->retry_after;
		ms = (uint32_t)(ra < MM_RETRY_AFTER_MAX ? ra :
		    MM_RETRY_AFTER_MAX) * 1000;
		log_warnx("%s %s: rate limited; retrying in %u ms", c->method,
		    c->path, ms);
		mm_timer_ms(c->timer, ms);
		return;
	}
	if ((r->status == 0 || r->status >= 500) && c->tries < c->max_tries) {
		ms = backoff_next(&c->bo);
		log_warnx("%s %s: %s; try %d of %d in %u ms", c->method,
		    c->path, r->status == 0 ? r->error : "server error",
		    c->tries + 1, c->max_tries, ms);
		mm_timer_ms(c->timer, ms);
		return;
	}
	mm_call_complete(c, r);
}

static void
mm_call_send(int fd, short what, void *arg)
{
	struct mm_call	*c = arg;
	const char	*hdrs[3] = { c->mm->auth, NULL, NULL };
	char		 err[256];

	if (c->body != NULL)
		hdrs[1] = "Content-Type: application/json";
	c->tries++;
	c->req = net_request(c->mm->net, c->method, c->url, hdrs, c->body,
	    NULL, mm_call_done, c);
	if (c->req != NULL)
		return;
	if (c->tries < c->max_tries) {
		mm_timer_ms(c->timer, backoff_next(&c->bo));
		return;
	}
	snprintf(err, sizeof(err), "%s %s: cannot start the request",
	    c->method, c->path);
	mm_call_finish(c, 0, NULL, err);
}

/*
 * Call method path (under /api/v4) with body (taken; NULL for none).  cb
 * runs later, once, unless the call is cancelled; never from in here.
 */
static struct mm_call *
mm_call(struct mm *mm, const char *method, const char *path, json_t *body,
    int max_tries, mm_call_cb cb, void *arg)
{
	struct mm_call	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(body);
		return (NULL);
	}
	c->mm = mm;
	c->cb = cb;
	c->arg = arg;
	c->max_tries = max_tries;
	backoff_init(&c->bo, 250, 4000);
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->path, sizeof(c->path), "%s", path);
	TAILQ_INSERT_TAIL(&mm->calls, c, entry);
	if (body != NULL && (c->body = json_dumps(body, JSON_COMPACT)) == NULL)
		goto fail;
	if (asprintf(&c->url, "%s/api/v4%s", mm->base_url, path) == -1) {
		c->url = NULL;
		goto fail;
	}
	if ((c->timer = evtimer_new(mm->base, mm_call_send, c)) == NULL)
		goto fail;
	json_decref(body);
	mm_timer_ms(c->timer, 0);
	return (c);
fail:
	json_decref(body);
	mm_call_free(c);
	return (NULL);
}

/* ------------------------------------------------------------ inbound */

static struct mm_ch *
mm_channel(struct mm *mm, const char *id, int create)
{
	struct mm_ch	*ch;

	TAILQ_FOREACH(ch, &mm->chans, entry)
		if (strcmp(ch->id, id) == 0)
			return (ch);
	if (!create || !mm_valid_id(id))
		return (NULL);
	if (mm->nchans >= MM_CHANNELS_MAX) {
		ch = TAILQ_LAST(&mm->chans, mm_chs);	/* least recent */
		TAILQ_REMOVE(&mm->chans, ch, entry);
	} else if ((ch = malloc(sizeof(*ch))) == NULL)
		return (NULL);
	else
		mm->nchans++;
	memset(ch, 0, sizeof(*ch));
	memcpy(ch->id, id, MM_ID_LEN + 1);
	TAILQ_INSERT_TAIL(&mm->chans, ch, entry);
	return (ch);
}

/* A post in channel id: remember it as active (catch-up covers it). */
static void
mm_channel_active(struct mm *mm, const char *id, const char *type)
{
	struct mm_ch	*ch;

	if ((ch = mm_channel(mm, id, 1)) == NULL)
		return;
	if (strchr("OPDG", type[0]) != NULL && type[0] != '\0')
		ch->type = type[0];
	ch->active_ms = util_now_ms();
	TAILQ_REMOVE(&mm->chans, ch, entry);
	TAILQ_INSERT_HEAD(&mm->chans, ch, entry);
}

static const char *
mm_user_name(const struct mm *mm, const char *id)
{
	size_t	i;

	for (i = 0; i < MM_USERS_MAX; i++)
		if (strcmp(mm->users[i].id, id) == 0)
			return (mm->users[i].name);
	return (NULL);
}

static void
mm_user_learn(struct mm *mm, const char *id, const char *name)
{
	size_t	i;

	if (*name == '@')
		name++;
	if (!mm_valid_id(id) || *name == '\0' || strlen(name) >= MM_NAME_MAX)
		return;
	for (i = 0; i < MM_USERS_MAX; i++)
		if (strcmp(mm->users[i].id, id) == 0)
			break;
	if (i == MM_USERS_MAX) {
		i = mm->nextuser;
		mm->nextuser = (mm->nextuser + 1) % MM_USERS_MAX;
	}
	memcpy(mm->users[i].id, id, MM_ID_LEN + 1);
	snprintf(mm->users[i].name, sizeof(mm->users[i].name), "%s", name);
}

/*
 * One post, from the WebSocket or a catch-up: dedup, filter, access
 * control (read from the live config), then INBOUND to sessiond.
 */
static void
mm_dispatch(struct mm *mm, const json_t *post, const char *ctype,
    const char *sender, const json_t *mentions)
{
	const char	*id = mm_stre(post, "id"), *why, *user, *uid;
	json_t		*msg;
	int		 rc, hook;

	if (mm_seen_has(&mm->seen, id)) {
		log_debug("drop %s: already seen", id);
		return;
	}
	if ((rc = mm_inbound(&mm->self, post, ctype, sender, mentions, &msg,
	    &why)) == -1) {
		log_warnx("ignored post %.40s: %s", id, why);
		return;
	}
	mm_seen_add(&mm->seen, id);
	if (rc == 0) {
		log_debug("drop %s: %s", id, why);
		return;
	}
	user = mm_stre(msg, "user");
	uid = mm_stre(msg, "userId");
	/* A webhook may post under any name: only its user id counts. */
	hook = strcmp(mm_stre(json_object_get(post, "props"), "from_webhook"),
	    "true") == 0;
	if (!access_allowed(json_object_get(mm->config, "access"),
	    json_object_get(mm->config, "botAccess"), uid, hook ? NULL : user)) {
		log_debug("drop %s: @%s (%s) may not use this bot", id, user,
		    uid);
		json_decref(msg);
		return;
	}
	log_debug("inbound %s from @%s in %s%s%s", id, user,
	    mm_stre(msg, "channel"), json_is_true(json_object_get(msg,
	    "isDM")) ? " (DM)" : "", json_is_true(json_object_get(msg,
	    "mentionsBot")) ? " (mention)" : "");
	worker_inbound(msg);
}

static void
mm_posted(struct mm *mm, const struct mm_event *ev)
{
	json_int_t	t = json_integer_value(json_object_get(ev->post,
			    "create_at"));

	if (t > mm->server_ms)
		mm->server_ms = t;
	mm_channel_active(mm, mm_stre(ev->post, "channel_id"),
	    ev->channel_type);
	mm_user_learn(mm, mm_stre(ev->post, "user_id"), ev->sender_name);
	mm_dispatch(mm, ev->post, ev->channel_type, ev->sender_name,
	    ev->mentions);
}

/*
 * A reaction by someone allowed to use the bot: sessiond reads thumbs up
 * and down as answers to a pending permission prompt (upstream §2.6).
 */
static void
mm_reacted(struct mm *mm, const struct mm_event *ev)
{
	const json_t	*r = ev->post;
	const char	*uid = mm_stre(r, "user_id"), *post = mm_stre(r, "post_id");
	const char	*emoji = mm_stre(r, "emoji_name"), *user;
	const char	*ch = mm_stre(json_object_get(ev->frame, "broadcast"),
			    "channel_id");
	char		 id[256];
	json_t		*msg;

	if (strcmp(uid, mm->self.id) == 0 || *ch == '\0')
		return;
	user = mm_user_name(mm, uid);
	if (!access_allowed(json_object_get(mm->config, "access"),
	    json_object_get(mm->config, "botAccess"), uid, user)) {
		log_debug("drop reaction of %s: may not use this bot", uid);
		return;
	}
	snprintf(id, sizeof(id), "reaction:%s:%s:%s", post, uid, emoji);
	msg = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b}", "id", id,
	    "channel", ch, "bot", mm->self.key, "user", user != NULL ? user : "",
	    "userId", uid, "text", "", "reaction", emoji, "root", "", "isDM", 0,
	    "mentionsBot", 0);
	if (msg == NULL) {
		log_warnx("reaction %s: out of memory", id);
		return;
	}
	log_debug("inbound reaction :%s: from %s on %s", emoji, uid, post);
	worker_inbound(msg);
}

/* ------------------------------------------------------------ catch-up */

/*
 * A new generation starts from sessiond's cursors: every channel of the
 * bot that saw a message in the last hour is read from its newest message
 * on, so what was posted while no worker was connected is not lost.
 * sessiond drops what it has already seen.
 */
static void
mm_catchup_cursors(struct mm *mm)
{
	const char	*id;
	json_t		*v;
	json_int_t	 from = 0;

	if (mm->cursors == NULL || !mm->ready)
		return;
	json_object_foreach(mm->cursors, id, v) {
		if (!json_is_integer(v) || !mm_valid_id(id))
			continue;
		mm_channel_active(mm, id, "");
		if (from == 0 || json_integer_value(v) < from)
			from = json_integer_value(v);
	}
	json_decref(mm->cursors);
	mm->cursors = NULL;
	if (from == 0)
		return;
	mm->cu_from = from;
	log_info("catch-up: from sessiond's cursors, posts since %" PRId64,
	    (int64_t)from);
	mm_catchup_start(mm);
}

static void
mm_cursors(void *arg, const json_t *channels)
{
	struct mm	*mm = arg;

	json_decref(mm->cursors);
	if ((mm->cursors = json_deep_copy(channels)) == NULL) {
		log_warnx("cursors: out of memory; no catch-up");
		return;
	}
	mm_catchup_cursors(mm);
}

static void
mm_cu_free(struct mm *mm)
{
	struct mm_cu	*cu = mm->cu;

	if (cu == NULL)
		return;
	mm_call_cancel(cu->call);
	json_decref(cu->backlog);
	free(cu->chans);
	free(cu);
	mm->cu = NULL;
}

static void
mm_cu_add(struct mm_cu *cu, const char *id)
{
	size_t	i;

	if (!mm_valid_id(id))
		return;
	for (i = 0; i < cu->n; i++)
		if (strcmp(cu->chans[i], id) == 0)
			return;
	memcpy(cu->chans[cu->n++], id, MM_ID_LEN + 1);
}

/*
 * A hello with a new connection id: what happened while we were away is
 * not coming.  Fetch posts since just before the last server time we saw,
 * for channels active in the last hour and this bot's configured ones.
 */
static void
mm_catchup_start(struct mm *mm)
{
	const json_t	*chans = json_object_get(mm->config, "channels"), *c;
	struct mm_cu	*cu;
	struct mm_ch	*ch;
	uint64_t	 now = util_now_ms();
	size_t		 i;

	if (mm->cu != NULL) {
		mm->cu_again = 1;	/* after this one, from the new point */
		return;
	}
	if ((cu = calloc(1, sizeof(*cu))) == NULL ||
	    (cu->chans = calloc(mm->nchans + json_array_size(chans) + 1,
	    sizeof(*cu->chans))) == NULL) {
		free(cu);
		log_warnx("catch-up: out of memory; missed posts are lost");
		return;
	}
	TAILQ_FOREACH(ch, &mm->chans, entry)
		if (ch->active_ms != 0 &&
		    now - ch->active_ms <= MM_CATCHUP_WINDOW_MS)
			mm_cu_add(cu, ch->id);
	json_array_foreach(chans, i, c)
		mm_cu_add(cu, mm_stre(c, "id"));
	cu->since = (mm->cu_from > 0 ? mm->cu_from : mm->server_ms > 0 ?
	    mm->server_ms : mm->down_ms > 0 ? mm->down_ms : mm_wall_ms()) -
	    MM_CATCHUP_MARGIN_MS;
	mm->cu_from = 0;
	log_info("catch-up: %zu channel(s), posts since %" PRId64, cu->n,
	    (int64_t)cu->since);
	mm->cu = cu;
	mm_cu_next(mm);
}

static void
mm_cu_end(struct mm *mm)
{
	log_info("catch-up done: %u missed post(s) from %zu channel(s)",
	    mm->cu->sent, mm->cu->n);
	mm_cu_free(mm);
	if (mm->cu_again && !mm->draining) {
		mm->cu_again = 0;
		mm_catchup_start(mm);
	}
}

static void
mm_cu_emit(struct mm *mm)
{
	struct mm_cu	*cu = mm->cu;
	struct mm_ch	*ch = mm_channel(mm, cu->chans[cu->i], 0);
	char		 type[2] = { ch != NULL ? ch->type : 0, '\0' };
	const char	*name;
	json_t		*p, *me;
	size_t		 i;

	/* A DM is addressed to the bot, as data.mentions would say. */
	me = json_pack("[s]", mm->me_id);
	json_array_foreach(cu->backlog, i, p) {
		name = mm_user_name(mm, mm_stre(p, "user_id"));
		if (!mm_seen_has(&mm->seen, mm_stre(p, "id")))
			cu->sent++;
		mm_dispatch(mm, p, type, name != NULL ? name : "",
		    strchr("DG", type[0]) != NULL && type[0] != '\0' ? me :
		    NULL);
	}
	json_decref(me);
	json_decref(cu->backlog);
	cu->backlog = NULL;
	cu->i++;
	mm_cu_next(mm);
}

static void
mm_cu_users_done(struct mm *mm, long status, json_t *json, const char *err,
    void *arg)
{
	json_t	*u;
	size_t	 i;

	mm->cu->call = NULL;
	if (err != NULL)
		log_warnx("catch-up: %s", err);
	json_array_foreach(json, i, u)
		mm_user_learn(mm, mm_stre(u, "id"), mm_stre(u, "username"));
	mm_cu_emit(mm);
}

/* Keep the posts worth sending, oldest first; list unknown authors. */
static void
mm_cu_pick(struct mm *mm, const json_t *list, json_t *backlog, json_t *who)
{
	const json_t	*order = json_object_get(list, "order");
	const json_t	*posts = json_object_get(list, "posts"), *p;
	const char	*uid;
	size_t		 i;

	for (i = json_array_size(order); i-- > 0;) {
		p = json_object_get(posts, json_string_value(
		    json_array_get(order, i)));
		uid = mm_stre(p, "user_id");
		if (!json_is_object(p) ||
		    mm_seen_has(&mm->seen, mm_stre(p, "id")) ||
		    json_integer_value(json_object_get(p, "create_at")) <
		    mm->cu->since || strcmp(uid, mm->me_id) == 0 ||
		    *mm_stre(p, "type") != '\0' ||
		    json_integer_value(json_object_get(p, "delete_at")) != 0)
			continue;
		if (json_array_append(backlog, (json_t *)p) == -1)
			continue;
		if (mm_user_name(mm, uid) == NULL && mm_valid_id(uid) &&
		    !mm_listed(who, uid))
			(void)json_array_append_new(who, json_string(uid));
	}
}

static void
mm_cu_posts_done(struct mm *mm, long status, json_t *json, const char *err,
    void *arg)
{
	struct mm_cu	*cu = mm->cu;
	json_t		*who;

	cu->call = NULL;
	if (err != NULL) {
		log_warnx("catch-up of %s: %s", cu->chans[cu->i], err);
		cu->i++;
		mm_cu_next(mm);
		return;
	}
	if ((cu->backlog = json_array()) == NULL || (who = json_array()) == NULL) {
		log_warnx("catch-up of %s: out of memory", cu->chans[cu->i]);
		cu->i++;
		mm_cu_next(mm);
		return;
	}
	mm_cu_pick(mm, json, cu->backlog, who);
	if (json_array_size(who) == 0) {
		json_decref(who);
		mm_cu_emit(mm);
		return;
	}
	if ((cu->call = mm_call(mm, "POST", "/users/ids", who, MM_TRIES,
	    mm_cu_users_done, NULL)) == NULL)
		mm_cu_emit(mm);
}

static void
mm_cu_posts(struct mm *mm)
{
	struct mm_cu	*cu = mm->cu;
	char		 path[128];

	snprintf(path, sizeof(path), "/channels/%s/posts?since=%" PRId64,
	    cu->chans[cu->i], (int64_t)cu->since);
	if ((cu->call = mm_call(mm, "GET", path, NULL, MM_TRIES,
	    mm_cu_posts_done, NULL)) == NULL) {
		log_warnx("catch-up of %s: out of memory", cu->chans[cu->i]);
		cu->i++;
		mm_cu_next(mm);
	}
}

static void
mm_cu_type_done(struct mm *mm, long status, json_t *json, const char *err,
    void *arg)
{
	struct mm_ch	*ch = mm_channel(mm, mm->cu->chans[mm->cu->i], 1);
	const char	*t = mm_stre(json, "type");

	mm->cu->call = NULL;
	if (err != NULL)
		log_warnx("catch-up: %s", err);
	if (ch != NULL)
		ch->type = err == NULL && strchr("OPDG", t[0]) != NULL &&
		    t[0] != '\0' ? t[0] : '?';
	mm_cu_posts(mm);
}

/* The next channel of the catch-up: its type (once), then its posts. */
static void
mm_cu_next(struct mm *mm)
{
	struct mm_cu	*cu = mm->cu;
	struct mm_ch	*ch;
	char		 path[64];

	if (cu->i >= cu->n) {
		mm_cu_end(mm);
		return;
	}
	ch = mm_channel(mm, cu->chans[cu->i], 1);
	if (ch == NULL || ch->type != 0) {
		mm_cu_posts(mm);
		return;
	}
	snprintf(path, sizeof(path), "/channels/%s", ch->id);
	if ((cu->call = mm_call(mm, "GET", path, NULL, MM_TRIES,
	    mm_cu_type_done, NULL)) == NULL) {
		ch->type = '?';
		mm_cu_posts(mm);
	}
}

/* ------------------------------------------------------------ WebSocket */

static void	mm_ws_open(struct ws_conn *, void *);
static void	mm_ws_text(struct ws_conn *, const char *, size_t, void *);
static void	mm_ws_closed(struct ws_conn *, const char *, void *);

static const struct ws_conn_cbs mm_ws_cbs = {
	mm_ws_open, mm_ws_text, mm_ws_closed
};

static void
mm_reconnect_later(struct mm *mm, const char *why)
{
	uint32_t	ms = backoff_next(&mm->bo);

	if (mm->ready)
		log_warnx("websocket: %s; reconnecting in %u ms", why, ms);
	else
		log_info("websocket: %s; retrying in %u ms", why, ms);
	mm_timer_ms(mm->reconnect_ev, ms);
}

static void
mm_reconnect_cb(int fd, short what, void *arg)
{
	mm_connect(arg);
}

/* Open the WebSocket; after a drop, ask to resume where we were. */
static void
mm_connect(struct mm *mm)
{
	const char	*hdrs[2] = { mm->auth, NULL };
	char		 url[1024];

	if (mm->draining || mm->conn != NULL)
		return;
	if (mm_ws_url(mm->base_url, mm->conn_id, mm->next_seq, url,
	    sizeof(url)) == -1) {
		worker_failed("cannot make a WebSocket URL from %s",
		    mm->base_url);
		return;
	}
	log_debug("websocket: connecting to %s", url);
	mm->confirmed = 0;
	if ((mm->conn = ws_connect(mm->ws, url, hdrs, &mm_ws_cbs, mm)) == NULL) {
		snprintf(mm->last_err, sizeof(mm->last_err), "cannot open a "
		    "WebSocket to %.200s", url);
		mm_reconnect_later(mm, mm->last_err);
	}
}

static void
mm_ping(struct mm *mm)
{
	char	buf[64];
	int	n;

	n = snprintf(buf, sizeof(buf), "{\"action\":\"ping\",\"seq\":%" PRId64
	    "}", (int64_t)++mm->ping_seq);
	if (ws_send(mm->conn, buf, (size_t)n) == -1)
		log_warnx("websocket: cannot send a ping");
	else
		mm->ping_wait = mm->ping_seq;
	mm_timer_ms(mm->ping_ev, (uint32_t)mm->ping_ms);
}

/* Every ping_ms: the last ping must have had its reply by now. */
static void
mm_ping_cb(int fd, short what, void *arg)
{
	struct mm	*mm = arg;

	if (mm->conn == NULL || !mm->open || mm->draining)
		return;
	if (mm->ping_wait != 0) {
		log_warnx("websocket: no reply to ping %" PRId64 " within %d "
		    "ms; the connection is dead", (int64_t)mm->ping_wait,
		    mm->ping_ms);
		ws_close(mm->conn, 1);
		return;
	}
	mm_ping(mm);
}

static void
mm_ws_open(struct ws_conn *c, void *arg)
{
	struct mm	*mm = arg;

	if (c != mm->conn)
		return;
	log_debug("websocket: open");
	mm->open = 1;
	mm->ping_wait = 0;
	mm_ping(mm);	/* at once, as the JS client does: proves the auth */
}

static void
mm_ws_closed(struct ws_conn *c, const char *reason, void *arg)
{
	struct mm	*mm = arg;

	if (c != mm->conn)
		return;
	mm->conn = NULL;
	mm->open = 0;
	mm->ping_wait = 0;
	(void)evtimer_del(mm->ping_ev);
	if (mm->draining)
		return;
	snprintf(mm->last_err, sizeof(mm->last_err), "%s", reason);
	if (mm->ready && mm->down_ms == 0)
		mm->down_ms = mm_wall_ms();
	mm_reconnect_later(mm, reason);
}

/*
 * The socket works (again): a hello, or on a resume without one, the first
 * event or ping reply.  A resume after a drop is logged.
 */
static void
mm_confirmed(struct mm *mm)
{
	if (mm->confirmed)
		return;
	mm->confirmed = 1;
	backoff_reset(&mm->bo);
	mm->last_err[0] = '\0';
	if (mm->down_ms != 0)
		log_info("websocket: resumed connection %s at seq %" PRId64,
		    mm->conn_id, (int64_t)mm->next_seq);
	mm->down_ms = 0;
}

static void
mm_hello(struct mm *mm, const struct mm_event *ev)
{
	mm->next_seq = ev->seq + 1;
	if (!mm->ready) {
		memcpy(mm->conn_id, ev->conn_id, MM_ID_LEN + 1);
		mm->ready = 1;
		mm_confirmed(mm);
		(void)evtimer_del(mm->deadline_ev);
		log_info("websocket: hello, connection %s", mm->conn_id);
		worker_ready(mm->me_id, mm->me_name);
		mm_catchup_cursors(mm);
		return;
	}
	if (strcmp(ev->conn_id, mm->conn_id) == 0) {
		mm_confirmed(mm);
		return;
	}
	log_warnx("websocket: new connection %s (was %s): events were "
	    "missed; catching up over REST", ev->conn_id, mm->conn_id);
	memcpy(mm->conn_id, ev->conn_id, MM_ID_LEN + 1);
	mm_catchup_start(mm);	/* reads down_ms: before mm_confirmed() */
	mm->down_ms = 0;
	mm->confirmed = 0;
	mm_confirmed(mm);
}

static void
mm_reply(struct mm *mm, const struct mm_event *ev)
{
	const char	*eid = ev->error_id != NULL ? ev->error_id : "?";

	if (ev->seq_reply == 0 || ev->seq_reply != mm->ping_wait) {
		if (!ev->ok)
			log_warnx("websocket: request %" PRId64 " failed: %s",
			    (int64_t)ev->seq_reply, eid);
		return;
	}
	mm->ping_wait = 0;
	if (!ev->ok) {
		log_warnx("websocket: ping refused: %s%s", eid,
		    strstr(eid, "not_authenticated") != NULL ? " (the session "
		    "is no longer valid: was the token revoked?)" : "");
		return;
	}
	if (ev->server_time > mm->server_ms)
		mm->server_ms = ev->server_time;
	if (mm->ready)
		mm_confirmed(mm);
}

static void
mm_frame(struct mm *mm, const struct mm_event *ev)
{
	if (ev->kind == MM_EV_REPLY) {
		mm_reply(mm, ev);
		return;
	}
	if (ev->kind == MM_EV_HELLO) {
		mm_hello(mm, ev);
		return;
	}
	if (ev->seq < mm->next_seq) {
		log_debug("websocket: event %" PRId64 " again; skipped",
		    (int64_t)ev->seq);
		return;
	}
	if (ev->seq > mm->next_seq) {
		/* Resuming from next_seq makes the server replay the gap. */
		log_warnx("websocket: events %" PRId64 "..%" PRId64 " missing; "
		    "reconnecting to resume", (int64_t)mm->next_seq,
		    (int64_t)ev->seq - 1);
		ws_close(mm->conn, 1);
		return;
	}
	mm->next_seq = ev->seq + 1;
	if (mm->ready)
		mm_confirmed(mm);
	if (ev->kind == MM_EV_POSTED)
		mm_posted(mm, ev);
	else if (ev->kind == MM_EV_REACTION)
		mm_reacted(mm, ev);
}

static void
mm_ws_text(struct ws_conn *c, const char *msg, size_t len, void *arg)
{
	struct mm	*mm = arg;
	struct mm_event	 ev;
	char		 err[256];

	if (c != mm->conn || mm->draining)
		return;
	if (mm_parse_event(msg, len, &ev, err, sizeof(err)) == -1) {
		log_warnx("websocket: ignored a bad frame of %zu bytes: %s",
		    len, err);
		return;
	}
	mm_frame(mm, &ev);
	mm_event_clear(&ev);
}

static void
mm_deadline_cb(int fd, short what, void *arg)
{
	struct mm	*mm = arg;

	worker_failed("no WebSocket hello within %d ms%s%s", mm->deadline_ms,
	    mm->last_err[0] != '\0' ? ": " : "", mm->last_err);
}

static void
mm_me_done(struct mm *mm, long status, json_t *json, const char *err,
    void *arg)
{
	const char	*id = mm_str(json, "id"), *name = mm_str(json, "username");

	if (err != NULL) {
		worker_failed("%s", err);
		return;
	}
	if (!mm_valid_id(id) || name == NULL || *name == '\0' ||
	    strlen(name) >= sizeof(mm->me_name)) {
		worker_failed("/users/me did not answer with a user");
		return;
	}
	memcpy(mm->me_id, id, MM_ID_LEN + 1);
	snprintf(mm->me_name, sizeof(mm->me_name), "%s", name);
	log_info("authenticated as @%s (%s)", mm->me_name, mm->me_id);
	mm_connect(mm);
}

/* ------------------------------------------------------------ outbound */

static void
mm_op_done(struct mm *mm, long status, json_t *json, const char *err,
    void *arg)
{
	struct opq_op	*op = arg;
	const char	*post = NULL;

	((struct mm_opx *)op->data)->call = NULL;
	if (err == NULL && strcmp(mm_stre(op->body, "op"), "post") == 0 &&
	    (post = mm_str(json, "id")) == NULL)
		err = "the server did not say which post it made";
	opq_done(mm->opq, op, err == NULL, post, err);
}

static int
mm_op_start(void *arg, struct opq_op *op, char *err, size_t errlen)
{
	struct mm	*mm = arg;
	struct mm_opx	*x = op->data;
	json_t		*body;
	char		 method[8], path[160];

	if (mm_op_request(op->body, mm->me_id, method, sizeof(method),
	    path, sizeof(path), &body, err, errlen) == -1)
		return (-1);
	/* Typing is stale by the time a retry would land. */
	x->call = mm_call(mm, method, path, body, strcmp(mm_stre(op->body,
	    "op"), "typing") == 0 ? 1 : MM_TRIES, mm_op_done, op);
	if (x->call == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	return (0);
}

static const struct opq_cbs mm_opq_cbs = {
	.start = mm_op_start,
	.answered = mm_check_drained,
};

static void
mm_outbound(void *arg, const json_t *body)
{
	struct mm	*mm = arg;

	opq_push(mm->opq, body);
}

/* ------------------------------------------------------------ the ops */

static void
mm_check_drained(void *arg)
{
	struct mm	*mm = arg;

	if (mm->draining && opq_len(mm->opq) == 0)
		worker_drained();
}

static int
mm_ping_interval(void)
{
	const char	*s = getenv(MM_PING_ENV);
	char		*end;
	long		 v;

	if (s == NULL)
		return (MM_PING_MS);
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 100 || v > 600000) {
		log_warnx("%s=%s ignored", MM_PING_ENV, s);
		return (MM_PING_MS);
	}
	return ((int)v);
}

static int
mm_setup(struct mm *mm, struct event_base *base, const json_t *config)
{
	const char	*url = mm_str(config, "url");
	const char	*tok = mm_str(config, "token");
	json_int_t	 rt;

	if (mm_base_url(url, mm->base_url, sizeof(mm->base_url)) == -1) {
		worker_failed("bad Mattermost url \"%.200s\"", url != NULL ?
		    url : "");
		return (-1);
	}
	if (tok == NULL || *tok == '\0' || strpbrk(tok, "\r\n") != NULL) {
		worker_failed("no usable token");
		return (-1);
	}
	if (asprintf(&mm->auth, "Authorization: Bearer %s", tok) == -1) {
		mm->auth = NULL;
		return (-1);
	}
	snprintf(mm->key, sizeof(mm->key), "%s", mm_stre(config, "key"));
	mm->self.id = mm->me_id;
	mm->self.username = mm->me_name;
	mm->self.key = mm->key;
	mm->ping_ms = mm_ping_interval();
	rt = json_integer_value(json_object_get(config, "reconnectTimeoutMs"));
	rt = rt > 0 && rt < 3600000 ? rt : 10000;
	/* A little under the supervisor's limit, so our reason is the one. */
	mm->deadline_ms = (int)(rt - (rt / 10 < 500 ? rt / 10 : 500));
	backoff_init(&mm->bo, 1000, 30000);
	if ((mm->ping_ev = evtimer_new(base, mm_ping_cb, mm)) == NULL ||
	    (mm->reconnect_ev = evtimer_new(base, mm_reconnect_cb, mm)) ==
	    NULL || (mm->deadline_ev = evtimer_new(base, mm_deadline_cb, mm)) ==
	    NULL || (mm->net = net_new(base)) == NULL ||
	    (mm->ws = ws_new(base)) == NULL)
		return (-1);
	return (0);
}

static void	mm_stop(void *);

static void *
mm_start(struct event_base *base, const json_t *config)
{
	struct mm	*mm;
	char		 red[16];

	if ((mm = calloc(1, sizeof(*mm))) == NULL)
		return (NULL);
	mm->base = base;
	mm->config = json_incref((json_t *)config);
	TAILQ_INIT(&mm->chans);
	TAILQ_INIT(&mm->calls);
	if ((mm->opq = opq_new(&mm_opq_cbs, mm, sizeof(struct mm_opx),
	    MM_OPS_MAX)) == NULL || mm_setup(mm, base, config) == -1) {
		mm_stop(mm);
		return (NULL);
	}
	log_info("connecting to %s (token %s, ping every %d ms)",
	    mm->base_url, log_redact(mm_str(config, "token"), red, sizeof(red)),
	    mm->ping_ms);
	mm_timer_ms(mm->deadline_ev, (uint32_t)mm->deadline_ms);
	if (mm_call(mm, "GET", "/users/me", NULL, 3, mm_me_done, NULL) == NULL) {
		mm_stop(mm);
		return (NULL);
	}
	return (mm);
}

static void
mm_config_update(void *arg, const json_t *config)
{
	struct mm	*mm = arg;

	json_decref(mm->config);
	mm->config = json_incref((json_t *)config);
}

static void
mm_inbound_ack(void *arg, const char *id)
{
	log_debug("sessiond has %s", id != NULL ? id : "?");
}

/* Stop reading events; the outbound ops held are finished, then DRAINED. */
static void
mm_drain(void *arg)
{
	struct mm	*mm = arg;

	mm->draining = 1;
	(void)evtimer_del(mm->ping_ev);
	(void)evtimer_del(mm->reconnect_ev);
	(void)evtimer_del(mm->deadline_ev);
	mm_cu_free(mm);
	if (mm->conn != NULL)
		ws_close(mm->conn, 0);
	log_info("draining: WebSocket closed, %u outbound op(s) to finish",
	    opq_len(mm->opq));
	mm_check_drained(mm);
}

static void
mm_stop(void *arg)
{
	struct mm	*mm = arg;
	struct mm_ch	*ch;

	mm->draining = 1;
	mm_cu_free(mm);
	json_decref(mm->cursors);
	mm->cursors = NULL;
	while (!TAILQ_EMPTY(&mm->calls))
		mm_call_free(TAILQ_FIRST(&mm->calls));
	opq_free(mm->opq);
	while ((ch = TAILQ_FIRST(&mm->chans)) != NULL) {
		TAILQ_REMOVE(&mm->chans, ch, entry);
		free(ch);
	}
	ws_free(mm->ws);	/* joins the service thread; no callbacks */
	net_free(mm->net);
	if (mm->ping_ev != NULL)
		event_free(mm->ping_ev);
	if (mm->reconnect_ev != NULL)
		event_free(mm->reconnect_ev);
	if (mm->deadline_ev != NULL)
		event_free(mm->deadline_ev);
	json_decref(mm->config);
	free(mm->auth);
	free(mm);
}

const struct adapter_ops mm_adapter = {
	"mattermost",
	mm_start,
	mm_config_update,
	mm_outbound,
	mm_inbound_ack,
	mm_cursors,
	mm_drain,
	mm_stop,
};
