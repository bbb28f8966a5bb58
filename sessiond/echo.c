/*
 * echo: backend_echo, built in and deterministic.  The answer to a prompt
 * is the prompt itself, streamed as ECHO_CHUNKS deltas, one per loop pass,
 * then message(prompt) and idle(0): demos, and tests that need no runtime.
 *
 * "/echo-permission <detail>" first asks permission (kind "shell", the
 * detail as given) and answers "approved: <detail>" or "denied: <detail>".
 *
 * Like the runtime, a prompt sent during a turn is queued, and a single
 * idle ends the turn and everything queued behind it.  abort() ends the
 * turn at once with idle(1) and drops the queue.  No callback ever runs
 * from inside a call into the backend: everything goes through a timer.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "backend.h"

#define ECHO_CHUNKS	3
#define ECHO_STEP_MS	0	/* each chunk on the next loop pass */
#define ECHO_QUEUE_MAX	32
#define ECHO_PERM_PREFIX "/echo-permission "

struct echo_prompt {
	TAILQ_ENTRY(echo_prompt)	 entry;
	char				*text;
};
TAILQ_HEAD(echo_promptq, echo_prompt);

struct bsession {
	TAILQ_ENTRY(bsession)		 entry;
	const struct backend_events	*ev;
	void				*arg;
	char				 id[160];
	struct event			*timer;
	struct echo_promptq		 queue;		/* the first is running */
	size_t				 nqueue;
	char				*reply;		/* text being streamed */
	size_t				 pos;		/* bytes of reply sent */
	int				 step;		/* deltas sent */
	char				 perm_id[48];	/* a permission awaited */
	int				 perm_asked;	/* permission() was called */
	int				 busy;		/* a turn runs */
	int				 aborted;	/* idle(1) to report */
	int				 opening;	/* opened() not yet reported */
	int				 stopped;
	int				 closed;
	int				 refs;
};
TAILQ_HEAD(echo_sessionq, bsession);

static struct {
	struct event_base	*base;
	int			 started;
	void			(*done)(void *);	/* stop()'s */
	void			*done_arg;
	unsigned long		 nsessions;
	unsigned long		 nperm;
	struct echo_sessionq	 sessions;
} echo = {
	.sessions = TAILQ_HEAD_INITIALIZER(echo.sessions),
};

static void	echo_timer_cb(int, short, void *);

static void
echo_prompt_free(struct echo_prompt *p)
{
	free(p->text);
	free(p);
}

static void
echo_drop_queue(struct bsession *s)
{
	struct echo_prompt	*p;

	while ((p = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, p, entry);
		echo_prompt_free(p);
	}
	s->nqueue = 0;
	free(s->reply);
	s->reply = NULL;
	s->pos = 0;
	s->step = 0;
	s->perm_id[0] = '\0';
	s->perm_asked = 0;
}

static void
echo_free(struct bsession *s)
{
	echo_drop_queue(s);
	if (s->timer != NULL)
		event_free(s->timer);
	free(s);
}

static void
echo_release(struct bsession *s)
{
	if (--s->refs == 0 && s->closed)
		echo_free(s);
}

static void
echo_arm(struct bsession *s, int ms)
{
	if (util_timer_ms(s->timer, (uint64_t)ms) == -1)
		log_warnx("%s: cannot arm the timer of %s", __func__, s->id);
}

/* Bytes of the next chunk: an even split, never cutting a UTF-8 sequence. */
static size_t
echo_chunk(const struct bsession *s)
{
	size_t	len = strlen(s->reply), end;

	if (s->step >= ECHO_CHUNKS - 1)
		return (len - s->pos);
	end = len * (size_t)(s->step + 1) / ECHO_CHUNKS;
	while (end < len && ((unsigned char)s->reply[end] & 0xc0) == 0x80)
		end++;
	return (end > s->pos ? end - s->pos : 0);
}

/* Start the reply to the prompt at the head of the queue. */
static int
echo_begin(struct bsession *s)
{
	struct echo_prompt	*p = TAILQ_FIRST(&s->queue);
	size_t			 n = strlen(ECHO_PERM_PREFIX);

	free(s->reply);
	s->reply = NULL;
	s->pos = 0;
	s->step = 0;
	if (strncmp(p->text, ECHO_PERM_PREFIX, n) == 0) {
		snprintf(s->perm_id, sizeof(s->perm_id), "echo-perm-%lu",
		    ++echo.nperm);
		s->perm_asked = 0;
		return (0);
	}
	if ((s->reply = strdup(p->text)) == NULL)
		return (-1);
	return (0);
}

/* One step of the running turn; returns 0 to stop stepping. */
static int
echo_step(struct bsession *s)
{
	struct echo_prompt	*p;
	size_t			 n;
	char			*text;
	json_t			*req;

	if (s->perm_id[0] != '\0') {
		if (s->perm_asked)
			return (0);	/* until answer_permission() */
		s->perm_asked = 1;
		p = TAILQ_FIRST(&s->queue);
		/* A copy: the owner may abort() from inside the callback. */
		if ((text = strdup(p->text + strlen(ECHO_PERM_PREFIX))) == NULL)
			return (0);
		/* As the runtime describes a shell command it wants to run. */
		req = json_pack("{s:s,s:s}", "kind", "shell", "fullCommandText",
		    text);
		if (s->ev->permission != NULL)
			s->ev->permission(s->arg, s->perm_id, "shell", text, req);
		json_decref(req);
		free(text);
		return (0);
	}
	if (s->reply == NULL)
		return (0);
	if (s->step < ECHO_CHUNKS && s->pos < strlen(s->reply)) {
		n = echo_chunk(s);
		s->step++;
		if (n == 0)
			return (1);
		if ((text = strndup(s->reply + s->pos, n)) == NULL)
			return (1);	/* the message below carries it all */
		s->pos += n;
		if (s->ev->delta != NULL)
			s->ev->delta(s->arg, text);
		free(text);
		return (1);
	}
	text = s->reply;
	s->reply = NULL;
	if (*text != '\0' && s->ev->message != NULL)
		s->ev->message(s->arg, text);
	free(text);
	if (s->closed || s->stopped || !s->busy)
		return (0);		/* closed, stopped or aborted meanwhile */
	p = TAILQ_FIRST(&s->queue);
	TAILQ_REMOVE(&s->queue, p, entry);
	echo_prompt_free(p);
	s->nqueue--;
	if (!TAILQ_EMPTY(&s->queue)) {
		if (echo_begin(s) == 0)
			return (1);
		log_warnx("%s: out of memory", s->id);
		echo_drop_queue(s);
		s->busy = 0;
		if (s->ev->error != NULL)
			s->ev->error(s->arg, "out of memory");
		if (!s->closed && s->ev->idle != NULL)
			s->ev->idle(s->arg, 0);
		return (0);
	}
	s->busy = 0;
	if (s->ev->idle != NULL)
		s->ev->idle(s->arg, 0);
	return (0);
}

static void
echo_timer_cb(int fd, short what, void *arg)
{
	struct bsession	*s = arg;
	int		 again;

	s->refs++;
	if (s->aborted) {
		s->aborted = 0;
		if (s->ev->idle != NULL)
			s->ev->idle(s->arg, 1);
		again = s->busy;	/* a send() after the abort */
	} else if (s->opening) {
		s->opening = 0;
		if (s->ev->opened != NULL)
			s->ev->opened(s->arg, s->id, NULL);
		again = 0;	/* a send() from opened() armed its own */
	} else
		again = echo_step(s);
	if (again && !s->closed && !s->stopped)
		echo_arm(s, ECHO_STEP_MS);
	echo_release(s);
}

static int
echo_start(struct event_base *base, json_t *config, void (*changed)(void))
{
	echo.base = base;
	echo.started = 1;
	return (0);
}

static struct bsession *
echo_open(const struct bsession_opts *o, const char *session_id,
    const struct backend_events *ev, void *arg)
{
	struct bsession	*s;
	int		 n;

	if (!echo.started || ev == NULL || o == NULL)
		return (NULL);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	TAILQ_INIT(&s->queue);
	s->ev = ev;
	s->arg = arg;
	if (session_id != NULL)
		n = snprintf(s->id, sizeof(s->id), "%s", session_id);
	else
		n = snprintf(s->id, sizeof(s->id), "echo-%s-%lu",
		    o->channel != NULL ? o->channel : "none", ++echo.nsessions);
	if (n < 0 || (size_t)n >= sizeof(s->id) ||
	    (s->timer = evtimer_new(echo.base, echo_timer_cb, s)) == NULL) {
		free(s);
		return (NULL);
	}
	s->opening = 1;
	TAILQ_INSERT_TAIL(&echo.sessions, s, entry);
	echo_arm(s, 0);
	return (s);
}

static int
echo_send(struct bsession *s, const char *prompt, int immediate,
    const json_t *attachments)
{
	struct echo_prompt	*p;

	if (s == NULL || s->closed || s->stopped || s->opening ||
	    prompt == NULL || s->nqueue >= ECHO_QUEUE_MAX)
		return (-1);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (-1);
	if ((p->text = strdup(prompt)) == NULL) {
		free(p);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&s->queue, p, entry);
	s->nqueue++;
	if (s->busy)
		return (0);		/* runs after the current one */
	if (echo_begin(s) == -1) {
		TAILQ_REMOVE(&s->queue, p, entry);
		s->nqueue--;
		echo_prompt_free(p);
		return (-1);
	}
	s->busy = 1;
	echo_arm(s, ECHO_STEP_MS);
	return (0);
}

static int
echo_abort(struct bsession *s)
{
	if (s == NULL || s->closed || s->stopped)
		return (-1);
	if (!s->busy)
		return (0);
	echo_drop_queue(s);
	s->busy = 0;
	s->aborted = 1;
	echo_arm(s, 0);		/* idle(1) at once, but from the loop */
	return (0);
}

static int
echo_answer_permission(struct bsession *s, const char *request_id,
    enum bperm answer)
{
	struct echo_prompt	*p;
	const char		*detail;
	size_t			 len;
	char			*reply;

	if (s == NULL || s->closed || s->stopped || request_id == NULL ||
	    !s->perm_asked || strcmp(s->perm_id, request_id) != 0)
		return (-1);
	p = TAILQ_FIRST(&s->queue);
	detail = p->text + strlen(ECHO_PERM_PREFIX);
	len = strlen(detail) + sizeof("approved: ");
	if ((reply = malloc(len)) == NULL)
		return (-1);
	snprintf(reply, len, "%s: %s", answer == BPERM_APPROVE ? "approved" :
	    "denied", detail);
	free(s->reply);
	s->reply = reply;
	s->pos = 0;
	s->step = 0;
	s->perm_id[0] = '\0';
	s->perm_asked = 0;
	echo_arm(s, ECHO_STEP_MS);
	return (0);
}

static void
echo_close(struct bsession *s)
{
	if (s == NULL || s->closed)
		return;
	s->closed = 1;
	(void)evtimer_del(s->timer);
	TAILQ_REMOVE(&echo.sessions, s, entry);
	if (s->refs == 0)
		echo_free(s);
}

/* The echo engine has no runtime to ask: every request fails at once. */
static int
echo_call(struct bsession *s, const char *method, json_t *params,
    bcall_cb cb, void *arg)
{
	json_decref(params);
	return (-1);
}

static int
echo_set_opts(struct bsession *s, const struct bsession_opts *o, int reattach)
{
	return (s == NULL || s->closed ? -1 : 0);
}

static void
echo_stopped_cb(int fd, short ev, void *arg)
{
	echo.done(echo.done_arg);
}

/*
 * No session callback after stop(); the owner still closes its sessions.
 * done runs from the loop, as every callback does (at once if the engine
 * never started: there is no loop to run it).
 */
static void
echo_stop(void (*done)(void *), void *arg)
{
	struct bsession	*s;

	TAILQ_FOREACH(s, &echo.sessions, entry) {
		s->stopped = 1;
		s->busy = 0;
		(void)evtimer_del(s->timer);
	}
	echo.done = done;
	echo.done_arg = arg;
	if (!echo.started || event_base_once(echo.base, -1, EV_TIMEOUT,
	    echo_stopped_cb, NULL, NULL) == -1)
		done(arg);
	echo.started = 0;
}

const struct backend backend_echo = {
	.name = "echo",
	.start = echo_start,
	.open = echo_open,
	.send = echo_send,
	.abort = echo_abort,
	.answer_permission = echo_answer_permission,
	.call = echo_call,
	.set_opts = echo_set_opts,
	.close = echo_close,
	.stop = echo_stop,
};
