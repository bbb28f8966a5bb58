/*
 * stream: one reply, edited in place while it grows (docs/architecture.md,
 * "Streaming").
 *
 * A placeholder "⏳ Working..." is posted when the turn starts; streamed
 * text is written into it at most every STREAM_THROTTLE_MS (trailing edge);
 * a complete assistant message, and the turn's end, are shown at once:
 * finishing never waits for the throttle.
 *
 * A post carries at most the routed worker's post limit, in characters.
 * When the text outgrows it, the post gets its final text (cut by
 * utf8_split(): on a line or word boundary, never inside a character or a
 * grapheme cluster), and the rest goes on in a new post.  A finished piece
 * is no longer kept, so a long answer costs a post or two of memory, not
 * its whole length.  Only the post being edited needs its id: a full
 * piece found while no post is open is sent as a new post at once.
 *
 * A stream outlives stream_finish() until its last platform call returns,
 * then frees itself.  A call that fails is logged with its reason.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "outbound.h"
#include "route.h"
#include "stream.h"

#define STREAM_THROTTLE_MS	500
#define STREAM_PLACEHOLDER	"⏳ Working..."
/*
 * The limit when the routed worker did not say (an older worker): small
 * enough for every platform this bridge knows.
 */
#define STREAM_POST_MAX_UNSAID	3900

struct stream {
	TAILQ_ENTRY(stream) entry;
	char		*bot;
	char		*channel;
	char		*root;		/* thread root, "" for none */
	char		*post;		/* the post being edited, once created */
	char		*text;		/* what is not in a finished post yet */
	size_t		 len;
	size_t		 cap;
	size_t		 msg_start;	/* where the current message starts in text */
	size_t		 msg_gone;	/* its bytes already in finished posts */
	int		 need_sep;	/* a message ended: separate the next */
	char		*shown;		/* what the post shows now */
	char		*error;		/* set by stream_finish() */
	struct event	*timer;
	int		 inflight;	/* platform calls not yet answered */
	int		 creating;	/* the post is being created */
	int		 finished;
	/* The bridge's own share of a turn (CLOCK_MONOTONIC µs, 0: unknown). */
	uint64_t	 read_us;	/* the worker read the prompt */
	uint64_t	 send_us;	/* ... sent to the runtime */
	uint64_t	 text_us;	/* the last complete message came */
	uint64_t	 ack_us;	/* the platform acked our last call */
	uint64_t	 platform_us;	/* ... after so long on it itself */
};

static struct event_base	*stream_base;
/* Every stream, until freed: at exit, those still waiting for a call. */
static TAILQ_HEAD(, stream)	 streams = TAILQ_HEAD_INITIALIZER(streams);

static void	stream_flush(struct stream *);
static void	stream_final(struct stream *);

void
stream_init(struct event_base *base)
{
	stream_base = base;
}

/* What one post of bot's carries, in characters. */
static size_t
stream_limit(const char *bot)
{
	size_t	max = route_post_max(bot);

	return (max > 0 ? max : STREAM_POST_MAX_UNSAID);
}

/*
 * One line per turn: how long the bridge took, from the worker's read of
 * the prompt to its send to the runtime ("in"), and from the runtime's last
 * complete message to the platform's answer to the call showing it ("out",
 * 0 if it was shown already; of which the platform's own answer time),
 * beside the runtime's time between.
 */
static void
stream_log_turn(const struct stream *s)
{
	uint64_t	in, out, plat = 0;

	if (s->read_us == 0 || s->send_us < s->read_us || s->text_us <
	    s->send_us || s->ack_us == 0 || s->error != NULL)
		return;
	in = s->send_us - s->read_us;
	out = 0;
	if (s->ack_us > s->text_us) {
		out = s->ack_us - s->text_us;
		plat = s->platform_us < out ? s->platform_us : out;
	}
	log_info("turn: channel %s bridge_us=%llu (in %llu, out %llu, of which "
	    "the platform %llu) runtime_us=%llu", s->channel,
	    (unsigned long long)(in + out), (unsigned long long)in,
	    (unsigned long long)out, (unsigned long long)plat,
	    (unsigned long long)(s->text_us - s->send_us));
}

static void
stream_free(struct stream *s)
{
	TAILQ_REMOVE(&streams, s, entry);
	if (s->finished)
		stream_log_turn(s);
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

static void
stream_maybe_free(struct stream *s)
{
	if (s->finished && s->inflight == 0 && !s->creating)
		stream_free(s);
}

/* The platform answered a call: when, and how long it took itself. */
static void
stream_acked(struct stream *s, const struct outbound_result *r)
{
	s->inflight--;
	if (!r->ok)
		return;
	s->ack_us = r->ack_us > 0 ? r->ack_us : util_now_us();
	s->platform_us = r->platform_us;
}

static void
stream_created(void *arg, const struct outbound_result *r)
{
	struct stream	*s = arg;

	stream_acked(s, r);
	s->creating = 0;
	if (!r->ok || r->post == NULL)
		log_warnx("stream %s: cannot post: %s", s->channel,
		    r->error != NULL ? r->error : "no post id");
	else if ((s->post = strdup(r->post)) == NULL)
		log_warnx("stream %s: out of memory: the reply goes on in a "
		    "new post", s->channel);
	if (s->finished)
		stream_final(s);
	else
		stream_flush(s);
}

static void
stream_sent(void *arg, const struct outbound_result *r)
{
	struct stream	*s = arg;

	stream_acked(s, r);
	if (!r->ok)
		log_warnx("stream %s: a post or edit failed: %s", s->channel,
		    r->error != NULL ? r->error : "?");
	stream_maybe_free(s);
}

/* One platform call; text may be NULL (delete). */
static int
stream_call(struct stream *s, const char *op, const char *post,
    const char *text, outbound_cb cb)
{
	json_t	*body;

	body = json_pack("{s:s,s:s,s:s,s:s*,s:s*}", "op", op, "channel",
	    s->channel, "root", s->root, "post", post, "text", text);
	if (outbound_op(s->bot, body, cb, s) == -1) {
		log_warnx("stream %s: a %s of %zu bytes is lost", s->channel,
		    op, text != NULL ? strlen(text) : 0);
		return (-1);
	}
	s->inflight++;
	return (0);
}

/* Remember what the post shows; 0 when it shows text[0..n) already. */
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

/* Create the post showing text[0..n). */
static void
stream_create(struct stream *s, const char *text, size_t n)
{
	if (!stream_set_shown(s, text, n))
		return;
	if (stream_call(s, "post", NULL, s->shown, stream_created) == 0)
		s->creating = 1;
}

/* Drop text[0..n) (now in a finished post) and the white space after it. */
static void
stream_consume(struct stream *s, size_t n)
{
	while (n < s->len && (s->text[n] == '\n' || s->text[n] == ' ' ||
	    s->text[n] == '\t'))
		n++;
	if (n > s->msg_start) {
		s->msg_gone += n - s->msg_start;
		s->msg_start = 0;
	} else
		s->msg_start -= n;
	memmove(s->text, s->text + n, s->len - n);
	s->len -= n;
	s->text[s->len] = '\0';
}

/*
 * Finish the pieces that are full: the open post gets its final text, and
 * a full piece found while no post is open goes out as a new post.  Stops
 * when the rest fits, or while the post is being created (its id is
 * needed to finish it).
 */
static void
stream_split(struct stream *s)
{
	size_t	 limit = stream_limit(s->bot), cut;
	char	*piece;

	while (!s->creating && (cut = utf8_split(s->text, s->len, limit)) <
	    s->len) {
		if ((piece = strndup(s->text, cut)) == NULL) {
			log_warnx("stream %s: out of memory", s->channel);
			return;
		}
		if (s->post != NULL)
			(void)stream_call(s, "patch", s->post, piece, stream_sent);
		else
			(void)stream_call(s, "post", NULL, piece, stream_sent);
		free(piece);
		free(s->post);
		s->post = NULL;
		free(s->shown);
		s->shown = NULL;
		stream_consume(s, cut);
	}
}

/* Show the text so far, if it changed. */
static void
stream_flush(struct stream *s)
{
	(void)evtimer_del(s->timer);
	stream_split(s);
	if (s->creating || s->len == 0)
		return;
	if (s->post == NULL)
		stream_create(s, s->text, s->len);
	else if (stream_set_shown(s, s->text, s->len))
		(void)stream_call(s, "patch", s->post, s->shown, stream_sent);
}

static void
stream_schedule(struct stream *s)
{
	if (!evtimer_pending(s->timer, NULL) &&
	    util_timer_ms(s->timer, STREAM_THROTTLE_MS) == -1) {
		log_warnx("stream %s: cannot arm the edit timer; editing now",
		    s->channel);
		stream_flush(s);
	}
}

struct stream *
stream_new(const char *bot, const char *channel, const char *root,
    int placeholder)
{
	struct stream	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	TAILQ_INSERT_TAIL(&streams, s, entry);
	s->bot = strdup(bot);
	s->channel = strdup(channel);
	s->root = strdup(root != NULL ? root : "");
	s->timer = evtimer_new(stream_base, stream_timer_cb, s);
	if (s->bot == NULL || s->channel == NULL || s->root == NULL ||
	    s->timer == NULL) {
		stream_free(s);
		return (NULL);
	}
	if (placeholder)
		stream_create(s, STREAM_PLACEHOLDER, strlen(STREAM_PLACEHOLDER));
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
	if (s->len > 0 && stream_append(s, "\n\n", 2) == -1)
		return (-1);
	s->msg_start = s->len;
	s->msg_gone = 0;
	return (0);
}

void
stream_delta(struct stream *s, const char *text)
{
	if (s == NULL || s->finished || text == NULL || *text == '\0')
		return;
	if (stream_begin_message(s) == -1 ||
	    stream_append(s, text, strlen(text)) == -1) {
		log_warnx("stream %s: out of memory: %zu bytes of the reply "
		    "are lost", s->channel, strlen(text));
		return;
	}
	stream_schedule(s);
}

/*
 * A complete assistant message: it replaces the deltas streamed for it
 * (what of it is in finished posts stays), and the next message starts
 * after it.  An empty message never wipes text.
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
	if (n < s->msg_gone) {
		log_debug("stream %s: a message shorter than what was posted "
		    "of it; kept what was streamed", s->channel);
	} else if (s->len - s->msg_start != n - s->msg_gone ||
	    memcmp(s->text + s->msg_start, text + s->msg_gone,
	    n - s->msg_gone) != 0) {
		s->len = s->msg_start;
		if (s->text != NULL)
			s->text[s->len] = '\0';
		if (stream_append(s, text + s->msg_gone, n - s->msg_gone) == -1)
			log_warnx("stream %s: out of memory: the end of the "
			    "reply is lost", s->channel);
	}
	s->need_sep = 1;
	s->text_us = util_now_us();
	stream_flush(s);	/* a whole message: no reason to wait */
}

/* When the worker read the turn's prompt, and when it went to the runtime. */
void
stream_turn_times(struct stream *s, uint64_t read_us, uint64_t send_us)
{
	if (s == NULL)
		return;
	s->read_us = read_us;
	s->send_us = send_us;
}

/* The turn is over: the last pieces at once, or a delete when empty. */
static void
stream_final(struct stream *s)
{
	if (s->error != NULL && ((s->len > 0 && stream_append(s, "\n\n", 2) ==
	    -1) || stream_append(s, "❌ Error: ", strlen("❌ Error: ")) == -1 ||
	    stream_append(s, s->error, strlen(s->error)) == -1))
		log_warnx("stream %s: out of memory: the error is not shown",
		    s->channel);
	stream_split(s);
	if (!s->creating) {
		if (s->len > 0 && s->post == NULL)
			(void)stream_call(s, "post", NULL, s->text, stream_sent);
		else if (s->len > 0 && stream_set_shown(s, s->text, s->len))
			(void)stream_call(s, "patch", s->post, s->shown,
			    stream_sent);
		else if (s->len == 0 && s->post != NULL)
			(void)stream_call(s, "delete", s->post, NULL,
			    stream_sent);
		s->len = 0;
	}
	stream_maybe_free(s);
}

int
stream_said(const struct stream *s)
{
	return (s != NULL && !s->finished && s->len > 0);
}

int
stream_said_all(const struct stream *s)
{
	return (stream_said(s) && s->need_sep);
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
	(void)evtimer_del(s->timer);
	if (error != NULL && (s->error = strdup(error)) == NULL)
		log_warnx("stream %s: out of memory: the error is not shown",
		    s->channel);
	if (!s->creating)
		stream_final(s);
}

/*
 * End the stream showing nothing (the agent chose not to reply): what it
 * had not posted yet is dropped and its open post (the placeholder, or a
 * first edit) is deleted.
 */
void
stream_discard(struct stream *s)
{
	if (s == NULL || s->finished)
		return;
	s->len = s->msg_start = s->msg_gone = 0;
	s->need_sep = 0;
	if (s->text != NULL)
		s->text[0] = '\0';
	stream_finish(s, NULL);
}

/*
 * A one-off message (a command's reply): posted, not tracked.  One longer
 * than a post carries goes as a stream of one message, which splits it as
 * it does the agent's answers.
 */
void
stream_post(const char *bot, const char *channel, const char *root,
    const char *text)
{
	struct stream	*s;
	size_t		 n = strlen(text);

	if (utf8_split(text, n, stream_limit(bot)) < n) {
		if ((s = stream_new(bot, channel, root, 0)) == NULL) {
			log_warnx("out of memory: a reply in %s is lost",
			    channel);
			return;
		}
		stream_message(s, text);
		stream_finish(s, NULL);
		return;
	}
	if (outbound_op(bot, json_pack("{s:s,s:s,s:s,s:s}", "op", "post",
	    "channel", channel, "root", root != NULL ? root : "", "text", text),
	    NULL, NULL) == -1)
		log_warnx("cannot post a reply in %s", channel);
}

/*
 * sessiond exits: the streams still waiting for a platform call (their
 * answers will not come now) are freed.
 */
void
stream_free_all(void)
{
	while (!TAILQ_EMPTY(&streams))
		stream_free(TAILQ_FIRST(&streams));
}
