/*
 * stream: one reply, edited in place while it grows (upstream §4.4).
 *
 * A placeholder "⏳ Working..." is posted when the turn starts; the text is
 * written into it at most every STREAM_THROTTLE_MS (trailing edge), and once
 * more, at once, when the turn ends: finishing never waits for the
 * throttle.  A reply longer than the platform allows is split over several
 * posts at the end.  An empty reply deletes its placeholder.
 *
 * A stream outlives stream_finish() until its last platform call returns,
 * then frees itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "sessiond.h"

#define STREAM_THROTTLE_MS	500
#define STREAM_PLACEHOLDER	"⏳ Working..."
#define SLACK_POST_MAX		3900

struct stream {
	char		*bot;
	char		*channel;
	char		*root;		/* thread root, "" for none */
	char		*post;		/* the post being edited, once created */
	char		*text;		/* everything streamed so far */
	size_t		 len;
	size_t		 cap;
	size_t		 seg;		/* where the current message starts */
	int		 need_sep;	/* a message ended: separate the next */
	char		*shown;		/* what the post shows now */
	char		*error;		/* set by stream_finish() */
	struct event	*timer;
	uint64_t	 last_edit_ms;
	int		 inflight;	/* platform calls not yet answered */
	int		 creating;	/* the post is being created */
	int		 finished;
};

static void	stream_flush(struct stream *);
static void	stream_final(struct stream *);

static size_t
stream_limit(const char *bot)
{
	return (strncmp(bot, "slack:", 6) == 0 ? SLACK_POST_MAX : MM_POST_MAX);
}

static void
stream_free(struct stream *s)
{
	outbound_forget(s);
	if (s->timer != NULL)
		event_free(s->timer);
	free(s->bot);
	free(s->channel);
	free(s->root);
	free(s->post);
	free(s->text);
	free(s->shown);
	free(s->error);
	free(s);
}

static void
stream_timer_cb(int fd, short ev, void *arg)
{
	stream_flush(arg);
}

static json_t *
stream_op(const struct stream *s, const char *op, const char *text)
{
	return (json_pack("{s:s,s:s,s:s,s:s*,s:s*}", "op", op, "channel",
	    s->channel, "root", s->root, "post", s->post, "text", text));
}

/* Set what the post shows; NULL when it already shows text. */
static int
stream_set_shown(struct stream *s, const char *text, size_t n)
{
	char	*t;

	if (s->shown != NULL && strlen(s->shown) == n &&
	    memcmp(s->shown, text, n) == 0)
		return (0);
	if ((t = strndup(text, n)) == NULL)
		return (0);
	free(s->shown);
	s->shown = t;
	return (1);
}

static void
stream_created(void *arg, int ok, const char *post, const char *error)
{
	struct stream	*s = arg;

	s->inflight--;
	s->creating = 0;
	if (!ok || post == NULL) {
		log_warnx("stream %s: cannot post: %s", s->channel,
		    error != NULL ? error : "no post id");
	} else if ((s->post = strdup(post)) == NULL)
		log_warnx("%s: out of memory", __func__);
	if (s->finished)
		stream_final(s);
	else if (s->post != NULL && s->len > 0)
		stream_flush(s);
}

static void
stream_edited(void *arg, int ok, const char *post, const char *error)
{
	struct stream	*s = arg;

	s->inflight--;
	if (!ok)
		log_warnx("stream %s: edit failed: %s", s->channel,
		    error != NULL ? error : "?");
	if (s->finished && s->inflight == 0 && s->creating == 0)
		stream_free(s);
}

static void
stream_call(struct stream *s, const char *op, const char *text,
    outbound_cb cb)
{
	if (outbound_op(s->bot, stream_op(s, op, text), cb, s) == 0)
		s->inflight++;
}

/* Create the post with text (the placeholder, or the first content). */
static void
stream_create(struct stream *s, const char *text)
{
	s->creating = 1;
	stream_call(s, "post", text, stream_created);
	if (s->inflight == 0)
		s->creating = 0;
}

/* Show the text so far, if it changed, within the platform's limit. */
static void
stream_flush(struct stream *s)
{
	size_t	n = s->len < stream_limit(s->bot) ? s->len : stream_limit(s->bot);

	evtimer_del(s->timer);
	if (s->creating || s->len == 0)
		return;
	if (s->post == NULL) {
		if (stream_set_shown(s, s->text, n))
			stream_create(s, s->shown);
		return;
	}
	if (!stream_set_shown(s, s->text, n))
		return;
	s->last_edit_ms = util_now_ms();
	stream_call(s, "patch", s->shown, stream_edited);
}

static void
stream_schedule(struct stream *s)
{
	struct timeval	tv = { 0, STREAM_THROTTLE_MS * 1000 };

	if (!evtimer_pending(s->timer, NULL))
		evtimer_add(s->timer, &tv);
}

struct stream *
stream_new(const char *bot, const char *channel, const char *root,
    int placeholder)
{
	struct stream	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	s->bot = strdup(bot);
	s->channel = strdup(channel);
	s->root = strdup(root != NULL ? root : "");
	s->timer = evtimer_new(proc->base, stream_timer_cb, s);
	if (s->bot == NULL || s->channel == NULL || s->root == NULL ||
	    s->timer == NULL) {
		stream_free(s);
		return (NULL);
	}
	if (placeholder && stream_set_shown(s, STREAM_PLACEHOLDER,
	    strlen(STREAM_PLACEHOLDER)))
		stream_create(s, STREAM_PLACEHOLDER);
	return (s);
}

static int
stream_append(struct stream *s, const char *text, size_t n)
{
	char	*t;
	size_t	 cap;

	if (s->len + n + 1 > s->cap) {
		cap = s->cap == 0 ? 256 : s->cap;
		while (cap < s->len + n + 1)
			cap *= 2;
		if ((t = realloc(s->text, cap)) == NULL)
			return (-1);
		s->text = t;
		s->cap = cap;
	}
	memcpy(s->text + s->len, text, n);
	s->len += n;
	s->text[s->len] = '\0';
	return (0);
}

/* A new message after an earlier one starts on a paragraph of its own. */
static int
stream_begin_message(struct stream *s)
{
	if (!s->need_sep)
		return (0);
	s->need_sep = 0;
	if (stream_append(s, "\n\n", 2) == -1)
		return (-1);
	s->seg = s->len;
	return (0);
}

void
stream_delta(struct stream *s, const char *text)
{
	if (s == NULL || s->finished || text == NULL || *text == '\0')
		return;
	if (stream_begin_message(s) == -1 ||
	    stream_append(s, text, strlen(text)) == -1) {
		log_warnx("%s: out of memory", __func__);
		return;
	}
	stream_schedule(s);
}

/*
 * A complete assistant message: it replaces the deltas streamed for it, and
 * the next message starts after it.  An empty message never wipes text.
 */
void
stream_message(struct stream *s, const char *text)
{
	size_t	n;

	if (s == NULL || s->finished || text == NULL || *text == '\0')
		return;
	if (stream_begin_message(s) == -1)
		return;
	n = strlen(text);
	if (s->len - s->seg != n || memcmp(s->text + s->seg, text, n) != 0) {
		s->len = s->seg;
		if (stream_append(s, text, n) == -1) {
			log_warnx("%s: out of memory", __func__);
			return;
		}
	}
	s->need_sep = 1;
	stream_schedule(s);
}

int
stream_empty(const struct stream *s)
{
	return (s == NULL || s->len == 0);
}

/* Post the parts of a long reply that do not fit in the first post. */
static void
stream_overflow(struct stream *s, const char *text, size_t len)
{
	size_t	limit = stream_limit(s->bot), off = limit, n;
	char	*part;

	while (off < len) {
		n = len - off < limit ? len - off : limit;
		if ((part = strndup(text + off, n)) == NULL)
			return;
		stream_call(s, "post", part, stream_edited);
		free(part);
		off += n;
	}
}

/* The turn is over: one last edit, at once, or a delete when empty. */
static void
stream_final(struct stream *s)
{
	char	*t = NULL;
	size_t	 n, limit = stream_limit(s->bot);

	if (s->error != NULL) {
		if (asprintf(&t, "%s%s❌ Error: %s", s->text != NULL ? s->text :
		    "", s->len > 0 ? "\n\n" : "", s->error) == -1)
			t = NULL;
	} else if (s->len > 0)
		t = strdup(s->text);
	if (t == NULL) {
		if (s->post != NULL)
			stream_call(s, "delete", NULL, stream_edited);
	} else {
		n = strlen(t);
		if (s->post == NULL) {
			s->creating = 0;
			stream_set_shown(s, t, n < limit ? n : limit);
			stream_call(s, "post", s->shown, stream_edited);
		} else if (stream_set_shown(s, t, n < limit ? n : limit))
			stream_call(s, "patch", s->shown, stream_edited);
		stream_overflow(s, t, n);
		free(t);
	}
	if (s->inflight == 0)
		stream_free(s);
}

/*
 * End the stream (error: the turn failed).  The stream is no longer the
 * caller's: it frees itself once its platform calls have returned.
 */
void
stream_finish(struct stream *s, const char *error)
{
	if (s == NULL || s->finished)
		return;
	s->finished = 1;
	evtimer_del(s->timer);
	if (error != NULL)
		s->error = strdup(error);
	if (!s->creating)
		stream_final(s);
}

/* A one-off message (a command's reply): posted, not tracked. */
void
stream_post(const char *bot, const char *channel, const char *root,
    const char *text)
{
	if (outbound_op(bot, json_pack("{s:s,s:s,s:s,s:s}", "op", "post",
	    "channel", channel, "root", root != NULL ? root : "", "text", text),
	    NULL, NULL) == -1)
		log_warnx("cannot post a reply in %s", channel);
}
