/*
 * mrkdwn: Markdown to Slack mrkdwn, and the cutting of long text (see
 * mrkdwn.h).  Pure: no I/O, no state.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "worker/mrkdwn.h"

/* A growing string; one failed allocation poisons it (p becomes NULL). */
struct mk_buf {
	char	*p;
	size_t	 n, cap;
};

static void
mk_add(struct mk_buf *b, const char *s, size_t n)
{
	char	*np;
	size_t	 ncap;

	if (b->p == NULL)
		return;
	if (b->n + n + 1 > b->cap) {
		ncap = (b->n + n + 1) * 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			free(b->p);
			b->p = NULL;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void
mk_adds(struct mk_buf *b, const char *s)
{
	mk_add(b, s, strlen(s));
}

static int
mk_init(struct mk_buf *b, size_t hint)
{
	b->n = 0;
	b->cap = hint + 1;
	if ((b->p = malloc(b->cap)) == NULL)
		return (-1);
	b->p[0] = '\0';
	return (0);
}

static const char *
mk_skip_blank(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return (s);
}

static int
mk_is_fence(const char *line, const char *end)
{
	line = mk_skip_blank(line, end);
	return (end - line >= 3 && strncmp(line, "```", 3) == 0);
}

static int
mk_is_table_row(const char *line, const char *end)
{
	line = mk_skip_blank(line, end);
	return (line < end && *line == '|');
}

/* |---|:--:| : only pipes, dashes, colons and blanks, a dash at least. */
static int
mk_is_table_sep(const char *line, const char *end)
{
	int	dash = 0;

	if (!mk_is_table_row(line, end))
		return (0);
	for (; line < end; line++) {
		if (*line == '-')
			dash = 1;
		else if (strchr("|: \t", *line) == NULL)
			return (0);
	}
	return (dash);
}

static const char *
mk_find(const char *s, const char *end, const char *what)
{
	size_t	n = strlen(what);

	for (; s + n <= end; s++)
		if (memcmp(s, what, n) == 0)
			return (s);
	return (NULL);
}

/* [text](url) at s: the whole length, with text and url located. */
static size_t
mk_link(const char *s, const char *end, const char **t, size_t *tn,
    const char **u, size_t *un)
{
	const char	*cb, *cp, *q;

	if ((cb = memchr(s, ']', (size_t)(end - s))) == NULL ||
	    cb + 1 >= end || cb[1] != '(' || cb == s + 1 ||
	    memchr(s + 1, '[', (size_t)(cb - s - 1)) != NULL)
		return (0);
	if ((cp = memchr(cb + 2, ')', (size_t)(end - cb - 2))) == NULL ||
	    cp == cb + 2)
		return (0);
	for (q = cb + 2; q < cp; q++)
		if (isspace((unsigned char)*q) || *q == '<' || *q == '>' ||
		    *q == '|')
			return (0);
	*t = s + 1;
	*tn = (size_t)(cb - s - 1);
	*u = cb + 2;
	*un = (size_t)(cp - cb - 2);
	return ((size_t)(cp - s + 1));
}

/* `code` at s (any run of backticks, closed by the same run): its length. */
static size_t
mk_code_span(const char *s, const char *end)
{
	size_t		 n = 0;
	const char	*q;

	while (s + n < end && s[n] == '`')
		n++;
	for (q = s + n; q + n <= end; q++)
		if (memcmp(q, s, n) == 0 && (q + n == end || q[n] != '`'))
			return ((size_t)(q + n - s));
	return (n);	/* unclosed: the backticks alone */
}

/* Inline conversion of one line (no newline in it). */
static void
mk_inline(struct mk_buf *b, const char *s, const char *end)
{
	const char	*t, *u;
	size_t		 n, tn, un;
	int		 bold = 0, strike = 0;

	while (s < end) {
		if (*s == '`') {
			n = mk_code_span(s, end);
			mk_add(b, s, n);
			s += n;
		} else if (end - s >= 2 && memcmp(s, "**", 2) == 0 &&
		    (bold || mk_find(s + 2, end, "**") != NULL)) {
			mk_adds(b, "*");
			bold = !bold;
			s += 2;
		} else if (end - s >= 2 && memcmp(s, "~~", 2) == 0 &&
		    (strike || mk_find(s + 2, end, "~~") != NULL)) {
			mk_adds(b, "~");
			strike = !strike;
			s += 2;
		} else if (*s == '[' && (n = mk_link(s, end, &t, &tn, &u,
		    &un)) > 0) {
			mk_adds(b, "<");
			mk_add(b, u, un);
			mk_adds(b, "|");
			mk_add(b, t, tn);
			mk_adds(b, ">");
			s += n;
		} else
			mk_add(b, s++, 1);
	}
}

/* "# title" (1 to 6 #s) at line: the title's bounds, or 0. */
static int
mk_header(const char *line, const char *end, const char **t, const char **te)
{
	const char	*s = line;

	while (s < end && *s == '#' && s - line < 7)
		s++;
	if (s == line || s - line > 6 || s >= end || (*s != ' ' && *s != '\t'))
		return (0);
	s = mk_skip_blank(s, end);
	while (end > s && (end[-1] == '#' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (s == end)
		return (0);
	*t = s;
	*te = end;
	return (1);
}

static void
mk_header_out(struct mk_buf *b, const char *t, const char *te)
{
	const char	*s;

	/* The title is bold already: drop its own bold markers. */
	mk_adds(b, "*");
	while (t < te) {
		if ((s = mk_find(t, te, "**")) == NULL)
			s = te;
		mk_inline(b, t, s);
		t = s < te ? s + 2 : te;
	}
	mk_adds(b, "*");
}

/*
 * Markdown to mrkdwn.  Code fences are copied as they are; a table (a row
 * of pipes followed by a |---| line, and the rows after it) is put in a
 * code block, since Slack has no tables.  NULL when out of memory.
 */
char *
mrkdwn_from_markdown(const char *md)
{
	struct mk_buf	 b;
	const char	*line, *end, *t, *te;
	int		 fence = 0, table = 0;

	if (md == NULL || mk_init(&b, strlen(md) + 16) == -1)
		return (NULL);
	for (line = md; *line != '\0' || line == md; line = end + 1) {
		if ((end = strchr(line, '\n')) == NULL)
			end = line + strlen(line);
		if (table && !mk_is_table_row(line, end)) {
			mk_adds(&b, "```\n");
			table = 0;
		}
		if (mk_is_fence(line, end))
			fence = !fence;
		if (fence || mk_is_fence(line, end) || table)
			mk_add(&b, line, (size_t)(end - line));
		else if (mk_is_table_row(line, end) && *end == '\n' &&
		    mk_is_table_sep(end + 1, end + 1 + strcspn(end + 1, "\n"))) {
			mk_adds(&b, "```\n");
			mk_add(&b, line, (size_t)(end - line));
			table = 1;
		} else if (mk_header(line, end, &t, &te))
			mk_header_out(&b, t, te);
		else
			mk_inline(&b, line, end);
		if (*end == '\0')
			break;
		mk_adds(&b, "\n");
	}
	if (table)
		mk_adds(&b, "\n```");
	return (b.p);
}

/* The byte offset of the last c in s[0..lim], or -1. */
static long
mk_last(const char *s, size_t lim, char c)
{
	size_t	i;

	for (i = lim + 1; i-- > 0;)
		if (s[i] == c)
			return ((long)i);
	return (-1);
}

size_t
mrkdwn_max_len(size_t n)
{
	return (n + MRKDWN_TABLE_GROWTH * ((n + 2) / MRKDWN_TABLE_MIN));
}

/*
 * Upstream's chunkMessage: while more than max characters remain, cut at
 * the last newline within the first max (if it is past 30% of max), else
 * at the last space (the same rule), else hard at max; a newline starting
 * the next piece is dropped.  *chunks (freed with mrkdwn_chunks_free) gets
 * the pieces; returns how many, 0 when out of memory.
 */
size_t
mrkdwn_chunk(const char *text, size_t max, char ***chunks)
{
	char		**v = NULL, **nv;
	size_t		  n = 0, wl, cut, len = strlen(text);
	long		  at;

	*chunks = NULL;
	if (max == 0)
		return (0);
	for (;;) {
		/* The window: max characters, not ending inside a cluster. */
		wl = utf8_cut_chars(text, len, max);
		if (wl == len)
			cut = wl;
		else if ((at = mk_last(text, wl, '\n')) >= 0 &&
		    utf8_count(text, (size_t)at) * 10 >= max * 3)
			cut = (size_t)at;
		else if ((at = mk_last(text, wl, ' ')) >= 0 &&
		    utf8_count(text, (size_t)at) * 10 >= max * 3)
			cut = (size_t)at;
		else
			cut = wl;
		if ((nv = reallocarray(v, n + 1, sizeof(*v))) == NULL ||
		    (nv[n] = strndup(text, cut)) == NULL) {
			mrkdwn_chunks_free(nv != NULL ? nv : v, n);
			return (0);
		}
		v = nv;
		n++;
		text += cut;
		len -= cut;
		if (*text == '\0')
			break;
		if (*text == '\n') {
			text++;
			len--;
		}
	}
	*chunks = v;
	return (n);
}

void
mrkdwn_chunks_free(char **chunks, size_t n)
{
	size_t	i;

	for (i = 0; chunks != NULL && i < n; i++)
		free(chunks[i]);
	free(chunks);
}
