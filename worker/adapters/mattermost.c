/*
 * mattermost: the Mattermost adapter (API v4 REST + the WebSocket event
 * stream), for one bot.
 *
 *   start     GET /users/me (who we are) and, at the same time, the
 *             WebSocket with the token in the upgrade's Authorization
 *             header; READY once both answered (frames that come before
 *             we know who we are wait, in order, for it).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "common/backoff.h"
#include "common/jx.h"
#include "common/log.h"
#include "common/net.h"
#include "common/utf8.h"
#include "common/util.h"
#include "ipc/ipc.h"
#include "worker/access.h"
#include "worker/adapter.h"
#include "worker/adapters/mattermost.h"
#include "worker/call.h"
#include "worker/opq.h"
#include "worker/platform.h"
#include "worker/ws.h"

/* ------------------------------------------------------------ pure part */

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

/* The length of a mention of arg (a username) at p, or 0. */
static size_t
mm_mention_len(const char *text, const char *p, const void *arg)
{
	return (mm_mention_at(text, p, arg));
}

/*
 * text without its @username mentions (and a ':' or ',' right after one),
 * with the spaces around them folded and the ends trimmed.  The caller
 * frees it; NULL when out of memory.
 */
char *
mm_strip_mention(const char *text, const char *username)
{
	return (platform_strip_mentions(text, mm_mention_len, username, NULL));
}

/*
 * A copy of text cut to at most max_chars characters, on a character
 * boundary and out of a grapheme cluster (common/utf8.h).
 */
char *
mm_truncate(const char *text, size_t max_chars)
{
	return (strndup(text, utf8_cut_chars(text, strlen(text), max_chars)));
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

	if ((s = jx_str(data, "post")) == NULL)
		return (util_err(err, errlen, "posted without a data.post "
		    "string"));
	if ((ev->post = json_loads(s, 0, &jerr)) == NULL)
		return (util_err(err, errlen, "posted: data.post is not JSON "
		    "(%s)", jerr.text));
	if (!json_is_object(ev->post) || jx_str(ev->post, "id") == NULL ||
	    jx_str(ev->post, "channel_id") == NULL ||
	    jx_str(ev->post, "user_id") == NULL)
		return (util_err(err, errlen, "posted: data.post is not a post"));
	ev->channel_type = jx_stre(data, "channel_type");
	ev->sender_name = jx_stre(data, "sender_name");
	/* mentions is optional and only a hint: a bad one is ignored. */
	if ((s = jx_str(data, "mentions")) != NULL &&
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

	if ((s = jx_str(data, "reaction")) == NULL ||
	    (ev->post = json_loads(s, 0, NULL)) == NULL ||
	    !json_is_object(ev->post) || jx_str(ev->post, "user_id") == NULL ||
	    jx_str(ev->post, "post_id") == NULL ||
	    jx_str(ev->post, "emoji_name") == NULL)
		return (util_err(err, errlen, "reaction_added without a valid "
		    "data.reaction"));
	return (0);
}

static int
mm_parse_reply(struct mm_event *ev, const json_t *f, char *err, size_t errlen)
{
	const json_t	*v = json_object_get(f, "seq_reply");
	const char	*status = jx_str(f, "status");

	if (v != NULL && !json_is_integer(v))
		return (util_err(err, errlen, "seq_reply is not an integer"));
	if (v != NULL && (json_integer_value(v) < 0 ||
	    json_integer_value(v) > MM_SEQ_MAX))
		return (util_err(err, errlen, "seq_reply is out of range"));
	if (status == NULL)
		return (util_err(err, errlen, "a reply without a status"));
	ev->kind = MM_EV_REPLY;
	ev->seq_reply = v != NULL ? json_integer_value(v) : 0;
	ev->ok = strcmp(status, "OK") == 0;
	ev->error_id = jx_str(json_object_get(f, "error"), "id");
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
		return (util_err(err, errlen, "not JSON (%s)", jerr.text));
	if (!json_is_object(ev->frame))
		rc = util_err(err, errlen, "not a JSON object");
	else if ((ev->name = jx_str(ev->frame, "event")) == NULL)
		rc = mm_parse_reply(ev, ev->frame, err, errlen);
	else if (!json_is_integer(seq = json_object_get(ev->frame, "seq")) ||
	    json_integer_value(seq) < 0 || json_integer_value(seq) > MM_SEQ_MAX)
		rc = util_err(err, errlen, "%s event without a valid seq",
		    ev->name);
	else {
		ev->seq = json_integer_value(seq);
		data = json_object_get(ev->frame, "data");
		ev->kind = MM_EV_OTHER;
		if (strcmp(ev->name, "hello") == 0) {
			ev->kind = MM_EV_HELLO;
			if (!mm_valid_id(ev->conn_id = jx_str(data,
			    "connection_id")))
				rc = util_err(err, errlen, "hello without a "
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

/* Does name end with "." ext? */
static int
mm_has_ext(const char *name, const char *ext)
{
	size_t	n = strlen(name), e = strlen(ext);

	return (n > e && name[n - e - 1] == '.' && strcmp(name + n - e,
	    ext) == 0);
}

/*
 * A file's name as metadata.files gives it, cut to a length we pass on,
 * with its extension when the name lacks it; "file-<id>" without one.
 */
static void
mm_file_name(const json_t *info, const char *id, char *out, size_t len)
{
	const char	*name = jx_str(info, "name");
	const char	*ext = jx_stre(info, "extension");
	size_t		 n;

	if (name == NULL || *name == '\0') {
		snprintf(out, len, "file-%s", id);
		return;
	}
	n = utf8_cut_bytes(name, strlen(name), len - 1);
	memcpy(out, name, n);
	out[n] = '\0';
	if (*ext != '\0' && strlen(ext) < 16 && !mm_has_ext(out, ext) &&
	    n + 1 + strlen(ext) < len)
		snprintf(out + n, len - n, ".%s", ext);
}

/*
 * A post's files for INBOUND: [{id, name, size, mime}] from file_ids, with
 * what metadata.files says of each (a name without its extension gets it,
 * as upstream does; size -1 when not said), at most MM_FILES_MAX; NULL
 * when it has none (or out of memory, logged by the caller as a post
 * without files).
 */
json_t *
mm_files(const json_t *post)
{
	const json_t	*ids = json_object_get(post, "file_ids"), *v, *m, *info;
	const json_t	*meta = json_object_get(json_object_get(post,
			    "metadata"), "files");
	const char	*id;
	char		 nm[MM_FILE_NAME_MAX + 1];
	size_t		 i, k;
	json_t		*out;

	if (json_array_size(ids) == 0 || (out = json_array()) == NULL)
		return (NULL);
	json_array_foreach(ids, i, v) {
		if (json_array_size(out) == MM_FILES_MAX)
			break;
		if (!mm_valid_id(id = json_string_value(v)))
			continue;
		info = NULL;
		json_array_foreach(meta, k, m)
			if (json_is_object(m) && strcmp(jx_stre(m, "id"), id) == 0) {
				info = m;
				break;
			}
		mm_file_name(info, id, nm, sizeof(nm));
		if (platform_file_add(out, id, nm, MM_FILE_NAME_MAX,
		    jx_int(info, "size", -1), jx_str(info, "mime_type"),
		    NULL) == -1) {
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
	const char	*id = jx_str(post, "id"), *ch = jx_str(post, "channel_id");
	const char	*uid = jx_str(post, "user_id"), *msg;
	char		*stripped, *text;
	json_t		*files;
	int		 dm, mention;

	*out = NULL;
	if (id == NULL || ch == NULL || uid == NULL || *id == '\0' ||
	    *ch == '\0') {
		*why = "not a post (id, channel_id, user_id)";
		return (-1);
	}
	*why = strcmp(uid, me->id) == 0 ? "own post" :
	    *jx_stre(post, "type") != '\0' ? "system post" :
	    json_integer_value(json_object_get(post, "delete_at")) != 0 ?
	    "deleted post" : NULL;
	if (*why != NULL)
		return (0);
	msg = jx_stre(post, "message");
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
		    jx_stre(post, "root_id"), "isDM", dm, "mentionsBot",
		    mention, "createAt",
		    json_integer_value(json_object_get(post, "create_at")));
	free(text);
	if (*out != NULL && (files = mm_files(post)) != NULL &&
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

/*
 * A post's message: never cut (sessiond splits long text by the post_max
 * the worker's READY gave it), so text over MM_POST_MAX characters is an
 * op that cannot be made.
 */
static json_t *
mm_message_json(const char *name, const char *text, char *err, size_t errlen)
{
	size_t	n = utf8_count(text, strlen(text));
	json_t	*j;

	if (n > MM_POST_MAX) {
		(void)util_err(err, errlen, "%s: a text of %zu characters is "
		    "over the %d a post carries", name, n, MM_POST_MAX);
		return (NULL);
	}
	if ((j = json_string(text)) == NULL)
		(void)util_err(err, errlen, "%s: out of memory (or not UTF-8)",
		    name);
	return (j);
}

static int
mm_op_post(const json_t *op, char *path, size_t pathlen, json_t **body,
    char *err, size_t errlen)
{
	const char	*ch = jx_str(op, "channel"), *root = jx_stre(op, "root");
	const char	*text = jx_str(op, "text");
	json_t		*msg;

	if (!mm_valid_id(ch))
		return (util_err(err, errlen, "post: bad channel id"));
	if (*root != '\0' && !mm_valid_id(root))
		return (util_err(err, errlen, "post: bad root id"));
	if (text == NULL)
		return (util_err(err, errlen, "post: no text"));
	if ((msg = mm_message_json("post", text, err, errlen)) == NULL)
		return (-1);
	snprintf(path, pathlen, "/posts");
	*body = json_pack("{s:s,s:o,s:s}", "channel_id", ch, "message", msg,
	    "root_id", root);
	return (0);
}

static int
mm_op_react(const json_t *op, const char *bot_id, char *path, size_t pathlen,
    json_t **body, char *err, size_t errlen)
{
	const char	*post = jx_str(op, "post"), *e = jx_stre(op, "emoji");
	char		 emoji[65];
	size_t		 n, i;

	if (!mm_valid_id(post))
		return (util_err(err, errlen, "react: bad post id"));
	if (*e == ':')
		e++;
	n = strcspn(e, ":");
	if (n == 0 || n >= sizeof(emoji) || (e[n] == ':' && e[n + 1] != '\0'))
		return (util_err(err, errlen, "react: bad emoji name"));
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)e[i]) ||
		    isdigit((unsigned char)e[i]) || strchr("_+-", e[i]) != NULL))
			return (util_err(err, errlen, "react: bad emoji name"));
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
	const char	*name = jx_stre(op, "op"), *post = jx_str(op, "post");
	const char	*ch = jx_str(op, "channel"), *text = jx_str(op, "text");
	json_t		*msg;
	int		 rc = 0;

	*body = NULL;
	snprintf(method, methodlen, "POST");
	if (strcmp(name, "post") == 0)
		rc = mm_op_post(op, path, pathlen, body, err, errlen);
	else if (strcmp(name, "patch") == 0) {
		if (!mm_valid_id(post) || text == NULL)
			return (util_err(err, errlen, "patch: bad post id or no "
			    "text"));
		if ((msg = mm_message_json("patch", text, err, errlen)) ==
		    NULL)
			return (-1);
		snprintf(method, methodlen, "PUT");
		snprintf(path, pathlen, "/posts/%s/patch", post);
		*body = json_pack("{s:o}", "message", msg);
	} else if (strcmp(name, "delete") == 0) {
		if (!mm_valid_id(post))
			return (util_err(err, errlen, "delete: bad post id"));
		snprintf(method, methodlen, "DELETE");
		snprintf(path, pathlen, "/posts/%s", post);
		return (0);
	} else if (strcmp(name, "typing") == 0) {
		if (!mm_valid_id(ch) || !mm_valid_id(bot_id))
			return (util_err(err, errlen, "typing: bad channel id"));
		snprintf(path, pathlen, "/users/%s/typing", bot_id);
		*body = json_pack("{s:s,s:s}", "channel_id", ch, "parent_id",
		    mm_valid_id(jx_str(op, "root")) ? jx_str(op, "root") : "");
	} else if (strcmp(name, "react") == 0)
		rc = mm_op_react(op, bot_id, path, pathlen, body, err, errlen);
	else
		return (util_err(err, errlen, "unknown op \"%.32s\"", name));
	if (rc == 0 && *body == NULL)
		return (util_err(err, errlen, "%s: out of memory", name));
	return (rc);
}

/*
 * A file op's REST call, checked (ids before they go into a URL):
 * "download" GETs /files/{file.id} into the op's file, at most max bytes;
 * "upload" POSTs the op's file (size bytes, named name) to /files as a
 * multipart form with channel_id, then posts it with text in the thread
 * of root.  -1 with err for an op that cannot be made.
 */
int
mm_file_request(const json_t *op, struct mm_file_req *r, char *err,
    size_t errlen)
{
	const char	*name = jx_stre(op, "op"), *id;
	json_int_t	 n;

	memset(r, 0, sizeof(*r));
	r->channel = jx_str(op, "channel");
	r->root = jx_stre(op, "root");
	r->name = jx_str(op, "name");
	r->text = jx_stre(op, "text");
	if (strcmp(name, "download") == 0) {
		id = jx_str(json_object_get(op, "file"), "id");
		if (!mm_valid_id(id))
			return (util_err(err, errlen, "download: bad file id"));
		if ((n = jx_int(op, "max", 0)) <= 0)
			return (util_err(err, errlen, "download: no size bound"));
		snprintf(r->path, sizeof(r->path), "/files/%s", id);
		r->size = n;
		return (0);
	}
	if (strcmp(name, "upload") != 0)
		return (util_err(err, errlen, "unknown op \"%.32s\"", name));
	r->upload = 1;
	if (!mm_valid_id(r->channel))
		return (util_err(err, errlen, "upload: bad channel id"));
	if (*r->root != '\0' && !mm_valid_id(r->root))
		return (util_err(err, errlen, "upload: bad root id"));
	if (r->name == NULL || *r->name == '\0' ||
	    strlen(r->name) > MM_FILE_NAME_MAX)
		return (util_err(err, errlen, "upload: no file name"));
	if ((n = jx_int(op, "size", -1)) < 0)
		return (util_err(err, errlen, "upload: no size"));
	if (utf8_count(r->text, strlen(r->text)) > MM_POST_MAX)
		return (util_err(err, errlen, "upload: a text of more than "
		    "%d characters", MM_POST_MAX));
	snprintf(r->path, sizeof(r->path), "/files");
	r->size = n;
	return (0);
}

/* FNV-1a of id, as a bucket of the seen ring. */
static size_t
mm_seen_bucket(const char *id)
{
	uint32_t	h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return (h % MM_SEEN_BUCKETS);
}

int
mm_seen_has(const struct mm_seen *s, const char *id)
{
	unsigned int	k;

	for (k = s->head[mm_seen_bucket(id)]; k != 0; k = s->chain[k - 1])
		if (strcmp(s->ids[k - 1], id) == 0)
			return (1);
	return (0);
}

/* Remember id; the oldest is forgotten once MM_SEEN_MAX are kept. */
void
mm_seen_add(struct mm_seen *s, const char *id)
{
	uint16_t	*p, slot = (uint16_t)s->next;
	size_t		 b;

	if (mm_seen_has(s, id))
		return;
	if (s->n == MM_SEEN_MAX) {
		/* Unlink the oldest from its chain; it is always there. */
		for (p = &s->head[mm_seen_bucket(s->ids[slot])];
		    *p != slot + 1; p = &s->chain[*p - 1])
			;
		*p = s->chain[slot];
	}
	snprintf(s->ids[slot], sizeof(s->ids[0]), "%s", id);
	b = mm_seen_bucket(s->ids[slot]);
	s->chain[slot] = s->head[b];
	s->head[b] = slot + 1;
	s->next = (s->next + 1) % MM_SEEN_MAX;
	if (s->n < MM_SEEN_MAX)
		s->n++;
}

/*
 * What a REST answer means: 2xx is done; a 429 waits its Retry-After; 5xx
 * and transport errors pass; any other status fails, a 401 because the
 * server refused the token.  The error reads "404 from /posts/x/patch:
 * Unable to get the post." (the server's message, or the start of the
 * body).
 */
enum call_verdict
mm_classify(struct call_result *r)
{
	const struct net_resp	*resp = r->resp;
	const char		*msg;
	char			 snip[96];
	size_t			 i;

	if (resp->status == 0) {
		snprintf(r->error, sizeof(r->error), "%s: %s", r->label,
		    resp->error != NULL ? resp->error : "no response");
		return (CALL_RETRY);
	}
	if (strncasecmp(resp->ctype, "application/json", 16) == 0 &&
	    resp->bodylen > 0)
		r->json = json_loadb(resp->body, resp->bodylen, 0, NULL);
	if (resp->status >= 200 && resp->status < 300)
		return (CALL_OK);
	if ((msg = jx_str(r->json, "message")) == NULL) {
		for (i = 0; i < sizeof(snip) - 1 && i < resp->bodylen &&
		    resp->body[i] != '\n'; i++)
			snip[i] = isprint((unsigned char)resp->body[i]) ?
			    resp->body[i] : '?';
		snip[i] = '\0';
		msg = i > 0 ? snip : "no message";
	}
	snprintf(r->error, sizeof(r->error), "%ld from %s: %s", resp->status,
	    r->what, msg);
	r->token_refused = resp->status == 401;
	if (resp->status == 429)
		return (CALL_RETRY_AFTER);
	return (resp->status >= 500 ? CALL_RETRY : CALL_FAIL);
}

/* ------------------------------------------------------------ the adapter */

#define MM_PING_MS		30000	/* as @mattermost/client */
#define MM_PING_ENV		"COPILOT_BRIDGE_TEST_PING_MS"	/* tests only */
#define MM_TRIES		5	/* tries on 5xx and transport errors */
#define MM_CATCHUP_WINDOW_MS	(60 * 60 * 1000)
#define MM_CATCHUP_MARGIN_MS	IPC_CATCHUP_MARGIN_MS	/* skew, late delivery */
#define MM_CHANNELS_MAX		512
#define MM_USERS_MAX		256
#define MM_OPS_MAX		10000
#define MM_NAME_MAX		72
#define MM_FILE_TIMEOUT_MS	(10 * 60 * 1000)	/* one file's transfer */

struct mm;

/* A channel we saw a post in (for catch-up) or were configured with. */
struct mm_ch {
	TAILQ_ENTRY(mm_ch)	 entry;		/* most recent first */
	char			 id[MM_ID_LEN + 1];
	char			 type;		/* O P D G, '?' unknown, 0 unasked */
	uint64_t		 active_ms;	/* monotonic; 0 = no post seen */
	json_int_t		 cursor;	/* sessiond's, for the next catch-up */
};

struct mm_user {
	char			 id[MM_ID_LEN + 1];
	char			 name[MM_NAME_MAX];
};

/* What an outbound op (worker/opq.c) runs: one REST call, or an upload's two. */
struct mm_opx {
	struct mm		*mm;
	struct call		*call;
	struct mm_file_req	 file;
	const char		*fields[3];	/* the upload form's channel_id */
};

/* A REST catch-up, one channel after the other, each from its own time. */
struct mm_cu_ch {
	char			 id[MM_ID_LEN + 1];
	json_int_t		 since;
};

struct mm_cu {
	struct mm_cu_ch		*chans;
	size_t			 n, i, cap;
	json_int_t		 since;		/* of a channel without its own */
	json_t			*backlog;	/* posts to send, oldest first */
	struct call		*call;
	unsigned int		 sent;
};

struct mm {
	const struct adapter_events *ev;	/* what we report to */
	struct call_set		*calls;		/* REST */
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
	int			 open, confirmed, draining;
	int			 ping_ms;
	struct event		*ping_ev;
	struct platform_link	 link;		/* deadline, reconnects */
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
	/* Frames read before /users/me answered, in order (start only). */
	STAILQ_HEAD(mm_held_q, mm_held) held;
	size_t			 nheld;
	uint64_t		 read_us;	/* the frame being handled, or 0 */
	/* outbound */
	struct opq		*opq;		/* outbound ops */
};

struct mm_held {
	STAILQ_ENTRY(mm_held)	 entry;
	uint64_t		 read_us;
	size_t			 len;
	char			 text[];
};
#define MM_HELD_MAX	256	/* frames; more and the socket is reopened */

static void	mm_connect(struct mm *);
static void	mm_held_clear(struct mm *);
static void	mm_catchup_cursors(struct mm *);
static void	mm_catchup_start(struct mm *);
static void	mm_check_drained(void *);
static void	mm_cu_next(struct mm *);
static void	mm_cu_listed(struct mm *);
static void	mm_cu_list_done(const struct call_result *, void *);

static json_int_t
mm_wall_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return (0);
	return ((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* ------------------------------------------------------------ REST */

/*
 * Call method path (under /api/v4) with body (taken; NULL for none), tried
 * tries times (worker/call.c, mm_classify() reading the answers).  cb runs
 * later, once, unless the call is cancelled; never from in here.
 */
static struct call *
mm_rest_file(struct mm *mm, const char *method, const char *path, json_t *body,
    int tries, const struct net_source *src, const struct net_sink *sink,
    call_cb cb, void *arg)
{
	const char	*hdrs[3] = { mm->auth, NULL, NULL };
	char		*text = NULL, *url = NULL, label[224];
	struct call_req	 req;
	struct call	*c = NULL;
	int		 bad;

	if (body != NULL) {
		hdrs[1] = "Content-Type: application/json";
		text = json_dumps(body, JSON_COMPACT);
	}
	bad = body != NULL && text == NULL;
	json_decref(body);
	snprintf(label, sizeof(label), "%s %s", method, path);
	if (!bad && asprintf(&url, "%s/api/v4%s", mm->base_url, path) != -1) {
		memset(&req, 0, sizeof(req));
		req.method = method;
		req.url = url;
		req.headers = hdrs;
		req.body = text;
		req.label = label;
		req.what = path;
		req.tries = tries;
		req.classify = mm_classify;
		req.source = src;
		req.sink = sink;
		if (src != NULL || sink != NULL)
			req.timeout_ms = MM_FILE_TIMEOUT_MS;
		c = call_new(mm->calls, &req, cb, arg);
		free(url);
	}
	free(text);
	return (c);
}

static struct call *
mm_rest(struct mm *mm, const char *method, const char *path, json_t *body,
    int tries, call_cb cb, void *arg)
{
	return (mm_rest_file(mm, method, path, body, tries, NULL, NULL, cb,
	    arg));
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
	const char	*id = jx_stre(post, "id"), *why, *user, *uid;
	json_t		*msg;
	size_t		 n;
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
	if ((n = utf8_count(jx_stre(post, "message"),
	    strlen(jx_stre(post, "message")))) > MM_POST_MAX)
		log_warnx("inbound %s: a text of %zu characters is cut to the "
		    "%d of a post", id, n, MM_POST_MAX);
	user = jx_stre(msg, "user");
	uid = jx_stre(msg, "userId");
	/* A webhook may post under any name: only its user id counts. */
	hook = strcmp(jx_stre(json_object_get(post, "props"), "from_webhook"),
	    "true") == 0;
	if (!access_allowed(json_object_get(mm->config, "access"),
	    json_object_get(mm->config, "botAccess"), uid, hook ? NULL : user)) {
		log_debug("drop %s: @%s (%s) may not use this bot", id, user,
		    uid);
		json_decref(msg);
		return;
	}
	if (mm->read_us != 0 && json_object_set_new(msg, "readUs",
	    json_integer((json_int_t)mm->read_us)) == -1)
		log_debug("inbound %s: no room for its read time", id);
	log_debug("inbound %s from @%s in %s%s%s", id, user,
	    jx_stre(msg, "channel"), json_is_true(json_object_get(msg,
	    "isDM")) ? " (DM)" : "", json_is_true(json_object_get(msg,
	    "mentionsBot")) ? " (mention)" : "");
	mm->ev->inbound(mm->ev->arg, msg);
}

static void
mm_posted(struct mm *mm, const struct mm_event *ev)
{
	json_int_t	t = json_integer_value(json_object_get(ev->post,
			    "create_at"));

	if (t > mm->server_ms)
		mm->server_ms = t;
	mm_channel_active(mm, jx_stre(ev->post, "channel_id"),
	    ev->channel_type);
	mm_user_learn(mm, jx_stre(ev->post, "user_id"), ev->sender_name);
	mm_dispatch(mm, ev->post, ev->channel_type, ev->sender_name,
	    ev->mentions);
}

/*
 * A reaction by someone allowed to use the bot: sessiond reads thumbs up
 * and down as answers to a pending permission prompt (docs/commands.md).
 */
static void
mm_reacted(struct mm *mm, const struct mm_event *ev)
{
	const json_t	*r = ev->post;
	const char	*uid = jx_stre(r, "user_id"), *post = jx_stre(r, "post_id");
	const char	*emoji = jx_stre(r, "emoji_name"), *user;
	const char	*ch = jx_stre(json_object_get(ev->frame, "broadcast"),
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
	mm->ev->inbound(mm->ev->arg, msg);
}

/* ------------------------------------------------------------ catch-up */

/*
 * A new generation starts from sessiond's cursors: every channel of the
 * bot that saw a message in the last hour is read from its own newest
 * message on (less the margin), so what was posted while no worker was
 * connected is not lost; the configured channels without a cursor from
 * the oldest cursor.  sessiond drops what it has already seen.
 */
static void
mm_catchup_cursors(struct mm *mm)
{
	const char	*id;
	json_t		*v;
	json_int_t	 from = 0;
	struct mm_ch	*ch;

	if (mm->cursors == NULL || !mm->link.ready)
		return;
	json_object_foreach(mm->cursors, id, v) {
		/* A time before 1970 is no cursor (and would underflow). */
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    !mm_valid_id(id))
			continue;
		mm_channel_active(mm, id, "");
		if ((ch = mm_channel(mm, id, 0)) != NULL)
			ch->cursor = json_integer_value(v);
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
	call_cancel(cu->call);
	json_decref(cu->backlog);
	free(cu->chans);
	free(cu);
	mm->cu = NULL;
}

/* Add channel id to the catch-up, once; -1: out of memory. */
static int
mm_cu_add(struct mm_cu *cu, const char *id, json_int_t since)
{
	struct mm_cu_ch	*more;
	size_t		 i, cap;

	if (!mm_valid_id(id))
		return (0);
	for (i = 0; i < cu->n; i++)
		if (strcmp(cu->chans[i].id, id) == 0)
			return (0);
	if (cu->n == cu->cap) {
		cap = cu->cap > 0 ? cu->cap * 2 : 16;
		if ((more = reallocarray(cu->chans, cap, sizeof(*more))) == NULL)
			return (-1);
		cu->chans = more;
		cu->cap = cap;
	}
	memcpy(cu->chans[cu->n].id, id, MM_ID_LEN + 1);
	cu->chans[cu->n++].since = since;
	return (0);
}

/*
 * A hello with a new connection id: what happened while we were away is
 * not coming.  Fetch posts since just before the last server time we saw,
 * for channels active in the last hour, this bot's configured ones, and
 * any other of its channels the server says had a post since then (a DM
 * never written in before); a channel sessiond gave a cursor for since
 * just before that cursor.
 */
static void
mm_catchup_start(struct mm *mm)
{
	const json_t	*chans = json_object_get(mm->config, "channels"), *c;
	struct mm_cu	*cu;
	struct mm_ch	*ch;
	uint64_t	 now = util_now_ms();
	int		 bad = 0;
	size_t		 i;

	if (mm->cu != NULL) {
		mm->cu_again = 1;	/* after this one, from the new point */
		return;
	}
	if ((cu = calloc(1, sizeof(*cu))) == NULL) {
		log_warnx("catch-up: out of memory; missed posts are lost");
		return;
	}
	cu->since = (mm->cu_from > 0 ? mm->cu_from : mm->server_ms > 0 ?
	    mm->server_ms : mm->down_ms > 0 ? mm->down_ms : mm_wall_ms()) -
	    MM_CATCHUP_MARGIN_MS;
	mm->cu_from = 0;
	TAILQ_FOREACH(ch, &mm->chans, entry) {
		if (ch->active_ms != 0 &&
		    now - ch->active_ms <= MM_CATCHUP_WINDOW_MS)
			bad |= mm_cu_add(cu, ch->id, ch->cursor > 0 ?
			    ch->cursor - MM_CATCHUP_MARGIN_MS : cu->since);
		ch->cursor = 0;
	}
	json_array_foreach(chans, i, c)
		bad |= mm_cu_add(cu, jx_stre(c, "id"), cu->since);
	if (bad) {
		free(cu->chans);
		free(cu);
		log_warnx("catch-up: out of memory; missed posts are lost");
		return;
	}
	mm->cu = cu;
	if ((cu->call = mm_rest(mm, "GET", "/users/me/channels", NULL,
	    MM_TRIES, mm_cu_list_done, mm)) == NULL)
		mm_cu_listed(mm);
}

/* The catch-up's list is complete: read its channels one by one. */
static void
mm_cu_listed(struct mm *mm)
{
	log_info("catch-up: %zu channel(s), posts since %" PRId64, mm->cu->n,
	    (int64_t)mm->cu->since);
	mm_cu_next(mm);
}

/*
 * The bot's channels, across its teams: those with a post since the
 * catch-up's point join it, with their type (one request less each).
 * Without the list, the channels known already are still read.
 */
static void
mm_cu_list_done(const struct call_result *r, void *arg)
{
	struct mm	*mm = arg;
	struct mm_cu	*cu = mm->cu;
	struct mm_ch	*ch;
	const json_t	*c;
	const char	*id, *t;
	size_t		 i;

	cu->call = NULL;
	if (!r->ok)
		log_warnx("catch-up: cannot list the bot's channels: %s",
		    r->error);
	json_array_foreach(r->json, i, c) {
		id = jx_stre(c, "id");
		if (json_integer_value(json_object_get(c, "last_post_at")) <
		    cu->since || !mm_valid_id(id))
			continue;
		if (mm_cu_add(cu, id, cu->since) == -1) {
			log_warnx("catch-up: out of memory; channel %s is not "
			    "read", id);
			break;
		}
		t = jx_stre(c, "type");
		if ((ch = mm_channel(mm, id, 1)) != NULL && ch->type == 0 &&
		    strchr("OPDG", t[0]) != NULL && t[0] != '\0')
			ch->type = t[0];
	}
	mm_cu_listed(mm);
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
	struct mm_ch	*ch = mm_channel(mm, cu->chans[cu->i].id, 0);
	char		 type[2] = { ch != NULL ? ch->type : 0, '\0' };
	const char	*name;
	json_t		*p, *me;
	size_t		 i;

	/* A DM is addressed to the bot, as data.mentions would say. */
	me = json_pack("[s]", mm->me_id);
	json_array_foreach(cu->backlog, i, p) {
		name = mm_user_name(mm, jx_stre(p, "user_id"));
		if (!mm_seen_has(&mm->seen, jx_stre(p, "id")))
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
mm_cu_users_done(const struct call_result *r, void *arg)
{
	struct mm	*mm = arg;
	json_t		*u;
	size_t		 i;

	mm->cu->call = NULL;
	if (!r->ok)
		log_warnx("catch-up: %s", r->error);
	json_array_foreach(r->json, i, u)
		mm_user_learn(mm, jx_stre(u, "id"), jx_stre(u, "username"));
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
		uid = jx_stre(p, "user_id");
		if (!json_is_object(p) ||
		    mm_seen_has(&mm->seen, jx_stre(p, "id")) ||
		    json_integer_value(json_object_get(p, "create_at")) <
		    mm->cu->chans[mm->cu->i].since || strcmp(uid, mm->me_id) == 0 ||
		    *jx_stre(p, "type") != '\0' ||
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
mm_cu_posts_done(const struct call_result *r, void *arg)
{
	struct mm	*mm = arg;
	struct mm_cu	*cu = mm->cu;
	json_t		*who;

	cu->call = NULL;
	if (!r->ok) {
		log_warnx("catch-up of %s: %s", cu->chans[cu->i].id, r->error);
		cu->i++;
		mm_cu_next(mm);
		return;
	}
	if ((cu->backlog = json_array()) == NULL || (who = json_array()) == NULL) {
		log_warnx("catch-up of %s: out of memory", cu->chans[cu->i].id);
		cu->i++;
		mm_cu_next(mm);
		return;
	}
	mm_cu_pick(mm, r->json, cu->backlog, who);
	if (json_array_size(who) == 0) {
		json_decref(who);
		mm_cu_emit(mm);
		return;
	}
	if ((cu->call = mm_rest(mm, "POST", "/users/ids", who, MM_TRIES,
	    mm_cu_users_done, mm)) == NULL)
		mm_cu_emit(mm);
}

static void
mm_cu_posts(struct mm *mm)
{
	struct mm_cu	*cu = mm->cu;
	char		 path[128];

	snprintf(path, sizeof(path), "/channels/%s/posts?since=%" PRId64,
	    cu->chans[cu->i].id, (int64_t)cu->chans[cu->i].since);
	if ((cu->call = mm_rest(mm, "GET", path, NULL, MM_TRIES,
	    mm_cu_posts_done, mm)) == NULL) {
		log_warnx("catch-up of %s: out of memory", cu->chans[cu->i].id);
		cu->i++;
		mm_cu_next(mm);
	}
}

static void
mm_cu_type_done(const struct call_result *r, void *arg)
{
	struct mm	*mm = arg;
	struct mm_ch	*ch = mm_channel(mm, mm->cu->chans[mm->cu->i].id, 1);
	const char	*t = jx_stre(r->json, "type");

	mm->cu->call = NULL;
	if (!r->ok)
		log_warnx("catch-up: %s", r->error);
	if (ch != NULL)
		ch->type = r->ok && strchr("OPDG", t[0]) != NULL &&
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
	ch = mm_channel(mm, cu->chans[cu->i].id, 1);
	if (ch == NULL || ch->type != 0) {
		mm_cu_posts(mm);
		return;
	}
	snprintf(path, sizeof(path), "/channels/%s", ch->id);
	if ((cu->call = mm_rest(mm, "GET", path, NULL, MM_TRIES,
	    mm_cu_type_done, mm)) == NULL) {
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
		platform_failed(mm->ev, "cannot make a WebSocket URL from %s",
		    mm->base_url);
		return;
	}
	log_debug("websocket: connecting to %s", url);
	mm->confirmed = 0;
	if ((mm->conn = ws_connect(mm->ws, url, hdrs, &mm_ws_cbs, mm)) == NULL) {
		snprintf(mm->link.last_err, sizeof(mm->link.last_err), "cannot open a "
		    "WebSocket to %.200s", url);
		platform_link_retry(&mm->link, mm->link.last_err);
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
	(void)platform_arm(mm->ev, mm->ping_ev, (uint64_t)mm->ping_ms, "ping");
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
	mm_held_clear(mm);
	mm->ping_wait = 0;
	platform_disarm(mm->ping_ev, "ping");
	if (mm->draining)
		return;
	snprintf(mm->link.last_err, sizeof(mm->link.last_err), "%s", reason);
	if (mm->link.ready && mm->down_ms == 0)
		mm->down_ms = mm_wall_ms();
	platform_link_retry(&mm->link, reason);
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
	(void)platform_link_up(&mm->link);
	if (mm->down_ms != 0)
		log_info("websocket: resumed connection %s at seq %" PRId64,
		    mm->conn_id, (int64_t)mm->next_seq);
	mm->down_ms = 0;
}

static void
mm_hello(struct mm *mm, const struct mm_event *ev)
{
	mm->next_seq = ev->seq + 1;
	if (!mm->link.ready) {
		memcpy(mm->conn_id, ev->conn_id, MM_ID_LEN + 1);
		mm_confirmed(mm);	/* the link is up: ready */
		log_info("websocket: hello, connection %s", mm->conn_id);
		mm->ev->ready(mm->ev->arg, mm->me_id, mm->me_name);
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
	if (mm->link.ready)
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
	if (mm->link.ready)
		mm_confirmed(mm);
	if (ev->kind == MM_EV_POSTED)
		mm_posted(mm, ev);
	else if (ev->kind == MM_EV_REACTION)
		mm_reacted(mm, ev);
}

/* A frame, read at read_us (it rides with the messages it makes). */
static void
mm_text(struct mm *mm, const char *msg, size_t len, uint64_t read_us)
{
	struct mm_event	 ev;
	char		 err[256];

	if (mm_parse_event(msg, len, &ev, err, sizeof(err)) == -1) {
		log_warnx("websocket: ignored a bad frame of %zu bytes: %s",
		    len, err);
		return;
	}
	mm->read_us = read_us;
	mm_frame(mm, &ev);
	mm->read_us = 0;
	mm_event_clear(&ev);
}

static void
mm_held_clear(struct mm *mm)
{
	struct mm_held	*h;

	while ((h = STAILQ_FIRST(&mm->held)) != NULL) {
		STAILQ_REMOVE_HEAD(&mm->held, entry);
		free(h);
	}
	mm->nheld = 0;
}

/*
 * A frame before we know who we are (our own posts are told apart by our
 * id): kept for mm_held_replay().  Too many, or no memory: they are
 * dropped and the socket reopened, which the server answers with a new
 * hello; nothing was handled yet, so nothing is lost or seen twice.
 */
static void
mm_hold(struct mm *mm, const char *msg, size_t len)
{
	struct mm_held	*h;

	if (mm->nheld >= MM_HELD_MAX ||
	    (h = malloc(sizeof(*h) + len + 1)) == NULL) {
		log_warnx("websocket: %zu frames before /users/me answered; "
		    "reconnecting", mm->nheld);
		mm_held_clear(mm);
		ws_close(mm->conn, 1);
		return;
	}
	h->len = len;
	h->read_us = ws_read_us(mm->conn);
	memcpy(h->text, msg, len);
	h->text[len] = '\0';
	STAILQ_INSERT_TAIL(&mm->held, h, entry);
	mm->nheld++;
}

/* We know who we are: what the socket said meanwhile, in order. */
static void
mm_held_replay(struct mm *mm)
{
	struct mm_held	*h;

	while ((h = STAILQ_FIRST(&mm->held)) != NULL) {
		STAILQ_REMOVE_HEAD(&mm->held, entry);
		mm->nheld--;
		if (mm->conn != NULL && !mm->draining)
			mm_text(mm, h->text, h->len, h->read_us);
		free(h);
	}
}

static void
mm_ws_text(struct ws_conn *c, const char *msg, size_t len, void *arg)
{
	struct mm	*mm = arg;

	if (c != mm->conn || mm->draining)
		return;
	if (mm->me_id[0] == '\0') {
		mm_hold(mm, msg, len);
		return;
	}
	mm_text(mm, msg, len, ws_read_us(c));
}

static void
mm_me_done(const struct call_result *r, void *arg)
{
	struct mm	*mm = arg;
	const char	*id = jx_str(r->json, "id");
	const char	*name = jx_str(r->json, "username");

	if (!r->ok) {
		platform_failed(mm->ev, "%s", r->error);
		return;
	}
	if (!mm_valid_id(id) || name == NULL || *name == '\0' ||
	    strlen(name) >= sizeof(mm->me_name)) {
		platform_failed(mm->ev, "/users/me did not answer with a user");
		return;
	}
	memcpy(mm->me_id, id, MM_ID_LEN + 1);
	snprintf(mm->me_name, sizeof(mm->me_name), "%s", name);
	log_info("authenticated as @%s (%s)", mm->me_name, mm->me_id);
	mm_connect(mm);		/* unless it is open or opening */
	mm_held_replay(mm);
}

/* ------------------------------------------------------------ outbound */

static void
mm_op_done(const struct call_result *r, void *arg)
{
	struct opq_op		*op = arg;
	struct mm_opx		*x = op->data;
	struct adapter_answer	 a;

	x->call = NULL;
	memset(&a, 0, sizeof(a));
	a.ok = r->ok;
	a.error = r->error;
	a.token_refused = r->token_refused;
	a.platform_us = r->resp != NULL ? r->resp->us : 0;
	if (a.ok && (strcmp(jx_stre(op->body, "op"), "post") == 0 ||
	    strcmp(jx_stre(op->body, "op"), "upload") == 0) &&
	    (a.post = jx_str(r->json, "id")) == NULL) {
		a.ok = 0;
		a.error = "the server did not say which post it made";
	}
	opq_done(x->mm->opq, op, &a);
}

/* An upload's file is stored: post it, in the thread of the op's root. */
static void
mm_upload_stored(const struct call_result *r, void *arg)
{
	struct opq_op		*op = arg;
	struct mm_opx		*x = op->data;
	struct adapter_answer	 a;
	const char		*id = jx_str(json_array_get(json_object_get(
				    r->json, "file_infos"), 0), "id");

	x->call = NULL;
	memset(&a, 0, sizeof(a));
	if (!r->ok) {
		a.error = r->error;
		a.token_refused = r->token_refused;
	} else if (!mm_valid_id(id))
		a.error = "upload: the server did not say which file it stored";
	else if ((x->call = mm_rest(x->mm, "POST", "/posts", json_pack(
	    "{s:s,s:s,s:s,s:[s]}", "channel_id", x->file.channel, "message",
	    x->file.text, "root_id", x->file.root, "file_ids", id), MM_TRIES,
	    mm_op_done, op)) != NULL)
		return;
	else
		a.error = "upload: out of memory";
	opq_done(x->mm->opq, op, &a);
}

/*
 * A file op: the body streams from (upload) or into (download) the file
 * sessiond sent with it, never whole in memory.
 */
static int
mm_file_start(struct mm *mm, struct opq_op *op, char *err, size_t errlen)
{
	struct mm_opx		*x = op->data;
	struct net_source	 src;
	struct net_sink		 sink;

	if (mm_file_request(op->body, &x->file, err, errlen) == -1)
		return (-1);
	if (op->fd == -1)
		return (util_err(err, errlen, "%s: no file", x->file.upload ?
		    "upload" : "download"));
	x->mm = mm;
	if (!x->file.upload) {
		memset(&sink, 0, sizeof(sink));
		sink.fd = op->fd;
		sink.max = (uint64_t)x->file.size;
		x->call = mm_rest_file(mm, "GET", x->file.path, NULL, MM_TRIES,
		    NULL, &sink, mm_op_done, op);
	} else {
		x->fields[0] = "channel_id";
		x->fields[1] = x->file.channel;
		memset(&src, 0, sizeof(src));
		src.fd = op->fd;
		src.size = (off_t)x->file.size;
		src.field = "files";
		src.filename = x->file.name;
		src.fields = x->fields;
		x->call = mm_rest_file(mm, "POST", x->file.path, NULL, MM_TRIES,
		    &src, NULL, mm_upload_stored, op);
	}
	if (x->call == NULL)
		return (util_err(err, errlen, "out of memory"));
	return (0);
}

static int
mm_op_start(void *arg, struct opq_op *op, char *err, size_t errlen)
{
	struct mm	*mm = arg;
	struct mm_opx	*x = op->data;
	json_t		*body;
	char		 method[8], path[160];
	const char	*name = jx_stre(op->body, "op");

	if (strcmp(name, "download") == 0 || strcmp(name, "upload") == 0)
		return (mm_file_start(mm, op, err, errlen));
	if (mm_op_request(op->body, mm->me_id, method, sizeof(method),
	    path, sizeof(path), &body, err, errlen) == -1)
		return (-1);
	/* Typing is stale by the time a retry would land. */
	x->mm = mm;
	x->call = mm_rest(mm, method, path, body, strcmp(jx_stre(op->body,
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
mm_outbound(void *arg, const json_t *body, int fd)
{
	struct mm	*mm = arg;

	opq_push(mm->opq, body, fd);
}

/* ------------------------------------------------------------ the ops */

static void
mm_check_drained(void *arg)
{
	struct mm	*mm = arg;

	if (mm->draining && opq_len(mm->opq) == 0)
		mm->ev->drained(mm->ev->arg);
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
	const char	*url = jx_str(config, "url");

	if (mm_base_url(url, mm->base_url, sizeof(mm->base_url)) == -1) {
		platform_failed(mm->ev, "bad Mattermost url \"%.200s\"",
		    url != NULL ? url : "");
		return (-1);
	}
	if (platform_auth_header(&mm->auth, jx_str(config, "token"), "") ==
	    -1) {
		platform_failed(mm->ev, "no usable token");
		return (-1);
	}
	snprintf(mm->key, sizeof(mm->key), "%s", jx_stre(config, "key"));
	mm->self.id = mm->me_id;
	mm->self.username = mm->me_name;
	mm->self.key = mm->key;
	mm->ping_ms = mm_ping_interval();
	if (platform_link_init(&mm->link, base, config, mm->ev, "websocket",
	    "WebSocket", mm_reconnect_cb, mm) == -1 ||
	    (mm->ping_ev = evtimer_new(base, mm_ping_cb, mm)) == NULL ||
	    (mm->calls = call_set_new(base)) == NULL ||
	    (mm->ws = ws_new(base, strncasecmp(url, "https:", 6) == 0)) == NULL)
		return (-1);
	ws_set_gate(mm->ws, mm->ev->may_take, mm->ev->arg);
	return (0);
}

static void	mm_stop(void *);

static void *
mm_start(struct event_base *base, const json_t *config,
    const struct adapter_events *ev)
{
	struct mm	*mm;
	char		 red[16];

	if ((mm = calloc(1, sizeof(*mm))) == NULL)
		return (NULL);
	mm->ev = ev;
	mm->config = json_incref((json_t *)config);
	TAILQ_INIT(&mm->chans);
	STAILQ_INIT(&mm->held);
	if ((mm->opq = opq_new(&mm_opq_cbs, mm, ev, sizeof(struct mm_opx),
	    MM_OPS_MAX)) == NULL || mm_setup(mm, base, config) == -1) {
		mm_stop(mm);
		return (NULL);
	}
	log_info("connecting to %s (token %s, ping every %d ms)",
	    mm->base_url, log_redact(jx_str(config, "token"), red, sizeof(red)),
	    mm->ping_ms);
	if (platform_link_start(&mm->link) == -1 || mm_rest(mm, "GET", "/users/me", NULL, 3,
	    mm_me_done, mm) == NULL) {
		mm_stop(mm);
		return (NULL);
	}
	mm_connect(mm);		/* in parallel: one round trip less */
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
	platform_disarm(mm->ping_ev, "ping");
	platform_link_stop(&mm->link);
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
	mm_held_clear(mm);
	mm_cu_free(mm);
	json_decref(mm->cursors);
	mm->cursors = NULL;
	call_set_free(mm->calls);
	opq_free(mm->opq);
	while ((ch = TAILQ_FIRST(&mm->chans)) != NULL) {
		TAILQ_REMOVE(&mm->chans, ch, entry);
		free(ch);
	}
	ws_free(mm->ws);	/* joins the service thread; no callbacks */
	if (mm->ping_ev != NULL)
		event_free(mm->ping_ev);
	platform_link_free(&mm->link);
	json_decref(mm->config);
	free(mm->auth);
	free(mm);
}

const struct adapter_ops mm_adapter = {
	"mattermost",
	MM_POST_MAX,
	mm_start,
	mm_config_update,
	mm_outbound,
	mm_inbound_ack,
	mm_cursors,
	mm_drain,
	mm_stop,
};
