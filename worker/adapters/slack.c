/*
 * slack: the Slack adapter (Socket Mode + the Web API), for one bot.
 *
 *   start     auth.test with the bot token (who we are) and, beside it,
 *             apps.connections.open with the app token; once we know who
 *             we are, the WebSocket to the URL it returned; READY after
 *             that socket's hello.
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
 * its prototypes are in worker/adapters/slack.h.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "common/backoff.h"
#include "common/jx.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "worker/access.h"
#include "worker/adapter.h"
#include "worker/adapters/slack.h"
#include "worker/call.h"
#include "worker/mrkdwn.h"
#include "worker/opq.h"
#include "worker/platform.h"
#include "worker/ws.h"

/* ------------------------------------------------------------ pure part */

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

/*
 * A ts in milliseconds, from its digits (no floating point); 0 for a ts
 * that is not one, or whose seconds have more than SLACK_TS_SEC_DIGITS
 * digits (no time Slack gives: its milliseconds would not fit).
 */
json_int_t
slack_ts_ms(const char *ts)
{
	json_int_t	ms = 0;
	int		i;

	if (!slack_valid_ts(ts) || strcspn(ts, ".") > SLACK_TS_SEC_DIGITS)
		return (0);
	for (; *ts != '.'; ts++)
		ms = ms * 10 + (*ts - '0');
	ts++;
	ms *= 1000;
	for (i = 100; i > 0 && isdigit((unsigned char)*ts); i /= 10, ts++)
		ms += (*ts - '0') * i;
	return (ms);
}

/* Length of <@UID> or <@UID|name> at p (arg is UID), or 0. */
static size_t
slack_mention_at(const char *text, const char *p, const void *arg)
{
	const char	*uid = arg, *q;
	size_t		 n = strlen(uid);

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
	return (platform_strip_mentions(text, slack_mention_at, user_id,
	    mentioned));
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
	f->event_id = jx_stre(payload, "event_id");
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
		return (util_err(err, errlen, "not JSON (%s)", jerr.text));
	if (!json_is_object(f->frame)) {
		slack_frame_clear(f);
		return (util_err(err, errlen, "not a JSON object"));
	}
	if ((env = jx_str(f->frame, "envelope_id")) != NULL &&
	    *env != '\0' && strlen(env) < sizeof(f->env_id))
		memcpy(f->env_id, env, strlen(env) + 1);
	if ((f->type = jx_str(f->frame, "type")) == NULL) {
		slack_frame_clear(f);
		return (util_err(err, errlen, "a frame without a type"));
	}
	if (strcmp(f->type, "hello") == 0) {
		f->kind = SLACK_F_HELLO;
		f->num_connections = json_integer_value(json_object_get(
		    f->frame, "num_connections"));
	} else if (strcmp(f->type, "disconnect") == 0) {
		f->kind = SLACK_F_DISCONNECT;
		f->reason = jx_stre(f->frame, "reason");
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
	const char	*type = jx_stre(ev, "type");
	const char	*sub = jx_str(ev, "subtype");
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
	if (*jx_stre(ev, "user") == '\0')
		return ("no user");
	if (strcmp(jx_stre(ev, "user"), me->user_id) == 0)
		return ("own message");
	return (NULL);
}

/*
 * The authority of an http(s) URL (host, and port when given): *scheme
 * is 1 for https, 0 for http.  -1 for anything else, for userinfo, and
 * for any byte a URL must not hold (spaces, controls, backslashes).
 */
static int
slack_url_host(const char *url, int *https, char *host, size_t hostlen,
    char *port, size_t portlen)
{
	const char	*p, *end, *colon;
	size_t		 i;

	if (url == NULL)
		return (-1);
	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f ||
		    url[i] == '\\')
			return (-1);
	if (strncasecmp(url, "https://", 8) == 0) {
		*https = 1;
		p = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		*https = 0;
		p = url + 7;
	} else
		return (-1);
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) != NULL || end == p)
		return (-1);
	colon = *p == '[' ? memchr(p, ']', (size_t)(end - p)) : p;
	if (colon == NULL)
		return (-1);
	colon = memchr(colon, ':', (size_t)(end - colon));
	if (colon == NULL)
		colon = end;
	if ((size_t)(colon - p) >= hostlen || (size_t)(end - colon) > portlen ||
	    colon == p)
		return (-1);
	for (i = 0; p + i < colon; i++)
		host[i] = (char)tolower((unsigned char)p[i]);
	host[i] = '\0';
	snprintf(port, portlen, "%.*s", (int)(end - colon), colon);
	return (0);
}

/*
 * May the bot's token (or a user's file) go to url?  Only to the Web
 * API's own host or one under it (files.slack.com under slack.com), on
 * the same port, over https when the API is.  Slack hands these URLs out
 * (url_private, upload_url), but a token never follows a URL blindly.
 */
int
slack_trusted_url(const char *api_url, const char *url)
{
	char	ah[256], h[256], ap[8], p[8];
	int	as, s;
	size_t	n, an;

	if (slack_url_host(api_url, &as, ah, sizeof(ah), ap, sizeof(ap)) == -1 ||
	    slack_url_host(url, &s, h, sizeof(h), p, sizeof(p)) == -1 ||
	    (as && !s) || strcmp(ap, p) != 0)
		return (0);
	n = strlen(h);
	an = strlen(ah);
	/* Under a name only, never under an address. */
	return (strcmp(h, ah) == 0 || (n > an + 1 && h[n - an - 1] == '.' &&
	    strcmp(h + n - an, ah) == 0 && strpbrk(ah, ":[") == NULL &&
	    strspn(ah, "0123456789.") != an));
}

/*
 * A message's files for INBOUND: [{id, name, size, mime, url}], at most
 * SLACK_FILES_MAX; url is url_private_download (else url_private) when
 * the event gives one we would send the token to (else "": the worker
 * asks files.info); size -1 when not said.  NULL when there are none.
 */
json_t *
slack_files(const json_t *ev, const char *api_url)
{
	const json_t	*files = json_object_get(ev, "files"), *f;
	const char	*id, *url;
	size_t		 i;
	json_t		*out;

	if (json_array_size(files) == 0 || (out = json_array()) == NULL)
		return (NULL);
	json_array_foreach(files, i, f) {
		if (json_array_size(out) == SLACK_FILES_MAX)
			break;
		if (!slack_valid_id(id = jx_str(f, "id")))
			continue;
		if ((url = jx_str(f, "url_private_download")) == NULL)
			url = jx_str(f, "url_private");
		if (url == NULL || strlen(url) > SLACK_URL_MAX ||
		    !slack_trusted_url(api_url, url))
			url = "";
		if (platform_file_add(out, id, jx_str(f, "name"),
		    SLACK_FILE_NAME_MAX, jx_int(f, "size", -1),
		    jx_str(f, "mimetype"), url) == -1) {
			json_decref(out);
			return (NULL);
		}
	}
	if (json_array_size(out) == 0) {
		json_decref(out);
		return (NULL);
	}
	return (out);
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
	t = strndup(d, utf8_cut_chars(d, strlen(d), SLACK_INBOUND_MAX));
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
	const char	*ch = jx_str(ev, "channel"), *ts = jx_str(ev, "ts");
	const char	*user, *thr = jx_str(ev, "thread_ts");
	char		 id[SLACK_ID_MAX + SLACK_TS_MAX + 2], *text;
	json_t		*files;
	int		 mentioned, app;

	*out = NULL;
	if (!json_is_object(ev) || jx_str(ev, "type") == NULL) {
		*why = "not an event";
		return (-1);
	}
	if ((*why = slack_filter(me, ev)) != NULL)
		return (0);
	if (!slack_valid_id(ch) || !slack_valid_ts(ts)) {
		*why = "no valid channel or ts";
		return (-1);
	}
	user = jx_str(ev, "user");
	app = strcmp(jx_stre(ev, "type"), "app_mention") == 0;
	if ((text = slack_text(jx_stre(ev, "text"), me->user_id,
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
	if (*out != NULL && (files = slack_files(ev, me->api_url)) != NULL &&
	    json_object_set_new(*out, "files", files) == -1) {
		json_decref(*out);
		*out = NULL;
	}
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
	const char	*root = jx_stre(op, "root"), *text = jx_str(op,
			    "text"), *rts = NULL;
	char		*md;

	if (*root != '\0' && (rts = slack_bare_ts(root)) == NULL)
		return (util_err(err, errlen, "post: bad root \"%.40s\"",
		    root));
	if (text == NULL)
		return (util_err(err, errlen, "post: no text"));
	if ((md = mrkdwn_from_markdown(text)) == NULL)
		return (util_err(err, errlen, "post: out of memory"));
	r->nchunks = mrkdwn_chunk(md, SLACK_TEXT_MAX, &r->chunks);
	free(md);
	if (r->nchunks == 0)
		return (util_err(err, errlen, "post: out of memory"));
	r->method = "chat.postMessage";
	r->body = json_pack("{s:s,s:s}", "channel", ch, "text", r->chunks[0]);
	if (r->body != NULL && rts != NULL && json_object_set_new(r->body,
	    "thread_ts", json_string(rts)) == -1)
		return (util_err(err, errlen, "post: out of memory"));
	return (0);
}

static int
slack_op_patch(const json_t *op, const char *ch, const char *ts,
    struct slack_req *r, char *err, size_t errlen)
{
	const char	*text = jx_str(op, "text");
	char		*md;
	size_t		 n;

	if (ts == NULL || text == NULL)
		return (util_err(err, errlen, "patch: bad post ts or no "
		    "text"));
	if ((md = mrkdwn_from_markdown(text)) == NULL)
		return (util_err(err, errlen, "patch: out of memory"));
	/* An edit cannot continue in another message: never cut it. */
	if ((n = utf8_count(md, strlen(md))) > SLACK_MSG_MAX) {
		free(md);
		return (util_err(err, errlen, "patch: a text of %zu characters "
		    "is over the %d chat.update carries", n, SLACK_MSG_MAX));
	}
	r->method = "chat.update";
	r->body = json_pack("{s:s,s:s,s:s}", "channel", ch, "ts", ts, "text",
	    md);
	free(md);
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
	const char	*name = jx_stre(op, "op"), *ch = jx_str(op, "channel");
	const char	*ts = slack_bare_ts(jx_str(op, "post"));
	char		 emoji[65];
	int		 rc = 0;

	memset(r, 0, sizeof(*r));
	if (strcmp(name, "typing") == 0)
		return (0);	/* Slack has no typing for bots */
	if (!slack_valid_id(ch))
		return (util_err(err, errlen, "%.16s: bad channel id", name));
	if (strcmp(name, "post") == 0)
		rc = slack_op_post(op, ch, r, err, errlen);
	else if (strcmp(name, "patch") == 0)
		rc = slack_op_patch(op, ch, ts, r, err, errlen);
	else if (strcmp(name, "delete") == 0) {
		if (ts == NULL)
			return (util_err(err, errlen, "delete: bad post ts"));
		r->method = "chat.delete";
		r->body = json_pack("{s:s,s:s}", "channel", ch, "ts", ts);
	} else if (strcmp(name, "react") == 0) {
		if (ts == NULL)
			return (util_err(err, errlen, "react: bad post ts"));
		if (slack_emoji(jx_stre(op, "emoji"), emoji,
		    sizeof(emoji)) == -1)
			return (util_err(err, errlen, "react: bad emoji "
			    "name"));
		r->method = "reactions.add";
		r->body = json_pack("{s:s,s:s,s:s}", "channel", ch,
		    "timestamp", ts, "name", emoji);
	} else
		return (util_err(err, errlen, "unknown op \"%.32s\"", name));
	if (rc == 0 && r->body == NULL)
		return (util_err(err, errlen, "%s: out of memory", name));
	return (rc);
}

/*
 * A file op, checked: "download" fetches file.id (from file.url when it
 * is one the token may go to, else the url files.info gives) into the
 * op's file, at most max bytes; "upload" sends the op's file (size
 * bytes, named name) with files.getUploadURLExternal, the upload, and
 * files.completeUploadExternal into channel, in the thread of root.
 */
int
slack_file_request(const json_t *op, const char *api_url,
    struct slack_file_req *r, char *err, size_t errlen)
{
	const char	*name = jx_stre(op, "op"), *root = jx_stre(op, "root");
	const json_t	*file = json_object_get(op, "file");

	memset(r, 0, sizeof(*r));
	r->channel = jx_str(op, "channel");
	r->text = jx_stre(op, "text");
	if (strcmp(name, "download") == 0) {
		if (!slack_valid_id(r->file_id = jx_str(file, "id")))
			return (util_err(err, errlen, "download: bad file id"));
		r->url = jx_stre(file, "url");
		if (*r->url != '\0' && !slack_trusted_url(api_url, r->url))
			return (util_err(err, errlen, "download: the file's URL "
			    "is not Slack's"));
		r->mime = jx_stre(file, "mime");
		if ((r->size = jx_int(op, "max", 0)) <= 0)
			return (util_err(err, errlen, "download: no size bound"));
		return (0);
	}
	if (strcmp(name, "upload") != 0)
		return (util_err(err, errlen, "unknown op \"%.32s\"", name));
	r->upload = 1;
	if (!slack_valid_id(r->channel))
		return (util_err(err, errlen, "upload: bad channel id"));
	if (*root != '\0' && (r->thread_ts = slack_bare_ts(root)) == NULL)
		return (util_err(err, errlen, "upload: bad root \"%.40s\"", root));
	r->name = jx_str(op, "name");
	if (r->name == NULL || *r->name == '\0' ||
	    strlen(r->name) > SLACK_FILE_NAME_MAX)
		return (util_err(err, errlen, "upload: no file name"));
	if ((r->size = jx_int(op, "size", -1)) < 0)
		return (util_err(err, errlen, "upload: no size"));
	return (0);
}

/*
 * files.getUploadURLExternal's answer: where the bytes go (a URL under
 * the API's host) and the file's id; -1 for anything else.
 */
int
slack_upload_target(const json_t *answer, const char *api_url,
    const char **url, const char **file_id)
{
	*url = jx_str(answer, "upload_url");
	*file_id = jx_str(answer, "file_id");
	if (*url == NULL || strlen(*url) > SLACK_URL_MAX ||
	    !slack_trusted_url(api_url, *url) || !slack_valid_id(*file_id))
		return (-1);
	return (0);
}

/* files.info's answer: the URL to fetch the file from, or NULL. */
const char *
slack_info_url(const json_t *answer, const char *api_url)
{
	const json_t	*f = json_object_get(answer, "file");
	const char	*url;

	if ((url = jx_str(f, "url_private_download")) == NULL)
		url = jx_str(f, "url_private");
	if (url == NULL || strlen(url) > SLACK_URL_MAX ||
	    !slack_trusted_url(api_url, url))
		return (NULL);
	return (url);
}

/*
 * files.completeUploadExternal's answer: the ts of the message that
 * shares the file in channel, else the file's id; NULL for none.
 */
const char *
slack_upload_post(const json_t *answer, const char *channel)
{
	const json_t	*f = json_array_get(json_object_get(answer, "files"), 0);
	const json_t	*sh = json_object_get(f, "shares");
	const char	*ts;

	ts = jx_str(json_array_get(json_object_get(json_object_get(sh,
	    "public"), channel), 0), "ts");
	if (ts == NULL)
		ts = jx_str(json_array_get(json_object_get(json_object_get(sh,
		    "private"), channel), 0), "ts");
	if (slack_valid_ts(ts))
		return (ts);
	return (slack_valid_id(jx_str(f, "id")) ? jx_str(f, "id") : NULL);
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
	    !slack_is_uid(jx_str(member, "id")))
		return (0);
	if (*handle == '@')
		handle++;
	if (*handle == '\0')
		return (0);
	if (strcasecmp(jx_stre(member, "name"), handle) == 0)
		return (2);
	dn = jx_str(json_object_get(member, "profile"), "display_name");
	rn = jx_str(member, "real_name");
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
	return (best != NULL ? jx_str(best, "id") : NULL);
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

int
slack_token_refused(const char *error)
{
	static const char *const refused[] = { "invalid_auth",
	    "token_revoked", "not_authed", "account_inactive",
	    "token_expired" };
	size_t	i;

	for (i = 0; error != NULL && i < nitems(refused); i++)
		if (strcmp(error, refused[i]) == 0)
			return (1);
	return (0);
}

/* Slack answers 200 {ok:false, error} for errors: "chat.update: x". */
enum call_verdict
slack_classify(struct call_result *r)
{
	const struct net_resp	*resp = r->resp;
	const char		*e;

	if (resp->status == 0) {
		snprintf(r->error, sizeof(r->error), "%s: %s", r->what,
		    resp->error != NULL ? resp->error : "no response");
		return (CALL_RETRY);
	}
	if (resp->bodylen > 0)
		r->json = json_loadb(resp->body, resp->bodylen, 0, NULL);
	e = jx_str(r->json, "error");
	if (resp->status < 200 || resp->status >= 300) {
		snprintf(r->error, sizeof(r->error), "%s: HTTP %ld%s%.200s",
		    r->what, resp->status, e != NULL ? " " : "",
		    e != NULL ? e : "");
		if (resp->status == 429)
			return (CALL_RETRY_AFTER);
		return (resp->status >= 500 ? CALL_RETRY : CALL_FAIL);
	}
	if (!json_is_object(r->json)) {
		snprintf(r->error, sizeof(r->error), "%s: the answer is not "
		    "JSON", r->what);
		return (CALL_FAIL);
	}
	if (json_is_true(json_object_get(r->json, "ok")))
		return (CALL_OK);
	snprintf(r->error, sizeof(r->error), "%s: %.200s", r->what,
	    e != NULL ? e : "not ok");
	r->token_refused = slack_token_refused(e);
	return (CALL_FAIL);
}

enum call_verdict
slack_classify_file(struct call_result *r)
{
	const struct net_resp	*resp = r->resp;

	if (resp->status == 0) {
		snprintf(r->error, sizeof(r->error), "%s: %s", r->what,
		    resp->error != NULL ? resp->error : "no response");
		return (CALL_RETRY);
	}
	if (resp->status >= 200 && resp->status < 300)
		return (CALL_OK);
	snprintf(r->error, sizeof(r->error), "%s: HTTP %ld", r->what,
	    resp->status);
	if (resp->status == 429)
		return (CALL_RETRY_AFTER);
	return (resp->status >= 500 ? CALL_RETRY : CALL_FAIL);
}

/* ------------------------------------------------------------ the adapter */

#define SLACK_TRIES		5	/* tries on 5xx and transport errors */
#define SLACK_OPS_MAX		10000
#define SLACK_ACKS_MAX		1024	/* envelopes awaiting sessiond's ack */
#define SLACK_RETIRE_MS		2500	/* under Slack's 3 s ack timeout */
#define SLACK_NAME_MAX		128
#define SLACK_LIST_LIMIT	200	/* items asked for per page */
#define SLACK_LIST_PAGES	50	/* pages read, at most */
#define SLACK_FIRST_OPEN_MS	5000	/* users.list may hold the start */
#define SLACK_FILE_TIMEOUT_MS	(10 * 60 * 1000)	/* one file's transfer */

struct slack;

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

/*
 * What an outbound op (worker/opq.c) runs: one call, a post's chunks, or
 * a file's calls.
 */
struct slack_opx {
	struct slack		*sl;
	struct call		*call;
	struct slack_req	 req;
	size_t			 next;		/* post: chunk being sent */
	char			 first_ts[SLACK_TS_MAX];
	struct slack_file_req	 file;
	char			*url;		/* download from, upload to */
	char			 file_id[SLACK_ID_MAX];	/* upload */
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
	struct call		*call;
	slack_list_cb		 cb;
};

struct slack {
	const struct adapter_events *ev;	/* what we report to */
	struct event_base	*base;
	struct call_set		*calls;		/* the Web API */
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
	struct call		*open_call;	/* apps.connections.open */
	char			*first_url;	/* one asked at start, for the first */
	int			 draining;
	struct platform_link	 link;		/* deadline, reconnects */
	TAILQ_HEAD(, slack_ack)	 acks;
	unsigned int		 nacks;
	/* outbound */
	struct opq		*opq;		/* outbound ops */
};

static void	slack_open(struct slack *);
static void	slack_check_drained(void *);
static void	slack_conn_retire(struct slack_conn *);

/* ------------------------------------------------------------ Web API */

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
 * for none), sent as JSON or (form) form-urlencoded, tried tries times
 * (worker/call.c, slack_classify() reading the answers).  cb runs later,
 * once, unless the call is cancelled.
 */
static struct call *
slack_api(struct slack *sl, const char *method, const char *auth,
    json_t *args, int form, int tries, call_cb cb, void *arg)
{
	const char	*hdrs[3] = { auth, NULL, NULL };
	char		*body = NULL, *url = NULL;
	struct call_req	 req;
	struct call	*c = NULL;
	int		 bad;

	hdrs[1] = args != NULL && !form ? "Content-Type: "
	    "application/json; charset=utf-8" :
	    "Content-Type: application/x-www-form-urlencoded";
	if (args != NULL)
		body = form ? slack_form(args) : json_dumps(args,
		    JSON_COMPACT);
	bad = args != NULL && body == NULL;
	json_decref(args);
	if (!bad && asprintf(&url, "%s%s", sl->api_url, method) != -1) {
		memset(&req, 0, sizeof(req));
		req.method = "POST";
		req.url = url;
		req.headers = hdrs;
		req.body = body;
		req.label = method;
		req.what = method;
		req.tries = tries;
		req.classify = slack_classify;
		c = call_new(sl->calls, &req, cb, arg);
		free(url);
	}
	free(body);
	return (c);
}

/* ------------------------------------------------------------ lists */

static void
slack_list_free(struct slack_list *l)
{
	if (l == NULL)
		return;
	call_cancel(l->call);
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
slack_list_page(const struct call_result *r, void *arg)
{
	struct slack_list	*l = arg;
	const json_t		*a = NULL, *it, *json = r->json;
	const char		*next, *err = r->ok ? NULL : r->error;
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
	next = jx_str(json_object_get(json, "response_metadata"),
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
	l->call = slack_api(l->sl, l->method, l->sl->auth,
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
		uid = jx_stre(msg, "userId");
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
	if (utf8_count(jx_stre(msg, "text"), strlen(jx_stre(msg, "text"))) ==
	    SLACK_INBOUND_MAX)
		log_warnx("inbound %s: the text may be cut to the %d "
		    "characters one message to sessiond carries",
		    jx_stre(msg, "id"), SLACK_INBOUND_MAX);
	log_debug("inbound %s (event %s%s) from %s in %s%s",
	    jx_stre(msg, "id"), f->event_id, f->retry_attempt > 0 ?
	    ", a retry" : "", uid, jx_stre(msg, "channel"),
	    json_is_true(json_object_get(msg, "mentionsBot")) ?
	    " (mention)" : "");
	if (ws_read_us(c->ws) != 0 && json_object_set_new(msg, "readUs",
	    json_integer((json_int_t)ws_read_us(c->ws))) == -1)
		log_debug("inbound %s: no room for its read time",
		    jx_stre(msg, "id"));
	if (f->env_id[0] != '\0')
		slack_ack_hold(sl, c, jx_stre(msg, "id"), f->env_id);
	else
		log_warnx("event %s came without an envelope_id", f->event_id);
	sl->ev->inbound(sl->ev->arg, msg);
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
			if (!slack_is_uid(jx_str(u, "id")) ||
			    json_is_true(json_object_get(u, "deleted")))
				continue;
			c = json_pack("{s:s,s:s?,s:s?,s:{s:s?}}", "id",
			    jx_str(u, "id"), "name", jx_str(u, "name"),
			    "real_name", jx_str(u, "real_name"), "profile",
			    "display_name", jx_str(json_object_get(u,
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
		log_debug("DM %.64s with %.64s", jx_stre(d, "id"),
		    jx_stre(d, "user"));
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
			(void)platform_arm(c->sl->ev, c->retire_ev,
			    SLACK_RETIRE_MS, "retire");
			return;
		}
	}
	if (c->unacked == 0) {
		platform_disarm(c->retire_ev, "retire");
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
	if (sl->draining || sl->open_call != NULL || slack_conn_live(sl) ||
	    evtimer_pending(sl->link.reconnect_ev, NULL))
		return;
	platform_link_retry(&sl->link, why);
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
		snprintf(sl->link.last_err, sizeof(sl->link.last_err), "out of memory");
		slack_reconnect_later(sl, sl->link.last_err);
		return;
	}
	c->sl = sl;
	c->serial = ++sl->serial;
	TAILQ_INSERT_TAIL(&sl->conns, c, entry);
	/* The URL holds a one-time ticket: not logged. */
	log_debug("connection %u: connecting", c->serial);
	if ((c->ws = ws_connect(sl->ws, url, hdrs, &slack_ws_cbs, c)) == NULL) {
		slack_conn_free(c);
		snprintf(sl->link.last_err, sizeof(sl->link.last_err), "cannot open a "
		    "WebSocket");
		slack_reconnect_later(sl, sl->link.last_err);
	}
}

static void
slack_opened(const struct call_result *r, void *arg)
{
	struct slack	*sl = arg;
	const json_t	*json = r->json;
	const char	*url = jx_str(json, "url");
	const char	*err = r->ok ? NULL : r->error;

	sl->open_call = NULL;
	if (sl->draining)
		return;
	if (err == NULL && (url == NULL || (strncasecmp(url, "ws://", 5) != 0 &&
	    strncasecmp(url, "wss://", 6) != 0)))
		err = "apps.connections.open: no ws:// or wss:// url";
	if (err != NULL) {
		snprintf(sl->link.last_err, sizeof(sl->link.last_err), "%.200s", err);
		/* A refused app token will not get better by retrying. */
		if (!sl->link.ready && json_is_object(json) &&
		    json_is_false(json_object_get(json, "ok"))) {
			platform_failed(sl->ev, "%s", err);
			return;
		}
		/* Asked at start: the first open asks again. */
		if (sl->started)
			slack_reconnect_later(sl, err);
		return;
	}
	/*
	 * Asked at start, beside auth.test: kept until we know who we are
	 * (no event is read before); without memory, the first open asks again.
	 */
	if (!sl->started) {
		free(sl->first_url);
		sl->first_url = strdup(url);
		return;
	}
	slack_connect(sl, url);
}

/*
 * Ask for a new connection (one request at a time); the first takes the
 * URL asked for at start, if it came.
 */
static void
slack_open(struct slack *sl)
{
	char	*url;

	if (sl->draining || sl->open_call != NULL)
		return;
	platform_disarm(sl->link.reconnect_ev, "reconnect");
	if ((url = sl->first_url) != NULL) {
		sl->first_url = NULL;
		slack_connect(sl, url);
		free(url);
		return;
	}
	sl->open_call = slack_api(sl, "apps.connections.open", sl->app_auth,
	    NULL, 0, SLACK_TRIES, slack_opened, sl);
	if (sl->open_call == NULL) {
		snprintf(sl->link.last_err, sizeof(sl->link.last_err), "out of memory");
		if (sl->started)	/* else the first open asks again */
			slack_reconnect_later(sl, sl->link.last_err);
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
	snprintf(sl->link.last_err, sizeof(sl->link.last_err), "%s", reason);
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
	int			 first;

	c->hello = 1;
	first = platform_link_up(&sl->link);
	log_info("connection %u: hello (%" PRId64 " connection(s) open)",
	    c->serial, (int64_t)f->num_connections);
	for (o = TAILQ_FIRST(&sl->conns); o != NULL; o = next) {
		next = TAILQ_NEXT(o, entry);
		if (o != c && !o->retiring)
			slack_conn_retire(o);
	}
	if (first) {
		sl->ev->ready(sl->ev->arg, sl->me_id, sl->me_name);
		slack_discover_dms(sl);
	}
}

static void
slack_disconnect(struct slack *sl, struct slack_conn *c, const char *reason)
{
	if (strcmp(reason, "link_disabled") == 0) {
		platform_failed(sl->ev, "Slack disabled Socket Mode for this app "
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
slack_auth_done(const struct call_result *r, void *arg)
{
	struct slack	*sl = arg;
	const char	*id = jx_str(r->json, "user_id");
	const char	*name = jx_str(r->json, "user");

	if (!r->ok) {
		platform_failed(sl->ev, "%s", r->error);
		return;
	}
	if (!slack_valid_id(id) || name == NULL ||
	    strlen(name) >= sizeof(sl->me_name)) {
		platform_failed(sl->ev, "auth.test did not say who the bot is");
		return;
	}
	snprintf(sl->me_id, sizeof(sl->me_id), "%s", id);
	snprintf(sl->me_name, sizeof(sl->me_name), "%s", name);
	log_info("authenticated as @%s (%s)", sl->me_name, sl->me_id);
	if (slack_resolve(sl))
		(void)platform_arm(sl->ev, sl->link.reconnect_ev,
		    (uint64_t)(sl->link.deadline_ms / 2 < SLACK_FIRST_OPEN_MS ?
		    sl->link.deadline_ms / 2 : SLACK_FIRST_OPEN_MS), "first open");
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
slack_op_done(const struct call_result *r, void *arg)
{
	struct opq_op		*op = arg;
	struct slack_opx	*x = op->data;
	struct slack		*sl = x->sl;
	struct adapter_answer	 a;
	const char		*ts = jx_str(r->json, "ts");
	const char		*err = r->ok ? NULL : r->error;
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
	memset(&a, 0, sizeof(a));
	a.ok = err == NULL;
	a.error = err;
	a.token_refused = err != NULL && r->token_refused;
	a.post = post && err == NULL ? x->first_ts : NULL;
	a.platform_us = r->resp != NULL ? r->resp->us : 0;
	opq_done(sl->opq, op, &a);
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
	x->sl = sl;
	x->call = slack_api(sl, x->req.method, sl->auth,
	    json_incref(x->req.body), 0, SLACK_TRIES, slack_op_done, op);
	return (x->call != NULL ? 0 : -1);
}

/* ---- files */

/*
 * A file's bytes to or from url (not the Web API: no JSON), with the bot
 * token (auth) or without; the body streams from src or into sink.
 */
static struct call *
slack_raw(struct slack *sl, const char *method, const char *url,
    const char *auth, const struct net_source *src,
    const struct net_sink *sink, const char *what, call_cb cb, void *arg)
{
	const char	*hdrs[3] = { NULL, NULL, NULL };
	struct call_req	 req;
	int		 i = 0;

	if (auth != NULL)
		hdrs[i++] = auth;
	if (src != NULL)
		hdrs[i] = "Content-Type: application/octet-stream";
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = hdrs;
	req.label = what;
	req.what = what;
	req.tries = SLACK_TRIES;
	req.classify = slack_classify_file;
	req.source = src;
	req.sink = sink;
	req.timeout_ms = SLACK_FILE_TIMEOUT_MS;
	return (call_new(sl->calls, &req, cb, arg));
}

static void
slack_file_done(struct opq_op *op, const char *err, int refused,
    const char *post)
{
	struct slack_opx	*x = op->data;
	struct adapter_answer	 a;

	x->call = NULL;
	memset(&a, 0, sizeof(a));
	a.ok = err == NULL;
	a.error = err;
	a.token_refused = err != NULL && refused;
	a.post = post;
	opq_done(x->sl->opq, op, &a);
}

/* The file came; a web page instead of it is Slack's login page. */
static void
slack_dl_fetched(const struct call_result *r, void *arg)
{
	struct opq_op		*op = arg;
	struct slack_opx	*x = op->data;

	if (!r->ok)
		slack_file_done(op, r->error, 0, NULL);
	else if (strncasecmp(r->resp->ctype, "text/html", 9) == 0 &&
	    strncasecmp(x->file.mime, "text/html", 9) != 0)
		slack_file_done(op, "download: Slack answered with a web page, "
		    "not the file (is files:read granted?)", 0, NULL);
	else
		slack_file_done(op, NULL, 0, NULL);
}

static int
slack_dl_fetch(struct opq_op *op)
{
	struct slack_opx	*x = op->data;
	struct net_sink		 sink;

	memset(&sink, 0, sizeof(sink));
	sink.fd = op->fd;
	sink.max = (uint64_t)x->file.size;
	x->call = slack_raw(x->sl, "GET", x->url, x->sl->auth, NULL, &sink,
	    "download", slack_dl_fetched, op);
	return (x->call != NULL ? 0 : -1);
}

/* files.info said where the file is (a file shared without its URL). */
static void
slack_dl_info(const struct call_result *r, void *arg)
{
	struct opq_op		*op = arg;
	struct slack_opx	*x = op->data;
	const char		*url;

	x->call = NULL;
	if (!r->ok) {
		slack_file_done(op, r->error, r->token_refused, NULL);
		return;
	}
	if ((url = slack_info_url(r->json, x->sl->api_url)) == NULL) {
		slack_file_done(op, "files.info: no URL the token may go to",
		    0, NULL);
		return;
	}
	if ((x->url = strdup(url)) == NULL || slack_dl_fetch(op) == -1)
		slack_file_done(op, "download: out of memory", 0, NULL);
}

static void
slack_up_completed(const struct call_result *r, void *arg)
{
	struct opq_op		*op = arg;
	struct slack_opx	*x = op->data;
	const char		*post;

	if (!r->ok)
		slack_file_done(op, r->error, r->token_refused, NULL);
	else if ((post = slack_upload_post(r->json, x->file.channel)) == NULL)
		slack_file_done(op, "files.completeUploadExternal: no file in "
		    "the answer", 0, NULL);
	else
		slack_file_done(op, NULL, 0, post);
}

/* The bytes are up: the file is shared into the channel (the thread). */
static void
slack_up_sent(const struct call_result *r, void *arg)
{
	struct opq_op		*op = arg;
	struct slack_opx	*x = op->data;
	json_t			*args, *list;
	char			*files = NULL, *md = NULL;

	x->call = NULL;
	if (!r->ok) {
		slack_file_done(op, r->error, 0, NULL);
		return;
	}
	if ((list = json_pack("[{s:s,s:s}]", "id", x->file_id, "title",
	    x->file.name)) != NULL)
		files = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	args = json_pack("{s:s,s:s}", "files", files != NULL ? files : "",
	    "channel_id", x->file.channel);
	if (args != NULL && x->file.thread_ts != NULL && json_object_set_new(
	    args, "thread_ts", json_string(x->file.thread_ts)) == -1)
		args = (json_decref(args), NULL);
	if (args != NULL && *x->file.text != '\0' && ((md =
	    mrkdwn_from_markdown(x->file.text)) == NULL || json_object_set_new(
	    args, "initial_comment", json_string(md)) == -1))
		args = (json_decref(args), NULL);
	free(md);
	free(files);
	if (files == NULL || args == NULL || (x->call = slack_api(x->sl,
	    "files.completeUploadExternal", x->sl->auth, args, 1, SLACK_TRIES,
	    slack_up_completed, op)) == NULL)
		slack_file_done(op, "upload: out of memory", 0, NULL);
}

/* Slack said where to put the bytes: they stream there from the file. */
static void
slack_up_target(const struct call_result *r, void *arg)
{
	struct opq_op		*op = arg;
	struct slack_opx	*x = op->data;
	struct net_source	 src;
	const char		*url, *id;

	x->call = NULL;
	if (!r->ok) {
		slack_file_done(op, r->error, r->token_refused, NULL);
		return;
	}
	if (slack_upload_target(r->json, x->sl->api_url, &url, &id) == -1) {
		slack_file_done(op, "files.getUploadURLExternal: no upload URL "
		    "under the API's host", 0, NULL);
		return;
	}
	snprintf(x->file_id, sizeof(x->file_id), "%s", id);
	memset(&src, 0, sizeof(src));
	src.fd = op->fd;
	src.size = (off_t)x->file.size;
	/* A pre-signed URL: the token does not go there. */
	if ((x->url = strdup(url)) == NULL || (x->call = slack_raw(x->sl,
	    "POST", x->url, NULL, &src, NULL, "upload", slack_up_sent,
	    op)) == NULL)
		slack_file_done(op, "upload: out of memory", 0, NULL);
}

static int
slack_file_start(struct slack *sl, struct opq_op *op, char *err,
    size_t errlen)
{
	struct slack_opx	*x = op->data;

	if (slack_file_request(op->body, sl->api_url, &x->file, err,
	    errlen) == -1)
		return (-1);
	if (op->fd == -1)
		return (util_err(err, errlen, "%s: no file", x->file.upload ?
		    "upload" : "download"));
	x->sl = sl;
	if (!x->file.upload && *x->file.url != '\0') {
		if ((x->url = strdup(x->file.url)) == NULL ||
		    slack_dl_fetch(op) == -1)
			return (util_err(err, errlen, "out of memory"));
		return (0);
	}
	if (!x->file.upload)
		x->call = slack_api(sl, "files.info", sl->auth, json_pack(
		    "{s:s}", "file", x->file.file_id), 1, SLACK_TRIES,
		    slack_dl_info, op);
	else
		x->call = slack_api(sl, "files.getUploadURLExternal", sl->auth,
		    json_pack("{s:s,s:I}", "filename", x->file.name, "length",
		    x->file.size), 1, SLACK_TRIES, slack_up_target, op);
	if (x->call == NULL)
		return (util_err(err, errlen, "out of memory"));
	return (0);
}

static int
slack_op_start(void *arg, struct opq_op *op, char *err, size_t errlen)
{
	struct slack		*sl = arg;
	struct slack_opx	*x = op->data;
	const char		*name = jx_stre(op->body, "op");

	if (strcmp(name, "download") == 0 || strcmp(name, "upload") == 0)
		return (slack_file_start(sl, op, err, errlen));
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
	struct slack_opx	*x = op->data;

	slack_req_clear(&x->req);
	free(x->url);
	x->url = NULL;
}

static const struct opq_cbs slack_opq_cbs = {
	.start = slack_op_start,
	.clear = slack_op_clear,
	.answered = slack_check_drained,
};

static void
slack_outbound(void *arg, const json_t *body, int fd)
{
	struct slack	*sl = arg;

	opq_push(sl->opq, body, fd);
}

/* ------------------------------------------------------------ lifecycle */

static void
slack_check_drained(void *arg)
{
	struct slack	*sl = arg;

	if (sl->draining && opq_len(sl->opq) == 0 && TAILQ_EMPTY(&sl->conns))
		sl->ev->drained(sl->ev->arg);
}

static int
slack_setup(struct slack *sl, struct event_base *base, const json_t *config)
{
	const char	*url = jx_str(config, "apiUrl");

	if (url == NULL || (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0) ||
	    strlen(url) >= sizeof(sl->api_url) || strpbrk(url, " \r\n") !=
	    NULL || url[strlen(url) - 1] != '/') {
		platform_failed(sl->ev, "bad Slack apiUrl \"%.200s\"",
		    url != NULL ? url : "");
		return (-1);
	}
	snprintf(sl->api_url, sizeof(sl->api_url), "%s", url);
	if (platform_auth_header(&sl->auth, jx_str(config, "token"),
	    "xoxb-") == -1 || platform_auth_header(&sl->app_auth,
	    jx_str(config, "appToken"), "xapp-") == -1) {
		platform_failed(sl->ev, "no usable token (an xoxb- bot token and an "
		    "xapp- app token)");
		return (-1);
	}
	snprintf(sl->key, sizeof(sl->key), "%s", jx_stre(config, "key"));
	sl->self.user_id = sl->me_id;
	sl->self.key = sl->key;
	sl->self.api_url = sl->api_url;
	if (platform_link_init(&sl->link, base, config, sl->ev, "socket mode",
	    "Socket Mode", slack_reconnect_cb, sl) == -1 ||
	    (sl->calls = call_set_new(base)) == NULL ||
	    (sl->ws = ws_new(base, strncasecmp(sl->api_url, "https:", 6) ==
	    0)) == NULL)
		return (-1);
	ws_set_gate(sl->ws, sl->ev->may_take, sl->ev->arg);
	return (0);
}

static void	slack_stop(void *);

static void *
slack_start(struct event_base *base, const json_t *config,
    const struct adapter_events *ev)
{
	struct slack	*sl;
	char		 red[16], red2[16];

	if ((sl = calloc(1, sizeof(*sl))) == NULL)
		return (NULL);
	sl->ev = ev;
	sl->base = base;
	sl->config = json_incref((json_t *)config);
	TAILQ_INIT(&sl->conns);
	TAILQ_INIT(&sl->acks);
	if ((sl->opq = opq_new(&slack_opq_cbs, sl, ev, sizeof(struct slack_opx),
	    SLACK_OPS_MAX)) == NULL || slack_setup(sl, base, config) == -1) {
		slack_stop(sl);
		return (NULL);
	}
	slack_access_apply(sl, 0);
	log_info("connecting to %s (token %s, app token %s)", sl->api_url,
	    log_redact(jx_str(config, "token"), red, sizeof(red)),
	    log_redact(jx_str(config, "appToken"), red2, sizeof(red2)));
	if (platform_link_start(&sl->link) == -1 || slack_api(sl, "auth.test", sl->auth, NULL, 0,
	    3, slack_auth_done, sl) == NULL) {
		slack_stop(sl);
		return (NULL);
	}
	slack_open(sl);		/* its URL waits for auth.test: a round trip less */
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
	platform_link_stop(&sl->link);
	slack_list_free(sl->users_list);
	slack_list_free(sl->dms_list);
	call_cancel(sl->open_call);
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
	call_set_free(sl->calls);
	opq_free(sl->opq);
	ws_free(sl->ws);	/* joins the service thread; no callbacks */
	while (!TAILQ_EMPTY(&sl->conns))
		slack_conn_free(TAILQ_FIRST(&sl->conns));
	while ((a = TAILQ_FIRST(&sl->acks)) != NULL) {
		TAILQ_REMOVE(&sl->acks, a, entry);
		free(a);
	}
	platform_link_free(&sl->link);
	json_decref(sl->config);
	json_decref(sl->access);
	json_decref(sl->bot_access);
	json_decref(sl->members);
	json_decref(sl->warned);
	free(sl->first_url);
	free(sl->auth);
	free(sl->app_auth);
	free(sl);
}

const struct adapter_ops slack_adapter = {
	"slack",
	SLACK_POST_MAX,
	slack_start,
	slack_config_update,
	slack_outbound,
	slack_inbound_ack,
	NULL,
	slack_drain,
	slack_stop,
};
