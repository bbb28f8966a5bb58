/*
 * store: see store.h.
 *
 * Two threads.  The loop owns the memory (the maps below) and makes every
 * write there first; it hands the write, copied into an op, to the writer
 * thread's queue.  The writer takes everything queued, applies it in one
 * transaction (each op under a savepoint, so one bad op fails alone),
 * commits, and moves the ops to the done list; an eventfd wakes the loop,
 * which runs their callbacks.  The mutex guards the three lists and the
 * counters only, never a disk access; the writer never logs (the loop
 * owns the log) and never touches the memory maps.
 */
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/db.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/ipc.h"
#include "seen.h"
#include "store.h"

#define STORE_CLOSE_MS	2000	/* what close waits for the queue to be saved */
#define STORE_LOG_MS	60000	/* one "not saved" line a minute at most */

/* ---- memory ----------------------------------------------------------- */

/* A map: entries sorted by the key each starts with, found by bisection. */
struct smap {
	void	**v;
	size_t	  n, cap;
};

struct sthread {
	char	*root, *sid, *bot;
};

struct scursor {
	char		*bot;
	long long	 ms;
	struct seen	 seen;		/* the ids the catch-up span covers */
	int		 dirty;		/* not handed to the writer yet */
};

struct schan {
	char		*key;			/* the channel id */
	char		*sid, *bot;		/* the channel's session */
	struct sthread	*threads;
	size_t		 nthreads;
	struct scursor	*cursors;		/* one per bot, usually one */
	size_t		 ncursors;
	char		*pref[DB_NPREF];	/* db_pref_columns' values */
	struct store_prefs prefs;		/* the view of pref[] */
};

struct ssetting {
	char	*key, *value;
};

struct sworkspace {
	char			*key, *dir, *paths;
	struct store_workspace	 w;
};

struct srule {
	struct store_rule	 r;
	char			*scope, *tool, *pattern, *created;
};

/* struct store_prefs' fields, in db_pref_columns' order. */
static const struct {
	const char	*name;
	size_t		 off;
	int		 is_bool;
} store_pref_fields[] = {
	{ "model", offsetof(struct store_prefs, model), 0 },
	{ "agent", offsetof(struct store_prefs, agent), 0 },
	{ "verbose", offsetof(struct store_prefs, verbose), 1 },
	{ "trigger_mode", offsetof(struct store_prefs, trigger_mode), 0 },
	{ "threaded_replies", offsetof(struct store_prefs, threaded_replies), 1 },
	{ "permission_mode", offsetof(struct store_prefs, permission_mode), 0 },
	{ "reasoning_effort", offsetof(struct store_prefs, reasoning_effort), 0 },
	{ "session_mode", offsetof(struct store_prefs, session_mode), 0 },
	{ "disabled_skills", offsetof(struct store_prefs, disabled_skills), 0 },
	{ "provider", offsetof(struct store_prefs, provider), 0 },
};

_Static_assert(nitems(store_pref_fields) == DB_NPREF,
    "a field of struct store_prefs per column of channel_prefs");

static const struct store_prefs store_noprefs = { .verbose = -1,
	.threaded_replies = -1 };

/* ---- ops -------------------------------------------------------------- */

enum op_kind {
	OP_SESSION,
	OP_CURSORS,
	OP_PREF,
	OP_RULE_ADD,
	OP_RULE_DEL,
	OP_RULE_CLEAR,
	OP_SETTING,
	OP_EXEC
};

struct op_cursor {
	char		*channel, *bot;
	long long	 ms;
	char		*seen;		/* seen_text(), or NULL */
};

struct op {
	TAILQ_ENTRY(op)	 entry;
	enum op_kind	 kind;
	char		*s[5];		/* the write's strings, by kind: */
	long long	 n;		/* a rule's id */
	struct op_cursor *cur;		/* OP_CURSORS */
	size_t		 ncur;
	store_cb	 done;		/* guarded by the mutex */
	void		*arg;
	char		*error;		/* NULL: saved */
	store_fn	 apply;		/* OP_EXEC: on the writer thread */
	void		(*release)(void *);
	void		*data;
};
TAILQ_HEAD(opq, op);

/*
 * s[] by kind: SESSION channel, thread, bot, sid; PREF channel, column,
 * value; RULE_ADD scope, tool, pattern, action, created; RULE_CLEAR
 * scope, tool, pattern; SETTING key, value.
 */

static char	store_oom[] = "out of memory";

static struct {
	int			 open;
	struct db		*db;		/* the writer's, once it runs */
	char			 path[4200];
	char			 err[DB_ERR_MAX + 64];	/* memory only: why */
	size_t			 bad_seen;	/* unreadable seen ids, at load */
	char			 bad_seen_why[320];	/* the first's */
	struct smap		 chans, settings, workspaces;
	struct srule		**rules;	/* by id */
	size_t			 nrules, caprules;
	long long		 next_rule;
	size_t			 ndirty;	/* cursors not handed over */
	struct event		*cursor_ev;
	/* the writer */
	pthread_t		 thr;
	int			 running;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct opq		 queue;		/* waiting for the writer */
	struct opq		 batch;		/* in the writer's transaction */
	struct opq		 done;		/* waiting for the loop */
	struct opq		 delivering;	/* the loop runs their callbacks */
	int			 stop;		/* close: save the rest, leave */
	int			 exited;	/* the writer has left */
	struct store_stats	 stats;
	int			 efd;
	struct event		*done_ev;
	/* the loop's log of failures */
	char			 last_err[256];
	uint64_t		 last_err_ms;
} S = { .efd = -1 };

/* ---- maps --------------------------------------------------------------- */

static const char *
smap_key(const void *e)
{
	return (*(char *const *)e);
}

/* The entry of key, or NULL and where it would go (*at). */
static void *
smap_get(const struct smap *m, const char *key, size_t *at)
{
	size_t	lo = 0, hi = m->n, mid;
	int	c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(key, smap_key(m->v[mid]))) == 0) {
			if (at != NULL)
				*at = mid;
			return (m->v[mid]);
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (at != NULL)
		*at = lo;
	return (NULL);
}

static int
smap_insert(struct smap *m, size_t at, void *e)
{
	void	**nv;
	size_t	  ncap;

	if (m->n == m->cap) {
		ncap = m->cap == 0 ? 16 : m->cap * 2;
		if ((nv = reallocarray(m->v, ncap, sizeof(*nv))) == NULL)
			return (-1);
		m->v = nv;
		m->cap = ncap;
	}
	memmove(&m->v[at + 1], &m->v[at], (m->n - at) * sizeof(*m->v));
	m->v[at] = e;
	m->n++;
	return (0);
}

static void
smap_remove(struct smap *m, size_t at)
{
	memmove(&m->v[at], &m->v[at + 1], (m->n - at - 1) * sizeof(*m->v));
	m->n--;
}

/* Replace *dst by a copy of src (NULL allowed); -1 leaves it as it was. */
static int
store_strset(char **dst, const char *src)
{
	char	*n = NULL;

	if (src != NULL && (n = strdup(src)) == NULL)
		return (-1);
	free(*dst);
	*dst = n;
	return (0);
}

static struct schan *
chan_find(const char *id, int create)
{
	struct schan	*c;
	size_t		 at;

	if (id == NULL)
		return (NULL);
	if ((c = smap_get(&S.chans, id, &at)) != NULL || !create)
		return (c);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->prefs = store_noprefs;
	if ((c->key = strdup(id)) == NULL || smap_insert(&S.chans, at, c) ==
	    -1) {
		free(c->key);
		free(c);
		return (NULL);
	}
	return (c);
}

static void
chan_free(struct schan *c)
{
	size_t	i;

	for (i = 0; i < c->nthreads; i++) {
		free(c->threads[i].root);
		free(c->threads[i].sid);
		free(c->threads[i].bot);
	}
	for (i = 0; i < c->ncursors; i++) {
		free(c->cursors[i].bot);
		seen_free(&c->cursors[i].seen);
	}
	for (i = 0; i < nitems(c->pref); i++)
		free(c->pref[i]);
	free(c->threads);
	free(c->cursors);
	free(c->sid);
	free(c->bot);
	free(c->key);
	free(c);
}

static void
rule_free(struct srule *r)
{
	free(r->scope);
	free(r->tool);
	free(r->pattern);
	free(r->created);
	free(r);
}

static void
store_free_memory(void)
{
	struct ssetting		*s;
	struct sworkspace	*w;
	size_t			 i;

	for (i = 0; i < S.chans.n; i++)
		chan_free(S.chans.v[i]);
	for (i = 0; i < S.settings.n; i++) {
		s = S.settings.v[i];
		free(s->key);
		free(s->value);
		free(s);
	}
	for (i = 0; i < S.workspaces.n; i++) {
		w = S.workspaces.v[i];
		free(w->key);
		free(w->dir);
		free(w->paths);
		free(w);
	}
	for (i = 0; i < S.nrules; i++)
		rule_free(S.rules[i]);
	free(S.chans.v);
	free(S.settings.v);
	free(S.workspaces.v);
	free(S.rules);
	memset(&S.chans, 0, sizeof(S.chans));
	memset(&S.settings, 0, sizeof(S.settings));
	memset(&S.workspaces, 0, sizeof(S.workspaces));
	S.rules = NULL;
	S.nrules = S.caprules = 0;
	S.ndirty = 0;
}

/* ---- memory: the changes ------------------------------------------------ */

static int
mem_session(const char *channel, const char *thread, const char *bot,
    const char *sid)
{
	struct schan	*c = chan_find(channel, sid != NULL);
	struct sthread	*t, *nt;
	char		*nsid = NULL, *nbot = NULL;
	size_t		 i;

	if (c == NULL)
		return (sid != NULL ? -1 : 0);
	if ((sid != NULL && (nsid = strdup(sid)) == NULL) ||
	    (sid != NULL && bot != NULL && (nbot = strdup(bot)) == NULL)) {
		free(nsid);
		return (-1);
	}
	if (thread == NULL) {
		free(c->sid);
		free(c->bot);
		c->sid = nsid;
		c->bot = nbot;
		return (0);
	}
	for (i = 0; i < c->nthreads; i++)
		if (strcmp(c->threads[i].root, thread) == 0)
			break;
	if (i < c->nthreads) {
		t = &c->threads[i];
		free(t->sid);
		free(t->bot);
		if (sid != NULL) {
			t->sid = nsid;
			t->bot = nbot;
			return (0);
		}
		free(t->root);
		c->threads[i] = c->threads[--c->nthreads];
		return (0);
	}
	if (sid == NULL)
		return (0);
	if ((nt = reallocarray(c->threads, c->nthreads + 1, sizeof(*nt))) ==
	    NULL || (nt[c->nthreads].root = strdup(thread)) == NULL) {
		if (nt != NULL)
			c->threads = nt;
		free(nsid);
		free(nbot);
		return (-1);
	}
	c->threads = nt;
	c->threads[c->nthreads].sid = nsid;
	c->threads[c->nthreads].bot = nbot;
	c->nthreads++;
	return (0);
}

static struct scursor *
mem_cursor(struct schan *c, const char *bot)
{
	struct scursor	*nc;
	size_t		 i;

	for (i = 0; i < c->ncursors; i++)
		if (strcmp(c->cursors[i].bot, bot) == 0)
			return (&c->cursors[i]);
	if ((nc = reallocarray(c->cursors, c->ncursors + 1, sizeof(*nc))) ==
	    NULL)
		return (NULL);
	c->cursors = nc;
	memset(&nc[c->ncursors], 0, sizeof(*nc));
	if ((nc[c->ncursors].bot = strdup(bot)) == NULL)
		return (NULL);
	return (&c->cursors[c->ncursors++]);
}

/* Column i of db_pref_columns; value already checked, booleans "0"/"1". */
static int
mem_pref(struct schan *c, size_t i, const char *value)
{
	char	*base = (char *)&c->prefs + store_pref_fields[i].off;

	if (store_strset(&c->pref[i], value) == -1)
		return (-1);
	if (store_pref_fields[i].is_bool)
		*(int *)(void *)base = value == NULL ? -1 : value[0] == '1';
	else
		*(const char **)(void *)base = c->pref[i];
	return (0);
}

static int
mem_rule_add(long long id, const char *scope, const char *tool,
    const char *pattern, int allow, const char *created)
{
	struct srule	*r, **nv;

	if (S.nrules == S.caprules) {
		if ((nv = reallocarray(S.rules, S.caprules ? S.caprules * 2 :
		    16, sizeof(*nv))) == NULL)
			return (-1);
		S.rules = nv;
		S.caprules = S.caprules ? S.caprules * 2 : 16;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (-1);
	if ((r->scope = strdup(scope)) == NULL ||
	    (r->tool = strdup(tool)) == NULL ||
	    (r->pattern = strdup(pattern)) == NULL ||
	    (r->created = strdup(created != NULL ? created : "")) == NULL) {
		rule_free(r);
		return (-1);
	}
	r->r.id = id;
	r->r.scope = r->scope;
	r->r.tool = r->tool;
	r->r.pattern = r->pattern;
	r->r.allow = allow;
	r->r.created_at = r->created;
	S.rules[S.nrules++] = r;
	if (id >= S.next_rule)
		S.next_rule = id + 1;
	return (0);
}

/* Remove the rules that match (NULL matches any); how many. */
static int
mem_rules_remove(long long id, const char *scope, const char *tool,
    const char *pattern)
{
	size_t	i, j;
	int	n = 0;

	for (i = j = 0; i < S.nrules; i++) {
		struct srule	*r = S.rules[i];

		if ((id == 0 || r->r.id == id) &&
		    (scope == NULL || strcmp(r->scope, scope) == 0) &&
		    (tool == NULL || strcmp(r->tool, tool) == 0) &&
		    (pattern == NULL || strcmp(r->pattern, pattern) == 0)) {
			rule_free(r);
			n++;
		} else
			S.rules[j++] = r;
	}
	S.nrules = j;
	return (n);
}

static int
mem_setting(const char *key, const char *value)
{
	struct ssetting	*s;
	size_t		 at;

	if ((s = smap_get(&S.settings, key, &at)) != NULL) {
		if (value == NULL) {
			smap_remove(&S.settings, at);
			free(s->key);
			free(s->value);
			free(s);
			return (0);
		}
		return (store_strset(&s->value, value));
	}
	if (value == NULL)
		return (0);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (-1);
	if ((s->key = strdup(key)) == NULL || (s->value = strdup(value)) ==
	    NULL || smap_insert(&S.settings, at, s) == -1) {
		free(s->key);
		free(s->value);
		free(s);
		return (-1);
	}
	return (0);
}

/* ---- loading ------------------------------------------------------------ */

static int
load_session(void *arg, const char *channel, const char *thread,
    const char *bot, const char *sid)
{
	return (mem_session(channel, thread, bot, sid));
}

/*
 * A cursor and the ids it covers.  Ids that are not such a list (written
 * by hand or by another program) are left out, and said once: the worst
 * they cost is a message answered again after this restart.
 */
static int
load_cursor(void *arg, const char *channel, const char *bot, long long ms,
    const char *seen)
{
	struct schan	*c;
	struct scursor	*cur;
	char		 why[160];

	if ((c = chan_find(channel, 1)) == NULL ||
	    (cur = mem_cursor(c, bot)) == NULL)
		return (-1);
	if (ms > cur->ms)
		cur->ms = ms;
	if (seen == NULL || cur->seen.n > 0)
		return (0);
	switch (seen_parse(&cur->seen, seen, cur->ms, why, sizeof(why))) {
	case -1:
		if (S.bad_seen++ == 0)
			(void)snprintf(S.bad_seen_why, sizeof(S.bad_seen_why),
			    "channel %.64s, bot %.64s: %s", channel, bot, why);
		return (0);
	case -2:
		return (-1);
	}
	return (0);
}

static int
load_pref(void *arg, const char *channel, const char *column,
    const char *value)
{
	const struct db_column	*col = db_pref_column(column);
	struct schan		*c;

	if (col == NULL || db_value_check(col, value, NULL, 0) == -1) {
		/* Written by hand or by another program: left unset. */
		return (0);
	}
	if ((c = chan_find(channel, 1)) == NULL)
		return (-1);
	return (mem_pref(c, (size_t)(col - db_pref_columns), value));
}

static int
load_rule(void *arg, long long id, const char *scope, const char *tool,
    const char *pattern, const char *action, const char *created)
{
	if (scope == NULL || tool == NULL || pattern == NULL || action == NULL)
		return (0);
	return (mem_rule_add(id, scope, tool, pattern,
	    strcmp(action, "allow") == 0, created));
}

static int
load_setting(void *arg, const char *key, const char *value)
{
	if (key == NULL || value == NULL)
		return (0);
	return (mem_setting(key, value));
}

static int
load_workspace(void *arg, const char *bot, const char *dir,
    const char *paths)
{
	struct sworkspace	*w;
	size_t			 at;

	if (bot == NULL || dir == NULL || smap_get(&S.workspaces, bot, &at))
		return (0);
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return (-1);
	if ((w->key = strdup(bot)) == NULL || (w->dir = strdup(dir)) == NULL ||
	    (w->paths = strdup(paths != NULL ? paths : "[]")) == NULL ||
	    smap_insert(&S.workspaces, at, w) == -1) {
		free(w->key);
		free(w->dir);
		free(w->paths);
		free(w);
		return (-1);
	}
	w->w.bot = w->key;
	w->w.dir = w->dir;
	w->w.allow_paths = w->paths;
	return (0);
}

/* ---- ops ---------------------------------------------------------------- */

static void
op_free(struct op *op)
{
	size_t	i;

	if (op == NULL)
		return;
	for (i = 0; i < nitems(op->s); i++)
		free(op->s[i]);
	for (i = 0; i < op->ncur; i++) {
		free(op->cur[i].channel);
		free(op->cur[i].bot);
		free(op->cur[i].seen);
	}
	free(op->cur);
	if (op->release != NULL)
		op->release(op->data);
	if (op->error != store_oom)
		free(op->error);
	free(op);
}

/* An op with copies of up to 5 strings (NULL allowed); NULL if no memory. */
static struct op *
op_new(enum op_kind kind, store_cb done, void *arg, const char *a,
    const char *b, const char *c, const char *d, const char *e)
{
	const char	*in[5] = { a, b, c, d, e };
	struct op	*op;
	size_t		 i;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return (NULL);
	op->kind = kind;
	op->done = done;
	op->arg = arg;
	for (i = 0; i < nitems(in); i++)
		if (in[i] != NULL && (op->s[i] = strdup(in[i])) == NULL) {
			op_free(op);
			return (NULL);
		}
	return (op);
}

static void
store_kick(void)
{
	uint64_t	one = 1;

	/*
	 * Fails only if the counter is full (EAGAIN), when the loop is woken
	 * anyway; the writer thread could not log it.
	 */
	if (write(S.efd, &one, sizeof(one)) == -1)
		return;
}

/* To the writer; memory only: straight to the done list, with the reason. */
static void
store_submit(struct op *op)
{
	if (!S.running) {
		if (op->done == NULL) {
			op_free(op);
			return;
		}
		if ((op->error = strdup(S.err)) == NULL)
			op->error = store_oom;
		(void)pthread_mutex_lock(&S.mu);
		TAILQ_INSERT_TAIL(&S.done, op, entry);
		(void)pthread_mutex_unlock(&S.mu);
		store_kick();
		return;
	}
	(void)pthread_mutex_lock(&S.mu);
	TAILQ_INSERT_TAIL(&S.queue, op, entry);
	(void)pthread_cond_signal(&S.cv);
	(void)pthread_mutex_unlock(&S.mu);
}

/* ---- the writer thread -------------------------------------------------- */

static int
writer_apply(struct db *db, const struct op *op)
{
	size_t	i;

	switch (op->kind) {
	case OP_SESSION:
		return (db_put_session(db, op->s[0], op->s[1], op->s[2],
		    op->s[3]));
	case OP_CURSORS:
		for (i = 0; i < op->ncur; i++)
			if (db_put_cursor(db, op->cur[i].channel, op->cur[i].bot,
			    op->cur[i].ms, op->cur[i].seen) == -1)
				return (-1);
		return (0);
	case OP_PREF:
		return (db_put_pref(db, op->s[0], op->s[1], op->s[2]));
	case OP_RULE_ADD:
		return (db_add_rule(db, op->n, op->s[0], op->s[1], op->s[2],
		    op->s[3], op->s[4]));
	case OP_RULE_DEL:
		return (db_del_rule(db, op->n));
	case OP_RULE_CLEAR:
		return (db_clear_rules(db, op->s[0], op->s[1], op->s[2]));
	case OP_SETTING:
		return (db_put_setting(db, op->s[0], op->s[1]));
	case OP_EXEC:
		return (op->apply(db, op->data));
	}
	return (-1);
}

static void
writer_fail(struct op *op, const char *why)
{
	if (op->error == NULL && (op->error = strdup(why)) == NULL)
		op->error = store_oom;
}

/* One transaction for the whole batch; each op under its own savepoint. */
static void
writer_batch(struct db *db, struct opq *batch, struct store_stats *st)
{
	struct op	*op;
	uint64_t	 t0 = util_now_us();

	if (db_begin(db) == -1) {
		TAILQ_FOREACH(op, batch, entry)
			writer_fail(op, db_error(db));
		return;
	}
	TAILQ_FOREACH(op, batch, entry) {
		if (db_mark(db) == -1)
			writer_fail(op, db_error(db));
		else if (writer_apply(db, op) == -1) {
			writer_fail(op, db_error(db));
			db_undo(db);
		} else if (db_keep(db) == -1)
			writer_fail(op, db_error(db));
	}
	if (db_commit(db) == -1) {
		TAILQ_FOREACH(op, batch, entry)
			writer_fail(op, db_error(db));
		db_rollback(db);
	}
	st->transactions++;
	if (util_now_us() - t0 > st->max_commit_us)
		st->max_commit_us = util_now_us() - t0;
}

static void *
writer_main(void *arg)
{
	struct db		*db = arg;
	struct store_stats	 st;
	struct op		*op;

	(void)pthread_mutex_lock(&S.mu);
	for (;;) {
		while (TAILQ_EMPTY(&S.queue) && !S.stop)
			(void)pthread_cond_wait(&S.cv, &S.mu);
		if (TAILQ_EMPTY(&S.queue))
			break;
		TAILQ_CONCAT(&S.batch, &S.queue, entry);
		st = S.stats;
		(void)pthread_mutex_unlock(&S.mu);

		/* The batch's list is not changed meanwhile (see forget). */
		writer_batch(db, &S.batch, &st);

		(void)pthread_mutex_lock(&S.mu);
		TAILQ_FOREACH(op, &S.batch, entry) {
			if (op->error == NULL)
				st.writes++;
			else
				st.failed++;
		}
		S.stats.writes = st.writes;
		S.stats.failed = st.failed;
		S.stats.transactions = st.transactions;
		S.stats.max_commit_us = st.max_commit_us;
		TAILQ_CONCAT(&S.done, &S.batch, entry);
		store_kick();
	}
	S.exited = 1;
	(void)pthread_cond_broadcast(&S.cv);
	(void)pthread_mutex_unlock(&S.mu);
	return (NULL);
}

static int
writer_start(void)
{
	sigset_t	all, old;
	int		rc;

	/* The loop takes the signals (libevent); the writer never does. */
	(void)sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
		return (-1);
	rc = pthread_create(&S.thr, NULL, writer_main, S.db);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return (-1);
	}
	(void)pthread_setname_np(S.thr, "store");
	S.running = 1;
	return (0);
}

/* ---- the loop's side ---------------------------------------------------- */

/* One warning per distinct reason, and at most one a minute otherwise. */
static void
store_log_failure(const struct op *op)
{
	uint64_t	now = util_now_ms();

	/* Memory only: said once, at open; the callbacks say it again. */
	if (S.db == NULL || (strcmp(op->error, S.last_err) == 0 &&
	    now - S.last_err_ms < STORE_LOG_MS))
		return;
	(void)snprintf(S.last_err, sizeof(S.last_err), "%s", op->error);
	S.last_err_ms = now;
	log_warnx("state: not saved: %s", op->error);
}

static void
store_done_ev(int fd, short ev, void *arg)
{
	uint64_t	 n;
	struct op	*op;
	store_cb	 done;
	void		*cbarg;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("state: eventfd");
	(void)pthread_mutex_lock(&S.mu);
	TAILQ_CONCAT(&S.delivering, &S.done, entry);
	(void)pthread_mutex_unlock(&S.mu);
	while ((op = TAILQ_FIRST(&S.delivering)) != NULL) {
		TAILQ_REMOVE(&S.delivering, op, entry);
		if (op->error != NULL)
			store_log_failure(op);
		else if (S.last_err[0] != '\0') {
			log_info("state: saving again");
			S.last_err[0] = '\0';
		}
		(void)pthread_mutex_lock(&S.mu);
		done = op->done;
		cbarg = op->arg;
		(void)pthread_mutex_unlock(&S.mu);
		if (done != NULL)
			done(cbarg, op->error == NULL, op->error);
		op_free(op);
	}
}

/*
 * Hand the dirty cursors, each with its ids, to the writer as one op.  Out
 * of memory, they stay dirty for the next flush (a cursor that moves, or
 * the close).
 */
static void
store_flush_cursors(void)
{
	struct op	*op;
	struct op_cursor *oc;
	struct scursor	*cur;
	struct schan	*c;
	size_t		 i, j;

	if (S.ndirty == 0 || !S.running)
		return;
	if ((op = calloc(1, sizeof(*op))) == NULL ||
	    (op->cur = calloc(S.ndirty, sizeof(*op->cur))) == NULL) {
		free(op);
		log_warnx("state: out of memory; cursors saved later");
		return;
	}
	op->kind = OP_CURSORS;
	for (i = 0; i < S.chans.n && op->ncur < S.ndirty; i++) {
		c = S.chans.v[i];
		for (j = 0; j < c->ncursors && op->ncur < S.ndirty; j++) {
			if (!(cur = &c->cursors[j])->dirty)
				continue;
			oc = &op->cur[op->ncur++];
			oc->ms = cur->ms;
			if ((oc->channel = strdup(c->key)) == NULL ||
			    (oc->bot = strdup(cur->bot)) == NULL ||
			    (cur->seen.n > 0 && (oc->seen =
			    seen_text(&cur->seen)) == NULL)) {
				op_free(op);
				log_warnx("state: out of memory; cursors saved "
				    "later");
				return;
			}
		}
	}
	for (i = 0; i < S.chans.n; i++) {
		c = S.chans.v[i];
		for (j = 0; j < c->ncursors; j++)
			c->cursors[j].dirty = 0;
	}
	S.ndirty = 0;
	store_submit(op);
}

static void
store_cursor_timer(int fd, short ev, void *arg)
{
	store_flush_cursors();
}

static void
store_memory_only(const char *why)
{
	(void)snprintf(S.err, sizeof(S.err), "not saved: %s", why);
	log_errorx("state: %s; running without persistence: nothing is "
	    "saved until this is fixed and sessiond restarts", why);
}

static const struct db_loader store_loader = {
	NULL, load_session, load_cursor, load_pref, load_rule, load_setting,
	load_workspace
};

int
store_open(struct event_base *base, const char *state_dir)
{
	char		err[DB_ERR_MAX];
	long long	seq;
	size_t		i;

	if (S.open)
		return (0);
	for (i = 0; i < DB_NPREF; i++)
		if (strcmp(store_pref_fields[i].name,
		    db_pref_columns[i].name) != 0) {
			log_warnx("state: struct store_prefs is not channel_prefs "
			    "(%s)", db_pref_columns[i].name);
			return (-1);
		}
	TAILQ_INIT(&S.queue);
	TAILQ_INIT(&S.batch);
	TAILQ_INIT(&S.done);
	TAILQ_INIT(&S.delivering);
	if (pthread_mutex_init(&S.mu, NULL) != 0 ||
	    pthread_cond_init(&S.cv, NULL) != 0)
		return (-1);
	if ((S.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (S.done_ev = event_new(base, S.efd, EV_READ | EV_PERSIST,
	    store_done_ev, NULL)) == NULL || event_add(S.done_ev, NULL) == -1 ||
	    (S.cursor_ev = evtimer_new(base, store_cursor_timer, NULL)) ==
	    NULL) {
		log_warn("state: cannot set up its events");
		return (-1);
	}
	S.open = 1;
	S.stop = S.exited = 0;
	S.next_rule = 1;
	(void)snprintf(S.path, sizeof(S.path), "%s/%s", state_dir, DB_FILE);
	if ((S.db = db_open(state_dir, err, sizeof(err))) == NULL) {
		store_memory_only(err);
		return (0);
	}
	if (db_load(S.db, &store_loader) == -1 ||
	    (seq = db_rule_seq(S.db)) == -1 || writer_start() == -1) {
		if (db_error(S.db)[0] != '\0')
			(void)snprintf(err, sizeof(err), "%s", db_error(S.db));
		else
			(void)snprintf(err, sizeof(err), "cannot start the "
			    "writer thread: %s", strerror(errno));
		db_close(S.db);
		S.db = NULL;
		store_free_memory();
		store_memory_only(err);
		return (0);
	}
	if (seq >= S.next_rule)
		S.next_rule = seq + 1;
	log_info("state: %s: %zu channel(s), %zu rule(s), %zu setting(s)",
	    S.path, S.chans.n, S.nrules, S.settings.n);
	if (S.bad_seen > 0)
		log_warnx("state: %s: the seen ids of %zu cursor(s) are not a "
		    "list of ids and are left out (%s): their messages may be "
		    "answered again", S.path, S.bad_seen, S.bad_seen_why);
	return (0);
}

int
store_ok(void)
{
	return (S.running);
}

const char *
store_error(void)
{
	return (S.open && !S.running ? S.err : NULL);
}

/* Wait at most ms for the writer to have left; 0 if it has. */
static int
store_wait_exit(int ms)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return (-1);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!S.exited)
		if (pthread_cond_timedwait(&S.cv, &S.mu, &ts) == ETIMEDOUT)
			break;
	return (S.exited ? 0 : -1);
}

/*
 * Let the writer save what is queued, waiting at most STORE_CLOSE_MS; then
 * abandon the rest and interrupt it.  -1 if it is stuck even so.
 */
static int
store_join(void)
{
	int	rc;

	(void)pthread_mutex_lock(&S.mu);
	S.stop = 1;
	(void)pthread_cond_broadcast(&S.cv);
	if ((rc = store_wait_exit(STORE_CLOSE_MS)) == -1) {
		log_warnx("state: not saved within %d ms; abandoning what is "
		    "left", STORE_CLOSE_MS);
		TAILQ_CONCAT(&S.done, &S.queue, entry);
		db_abort(S.db);
		rc = store_wait_exit(1000);
	}
	(void)pthread_mutex_unlock(&S.mu);
	if (rc == -1)
		return (-1);
	return (pthread_join(S.thr, NULL) == 0 ? 0 : -1);
}

/*
 * Save what is queued (bounded) and stop the writer.  Callbacks still owed
 * are not called: the process is stopping, their owners may be gone.
 */
void
store_close(void)
{
	struct store_stats	 st;
	struct op		*op;

	if (!S.open)
		return;
	store_flush_cursors();
	if (S.running && store_join() == -1) {
		log_warnx("state: the writer thread is stuck; leaving it");
		return;
	}
	store_stats(&st);
	if (S.running)
		log_info("state: %llu write(s) in %llu transaction(s), %llu "
		    "not saved; longest %.1f ms",
		    (unsigned long long)st.writes,
		    (unsigned long long)st.transactions,
		    (unsigned long long)st.failed,
		    (double)st.max_commit_us / 1000);
	S.running = 0;
	(void)pthread_mutex_lock(&S.mu);
	TAILQ_CONCAT(&S.done, &S.queue, entry);
	TAILQ_CONCAT(&S.done, &S.delivering, entry);
	(void)pthread_mutex_unlock(&S.mu);
	while ((op = TAILQ_FIRST(&S.done)) != NULL) {
		TAILQ_REMOVE(&S.done, op, entry);
		if (op->error != NULL)
			store_log_failure(op);
		op_free(op);
	}
	db_close(S.db);
	event_free(S.done_ev);
	event_free(S.cursor_ev);
	(void)close(S.efd);
	(void)pthread_cond_destroy(&S.cv);
	(void)pthread_mutex_destroy(&S.mu);
	store_free_memory();
	memset(&S, 0, sizeof(S));
	S.efd = -1;
}

void
store_forget(void *arg)
{
	struct opq	*lists[] = { &S.queue, &S.batch, &S.done,
			    &S.delivering };
	struct op	*op;
	size_t		 i;

	if (!S.open)
		return;
	(void)pthread_mutex_lock(&S.mu);
	for (i = 0; i < nitems(lists); i++)
		TAILQ_FOREACH(op, lists[i], entry)
			if (op->arg == arg)
				op->done = NULL;
	(void)pthread_mutex_unlock(&S.mu);
}

void
store_stats(struct store_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!S.open)
		return;
	(void)pthread_mutex_lock(&S.mu);
	*st = S.stats;
	(void)pthread_mutex_unlock(&S.mu);
}

/* ---- the API: sessions and cursors -------------------------------------- */

const char *
store_session(const char *channel, const char *thread)
{
	struct schan	*c = chan_find(channel, 0);
	size_t		 i;

	if (c == NULL)
		return (NULL);
	if (thread == NULL)
		return (c->sid);
	for (i = 0; i < c->nthreads; i++)
		if (strcmp(c->threads[i].root, thread) == 0)
			return (c->threads[i].sid);
	return (NULL);
}

int
store_set_session(const char *channel, const char *thread, const char *bot,
    const char *sid, store_cb done, void *arg)
{
	struct op	*op;

	if (!S.open || channel == NULL)
		return (-1);
	if ((op = op_new(OP_SESSION, done, arg, channel, thread, bot, sid,
	    NULL)) == NULL || mem_session(channel, thread, bot, sid) == -1) {
		op_free(op);
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	store_submit(op);
	return (0);
}

/* A cursor changed: saved with the next batch, STORE_CURSOR_MS from now. */
static void
store_cursor_dirty(struct scursor *cur)
{
	if (!S.running)
		return;
	if (!cur->dirty) {
		cur->dirty = 1;
		S.ndirty++;
	}
	if (!evtimer_pending(S.cursor_ev, NULL) &&
	    util_timer_ms(S.cursor_ev, STORE_CURSOR_MS) == -1)
		store_flush_cursors();
}

/* More ids in a span than a list keeps: said at most once a minute. */
static void
store_seen_full(const char *channel)
{
	static uint64_t	last_ms;
	uint64_t	now = util_now_ms();

	if (last_ms != 0 && now - last_ms < STORE_LOG_MS)
		return;
	last_ms = now;
	log_warnx("state: channel %.64s: more than %d messages within %d ms; "
	    "after a restart, the oldest of them may be answered again",
	    channel, SEEN_MAX, IPC_CATCHUP_MARGIN_MS);
}

void
store_set_cursor(const char *channel, const char *bot, const char *id,
    long long ms)
{
	struct schan	*c;
	struct scursor	*cur;
	int		 changed = 0, evicted;

	if (!S.open || bot == NULL)
		return;
	if ((c = chan_find(channel, 1)) == NULL ||
	    (cur = mem_cursor(c, bot)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return;
	}
	if (ms > cur->ms) {
		cur->ms = ms;
		(void)seen_trim(&cur->seen, ms);
		changed = 1;
	}
	switch (seen_add(&cur->seen, id, ms, cur->ms, &evicted)) {
	case -1:
		log_warnx("%s: out of memory; message %.64s may be answered "
		    "again after a restart", __func__, id);
		break;
	case 1:
		changed = 1;
		break;
	}
	if (evicted)
		store_seen_full(channel);
	if (changed)
		store_cursor_dirty(cur);
}

void
store_unsee(const char *channel, const char *bot, const char *id)
{
	struct schan	*c = chan_find(channel, 0);
	size_t		 i;

	if (c == NULL || bot == NULL || id == NULL)
		return;
	for (i = 0; i < c->ncursors; i++)
		if (strcmp(c->cursors[i].bot, bot) == 0 &&
		    seen_del(&c->cursors[i].seen, id))
			store_cursor_dirty(&c->cursors[i]);
}

size_t
store_seen_each(long long since_ms, void (*fn)(const char *bot,
    const char *id))
{
	struct schan	*c;
	struct scursor	*cur;
	size_t		 i, j, k, n = 0;

	for (i = 0; i < S.chans.n; i++) {
		c = S.chans.v[i];
		for (j = 0; j < c->ncursors; j++) {
			cur = &c->cursors[j];
			for (k = 0; cur->ms > since_ms && k < cur->seen.n; k++)
				fn(cur->bot, cur->seen.v[k].id);
			n += cur->ms > since_ms ? cur->seen.n : 0;
		}
	}
	return (n);
}

/* {channel: ms} of bot's cursors newer than since_ms. */
json_t *
store_cursors(const char *bot, long long since_ms)
{
	struct schan	*c;
	json_t		*out;
	size_t		 i, j;

	if ((out = json_object()) == NULL)
		return (NULL);
	for (i = 0; i < S.chans.n; i++) {
		c = S.chans.v[i];
		for (j = 0; j < c->ncursors; j++)
			if (strcmp(c->cursors[j].bot, bot) == 0 &&
			    c->cursors[j].ms > since_ms &&
			    json_object_set_new(out, c->key,
			    json_integer(c->cursors[j].ms)) == -1) {
				json_decref(out);
				return (NULL);
			}
	}
	return (out);
}

/* ---- the API: preferences ------------------------------------------------ */

const struct store_prefs *
store_prefs(const char *channel)
{
	struct schan	*c = chan_find(channel, 0);

	return (c != NULL ? &c->prefs : &store_noprefs);
}

int
store_set_pref(const char *channel, const char *name, const char *value,
    store_cb done, void *arg)
{
	const struct db_column	*col = db_pref_column(name);
	struct schan		*c;
	struct op		*op;
	size_t			 i;

	if (!S.open || channel == NULL || col == NULL ||
	    db_value_check(col, value, NULL, 0) == -1)
		return (-1);
	i = (size_t)(col - db_pref_columns);
	if (value != NULL && col->kind == DB_BOOL)
		value = strcmp(value, "1") == 0 || strcmp(value, "true") == 0 ?
		    "1" : "0";
	if ((op = op_new(OP_PREF, done, arg, channel, col->name, value, NULL,
	    NULL)) == NULL || ((c = chan_find(channel, value != NULL)) == NULL &&
	    value != NULL) || (c != NULL && mem_pref(c, i, value) == -1)) {
		op_free(op);
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	store_submit(op);
	return (0);
}

/* ---- the API: permission rules ------------------------------------------ */

size_t
store_rules(const char *scope, const struct store_rule **v, size_t max)
{
	size_t	i, n = 0;

	for (i = 0; i < S.nrules; i++)
		if (scope == NULL || strcmp(S.rules[i]->scope, scope) == 0) {
			if (n < max)
				v[n] = &S.rules[i]->r;
			n++;
		}
	return (n);
}

/* Now in UTC as SQLite's datetime('now') writes it. */
static void
store_now(char *buf, size_t len)
{
	struct tm	tm;
	time_t		t = time(NULL);

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		(void)snprintf(buf, len, "1970-01-01 00:00:00");
}

long long
store_add_rule(const char *scope, const char *tool, const char *pattern,
    int allow, store_cb done, void *arg)
{
	struct op	*op;
	char		 now[32];
	long long	 id;

	if (!S.open || scope == NULL || tool == NULL || pattern == NULL ||
	    *scope == '\0' || *tool == '\0' || *pattern == '\0')
		return (-1);
	store_now(now, sizeof(now));
	id = S.next_rule;
	if ((op = op_new(OP_RULE_ADD, done, arg, scope, tool, pattern,
	    allow ? "allow" : "deny", now)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	/* Upstream's rule: one per scope, tool and pattern, the newest. */
	(void)mem_rules_remove(0, scope, tool, pattern);
	if (mem_rule_add(id, scope, tool, pattern, allow, now) == -1) {
		op_free(op);
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	op->n = id;
	store_submit(op);
	return (id);
}

int
store_remove_rule(long long id, store_cb done, void *arg)
{
	struct op	*op;

	if (!S.open || id <= 0)
		return (-1);
	if ((op = op_new(OP_RULE_DEL, done, arg, NULL, NULL, NULL, NULL,
	    NULL)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	if (mem_rules_remove(id, NULL, NULL, NULL) == 0) {
		op_free(op);
		return (-1);
	}
	op->n = id;
	store_submit(op);
	return (0);
}

int
store_clear_rules(const char *scope, const char *tool, const char *pattern,
    store_cb done, void *arg)
{
	struct op	*op;

	if (!S.open || scope == NULL)
		return (-1);
	if ((op = op_new(OP_RULE_CLEAR, done, arg, scope, tool, pattern, NULL,
	    NULL)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	store_submit(op);
	return (mem_rules_remove(0, scope, tool, pattern));
}

/* ---- the API: settings and workspaces ------------------------------------ */

const char *
store_setting(const char *key)
{
	struct ssetting	*s = key != NULL ? smap_get(&S.settings, key, NULL) :
			    NULL;

	return (s != NULL ? s->value : NULL);
}

int
store_set_setting(const char *key, const char *value, store_cb done,
    void *arg)
{
	struct op	*op;

	if (!S.open || key == NULL || *key == '\0')
		return (-1);
	if ((op = op_new(OP_SETTING, done, arg, key, value, NULL, NULL,
	    NULL)) == NULL || mem_setting(key, value) == -1) {
		op_free(op);
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	store_submit(op);
	return (0);
}

const struct store_workspace *
store_workspace(const char *bot)
{
	struct sworkspace	*w = bot != NULL ? smap_get(&S.workspaces, bot,
				    NULL) : NULL;

	return (w != NULL ? &w->w : NULL);
}

int
store_exec(store_fn apply, void (*release)(void *), void *data, store_cb done,
    void *arg)
{
	struct op	*op;

	if ((op = op_new(OP_EXEC, done, arg, NULL, NULL, NULL, NULL,
	    NULL)) == NULL) {
		if (release != NULL)
			release(data);
		return (-1);
	}
	op->apply = apply;
	op->release = release;
	op->data = data;
	store_submit(op);
	return (0);
}
