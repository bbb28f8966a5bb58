/*
 * utf8: see utf8.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define UTF8_BAD	0xFFFD		/* what an invalid byte reads as */

size_t
utf8_char(const char *str, size_t len, uint32_t *cpp)
{
	const unsigned char	*s = (const unsigned char *)str;
	uint32_t		 cp, min;
	size_t			 n, i;

	*cpp = UTF8_BAD;
	if (len == 0)
		return (0);
	if (s[0] < 0x80) {
		*cpp = s[0];
		return (1);
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2; cp = s[0] & 0x1F; min = 0x80;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3; cp = s[0] & 0x0F; min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4; cp = s[0] & 0x07; min = 0x10000;
	} else
		return (1);
	if (n > len)
		return (1);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return (1);
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return (1);
	*cpp = cp;
	return (n);
}

size_t
utf8_count(const char *s, size_t len)
{
	size_t		 n = 0, off = 0;
	uint32_t	 cp;

	while (off < len) {
		off += utf8_char(s + off, len - off, &cp);
		n++;
	}
	return (n);
}

int
utf8_valid(const char *s, size_t len)
{
	size_t		 off = 0, n;
	uint32_t	 cp;

	while (off < len) {
		n = utf8_char(s + off, len - off, &cp);
		if (cp == UTF8_BAD && !(n == 3 &&
		    (unsigned char)s[off] == 0xEF))	/* U+FFFD itself */
			return (0);
		off += n;
	}
	return (1);
}

/* Characters that attach to the one before them. */
static int
utf8_extends(uint32_t c)
{
	return ((c >= 0x0300 && c <= 0x036F) ||	/* combining diacritics */
	    (c >= 0x1AB0 && c <= 0x1AFF) ||
	    (c >= 0x1DC0 && c <= 0x1DFF) ||
	    (c >= 0x20D0 && c <= 0x20FF) ||
	    (c >= 0xFE20 && c <= 0xFE2F) ||
	    (c >= 0xFE00 && c <= 0xFE0F) ||	/* variation selectors */
	    (c >= 0xE0100 && c <= 0xE01EF) ||
	    (c >= 0x1F3FB && c <= 0x1F3FF) ||	/* skin tones */
	    (c >= 0xE0020 && c <= 0xE007F) ||	/* tags (subdivision flags) */
	    c == 0x200D);			/* ZWJ */
}

static int
utf8_regional(uint32_t c)
{
	return (c >= 0x1F1E6 && c <= 0x1F1FF);
}

int
utf8_breakable(uint32_t a, uint32_t b)
{
	if (a == 0x200D)		/* after a ZWJ comes its partner */
		return (0);
	if (utf8_extends(b))
		return (0);
	return (1);
}

/*
 * Cut at the largest boundary <= limit (counted in characters when
 * chars, else in bytes), stepping back out of a grapheme cluster if that
 * leaves something.  Regional indicators pair from the start of their run.
 */
static size_t
utf8_cut(const char *s, size_t len, size_t limit, int chars)
{
	size_t		 off = 0, n, nchars = 0, cut = 0, hard = 0, ri = 0;
	uint32_t	 prev = 0, cp;

	while (off < len) {
		n = utf8_char(s + off, len - off, &cp);
		if (chars ? nchars + 1 > limit : off + n > limit)
			break;
		if (off == 0 || (utf8_breakable(prev, cp) &&
		    !(utf8_regional(prev) && utf8_regional(cp) && ri % 2 == 1)))
			cut = off;
		ri = utf8_regional(cp) ? ri + 1 : 0;
		prev = cp;
		off += n;
		nchars++;
		hard = off;
	}
	if (off >= len)
		return (len);
	/* The next character may still belong to the cluster. */
	(void)utf8_char(s + off, len - off, &cp);
	if (utf8_breakable(prev, cp) &&
	    !(utf8_regional(prev) && utf8_regional(cp) && ri % 2 == 1))
		return (hard);
	return (cut > 0 ? cut : hard);
}

size_t
utf8_cut_chars(const char *s, size_t len, size_t max)
{
	return (utf8_cut(s, len, max, 1));
}

size_t
utf8_cut_bytes(const char *s, size_t len, size_t max_bytes)
{
	return (utf8_cut(s, len, max_bytes, 0));
}

size_t
utf8_split(const char *s, size_t len, size_t max)
{
	size_t		 hard = utf8_cut_chars(s, len, max), off, nl = 0, sp = 0;
	size_t		 floor = max * 3 / 10, chars = 0, n;
	uint32_t	 cp;

	if (hard == len)
		return (len);
	for (off = 0; off < hard; off += n, chars++) {
		n = utf8_char(s + off, len - off, &cp);
		if (chars < floor || off == 0)
			continue;
		if (cp == '\n')
			nl = off;
		else if (cp == ' ')
			sp = off;
	}
	if (nl > 0)
		return (nl);
	if (sp > 0)
		return (sp);
	return (hard > 0 ? hard : utf8_char(s, len, &cp));
}

char *
utf8_one_line(const char *in, size_t max)
{
	size_t	 n = strlen(in), i, cut;
	char	*out;

	cut = utf8_cut_bytes(in, n, max);
	if ((out = malloc(cut + sizeof("…"))) == NULL)
		return (NULL);
	for (i = 0; i < cut; i++)
		out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? ' ' :
		    in[i];
	out[cut] = '\0';
	if (cut < n)
		memcpy(out + cut, "…", sizeof("…"));
	return (out);
}
