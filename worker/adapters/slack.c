/*
 * slack: the Slack adapter (Socket Mode + the Web API), for one bot.
 *
 *   start     auth.test with the bot token (who we are), then
 *             apps.connections.open with the app token and the WebSocket
 *             to the URL it returns; READY after that socket's hello.
 *   inbound   events_api envelopes: message and app_mention events,
 *             filtered (bots, own, subtypes, hidden, access) and sent to
 *             sessiond as INBOUND with the id "<channel>:<ts>", the same
 *             for both events of one post (sessiond dedups).  An envelope
 *             is acked only once sessiond has acked its INBOUND, on the
 *             connection that delivered it; a dropped one at once.
 *   outbound  OUTBOUND ops as Web API calls, in order per channel, retried
 *             on 429 (Retry-After) and 5xx/transport errors (backoff).
 *   refresh   a disconnect frame (warning, refresh_requested) opens a new
 *             connection first; the old one is closed once the new one
 *             said hello and the old one's acks went out (make before
 *             break).  link_disabled is FAILED.  A drop reconnects with
 *             backoff.
 *
 * The first part of this file is pure (frames, filtering, ops) and is
 * what tests/unit/test_slack.c and tests/fuzz/fuzz_slack_envelope.c drive;
 * its prototypes are in worker/mrkdwn.h.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/net.h"
#include "common/util.h"
#include "worker/adapter.h"
#include "worker/mrkdwn.h"
#include "worker/opq.h"
#include "worker/worker.h"
#include "worker/ws.h"

/* ------------------------------------------------------------ pure part */

static int
slack_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

static const char *
slack_str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

static const char *
slack_stre(const json_t *o, const char *key)
{
	const char	*s = slack_str(o, key);

	return (s != NULL ? s : "");
}

/* A channel or user id: [A-Za-z0-9_-], short. */
static int
slack_valid_id(const char *s)
{
	size_t	i;

	if (s == NULL || *s == '\0')
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if (i >= SLACK_ID_MAX - 1 || !(isalnum((unsigned char)s[i]) ||
		    s[i] == '_' || s[i] == '-'))
			return (0);
	return (1);
}

/* A message ts: "seconds.micro", kept as a string, never a double. */
int
slack_valid_ts(const char *ts)
{
	size_t	i, dot = 0;

	if (ts == NULL || !isdigit((unsigned char)ts[0]))
		return (0);
	for (i = 0; ts[i] != '\0'; i++) {
		if (i >= SLACK_TS_MAX - 1)
			return (0);
		if (ts[i] == '.' && dot == 0 && isdigit((unsigned char)ts[i + 1]))
			dot = i;
		else if (!isdigit((unsigned char)ts[i]))
			return (0);
	}
	return (dot != 0);
}

/*
 * The bare ts of a message id: sessiond may hand back an inbound id
 * ("<channel>:<ts>") as a thread root or a post to react to, and Slack
 * only takes the ts (upstream passed the composite: a bug).
 */
const char *
slack_bare_ts(const char *id)
{
	const char	*p;

	if (id == NULL)
		return (NULL);
	if ((p = strrchr(id, ':')) != NULL)
		id = p + 1;
	return (slack_valid_ts(id) ? id : NULL);
}

/* A ts in milliseconds, from its digits (no floating point). */
json_int_t
slack_ts_ms(const char *ts)
{
	json_int_t	ms = 0;
	int		i;

	if (!slack_valid_ts(ts))
		return (0);
	for (; *ts != '.'; ts++)
		if (ms < (json_int_t)1 << 50)
			ms = ms * 10 + (*ts - '0');
	ts++;
	ms *= 1000;
	for (i = 100; i > 0 && isdigit((unsigned char)*ts); i /= 10, ts++)
		ms += (*ts - '0') * i;
	return (ms);
}

/* Length of <@UID> or <@UID|name> at p, or 0. */
static size_t
slack_mention_at(const char *p, const char *uid)
{
	size_t		 n = strlen(uid);
	const char	*q;

	if (n == 0 || strncmp(p, "<@", 2) != 0 || strncmp(p + 2, uid, n) != 0)
		return (0);
	q = p + 2 + n;
	if (*q == '|')
		q += strcspn(q, ">\n");
	return (*q == '>' ? (size_t)(q + 1 - p) : 0);
}

/*
 * text without the bot's mentions (and a ':' or ',' right after one), the
 * spaces around them folded and the ends trimmed; *mentioned says if there
 * was one.  NULL when out of memory.
 */
char *
slack_strip_mention(const char *text, const char *user_id, int *mentioned)
{
	const char	*p = text != NULL ? text : "";
	char		*out, *o;
	size_t		 m;

	*mentioned = 0;
	if ((out = malloc(strlen(p) + 1)) == NULL)
		return (NULL);
	o = out;
	while (*p != '\0') {
		if (user_id == NULL || (m = slack_mention_at(p, user_id)) == 0) {
			*o++ = *p++;
			continue;
		}
		*mentioned = 1;
		p += m;
		if (*p == ':' || *p == ',')
			p++;
		if (o == out || o[-1] == ' ' || o[-1] == '\t' || o[-1] == '\n')
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

/* Slack escapes exactly these three in text; anything else stays. */
char *
slack_decode_entities(const char *text)
{
	static const struct { const char *ent; char ch; } map[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
	};
	char	*out, *o;
	size_t	 i, n;

	if ((out = malloc(strlen(text) + 1)) == NULL)
		return (NULL);
	for (o = out; *text != '\0';) {
		for (i = 0; *text == '&' && i < nitems(map); i++) {
			n = strlen(map[i].ent);
			if (strncmp(text, map[i].ent, n) == 0)
				break;
		}
		if (*text == '&' && i < nitems(map)) {
			*o++ = map[i].ch;
			text += strlen(map[i].ent);
		} else
			*o++ = *text++;
	}
	*o = '\0';
	return (out);
}

static void
slack_frame_events(struct slack_frame *f)
{
	const json_t	*payload = json_object_get(f->frame, "payload");
	const json_t	*ev = json_object_get(payload, "event");

	f->kind = SLACK_F_EVENT;
	f->event = json_is_object(ev) ? ev : NULL;
	f->event_id = slack_stre(payload, "event_id");
	f->retry_attempt = json_integer_value(json_object_get(f->frame,
	    "retry_attempt"));
}

/*
 * Parse one Socket Mode frame.  On success f holds references the caller
 * releases with slack_frame_clear(); on failure err says why, f needs no
 * clearing, and f->env_id is still set if the frame had one (so that it
 * can be acked: a frame we cannot read would only come back).
 */
int
slack_parse_frame(const char *buf, size_t len, struct slack_frame *f,
    char *err, size_t errlen)
{
	json_error_t	 jerr;
	const char	*env;

	memset(f, 0, sizeof(*f));
	f->reason = f->event_id = "";
	if ((f->frame = json_loadb(buf, len, 0, &jerr)) == NULL)
		return (slack_err(err, errlen, "not JSON (%s)", jerr.text));
	if (!json_is_object(f->frame)) {
		slack_frame_clear(f);
		return (slack_err(err, errlen, "not a JSON object"));
	}
	if ((env = slack_str(f->frame, "envelope_id")) != NULL &&
	    *env != '\0' && strlen(env) < sizeof(f->env_id))
		memcpy(f->env_id, env, strlen(env) + 1);
	if ((f->type = slack_str(f->frame, "type")) == NULL) {
		slack_frame_clear(f);
		return (slack_err(err, errlen, "a frame without a type"));
	}
	if (strcmp(f->type, "hello") == 0) {
		f->kind = SLACK_F_HELLO;
		f->num_connections = json_integer_value(json_object_get(
		    f->frame, "num_connections"));
	} else if (strcmp(f->type, "disconnect") == 0) {
		f->kind = SLACK_F_DISCONNECT;
		f->reason = slack_stre(f->frame, "reason");
	} else if (strcmp(f->type, "events_api") == 0)
		slack_frame_events(f);
	else
		f->kind = SLACK_F_OTHER;
	return (0);
}

/* Releases the frame; env_id stays readable. */
void
slack_frame_clear(struct slack_frame *f)
{
	json_decref(f->frame);
	f->frame = NULL;
	f->type = NULL;
	f->event = NULL;
	f->reason = f->event_id = "";
}

/* Why an event is not a user's message for us, or NULL. */
static const char *
slack_filter(const struct slack_self *me, const json_t *ev)
{
	const char	*type = slack_stre(ev, "type");
	const char	*sub = slack_str(ev, "subtype");
	const json_t	*bot = json_object_get(ev, "bot_id");

	if (strcmp(type, "message") != 0 && strcmp(type, "app_mention") != 0)
		return ("not a message");
	if (bot != NULL && !json_is_null(bot))
		return ("from a bot");
	if (json_is_true(json_object_get(ev, "hidden")))
		return ("hidden");
	if (sub != NULL && strcmp(sub, "file_share") != 0 &&
	    strcmp(sub, "thread_broadcast") != 0)
		return ("a subtype we do not handle");
	if (*slack_stre(ev, "user") == '\0')
		return ("no user");
	if (strcmp(slack_stre(ev, "user"), me->user_id) == 0)
		return ("own message");
	return (NULL);
}

/* The text for sessiond: mentions out, entities decoded, cut. */
static char *
slack_text(const char *raw, const char *uid, int *mentioned)
{
	char	*s, *d, *t;

	if ((s = slack_strip_mention(raw, uid, mentioned)) == NULL)
		return (NULL);
	d = slack_decode_entities(s);
	free(s);
	if (d == NULL)
		return (NULL);
	t = mm_truncate(d, SLACK_INBOUND_MAX);
	free(d);
	return (t);
}

/*
 * Turn an event into sessiond's INBOUND body.  1: *out is it; 0: dropped,
 * *why says why; -1: not a message event we can read.
 */
int
slack_inbound(const struct slack_self *me, const json_t *ev, json_t **out,
    const char **why)
{
	const char	*ch = slack_str(ev, "channel"), *ts = slack_str(ev, "ts");
	const char	*user, *thr = slack_str(ev, "thread_ts");
	char		 id[SLACK_ID_MAX + SLACK_TS_MAX + 2], *text;
	int		 mentioned, app;

	*out = NULL;
	if (!json_is_object(ev) || slack_str(ev, "type") == NULL) {
		*why = "not an event";
		return (-1);
	}
	if ((*why = slack_filter(me, ev)) != NULL)
		return (0);
	if (!slack_valid_id(ch) || !slack_valid_ts(ts)) {
		*why = "no valid channel or ts";
		return (-1);
	}
	user = slack_str(ev, "user");
	app = strcmp(slack_stre(ev, "type"), "app_mention") == 0;
	if ((text = slack_text(slack_stre(ev, "text"), me->user_id,
	    &mentioned)) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	snprintf(id, sizeof(id), "%s:%s", ch, ts);
	*out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:I}", "id", id,
	    "channel", ch, "bot", me->key, "user", user, "userId", user,
	    "text", text, "root", slack_valid_ts(thr) && strcmp(thr, ts) != 0 ?
	    thr : "", "isDM", ch[0] == 'D', "mentionsBot", mentioned || app,
	    "createAt", slack_ts_ms(ts));
	free(text);
	if (*out == NULL) {
		*why = "out of memory (or not UTF-8)";
		return (-1);
	}
	return (1);
}

void
slack_req_clear(struct slack_req *r)
{
	json_decref(r->body);
	mrkdwn_chunks_free(r->chunks, r->nchunks);
	memset(r, 0, sizeof(*r));
}

static int
slack_op_post(const json_t *op, const char *ch, struct slack_req *r,
    char *err, size_t errlen)
{
	const char	*root = slack_stre(op, "root"), *text = slack_str(op,
			    "text"), *rts = NULL;
	char		*md;

	if (*root != '\0' && (rts = slack_bare_ts(root)) == NULL)
		return (slack_err(err, errlen, "post: bad root \"%.40s\"",
		    root));
	if (text == NULL)
		return (slack_err(err, errlen, "post: no text"));
	if ((md = mrkdwn_from_markdown(text)) == NULL)
		return (slack_err(err, errlen, "post: out of memory"));
	r->nchunks = mrkdwn_chunk(md, SLACK_TEXT_MAX, &r->chunks);
	free(md);
	if (r->nchunks == 0)
		return (slack_err(err, errlen, "post: out of memory"));
	r->method = "chat.postMessage";
	r->body = json_pack("{s:s,s:s}", "channel", ch, "text", r->chunks[0]);
	if (r->body != NULL && rts != NULL && json_object_set_new(r->body,
	    "thread_ts", json_string(rts)) == -1)
		return (slack_err(err, errlen, "post: out of memory"));
	return (0);
}

static int
slack_op_patch(const json_t *op, const char *ch, const char *ts,
    struct slack_req *r, char *err, size_t errlen)
{
	const char	*text = slack_str(op, "text");
	char		*md, *t;

	if (ts == NULL || text == NULL)
		return (slack_err(err, errlen, "patch: bad post ts or no "
		    "text"));
	if ((md = mrkdwn_from_markdown(text)) == NULL)
		return (slack_err(err, errlen, "patch: out of memory"));
	t = mrkdwn_truncate_update(md);
	free(md);
	if (t == NULL)
		return (slack_err(err, errlen, "patch: out of memory"));
	r->method = "chat.update";
	r->body = json_pack("{s:s,s:s,s:s}", "channel", ch, "ts", ts, "text",
	    t);
	free(t);
	return (0);
}

/* An emoji name without its colons: [a-z0-9_+-'], as Slack names go. */
static int
slack_emoji(const char *e, char *out, size_t outlen)
{
	size_t	n, i;

	if (*e == ':')
		e++;
	n = strcspn(e, ":");
	if (n == 0 || n >= outlen || (e[n] == ':' && e[n + 1] != '\0'))
		return (-1);
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)e[i]) ||
		    isdigit((unsigned char)e[i]) || strchr("_+-'", e[i]) != NULL))
			return (-1);
	memcpy(out, e, n);
	out[n] = '\0';
	return (0);
}

/*
 * The Web API call for an OUTBOUND op (see struct slack_req; the caller
 * clears r).  -1 with err for an op that cannot be made.
 */
int
slack_op_request(const json_t *op, struct slack_req *r, char *err,
    size_t errlen)
{
	const char	*name = slack_stre(op, "op"), *ch = slack_str(op, "channel");
	const char	*ts = slack_bare_ts(slack_str(op, "post"));
	char		 emoji[65];
	int		 rc = 0;

	memset(r, 0, sizeof(*r));
	if (strcmp(name, "typing") == 0)
		return (0);	/* Slack has no typing for bots */
	if (!slack_valid_id(ch))
		return (slack_err(err, errlen, "%.16s: bad channel id", name));
	if (strcmp(name, "post") == 0)
		rc = slack_op_post(op, ch, r, err, errlen);
	else if (strcmp(name, "patch") == 0)
		rc = slack_op_patch(op, ch, ts, r, err, errlen);
	else if (strcmp(name, "delete") == 0) {
		if (ts == NULL)
			return (slack_err(err, errlen, "delete: bad post ts"));
		r->method = "chat.delete";
		r->body = json_pack("{s:s,s:s}", "channel", ch, "ts", ts);
	} else if (strcmp(name, "react") == 0) {
		if (ts == NULL)
			return (slack_err(err, errlen, "react: bad post ts"));
		if (slack_emoji(slack_stre(op, "emoji"), emoji,
		    sizeof(emoji)) == -1)
			return (slack_err(err, errlen, "react: bad emoji "
			    "name"));
		r->method = "reactions.add";
		r->body = json_pack("{s:s,s:s,s:s}", "channel", ch,
		    "timestamp", ts, "name", emoji);
	} else
		return (slack_err(err, errlen, "unknown op \"%.32s\"", name));
	if (rc == 0 && r->body == NULL)
		return (slack_err(err, errlen, "%s: out of memory", name));
	return (rc);
}

/* A user id as access lists hold them: ^[UW][A-Z0-9]+$. */
int
slack_is_uid(const char *s)
{
	size_t	i;

	if (s == NULL || (s[0] != 'U' && s[0] != 'W') || s[1] == '\0')
		return (0);
	for (i = 1; s[i] != '\0'; i++)
		if (i >= SLACK_ID_MAX - 1 || !(isupper((unsigned char)s[i]) ||
		    isdigit((unsigned char)s[i])))
			return (0);
	return (1);
}

/*
 * How a users.list member matches an access-list handle (a leading '@'
 * ignored), case-insensitively: 2 by name, 1 by profile.display_name or
 * real_name, 0 not at all (or deleted, or without a user id).
 */
int
slack_member_match(const json_t *member, const char *handle)
{
	const char	*dn, *rn;

	if (handle == NULL || !json_is_object(member) ||
	    json_is_true(json_object_get(member, "deleted")) ||
	    !slack_is_uid(slack_str(member, "id")))
		return (0);
	if (*handle == '@')
		handle++;
	if (*handle == '\0')
		return (0);
	if (strcasecmp(slack_stre(member, "name"), handle) == 0)
		return (2);
	dn = slack_str(json_object_get(member, "profile"), "display_name");
	rn = slack_str(member, "real_name");
	if ((dn != NULL && strcasecmp(dn, handle) == 0) ||
	    (rn != NULL && strcasecmp(rn, handle) == 0))
		return (1);
	return (0);
}

/* Does access object a list anything but user ids? */
int
slack_access_has_handles(const json_t *a)
{
	const json_t	*u;
	size_t		 i;

	json_array_foreach(json_object_get(a, "users"), i, u)
		if (json_is_string(u) && !slack_is_uid(json_string_value(u)))
			return (1);
	return (0);
}

/* The user id members (a users.list array) give handle, or NULL. */
static const char *
slack_handle_uid(const json_t *members, const char *handle)
{
	const json_t	*m, *best = NULL;
	size_t		 i;
	int		 q, bestq = 0;

	json_array_foreach(members, i, m)
		if ((q = slack_member_match(m, handle)) > bestq) {
			best = m;
			if ((bestq = q) == 2)
				break;
		}
	return (best != NULL ? slack_str(best, "id") : NULL);
}

/*
 * A private copy of access object a whose users are all user ids: handles
 * resolved against members (NULL: none known yet); the ones that do not
 * resolve are dropped and appended to unresolved (if not NULL).  a itself
 * is never changed.  NULL when a is not an object (or out of memory).
 */
json_t *
slack_access_resolve(const json_t *a, const json_t *members,
    json_t *unresolved)
{
	json_t		*copy, *users;
	const json_t	*u;
	const char	*s, *id;
	size_t		 i;

	if (!json_is_object(a) || (copy = json_deep_copy(a)) == NULL)
		return (NULL);
	if (!json_is_array(json_object_get(a, "users")))
		return (copy);
	if ((users = json_array()) == NULL ||
	    json_object_set_new(copy, "users", users) == -1) {
		json_decref(copy);
		return (NULL);
	}
	json_array_foreach(json_object_get(a, "users"), i, u) {
		if ((s = json_string_value(u)) == NULL)
			continue;
		if (slack_is_uid(s))
			id = s;
		else if ((id = slack_handle_uid(members, s)) == NULL) {
			if (unresolved != NULL)
				(void)json_array_append_new(unresolved,
				    json_string(s));
			continue;
		}
		if (json_array_append_new(users, json_string(id)) == -1) {
			json_decref(copy);
			return (NULL);
		}
	}
	return (copy);
}

/* ------------------------------------------------------------ the adapter */

#define SLACK_RETRY_AFTER_MAX	30	/* seconds we wait on a 429, at most */
#define SLACK_LIMITED_MAX	10	/* 429s a call may meet */
#define SLACK_TRIES		5	/* tries on 5xx and transport errors */
#define SLACK_OPS_MAX		10000
#define SLACK_ACKS_MAX		1024	/* envelopes awaiting sessiond's ack */
#define SLACK_RETIRE_MS		2500	/* under Slack's 3 s ack timeout */
#define SLACK_NAME_MAX		128
#define SLACK_LIST_LIMIT	200	/* items asked for per page */
#define SLACK_LIST_PAGES	50	/* pages read, at most */
#define SLACK_FIRST_OPEN_MS	5000	/* users.list may hold the start */

struct slack;
typedef void	(*slack_call_cb)(struct slack *, json_t *json, const char *err,
		    void *arg);

/* One Web API call, with its retries. */
struct slack_call {
	TAILQ_ENTRY(slack_call)	 entry;
	struct slack		*sl;
	char			 method[40];
	const char		*auth;		/* bot or app token header */
	char			*url;
	char			*body;		/* JSON or form, or NULL */
	int			 form;		/* body is form-urlencoded */
	int			 tries, max_tries, limited, in_cb;
	struct net_req		*req;
	struct event		*timer;
	struct backoff		 bo;
	slack_call_cb		 cb;
	void			*arg;
};

/* One Socket Mode connection. */
struct slack_conn {
	TAILQ_ENTRY(slack_conn)	 entry;
	struct slack		*sl;
	struct ws_conn		*ws;
	unsigned int		 serial;	/* for logs */
	int			 hello;
	int			 doomed;	/* Slack said disconnect */
	int			 retiring;	/* replaced: close after acks */
	unsigned int		 unacked;	/* its envelopes not acked yet */
	struct event		*retire_ev;
};

/* An envelope waiting for sessiond's INBOUND_ACK of its message. */
struct slack_ack {
	TAILQ_ENTRY(slack_ack)	 entry;
	char			 id[SLACK_ID_MAX + SLACK_TS_MAX + 2];
	char			 env_id[128];
	struct slack_conn	*conn;		/* NULL: it closed */
};

/* One OUTBOUND op; ops of one channel run one at a time, in order. */
/* What an outbound op (worker/opq.c) runs: one call, or a post's chunks. */
struct slack_opx {
	struct slack_call	*call;
	struct slack_req	 req;
	size_t			 next;		/* post: chunk being sent */
	char			 first_ts[SLACK_TS_MAX];
};


/* A paginated list call (users.list, conversations.list). */
struct slack_list;
typedef void	(*slack_list_cb)(struct slack *, json_t *items,
		    const char *err);

struct slack_list {
	struct slack		*sl;
	struct slack_list	**owner;	/* cleared when it ends */
	char			 method[40];
	const char		*key;		/* "members", "channels" */
	json_t			*args;
	json_t			*items;
	int			 pages;
	struct slack_call	*call;
	slack_list_cb		 cb;
};

struct slack {
	struct event_base	*base;
	struct net		*net;
	struct ws		*ws;
	json_t			*config;	/* live: access, channels */
	/* Private copies of access and botAccess, handles resolved to user
	 * ids (config is the supervisor's: never written). */
	json_t			*access, *bot_access;
	json_t			*members;	/* last users.list, compact */
	json_t			*warned;	/* handles warned about */
	struct slack_list	*users_list, *dms_list;
	int			 started;	/* the first open is made */
	size_t			 ndms;		/* DMs found at the start */
	char			 api_url[512];	/* ends with '/' */
	char			*auth;		/* bot token header */
	char			*app_auth;	/* app token header */
	char			 key[128];
	char			 me_id[SLACK_ID_MAX];
	char			 me_name[SLACK_NAME_MAX];
	struct slack_self	 self;
	/* Socket Mode */
	TAILQ_HEAD(, slack_conn) conns;
	unsigned int		 serial;
	struct slack_call	*open_call;	/* apps.connections.open */
	int			 ready, draining, deadline_ms;
	struct event		*reconnect_ev, *deadline_ev;
	struct backoff		 bo;
	char			 last_err[256];
	TAILQ_HEAD(, slack_ack)	 acks;
	unsigned int		 nacks;
	/* outbound */
	struct opq		*opq;		/* outbound ops */
	TAILQ_HEAD(, slack_call) calls;
};

static void	slack_open(struct slack *);
static void	slack_check_drained(void *);
static void	slack_conn_retire(struct slack_conn *);

static void
slack_timer_ms(struct event *ev, uint32_t ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	if (evtimer_add(ev, &tv) == -1)
		log_warnx("slack: cannot arm a timer");
}

/* ------------------------------------------------------------ Web API */

static void
slack_call_free(struct slack_call *c)
{
	TAILQ_REMOVE(&c->sl->calls, c, entry);
	net_cancel(c->req);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->url);
	free(c->body);
	free(c);
}

static void
slack_call_cancel(struct slack_call *c)
{
	if (c != NULL && !c->in_cb)
		slack_call_free(c);
}

static void
slack_call_finish(struct slack_call *c, json_t *json, const char *err)
{
	c->in_cb = 1;
	c->cb(c->sl, json, err, c->arg);
	json_decref(json);
	slack_call_free(c);
}

/* Slack answers 200 {ok:false, error} for errors: "chat.update: x". */
static void
slack_call_complete(struct slack_call *c, const struct net_resp *r)
{
	json_t		*json = NULL;
	char		 err[384];
	const char	*e;

	if (r->bodylen > 0)
		json = json_loadb(r->body, r->bodylen, 0, NULL);
	e = slack_str(json, "error");
	if (r->status == 0)
		snprintf(err, sizeof(err), "%s: %s", c->method, r->error !=
		    NULL ? r->error : "no response");
	else if (r->status < 200 || r->status >= 300)
		snprintf(err, sizeof(err), "%s: HTTP %ld%s%s", c->method,
		    r->status, e != NULL ? " " : "", e != NULL ? e : "");
	else if (!json_is_object(json))
		snprintf(err, sizeof(err), "%s: the answer is not JSON",
		    c->method);
	else if (!json_is_true(json_object_get(json, "ok")))
		snprintf(err, sizeof(err), "%s: %.200s", c->method,
		    e != NULL ? e : "not ok");
	else {
		slack_call_finish(c, json, NULL);
		return;
	}
	slack_call_finish(c, json, err);
}

static void
slack_call_done(const struct net_resp *r, void *arg)
{
	struct slack_call	*c = arg;
	long			 ra;
	uint32_t		 ms;

	c->req = NULL;
	if (r->status == 429 && c->limited++ < SLACK_LIMITED_MAX) {
		ra = r->retry_after < 0 ? 1 : r->retry_after;
		ms = (uint32_t)(ra < SLACK_RETRY_AFTER_MAX ? ra :
		    SLACK_RETRY_AFTER_MAX) * 1000;
		log_warnx("%s: rate limited; retrying in %u ms", c->method, ms);
		slack_timer_ms(c->timer, ms);
		return;
	}
	if ((r->status == 0 || r->status >= 500) && c->tries < c->max_tries) {
		ms = backoff_next(&c->bo);
		log_warnx("%s: %s; try %d of %d in %u ms", c->method,
		    r->status == 0 ? r->error : "server error", c->tries + 1,
		    c->max_tries, ms);
		slack_timer_ms(c->timer, ms);
		return;
	}
	slack_call_complete(c, r);
}

static void
slack_call_send(int fd, short what, void *arg)
{
	struct slack_call	*c = arg;
	const char		*hdrs[3] = { c->auth, NULL, NULL };
	char			 err[256];

	hdrs[1] = c->body != NULL && !c->form ? "Content-Type: "
	    "application/json; charset=utf-8" :
	    "Content-Type: application/x-www-form-urlencoded";
	c->tries++;
	c->req = net_request(c->sl->net, "POST", c->url, hdrs, c->body, NULL,
	    slack_call_done, c);
	if (c->req != NULL)
		return;
	if (c->tries < c->max_tries) {
		slack_timer_ms(c->timer, backoff_next(&c->bo));
		return;
	}
	snprintf(err, sizeof(err), "%s: cannot start the request", c->method);
	slack_call_finish(c, NULL, err);
}

/* args (strings and integers) form-urlencoded, or NULL. */
static char *
slack_form(const json_t *args)
{
	const char	*k, *v;
	const json_t	*val;
	char		 num[32], *out, *o;
	size_t		 len = 1;

	json_object_foreach((json_t *)args, k, val)
		len += strlen(k) + 2 + 3 * (json_is_string(val) ?
		    strlen(json_string_value(val)) : sizeof(num));
	if ((o = out = malloc(len)) == NULL)
		return (NULL);
	json_object_foreach((json_t *)args, k, val) {
		if (json_is_integer(val)) {
			snprintf(num, sizeof(num), "%" PRId64,
			    (int64_t)json_integer_value(val));
			v = num;
		} else if ((v = json_string_value(val)) == NULL)
			continue;
		o += sprintf(o, "%s%s=", o == out ? "" : "&", k);
		for (; *v != '\0'; v++)
			if (isalnum((unsigned char)*v) || strchr("-_.~", *v))
				*o++ = *v;
			else
				o += sprintf(o, "%%%02X", (unsigned char)*v);
	}
	*o = '\0';
	return (out);
}

/*
 * Call a Web API method with auth (a header line) and args (taken; NULL
 * for none), sent as JSON or (form) form-urlencoded.  cb runs later,
 * once, unless the call is cancelled.
 */
static struct slack_call *
slack_call_new(struct slack *sl, const char *method, const char *auth,
    json_t *args, int form, int max_tries, slack_call_cb cb, void *arg)
{
	struct slack_call	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(args);
		return (NULL);
	}
	c->sl = sl;
	c->cb = cb;
	c->arg = arg;
	c->auth = auth;
	c->max_tries = max_tries;
	backoff_init(&c->bo, 250, 4000);
	snprintf(c->method, sizeof(c->method), "%s", method);
	TAILQ_INSERT_TAIL(&sl->calls, c, entry);
	c->form = form;
	if (args != NULL && (c->body = form ? slack_form(args) :
	    json_dumps(args, JSON_COMPACT)) == NULL)
		goto fail;
	if (asprintf(&c->url, "%s%s", sl->api_url, method) == -1) {
		c->url = NULL;
		goto fail;
	}
	if ((c->timer = evtimer_new(sl->base, slack_call_send, c)) == NULL)
		goto fail;
	json_decref(args);
	slack_timer_ms(c->timer, 0);
	return (c);
fail:
	json_decref(args);
	slack_call_free(c);
	return (NULL);
}

static struct slack_call *
slack_call(struct slack *sl, const char *method, const char *auth,
    json_t *args, int max_tries, slack_call_cb cb, void *arg)
{
	return (slack_call_new(sl, method, auth, args, 0, max_tries, cb, arg));
}

/* ------------------------------------------------------------ lists */

static void
slack_list_free(struct slack_list *l)
{
	if (l == NULL)
		return;
	slack_call_cancel(l->call);
	*l->owner = NULL;
	json_decref(l->args);
	json_decref(l->items);
	free(l);
}

static int	slack_list_next(struct slack_list *);

static void
slack_list_end(struct slack_list *l, const char *err)
{
	struct slack	*sl = l->sl;
	slack_list_cb	 cb = l->cb;
	json_t		*items = json_incref(l->items);

	l->call = NULL;
	slack_list_free(l);
	cb(sl, items, err);
	json_decref(items);
}

static void
slack_list_page(struct slack *sl, json_t *json, const char *err, void *arg)
{
	struct slack_list	*l = arg;
	const json_t		*a, *it;
	const char		*next;
	size_t			 i;

	l->call = NULL;
	if (err == NULL && !json_is_array(a = json_object_get(json, l->key)))
		err = "the answer has no list";
	if (err != NULL) {
		slack_list_end(l, err);
		return;
	}
	json_array_foreach(a, i, it)
		(void)json_array_append(l->items, (json_t *)it);
	next = slack_str(json_object_get(json, "response_metadata"),
	    "next_cursor");
	if (next == NULL || *next == '\0') {
		slack_list_end(l, NULL);
		return;
	}
	if (++l->pages >= SLACK_LIST_PAGES) {
		log_warnx("%s: stopped after %d pages", l->method, l->pages);
		slack_list_end(l, NULL);
		return;
	}
	if (json_object_set_new(l->args, "cursor", json_string(next)) == -1 ||
	    slack_list_next(l) == -1)
		slack_list_end(l, "out of memory");
}

static int
slack_list_next(struct slack_list *l)
{
	l->call = slack_call_new(l->sl, l->method, l->sl->auth,
	    json_deep_copy(l->args), 1, SLACK_TRIES, slack_list_page, l);
	return (l->call != NULL ? 0 : -1);
}

/*
 * Read all pages (SLACK_LIST_PAGES at most) of a list method, form args
 * (taken) plus limit and cursor; cb gets the items (or err) once, unless
 * *owner is freed first.  -1: out of memory.
 */
static int
slack_list(struct slack *sl, struct slack_list **owner, const char *method,
    const char *key, json_t *args, slack_list_cb cb)
{
	struct slack_list	*l;

	slack_list_free(*owner);
	if ((l = calloc(1, sizeof(*l))) == NULL || args == NULL ||
	    (l->items = json_array()) == NULL || json_object_set_new(args,
	    "limit", json_integer(SLACK_LIST_LIMIT)) == -1) {
		json_decref(args);
		if (l != NULL)
			json_decref(l->items);
		free(l);
		return (-1);
	}
	l->sl = sl;
	l->owner = owner;
	snprintf(l->method, sizeof(l->method), "%s", method);
	l->key = key;
	l->args = args;
	l->cb = cb;
	*owner = l;
	if (slack_list_next(l) == -1) {
		slack_list_free(l);
		return (-1);
	}
	return (0);
}

/* ------------------------------------------------------------ acks */

static void
slack_send_ack(struct slack_conn *c, const char *env_id)
{
	char	*s;
	json_t	*j;

	if ((j = json_pack("{s:s}", "envelope_id", env_id)) == NULL ||
	    (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		log_warnx("ack %s: out of memory", env_id);
		return;
	}
	json_decref(j);
	if (ws_send(c->ws, s, strlen(s)) == -1)
		log_warnx("cannot ack envelope %s on connection %u", env_id,
		    c->serial);
	else
		log_debug("acked envelope %s on connection %u", env_id,
		    c->serial);
	free(s);
}

/* The newest connection that said hello and is not going away. */
static struct slack_conn *
slack_live_conn(struct slack *sl)
{
	struct slack_conn	*c, *best = NULL;

	TAILQ_FOREACH(c, &sl->conns, entry)
		if (c->hello && !c->retiring)
			best = c;
	if (best == NULL)
		TAILQ_FOREACH(c, &sl->conns, entry)
			if (c->hello)
				best = c;
	return (best);
}

/* Ack a's envelope on its connection, or on a live one if it is gone. */
static void
slack_ack_send(struct slack *sl, struct slack_ack *a)
{
	struct slack_conn	*c = a->conn;

	TAILQ_REMOVE(&sl->acks, a, entry);
	sl->nacks--;
	if (c == NULL)
		c = slack_live_conn(sl);
	if (c != NULL)
		slack_send_ack(c, a->env_id);
	else
		log_warnx("no connection to ack envelope %s; Slack will "
		    "redeliver it", a->env_id);
	if (a->conn != NULL && --a->conn->unacked == 0 && a->conn->retiring)
		slack_conn_retire(a->conn);
	free(a);
}

/* Hold env_id (delivered by c) until sessiond acks message id. */
static void
slack_ack_hold(struct slack *sl, struct slack_conn *c, const char *id,
    const char *env_id)
{
	struct slack_ack	*a;

	if (sl->nacks >= SLACK_ACKS_MAX) {
		log_warnx("%u envelopes await sessiond; acking the oldest",
		    sl->nacks);
		slack_ack_send(sl, TAILQ_FIRST(&sl->acks));
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		slack_send_ack(c, env_id);	/* better than a redelivery */
		return;
	}
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->env_id, sizeof(a->env_id), "%s", env_id);
	a->conn = c;
	c->unacked++;
	TAILQ_INSERT_TAIL(&sl->acks, a, entry);
	sl->nacks++;
}

/* sessiond has message id: ack every envelope that carried it. */
static void
slack_inbound_ack(void *arg, const char *id)
{
	struct slack		*sl = arg;
	struct slack_ack	*a, *next;

	if (id == NULL)
		return;
	for (a = TAILQ_FIRST(&sl->acks); a != NULL; a = next) {
		next = TAILQ_NEXT(a, entry);
		if (strcmp(a->id, id) == 0)
			slack_ack_send(sl, a);
	}
}

/* ------------------------------------------------------------ inbound */

static void
slack_event(struct slack *sl, struct slack_conn *c,
    const struct slack_frame *f)
{
	const char	*why, *uid;
	json_t		*msg;
	int		 rc;

	if (f->event == NULL || (rc = slack_inbound(&sl->self, f->event, &msg,
	    &why)) == -1) {
		log_warnx("ignored envelope %s (event %s): %s", f->env_id,
		    f->event_id, f->event == NULL ? "no event" : why);
		rc = 0;
	} else if (rc == 0)
		log_debug("drop event %s: %s", f->event_id, why);
	else {
		uid = slack_stre(msg, "userId");
		if (!access_allowed(sl->access, sl->bot_access, uid, uid)) {
			log_debug("drop event %s: %s may not use this bot",
			    f->event_id, uid);
			json_decref(msg);
			rc = 0;
		}
	}
	if (rc == 0) {
		if (f->env_id[0] != '\0')
			slack_send_ack(c, f->env_id);
		return;
	}
	log_debug("inbound %s (event %s%s) from %s in %s%s",
	    slack_stre(msg, "id"), f->event_id, f->retry_attempt > 0 ?
	    ", a retry" : "", uid, slack_stre(msg, "channel"),
	    json_is_true(json_object_get(msg, "mentionsBot")) ?
	    " (mention)" : "");
	if (f->env_id[0] != '\0')
		slack_ack_hold(sl, c, slack_stre(msg, "id"), f->env_id);
	else
		log_warnx("event %s came without an envelope_id", f->event_id);
	worker_inbound(msg);
}

/* ------------------------------------------------------------ access */

static void	slack_open_first(struct slack *);

/* Warn about each handle of unres (once per handle and process). */
static void
slack_warn_unresolved(struct slack *sl, const json_t *unres)
{
	const json_t	*u;
	const char	*h;
	size_t		 i;

	if (sl->warned == NULL && (sl->warned = json_object()) == NULL)
		return;
	json_array_foreach(unres, i, u) {
		h = json_string_value(u);
		if (h == NULL || json_object_get(sl->warned, h) != NULL)
			continue;
		log_warnx("access: \"%.100s\" is no Slack user (users.list); "
		    "ignored", h);
		(void)json_object_set_new(sl->warned, h, json_true());
	}
}

/*
 * Rebuild the private access copies from the config and the users known;
 * fresh: the users were just listed, so what does not resolve is warned
 * about.
 */
static void
slack_access_apply(struct slack *sl, int fresh)
{
	json_t	*unres = json_array();

	json_decref(sl->access);
	json_decref(sl->bot_access);
	sl->access = slack_access_resolve(json_object_get(sl->config,
	    "access"), sl->members, unres);
	sl->bot_access = slack_access_resolve(json_object_get(sl->config,
	    "botAccess"), sl->members, unres);
	if (fresh && unres != NULL)
		slack_warn_unresolved(sl, unres);
	json_decref(unres);
}

/* users.list answered: keep its members (compact), resolve again. */
static void
slack_users_listed(struct slack *sl, json_t *items, const char *err)
{
	json_t		*m, *c;
	const json_t	*u;
	size_t		 i;

	if (err != NULL)
		log_warnx("access: cannot resolve handles to user ids: %s", err);
	else if ((m = json_array()) != NULL) {
		json_array_foreach(items, i, u) {
			if (!slack_is_uid(slack_str(u, "id")) ||
			    json_is_true(json_object_get(u, "deleted")))
				continue;
			c = json_pack("{s:s,s:s?,s:s?,s:{s:s?}}", "id",
			    slack_str(u, "id"), "name", slack_str(u, "name"),
			    "real_name", slack_str(u, "real_name"), "profile",
			    "display_name", slack_str(json_object_get(u,
			    "profile"), "display_name"));
			if (c != NULL)
				(void)json_array_append_new(m, c);
		}
		json_decref(sl->members);
		sl->members = m;
		log_debug("access: %zu users listed", json_array_size(m));
		slack_access_apply(sl, 1);
	}
	slack_open_first(sl);
}

/*
 * Access entries that are not user ids are handles: resolve them against
 * users.list (now with the users known already, then again once listed).
 * 1: a listing runs (the first open waits for it); 0: nothing to list.
 */
static int
slack_resolve(struct slack *sl)
{
	slack_access_apply(sl, 0);
	if (sl->draining || sl->me_id[0] == '\0' ||
	    (!slack_access_has_handles(json_object_get(
	    sl->config, "access")) &&
	    !slack_access_has_handles(json_object_get(
	    sl->config, "botAccess")))) {
		slack_list_free(sl->users_list);
		return (0);
	}
	if (slack_list(sl, &sl->users_list, "users.list", "members",
	    json_object(), slack_users_listed) == -1) {
		log_warnx("access: users.list: out of memory");
		return (0);
	}
	return (1);
}

/* conversations.list types=im answered: the DMs the bot has. */
static void
slack_dms_listed(struct slack *sl, json_t *items, const char *err)
{
	const json_t	*d;
	size_t		 i;

	if (err != NULL) {
		log_warnx("DM discovery: %s", err);
		return;
	}
	sl->ndms = json_array_size(items);
	log_info("DM discovery: %zu DM(s) open with this bot", sl->ndms);
	json_array_foreach(items, i, d)
		log_debug("DM %.64s with %.64s", slack_stre(d, "id"),
		    slack_stre(d, "user"));
}

static void
slack_discover_dms(struct slack *sl)
{
	if (slack_list(sl, &sl->dms_list, "conversations.list", "channels",
	    json_pack("{s:s}", "types", "im"), slack_dms_listed) == -1)
		log_warnx("DM discovery: out of memory");
}

/* ------------------------------------------------------------ Socket Mode */

static void	slack_ws_open(struct ws_conn *, void *);
static void	slack_ws_text(struct ws_conn *, const char *, size_t, void *);
static void	slack_ws_closed(struct ws_conn *, const char *, void *);

static const struct ws_conn_cbs slack_ws_cbs = {
	slack_ws_open, slack_ws_text, slack_ws_closed
};

static void
slack_conn_free(struct slack_conn *c)
{
	struct slack_ack	*a;

	TAILQ_FOREACH(a, &c->sl->acks, entry)
		if (a->conn == c)
			a->conn = NULL;
	TAILQ_REMOVE(&c->sl->conns, c, entry);
	if (c->retire_ev != NULL)
		event_free(c->retire_ev);
	free(c);
}

static void
slack_retire_cb(int fd, short what, void *arg)
{
	struct slack_conn	*c = arg;

	log_info("connection %u: %u ack(s) still owed; closing it anyway "
	    "(they go out on another connection)", c->serial, c->unacked);
	ws_close(c->ws, 0);
}

/*
 * c is replaced (or we drain): close it once the envelopes it delivered
 * are acked, but no later than SLACK_RETIRE_MS from now.
 */
static void
slack_conn_retire(struct slack_conn *c)
{
	if (!c->retiring) {
		c->retiring = 1;
		if (c->unacked > 0 && c->retire_ev != NULL) {
			slack_timer_ms(c->retire_ev, SLACK_RETIRE_MS);
			return;
		}
	}
	if (c->unacked == 0) {
		if (c->retire_ev != NULL)
			(void)evtimer_del(c->retire_ev);
		log_debug("connection %u: closing", c->serial);
		ws_close(c->ws, 0);
	}
}

static int
slack_conn_live(const struct slack *sl)
{
	const struct slack_conn	*c;

	TAILQ_FOREACH(c, &sl->conns, entry)
		if (!c->retiring && !c->doomed)
			return (1);
	return (0);
}

static void
slack_reconnect_later(struct slack *sl, const char *why)
{
	uint32_t	ms;

	if (sl->draining || sl->open_call != NULL || slack_conn_live(sl) ||
	    evtimer_pending(sl->reconnect_ev, NULL))
		return;
	ms = backoff_next(&sl->bo);
	if (sl->ready)
		log_warnx("socket mode: %s; reconnecting in %u ms", why, ms);
	else
		log_info("socket mode: %s; retrying in %u ms", why, ms);
	slack_timer_ms(sl->reconnect_ev, ms);
}

static void
slack_reconnect_cb(int fd, short what, void *arg)
{
	struct slack	*sl = arg;

	if (!sl->started)
		log_warnx("access: users.list is slow; connecting meanwhile");
	sl->started = 1;
	slack_open(sl);
}

/* The first open, once (after users.list, or when it takes too long). */
static void
slack_open_first(struct slack *sl)
{
	if (sl->started || sl->draining)
		return;
	sl->started = 1;
	slack_open(sl);
}

static void
slack_connect(struct slack *sl, const char *url)
{
	struct slack_conn	*c;
	const char		*hdrs[1] = { NULL };

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->retire_ev = evtimer_new(sl->base, slack_retire_cb, c)) ==
	    NULL) {
		free(c);
		snprintf(sl->last_err, sizeof(sl->last_err), "out of memory");
		slack_reconnect_later(sl, sl->last_err);
		return;
	}
	c->sl = sl;
	c->serial = ++sl->serial;
	TAILQ_INSERT_TAIL(&sl->conns, c, entry);
	/* The URL holds a one-time ticket: not logged. */
	log_debug("connection %u: connecting", c->serial);
	if ((c->ws = ws_connect(sl->ws, url, hdrs, &slack_ws_cbs, c)) == NULL) {
		slack_conn_free(c);
		snprintf(sl->last_err, sizeof(sl->last_err), "cannot open a "
		    "WebSocket");
		slack_reconnect_later(sl, sl->last_err);
	}
}

static void
slack_opened(struct slack *sl, json_t *json, const char *err, void *arg)
{
	const char	*url = slack_str(json, "url");

	sl->open_call = NULL;
	if (sl->draining)
		return;
	if (err == NULL && (url == NULL || (strncasecmp(url, "ws://", 5) != 0 &&
	    strncasecmp(url, "wss://", 6) != 0)))
		err = "apps.connections.open: no ws:// or wss:// url";
	if (err != NULL) {
		snprintf(sl->last_err, sizeof(sl->last_err), "%s", err);
		/* A refused app token will not get better by retrying. */
		if (!sl->ready && json_is_object(json) &&
		    json_is_false(json_object_get(json, "ok"))) {
			worker_failed("%s", err);
			return;
		}
		slack_reconnect_later(sl, err);
		return;
	}
	slack_connect(sl, url);
}

/* Ask for a new connection (one request at a time). */
static void
slack_open(struct slack *sl)
{
	if (sl->draining || sl->open_call != NULL)
		return;
	(void)evtimer_del(sl->reconnect_ev);
	sl->open_call = slack_call(sl, "apps.connections.open", sl->app_auth,
	    NULL, SLACK_TRIES, slack_opened, NULL);
	if (sl->open_call == NULL) {
		snprintf(sl->last_err, sizeof(sl->last_err), "out of memory");
		slack_reconnect_later(sl, sl->last_err);
	}
}

static void
slack_ws_open(struct ws_conn *w, void *arg)
{
	struct slack_conn	*c = arg;

	log_debug("connection %u: open, waiting for hello", c->serial);
}

static void
slack_ws_closed(struct ws_conn *w, const char *reason, void *arg)
{
	struct slack_conn	*c = arg;
	struct slack		*sl = c->sl;
	int			 expected = c->retiring || c->doomed;

	if (expected)
		log_info("connection %u: closed (%s)", c->serial, reason);
	snprintf(sl->last_err, sizeof(sl->last_err), "%s", reason);
	slack_conn_free(c);
	if (sl->draining) {
		slack_check_drained(sl);
		return;
	}
	if (!expected)
		slack_reconnect_later(sl, reason);
	else if (!slack_conn_live(sl))
		slack_open(sl);	/* the replacement failed meanwhile */
}

/* A hello: the connection works; the ones it replaces can go. */
static void
slack_hello(struct slack *sl, struct slack_conn *c,
    const struct slack_frame *f)
{
	struct slack_conn	*o, *next;

	c->hello = 1;
	backoff_reset(&sl->bo);
	sl->last_err[0] = '\0';
	log_info("connection %u: hello (%" PRId64 " connection(s) open)",
	    c->serial, (int64_t)f->num_connections);
	for (o = TAILQ_FIRST(&sl->conns); o != NULL; o = next) {
		next = TAILQ_NEXT(o, entry);
		if (o != c && !o->retiring)
			slack_conn_retire(o);
	}
	if (!sl->ready) {
		sl->ready = 1;
		(void)evtimer_del(sl->deadline_ev);
		worker_ready(sl->me_id, sl->me_name);
		slack_discover_dms(sl);
	}
}

static void
slack_disconnect(struct slack *sl, struct slack_conn *c, const char *reason)
{
	if (strcmp(reason, "link_disabled") == 0) {
		worker_failed("Slack disabled Socket Mode for this app "
		    "(disconnect: link_disabled)");
		return;
	}
	if (c->doomed || c->retiring) {
		log_debug("connection %u: disconnect (%s) again", c->serial,
		    reason);
		return;
	}
	log_info("connection %u: disconnect (%s); opening its replacement "
	    "first", c->serial, reason);
	c->doomed = 1;
	slack_open(sl);
}

static void
slack_frame(struct slack *sl, struct slack_conn *c,
    const struct slack_frame *f)
{
	switch (f->kind) {
	case SLACK_F_HELLO:
		slack_hello(sl, c, f);
		break;
	case SLACK_F_DISCONNECT:
		slack_disconnect(sl, c, f->reason);
		break;
	case SLACK_F_EVENT:
		slack_event(sl, c, f);
		break;
	case SLACK_F_OTHER:
		log_info("connection %u: %s envelope ignored", c->serial,
		    f->type);
		if (f->env_id[0] != '\0')
			slack_send_ack(c, f->env_id);
		break;
	}
}

static void
slack_ws_text(struct ws_conn *w, const char *msg, size_t len, void *arg)
{
	struct slack_conn	*c = arg;
	struct slack		*sl = c->sl;
	struct slack_frame	 f;
	char			 err[256];

	/* Draining: not acked, so Slack gives it to the next generation. */
	if (sl->draining)
		return;
	if (slack_parse_frame(msg, len, &f, err, sizeof(err)) == -1) {
		log_warnx("connection %u: ignored a bad frame of %zu bytes: "
		    "%s", c->serial, len, err);
		if (f.env_id[0] != '\0')
			slack_send_ack(c, f.env_id);
		return;
	}
	slack_frame(sl, c, &f);
	slack_frame_clear(&f);
}

static void
slack_deadline_cb(int fd, short what, void *arg)
{
	struct slack	*sl = arg;

	worker_failed("no Socket Mode hello within %d ms%s%s", sl->deadline_ms,
	    sl->last_err[0] != '\0' ? ": " : "", sl->last_err);
}

static void
slack_auth_done(struct slack *sl, json_t *json, const char *err, void *arg)
{
	const char	*id = slack_str(json, "user_id");
	const char	*name = slack_str(json, "user");

	if (err != NULL) {
		worker_failed("%s", err);
		return;
	}
	if (!slack_valid_id(id) || name == NULL ||
	    strlen(name) >= sizeof(sl->me_name)) {
		worker_failed("auth.test did not say who the bot is");
		return;
	}
	snprintf(sl->me_id, sizeof(sl->me_id), "%s", id);
	snprintf(sl->me_name, sizeof(sl->me_name), "%s", name);
	log_info("authenticated as @%s (%s)", sl->me_name, sl->me_id);
	if (slack_resolve(sl))
		slack_timer_ms(sl->reconnect_ev, (uint32_t)(sl->deadline_ms / 2 <
		    SLACK_FIRST_OPEN_MS ? sl->deadline_ms / 2 :
		    SLACK_FIRST_OPEN_MS));
	else
		slack_open_first(sl);
}

/* ------------------------------------------------------------ outbound */

static int	slack_op_call(struct slack *, struct opq_op *);

/*
 * A post's later chunks failing leaves the first one standing: the op
 * succeeds with it (sessiond would post it all again otherwise).
 */
static void
slack_op_done(struct slack *sl, json_t *json, const char *err, void *arg)
{
	struct opq_op		*op = arg;
	struct slack_opx	*x = op->data;
	const char		*ts = slack_str(json, "ts");
	int			 post = x->req.chunks != NULL;

	x->call = NULL;
	if (post && err == NULL && x->next == 0 && !slack_valid_ts(ts))
		err = "chat.postMessage: no ts in the answer";
	if (post && err == NULL && x->next == 0)
		snprintf(x->first_ts, sizeof(x->first_ts), "%s", ts);
	if (post && x->next > 0 && err != NULL)
		log_warnx("outbound %" PRId64 ": chunk %zu of %zu: %s",
		    (int64_t)op->ref, x->next + 1, x->req.nchunks, err);
	if (post && x->first_ts[0] != '\0' && ++x->next < x->req.nchunks &&
	    slack_op_call(sl, op) == 0)
		return;
	if (post && x->first_ts[0] != '\0')
		err = NULL;
	opq_done(sl->opq, op, err == NULL, post && err == NULL ?
	    x->first_ts : NULL, err);
}

/* Make op's call (a post: its chunk x->next). */
static int
slack_op_call(struct slack *sl, struct opq_op *op)
{
	struct slack_opx	*x = op->data;

	if (x->req.chunks != NULL && x->next > 0 &&
	    json_object_set_new(x->req.body, "text",
	    json_string(x->req.chunks[x->next])) == -1)
		return (-1);
	x->call = slack_call(sl, x->req.method, sl->auth,
	    json_incref(x->req.body), SLACK_TRIES, slack_op_done, op);
	return (x->call != NULL ? 0 : -1);
}

static int
slack_op_start(void *arg, struct opq_op *op, char *err, size_t errlen)
{
	struct slack		*sl = arg;
	struct slack_opx	*x = op->data;

	if (slack_op_request(op->body, &x->req, err, errlen) == -1)
		return (-1);
	if (x->req.method == NULL)
		return (1);		/* nothing to call: done */
	if (slack_op_call(sl, op) == -1) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	return (0);
}

static void
slack_op_clear(void *arg, struct opq_op *op)
{
	slack_req_clear(&((struct slack_opx *)op->data)->req);
}

static const struct opq_cbs slack_opq_cbs = {
	.start = slack_op_start,
	.clear = slack_op_clear,
	.answered = slack_check_drained,
};

static void
slack_outbound(void *arg, const json_t *body)
{
	struct slack	*sl = arg;

	opq_push(sl->opq, body);
}

/* ------------------------------------------------------------ lifecycle */

static void
slack_check_drained(void *arg)
{
	struct slack	*sl = arg;

	if (sl->draining && opq_len(sl->opq) == 0 && TAILQ_EMPTY(&sl->conns))
		worker_drained();
}

static int
slack_auth_header(char **out, const char *tok, const char *prefix)
{
	if (tok == NULL || strncmp(tok, prefix, strlen(prefix)) != 0 ||
	    strpbrk(tok, "\r\n") != NULL)
		return (-1);
	if (asprintf(out, "Authorization: Bearer %s", tok) == -1) {
		*out = NULL;
		return (-1);
	}
	return (0);
}

static int
slack_setup(struct slack *sl, struct event_base *base, const json_t *config)
{
	const char	*url = slack_str(config, "apiUrl");
	json_int_t	 rt;

	if (url == NULL || (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0) ||
	    strlen(url) >= sizeof(sl->api_url) || strpbrk(url, " \r\n") !=
	    NULL || url[strlen(url) - 1] != '/') {
		worker_failed("bad Slack apiUrl \"%.200s\"", url != NULL ?
		    url : "");
		return (-1);
	}
	snprintf(sl->api_url, sizeof(sl->api_url), "%s", url);
	if (slack_auth_header(&sl->auth, slack_str(config, "token"),
	    "xoxb-") == -1 || slack_auth_header(&sl->app_auth,
	    slack_str(config, "appToken"), "xapp-") == -1) {
		worker_failed("no usable token (an xoxb- bot token and an "
		    "xapp- app token)");
		return (-1);
	}
	snprintf(sl->key, sizeof(sl->key), "%s", slack_stre(config, "key"));
	sl->self.user_id = sl->me_id;
	sl->self.key = sl->key;
	rt = json_integer_value(json_object_get(config, "reconnectTimeoutMs"));
	rt = rt > 0 && rt < 3600000 ? rt : 10000;
	/* A little under the supervisor's limit, so our reason is the one. */
	sl->deadline_ms = (int)(rt - (rt / 10 < 500 ? rt / 10 : 500));
	backoff_init(&sl->bo, 1000, 30000);
	if ((sl->reconnect_ev = evtimer_new(base, slack_reconnect_cb, sl)) ==
	    NULL || (sl->deadline_ev = evtimer_new(base, slack_deadline_cb,
	    sl)) == NULL || (sl->net = net_new(base)) == NULL ||
	    (sl->ws = ws_new(base)) == NULL)
		return (-1);
	return (0);
}

static void	slack_stop(void *);

static void *
slack_start(struct event_base *base, const json_t *config)
{
	struct slack	*sl;
	char		 red[16], red2[16];

	if ((sl = calloc(1, sizeof(*sl))) == NULL)
		return (NULL);
	sl->base = base;
	sl->config = json_incref((json_t *)config);
	TAILQ_INIT(&sl->conns);
	TAILQ_INIT(&sl->acks);
	TAILQ_INIT(&sl->calls);
	if ((sl->opq = opq_new(&slack_opq_cbs, sl, sizeof(struct slack_opx),
	    SLACK_OPS_MAX)) == NULL || slack_setup(sl, base, config) == -1) {
		slack_stop(sl);
		return (NULL);
	}
	slack_access_apply(sl, 0);
	log_info("connecting to %s (token %s, app token %s)", sl->api_url,
	    log_redact(slack_str(config, "token"), red, sizeof(red)),
	    log_redact(slack_str(config, "appToken"), red2, sizeof(red2)));
	slack_timer_ms(sl->deadline_ev, (uint32_t)sl->deadline_ms);
	if (slack_call(sl, "auth.test", sl->auth, NULL, 3, slack_auth_done,
	    NULL) == NULL) {
		slack_stop(sl);
		return (NULL);
	}
	return (sl);
}

static void
slack_config_update(void *arg, const json_t *config)
{
	struct slack	*sl = arg;

	json_decref(sl->config);
	sl->config = json_incref((json_t *)config);
	(void)slack_resolve(sl);
}

/*
 * Stop taking events; each connection is closed once the envelopes
 * sessiond has are acked (or after SLACK_RETIRE_MS); the outbound ops
 * held are finished; then DRAINED.
 */
static void
slack_drain(void *arg)
{
	struct slack		*sl = arg;
	struct slack_conn	*c, *next;

	sl->draining = 1;
	(void)evtimer_del(sl->reconnect_ev);
	(void)evtimer_del(sl->deadline_ev);
	slack_list_free(sl->users_list);
	slack_list_free(sl->dms_list);
	slack_call_cancel(sl->open_call);
	sl->open_call = NULL;
	for (c = TAILQ_FIRST(&sl->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!c->hello)
			ws_close(c->ws, 1);
		else
			slack_conn_retire(c);
	}
	log_info("draining: %u outbound op(s) to finish", opq_len(sl->opq));
	slack_check_drained(sl);
}

static void
slack_stop(void *arg)
{
	struct slack		*sl = arg;
	struct slack_ack	*a;

	sl->draining = 1;
	slack_list_free(sl->users_list);
	slack_list_free(sl->dms_list);
	while (!TAILQ_EMPTY(&sl->calls))
		slack_call_free(TAILQ_FIRST(&sl->calls));
	opq_free(sl->opq);
	ws_free(sl->ws);	/* joins the service thread; no callbacks */
	while (!TAILQ_EMPTY(&sl->conns))
		slack_conn_free(TAILQ_FIRST(&sl->conns));
	while ((a = TAILQ_FIRST(&sl->acks)) != NULL) {
		TAILQ_REMOVE(&sl->acks, a, entry);
		free(a);
	}
	net_free(sl->net);
	if (sl->reconnect_ev != NULL)
		event_free(sl->reconnect_ev);
	if (sl->deadline_ev != NULL)
		event_free(sl->deadline_ev);
	json_decref(sl->config);
	json_decref(sl->access);
	json_decref(sl->bot_access);
	json_decref(sl->members);
	json_decref(sl->warned);
	free(sl->auth);
	free(sl->app_auth);
	free(sl);
}

const struct adapter_ops slack_adapter = {
	"slack",
	slack_start,
	slack_config_update,
	slack_outbound,
	slack_inbound_ack,
	NULL,
	slack_drain,
	slack_stop,
};
