/*
 * seen: the ids of the messages a catch-up cursor covers.
 *
 * A new worker re-reads each channel from IPC_CATCHUP_MARGIN_MS before
 * sessiond's cursor there (late delivery, clock skew), so what sessiond
 * answered in that span comes again after a restart, when dedup's memory
 * is gone.  The store keeps, with each cursor, the ids of that span: the
 * newest SEEN_MAX, oldest first, saved as the JSON text
 * [["<id>", <ms>], ...] (docs/architecture.md, "Catch-up after a
 * restart").  Pure: no I/O, no logging.
 */
#ifndef SESSIOND_SEEN_H
#define SESSIOND_SEEN_H

#include <stddef.h>

#define SEEN_MAX	256	/* ids kept per channel and bot */
#define SEEN_ID_MAX	256	/* bytes of an id: a longer one is not kept */
/* The longest stored text read back: every id at its longest, escaped. */
#define SEEN_TEXT_MAX	(SEEN_MAX * (SEEN_ID_MAX * 6 + 32))

struct seen_ent {
	char		*id;
	long long	 ms;		/* the platform's time of the message */
};

struct seen {
	struct seen_ent	*v;		/* by ms, oldest first */
	size_t		 n, cap;
};

/*
 * Remember id at ms for a channel whose cursor is now cursor.  1: added
 * (if the list was full, the oldest went, and *evicted is set); 0: nothing
 * to do (known already, before the span, or an id too long or empty); -1:
 * out of memory.
 */
int	 seen_add(struct seen *, const char *id, long long ms,
	    long long cursor, int *evicted);
/* Forget what the span of a cursor moved to cursor no longer covers. */
size_t	 seen_trim(struct seen *, long long cursor);
/* Forget id: 1 if it was there. */
int	 seen_del(struct seen *, const char *id);
int	 seen_has(const struct seen *, const char *id);
/* The stored text; NULL if out of memory. */
char	*seen_text(const struct seen *);
/*
 * Read a stored text into an empty list, keeping what cursor's span
 * covers.  0; -1 if the text is not such a list (why says how, the list
 * stays empty); -2 out of memory.
 */
int	 seen_parse(struct seen *, const char *text, long long cursor,
	    char *why, size_t len);
void	 seen_free(struct seen *);

#endif
