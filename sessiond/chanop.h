/*
 * chanop: a channel's work that waits, and goes on in steps: a command's
 * (or the channel layer's own) request of the channel's session or of the
 * engine, store writes acknowledged once durable (docs/architecture.md,
 * "Acknowledged means durable"), or something of the caller's (an HTTP
 * request).  The one way such work keeps its context until the answer,
 * and never runs for, nor leaks with, a channel or session that went.
 *
 * An operation belongs to its channel and holds it (chan->holds: a thread
 * session is not trimmed under it).  A step runs only while the channel
 * lives, with op->c set; it ends the operation with chanop_free() or
 * waits again.  What happens to an operation that waits when:
 *
 *   the session closes (/new, /resume, a lost or failed session): one
 *   waiting for a request of that session is freed, no step runs (the
 *   backend answers no more);
 *   the channel goes (sessiond stops): every operation of it is freed, no
 *   step runs; one waiting for the engine, which answers anyway, is
 *   freed when that answer comes; a store write's answer is forgotten.
 *
 * Before it is freed, an operation's dtor (if any) releases what the
 * caller added: a caller that waits for something of its own (an HTTP
 * request) cancels it there.
 */
#ifndef SESSIOND_CHANOP_H
#define SESSIOND_CHANOP_H

#include <sys/queue.h>

#include <stddef.h>

#include <jansson.h>

struct chan;
struct chanop;

/*
 * A step: a request's result or error; after store writes, error is the
 * first of them that failed (NULL: all durable).
 */
typedef void	(*chanop_cb)(struct chanop *, const json_t *result,
		    const char *error);

enum chanop_wait {
	CHANOP_IDLE,		/* in a step, or the caller's own wait */
	CHANOP_SESSION,		/* a request of the channel's session */
	CHANOP_ENGINE,		/* a request of the engine */
	CHANOP_STORE		/* store writes */
};

struct chanop {
	struct chan	*c;		/* set in every step */
	char		*root;		/* where the replies go */
	json_t		*msg;		/* the command's INBOUND, or NULL */
	/* The caller's: */
	json_t		*data;		/* released with op */
	char		*text;		/* freed with op */
	const char	*word;		/* not freed */
	int		 flags;
	chanop_cb	 then;		/* a continuation */
	void		(*dtor)(struct chanop *); /* of a bigger struct */
	/* The mechanism's: */
	TAILQ_ENTRY(chanop) entry;
	enum chanop_wait wait;
	chanop_cb	 step;		/* runs when the wait ends */
	int		 pending;	/* store writes not yet done */
	int		 told;		/* error was given to a step */
	char		 error[256];	/* why a write failed, or "" */
};

/*
 * A new operation of c, replies going to root; size: of the caller's
 * struct, which begins with a struct chanop (zeroed), or 0.  NULL: out of
 * memory (logged).
 */
struct chanop	*chanop_new(struct chan *c, const char *root, json_t *msg,
		    size_t size);
/* Not while it waits for a request. */
void		 chanop_free(struct chanop *);

/*
 * A request of the channel's open session, or of the engine (params
 * stolen); step gets its answer.  -1: not sent now (step not called).
 */
int		 chanop_call(struct chanop *, const char *method,
		    json_t *params, chanop_cb step);
int		 chanop_engine(struct chanop *, const char *method,
		    json_t *params, chanop_cb step);
/*
 * A request of c's session whose answer matters only if it fails (then
 * logged, with what it was for).
 */
void		 chanop_send(struct chan *c, const char *method,
		    json_t *params);

/*
 * Store writes: a channel preference (store_set_pref()), a setting
 * (store_set_setting()), the channel's stored rules of tool and pattern
 * (NULL: all of them; *removed gets how many).  Each returns -1 when the
 * store refuses it at once, which counts as a write that failed.  Issue
 * them, then chanop_stored(): step runs once every one is durable or
 * failed (at once if none is pending).
 */
int		 chanop_pref(struct chanop *, const char *name,
		    const char *value);
int		 chanop_setting(struct chanop *, const char *key,
		    const char *value);
int		 chanop_clear_rules(struct chanop *, const char *tool,
		    const char *pattern, size_t *removed);
void		 chanop_stored(struct chanop *, chanop_cb step);
/* text, said where op's replies go. */
void		 chanop_say(struct chanop *, const char *text);
/*
 * The reply to writes: text, and if one failed, that it was not saved
 * (malloc'd; NULL: out of memory); or said in the channel.
 */
char		*chanop_outcome(struct chanop *, const char *text);
void		 chanop_saved(struct chanop *, const char *text);

/* channel.c: c's session closes; c goes. */
void		 chanop_session_closed(struct chan *c);
void		 chanop_chan_freed(struct chan *c);

#endif
