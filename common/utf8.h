/*
 * utf8: every cut of a text happens here, on a character boundary and,
 * where that is cheap to see, not inside a grapheme cluster (a ZWJ emoji
 * sequence, a base and its combining marks or variation selector, an emoji
 * and its skin-tone modifier, a flag's pair of regional indicators, a tag
 * sequence).  Platforms count characters (code points): Mattermost's post
 * limit and Slack's text limits are in characters, not bytes.
 *
 * Input need not be valid UTF-8: a byte that does not start a well-formed
 * sequence counts as one character of its own, so a cut never makes a
 * valid text invalid and never loops on an invalid one.
 */
#ifndef COMMON_UTF8_H
#define COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length in bytes of the character at s[0..len), at least 1 if len > 0. */
size_t	 utf8_char(const char *s, size_t len, uint32_t *cp);
/* Number of characters in s[0..len). */
size_t	 utf8_count(const char *s, size_t len);
/* Is s[0..len) well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF)? */
int	 utf8_valid(const char *s, size_t len);
/*
 * The longest prefix of s[0..len) of at most max characters (max_bytes
 * bytes), as a byte length that ends on a boundary.  It steps back out of
 * a grapheme cluster unless that would leave nothing, in which case the
 * cut is at the last character boundary that fits.
 */
size_t	 utf8_cut_chars(const char *s, size_t len, size_t max);
size_t	 utf8_cut_bytes(const char *s, size_t len, size_t max_bytes);
/*
 * Where to end a piece of at most max characters of s[0..len) that does
 * not fit whole (len's characters > max): at the last newline past 30% of
 * max, else the last space past 30%, else utf8_cut_chars().  The piece is
 * s[0..returned); the next starts there (its leading white space may be
 * dropped).  Returns len when everything fits.
 */
size_t	 utf8_split(const char *s, size_t len, size_t max);
/*
 * The text on one line of at most max bytes (plus "…" when cut), cut on a
 * character boundary, control characters as spaces; malloc'd, or NULL.
 */
char	*utf8_one_line(const char *s, size_t max);
/* May a text be cut between the characters a and b? */
int	 utf8_breakable(uint32_t a, uint32_t b);

#endif
