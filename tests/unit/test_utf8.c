/*
 * utf8: counting, validity, and cuts at every position of texts made of
 * 1-, 2-, 3- and 4-byte characters and of grapheme clusters: a cut is
 * always on a character boundary, never over the limit, never empty when
 * something fits, and outside a cluster whenever the cluster is not the
 * whole prefix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/utf8.h"

static const char *const texts[] = {
	"plain ascii text",
	"caf\xc3\xa9 na\xc3\xafve \xc3\xa9t\xc3\xa9",		/* 2-byte */
	"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",	/* Привет */
	"\xe6\xbc\xa2\xe5\xad\x97\xe3\x81\x8b\xe3\x81\xaa",	/* 漢字かな */
	"\xf0\x9f\x98\x80\xf0\x9f\x8e\x89x\xf0\x9f\x9a\x80",	/* 😀🎉x🚀 */
	/* 👩‍💻 ZWJ sequence between letters */
	"ab\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb" "cd",
	/* e + combining acute, twice */
	"e\xcc\x81" "e\xcc\x81" "z",
	/* 🇫🇷🇩🇪 two flags */
	"\xf0\x9f\x87\xab\xf0\x9f\x87\xb7\xf0\x9f\x87\xa9\xf0\x9f\x87\xaa",
	/* 👍🏽 skin tone, ❤️ variation selector */
	"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd" "\xe2\x9d\xa4\xef\xb8\x8f" "!",
};

static int
is_boundary(const char *s, size_t len, size_t off)
{
	size_t		 o = 0;
	uint32_t	 cp;

	while (o < off)
		o += utf8_char(s + o, len - o, &cp);
	return (o == off);
}

/* The cluster boundaries of s, by walking utf8_breakable. */
static int
is_cluster_boundary(const char *s, size_t len, size_t off)
{
	size_t		 o = 0, n, ri = 0;
	uint32_t	 prev = 0, cp;

	if (off == 0 || off == len)
		return (1);
	while (o < off) {
		n = utf8_char(s + o, len - o, &cp);
		ri = (cp >= 0x1F1E6 && cp <= 0x1F1FF) ? ri + 1 : 0;
		prev = cp;
		o += n;
	}
	(void)utf8_char(s + o, len - o, &cp);
	if (prev >= 0x1F1E6 && prev <= 0x1F1FF && cp >= 0x1F1E6 &&
	    cp <= 0x1F1FF && ri % 2 == 1)
		return (0);
	return (utf8_breakable(prev, cp));
}

static void
t_count_valid(void **state)
{
	assert_int_equal(utf8_count("", 0), 0);
	assert_int_equal(utf8_count(texts[2], strlen(texts[2])), 6);
	assert_int_equal(utf8_count(texts[3], strlen(texts[3])), 4);
	assert_int_equal(utf8_count(texts[4], strlen(texts[4])), 4);
	assert_int_equal(utf8_count(texts[5], strlen(texts[5])), 7);
	assert_true(utf8_valid(texts[5], strlen(texts[5])));
	assert_true(utf8_valid("\xef\xbf\xbd", 3));		/* U+FFFD */
	assert_false(utf8_valid("\xc0\x80", 2));		/* overlong */
	assert_false(utf8_valid("\xed\xa0\x80", 3));		/* surrogate */
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	assert_false(utf8_valid("\xe6\xbc", 2));		/* truncated */
	assert_false(utf8_valid("\x80", 1));
	/* An invalid byte is one character; nothing loops. */
	assert_int_equal(utf8_count("a\x80\xff" "b", 4), 4);
}

/* Every limit, every text: boundary, within the limit, cluster-safe. */
static void
t_every_cut(void **state)
{
	size_t	i, max, cut, len, chars;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		len = strlen(texts[i]);
		chars = utf8_count(texts[i], len);
		for (max = 0; max <= len + 1; max++) {
			cut = utf8_cut_bytes(texts[i], len, max);
			assert_true(cut <= max || cut == len);
			assert_true(cut <= len);
			assert_true(is_boundary(texts[i], len, cut));
			if (max >= 4)	/* any single character fits */
				assert_true(cut > 0);
			if (!is_cluster_boundary(texts[i], len, cut)) {
				/* only when the prefix is one cluster */
				size_t	o;
				for (o = 1; o < cut; o++)
					assert_false(is_boundary(texts[i], len, o) &&
					    is_cluster_boundary(texts[i], len, o));
			}
		}
		for (max = 0; max <= chars + 1; max++) {
			cut = utf8_cut_chars(texts[i], len, max);
			assert_true(utf8_count(texts[i], cut) <= max);
			assert_true(is_boundary(texts[i], len, cut));
			if (max >= 1)
				assert_true(cut > 0);
			if (max >= chars)
				assert_int_equal(cut, len);
		}
	}
}

/* A ZWJ sequence at the limit moves whole to the next piece. */
static void
t_zwj_at_boundary(void **state)
{
	const char	*s = texts[5];		/* ab👩‍💻cd */
	size_t		 len = strlen(s);

	/* a b 👩 ZWJ 💻 c d: 3 or 4 characters would split the sequence */
	assert_int_equal(utf8_cut_chars(s, len, 3), 2);
	assert_int_equal(utf8_cut_chars(s, len, 4), 2);
	assert_int_equal(utf8_cut_chars(s, len, 5), 2 + 11);
	assert_int_equal(utf8_cut_bytes(s, len, 2 + 10), 2);
	/* The sequence alone does not fit: cut inside, on a boundary. */
	assert_int_equal(utf8_cut_chars(s + 2, len - 2, 2), 4 + 3);
	/* Flags pair up; e + combining acute stays whole. */
	assert_int_equal(utf8_cut_chars(texts[7], strlen(texts[7]), 3), 8);
	assert_int_equal(utf8_cut_chars(texts[6], strlen(texts[6]), 3), 3);
	assert_int_equal(utf8_cut_chars(texts[8], strlen(texts[8]), 3), 8);
}

/* Invalid input: a cut never splits what a valid prefix had. */
static void
t_invalid(void **state)
{
	const char	 s[] = "ab\xe6\xbc" "cd\xff";
	size_t		 len = sizeof(s) - 1, max;

	for (max = 0; max <= len; max++)
		assert_true(utf8_cut_bytes(s, len, max) <= max);
	assert_int_equal(utf8_cut_chars(s, len, 3), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_count_valid),
		cmocka_unit_test(t_every_cut),
		cmocka_unit_test(t_zwj_at_boundary),
		cmocka_unit_test(t_invalid),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
