/*
 * seen: see seen.h.  At most SEEN_MAX entries, so a linear search is
 * cheaper than anything cleverer, and the list stays sorted by time so the
 * oldest is the one to go.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "ipc/ipc.h"
#include "seen.h"

/* The oldest time cursor's span covers, without overflowing. */
static long long
seen_floor(long long cursor)
{
	return (cursor < LLONG_MIN + IPC_CATCHUP_MARGIN_MS ? LLONG_MIN :
	    cursor - IPC_CATCHUP_MARGIN_MS);
}

static void
seen_remove(struct seen *s, size_t i)
{
	free(s->v[i].id);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

int
seen_has(const struct seen *s, const char *id)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].id, id) == 0)
			return (1);
	return (0);
}

int
seen_add(struct seen *s, const char *id, long long ms, long long cursor,
    int *evicted)
{
	struct seen_ent	*nv;
	size_t		 i, ncap, len = id != NULL ? strlen(id) : 0;
	char		*copy;

	*evicted = 0;
	if (len == 0 || len > SEEN_ID_MAX || ms < seen_floor(cursor) ||
	    seen_has(s, id))
		return (0);
	if (s->n == SEEN_MAX) {
		*evicted = 1;
		if (ms < s->v[0].ms)
			return (0);	/* older than all it would displace */
		seen_remove(s, 0);
	}
	if (s->n == s->cap) {
		ncap = s->cap == 0 ? 8 : s->cap * 2 > SEEN_MAX ? SEEN_MAX :
		    s->cap * 2;
		if ((nv = reallocarray(s->v, ncap, sizeof(*nv))) == NULL)
			return (-1);
		s->v = nv;
		s->cap = ncap;
	}
	if ((copy = strdup(id)) == NULL)
		return (-1);
	for (i = s->n; i > 0 && s->v[i - 1].ms > ms; i--)
		;
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->v[i].id = copy;
	s->v[i].ms = ms;
	s->n++;
	return (1);
}

size_t
seen_trim(struct seen *s, long long cursor)
{
	long long	floor = seen_floor(cursor);
	size_t		i, n;

	for (n = 0; n < s->n && s->v[n].ms < floor; n++)
		free(s->v[n].id);
	if (n == 0)
		return (0);
	for (i = n; i < s->n; i++)
		s->v[i - n] = s->v[i];
	s->n -= n;
	return (n);
}

int
seen_del(struct seen *s, const char *id)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].id, id) == 0) {
			seen_remove(s, i);
			return (1);
		}
	return (0);
}

char *
seen_text(const struct seen *s)
{
	json_t	*a, *e;
	char	*text;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < s->n; i++)
		if ((e = json_pack("[sI]", s->v[i].id,
		    (json_int_t)s->v[i].ms)) == NULL ||
		    json_array_append_new(a, e) == -1) {
			json_decref(a);
			return (NULL);
		}
	text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return (text);
}

/* Entry i of a stored list: 0 and its parts, or -1 and why. */
static int
seen_entry(const json_t *e, size_t i, long long cursor, const char **id,
    long long *ms, char *why, size_t len)
{
	const json_t	*jid = json_array_get(e, 0), *jms = json_array_get(e, 1);
	size_t		 l;

	if (!json_is_array(e) || json_array_size(e) != 2 ||
	    !json_is_string(jid) || !json_is_integer(jms))
		return (util_err(why, len, "entry %zu is not [\"<id>\", <ms>]",
		    i));
	*id = json_string_value(jid);
	*ms = json_integer_value(jms);
	l = json_string_length(jid);
	if (l == 0 || l > SEEN_ID_MAX || strlen(*id) != l)
		return (util_err(why, len, "entry %zu: an id of %zu bytes", i,
		    l));
	if (*ms <= 0 || *ms > cursor)
		return (util_err(why, len, "entry %zu: time %lld is not in "
		    "(0, %lld], the cursor", i, *ms, cursor));
	return (0);
}

int
seen_parse(struct seen *s, const char *text, long long cursor, char *why,
    size_t len)
{
	json_error_t	 jerr;
	json_t		*a, *e;
	const char	*id = NULL;
	long long	 ms = 0;
	size_t		 i, l = strlen(text);
	int		 rc = 0, evicted;

	if (l > SEEN_TEXT_MAX)
		return (util_err(why, len, "%zu bytes, more than the %d of "
		    "%d ids", l, SEEN_TEXT_MAX, SEEN_MAX));
	if ((a = json_loadb(text, l, 0, &jerr)) == NULL)
		return (util_err(why, len, "not JSON: %d:%d: %s", jerr.line,
		    jerr.column, jerr.text));
	if (!json_is_array(a)) {
		json_decref(a);
		return (util_err(why, len, "not a JSON array"));
	}
	json_array_foreach(a, i, e) {
		if (seen_entry(e, i, cursor, &id, &ms, why, len) == -1) {
			rc = -1;
			break;
		}
		if (seen_add(s, id, ms, cursor, &evicted) == -1) {
			rc = -2;
			break;
		}
	}
	json_decref(a);
	if (rc != 0)
		seen_free(s);
	return (rc);
}

void
seen_free(struct seen *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].id);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
