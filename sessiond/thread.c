/*
 * thread: see thread.h.
 *
 * Upstream's rules are two JavaScript regular expressions, each replaced
 * globally by one space:
 *
 *	\s*(?:🧵|:thread:)\s*				(flags gi)
 *	^\s*reply in thread\b\s*|\s*\breply in thread\s*$	(flags gi)
 *
 * the first (each trigger with the white space around it), then the
 * second (the phrase at the start or the end only, not mid-sentence),
 * and the text is trimmed.  A text without a trigger or the phrase is
 * left as it is.
 *
 * Here the same matching is a linear scan: "\s" and trim() are
 * JavaScript's white space (cfg_js_space()), "i" without "u" folds ASCII
 * letters only, and "\b" sees [A-Za-z0-9_] as word characters (no byte of
 * a multibyte character is one).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/cfg_js.h"
#include "thread.h"

#define THREAD_EMOJI	"\xf0\x9f\xa7\xb5"	/* U+1F9F5 🧵 */
#define THREAD_CODE	":thread:"
#define THREAD_PHRASE	"reply in thread"

/* Past the JavaScript white space at s. */
static const char *
thread_skip_space(const char *s)
{
	size_t	n;

	while ((n = cfg_js_space((const unsigned char *)s)) > 0)
		s += n;
	return (s);
}

static int
thread_word(char ch)
{
	return (isascii((unsigned char)ch) &&
	    (isalnum((unsigned char)ch) || ch == '_'));
}

/* The length of a trigger at s, or 0. */
static size_t
thread_trigger(const char *s)
{
	if (strncmp(s, THREAD_EMOJI, strlen(THREAD_EMOJI)) == 0)
		return (strlen(THREAD_EMOJI));
	if (strncasecmp(s, THREAD_CODE, strlen(THREAD_CODE)) == 0)
		return (strlen(THREAD_CODE));
	return (0);
}

static int
thread_has_trigger(const char *s)
{
	for (; *s != '\0'; s++)
		if (thread_trigger(s) > 0)
			return (1);
	return (0);
}

/* Each trigger and the white space around it becomes one space. */
static void
thread_strip_triggers(char *text)
{
	const char	*r = text, *sp, *e;
	char		*w = text;
	size_t		 n;

	while (*r != '\0') {
		sp = thread_skip_space(r);
		if ((n = thread_trigger(sp)) > 0) {
			*w++ = ' ';
			r = thread_skip_space(sp + n);
			continue;
		}
		/* No match starts anywhere in this white space: keep it. */
		e = sp > r ? sp : r + 1;
		while (r < e)
			*w++ = *r++;
	}
	*w = '\0';
}

/* The phrase at the start: where its match ends, or NULL. */
static const char *
thread_phrase_head(const char *text)
{
	const char	*p = thread_skip_space(text);
	size_t		 n = strlen(THREAD_PHRASE);

	if (strncasecmp(p, THREAD_PHRASE, n) != 0 || thread_word(p[n]))
		return (NULL);
	return (thread_skip_space(p + n));
}

/*
 * The phrase at the end, in the part of text from from on: where its
 * match starts, or NULL.  Only white space may follow it, so it ends
 * where the last non-space character does; the match takes the white
 * space before it too (from from on: the scan starts there).
 */
static const char *
thread_phrase_tail(const char *text, const char *from)
{
	const char	*s, *p, *end = NULL, *run = NULL;
	size_t		 k, n = strlen(THREAD_PHRASE);

	for (s = from; *s != '\0'; )
		if ((k = cfg_js_space((const unsigned char *)s)) > 0)
			s += k;
		else
			end = ++s;
	if (end == NULL || (size_t)(end - from) < n)
		return (NULL);
	p = end - n;
	if (strncasecmp(p, THREAD_PHRASE, n) != 0 ||
	    (p > text && thread_word(p[-1])))
		return (NULL);
	for (s = from; s < p; )
		if ((k = cfg_js_space((const unsigned char *)s)) > 0) {
			if (run == NULL)
				run = s;
			s += k;
		} else {
			run = NULL;
			s++;
		}
	return (run != NULL && s == p ? run : p);
}

/* The phrase at the start and at the end becomes one space each. */
static void
thread_strip_phrase(char *text)
{
	const char	*head, *from, *tail;
	char		*w = text;
	size_t		 n;

	head = thread_phrase_head(text);
	from = head != NULL ? head : text;
	tail = thread_phrase_tail(text, from);
	if (head != NULL)
		*w++ = ' ';
	n = tail != NULL ? (size_t)(tail - from) : strlen(from);
	memmove(w, from, n);
	w += n;
	if (tail != NULL)
		*w++ = ' ';
	*w = '\0';
}

/* JavaScript's trim(), in place. */
static void
thread_trim(char *text)
{
	const char	*p = thread_skip_space(text), *s, *end = p;
	size_t		 k;

	for (s = p; *s != '\0'; )
		if ((k = cfg_js_space((const unsigned char *)s)) > 0)
			s += k;
		else
			end = ++s;
	memmove(text, p, (size_t)(end - p));
	text[end - p] = '\0';
}

int
thread_strip(char *text)
{
	int	emoji = thread_has_trigger(text);

	if (!emoji && thread_phrase_head(text) == NULL &&
	    thread_phrase_tail(text, text) == NULL)
		return (0);
	if (emoji)
		thread_strip_triggers(text);
	thread_strip_phrase(text);
	thread_trim(text);
	return (1);
}

const char *
thread_post(const char *id, const char *channel)
{
	size_t	n = strlen(channel);

	if (n > 0 && strncmp(id, channel, n) == 0 && id[n] == ':' &&
	    id[n + 1] != '\0')
		return (id + n + 1);
	return (id);
}
