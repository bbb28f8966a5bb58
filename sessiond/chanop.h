/*
 * chanop: a command's work that waits for the channel's session (a
 * request of the runtime) or for the store (a write made durable), and
 * the replies it then gives.  An operation belongs to its channel: it is
 * freed when its callback says so, or without a callback when the session
 * closes under a request (the backend answers no more), or when the
 * channel goes.
 */
#ifndef SESSIOND_CHANOP_H
#define SESSIOND_CHANOP_H

#include <stddef.h>

#include <jansson.h>

struct chan;
struct chanop;

/*
 * A request's result or error; a store write's error (result NULL, error
 * NULL: durable).  The callback frees op with chanop_free() or goes on
 * with another step.
 */
typedef void	(*chanop_cb)(struct chanop *, const json_t *result,
		    const char *error);

struct chanop {
	struct chan	*c;
	char		*root;		/* where the replies go */
	json_t		*msg;		/* the command's message, or NULL */
	chanop_cb	 cb;		/* the step waiting */
	chanop_cb	 then;		/* the caller's continuation */
	int		 flags;		/* the caller's */
	const char	*word;		/* the caller's, not freed */
	char		*text;		/* the caller's, freed with op */
};

struct chanop	*chanop_new(struct chan *, const char *root, json_t *msg);
void		 chanop_free(struct chanop *);
/* A request of the channel's session (params stolen); -1: not sent. */
int		 chanop_call(struct chanop *, const char *method, json_t *params,
		    chanop_cb);
/* A channel preference (store_set_pref()); -1: refused at once. */
int		 chanop_pref(struct chanop *, const char *name,
		    const char *value, chanop_cb);
/*
 * The channel's stored rules of tool and pattern (NULL: all of them);
 * *removed gets how many there were.  -1: refused at once.
 */
int		 chanop_clear_rules(struct chanop *, const char *tool,
		    const char *pattern, chanop_cb, size_t *removed);
/* The session of c closes (all 0) or c goes (all 1). */
void		 chanop_drop(struct chan *, int all);
/* A reply, split over as many posts as its length needs. */
void		 chanop_say(struct chan *, const char *root, const char *text);

#endif
