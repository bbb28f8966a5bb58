/*
 * cfg_js: upstream's config is read by JavaScript; these reproduce its
 * semantics where the bridge must behave the same: truthiness ("!p.url"),
 * numbers (5.0 is 5), equality (key order and 1 vs 1.0 do not matter),
 * JSON.stringify() in change strings, and what trim() calls whitespace.
 * Internal to the config files (config.c, cfg_valid.c, cfg_diff.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_js.h"

/* JavaScript truthiness, for upstream's "if (!p.url)" style checks. */
int
cfg_js_truthy(json_t *v)
{
	double	d;

	if (v == NULL || json_is_null(v) || json_is_false(v))
		return (0);
	if (json_is_string(v))
		return (json_string_length(v) > 0);
	if (json_is_number(v)) {
		d = json_number_value(v);
		return (d != 0 && !isnan(d));
	}
	return (1);
}

/* A number with no fractional part: JSON has one number type, so 5.0 is 5. */
int
cfg_js_is_int(json_t *v)
{
	double	d;

	if (json_is_integer(v))
		return (1);
	if (!json_is_real(v))
		return (0);
	d = json_real_value(v);
	return (isfinite(d) && d == trunc(d));
}

int
cfg_js_str_in(json_t *v, const char *const *set)
{
	const char	*s;

	if (!json_is_string(v))
		return (0);
	s = json_string_value(v);
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return (1);
	return (0);
}

/*
 * Deep equality where numbers compare by value (1 == 1.0, as in
 * JavaScript) and object key order does not matter.  NULL means absent.
 */
int
cfg_js_eq(json_t *a, json_t *b)
{
	const char	*k;
	json_t		*v;
	size_t		 i;

	if (a == NULL || b == NULL)
		return (a == b);
	if (json_is_integer(a) && json_is_integer(b))
		return (json_integer_value(a) == json_integer_value(b));
	if (json_is_number(a) && json_is_number(b))
		return (json_number_value(a) == json_number_value(b));
	if (json_typeof(a) != json_typeof(b))
		return (0);
	switch (json_typeof(a)) {
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return (0);
		json_object_foreach(a, k, v)
			if (!cfg_js_eq(v, json_object_get(b, k)))
				return (0);
		return (1);
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return (0);
		for (i = 0; i < json_array_size(a); i++)
			if (!cfg_js_eq(json_array_get(a, i),
			    json_array_get(b, i)))
				return (0);
		return (1);
	case JSON_STRING:
		return (json_string_length(a) == json_string_length(b) &&
		    memcmp(json_string_value(a), json_string_value(b),
		    json_string_length(a)) == 0);
	default:
		return (1);
	}
}

/* Upstream's "(x ?? {})" comparison: absent and null equal an empty object. */
int
cfg_js_eq_opt(json_t *a, json_t *b)
{
	if (a != NULL && json_is_null(a))
		a = NULL;
	if (b != NULL && json_is_null(b))
		b = NULL;
	if (a == NULL && b != NULL)
		return (json_is_object(b) && json_object_size(b) == 0);
	if (b == NULL && a != NULL)
		return (json_is_object(a) && json_object_size(a) == 0);
	return (cfg_js_eq(a, b));
}

/*
 * Compact JSON of a value as JSON.stringify() shows it in upstream's change
 * strings: "undefined" for absent, integral reals without ".0".
 */
char *
cfg_js_dump(json_t *v)
{
	char	*s;
	double	 d;

	if (v == NULL)
		return (strdup("undefined"));
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (isfinite(d) && d == trunc(d) && fabs(d) < 1e21) {
			if (asprintf(&s, "%.0f", d == 0 ? 0.0 : d) == -1)
				return (NULL);
			return (s);
		}
	}
	return (json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT));
}

static int
cfg_js_keycmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/*
 * The sorted, de-duplicated union of the keys of two objects (either may be
 * NULL or not an object).  The strings belong to the objects.
 */
int
cfg_js_keys(json_t *a, json_t *b, struct cfg_js_keys *k)
{
	const char	*key;
	json_t		*v;
	size_t		 n, i, j;

	k->v = NULL;
	k->n = 0;
	n = (json_is_object(a) ? json_object_size(a) : 0) +
	    (json_is_object(b) ? json_object_size(b) : 0);
	if (n == 0)
		return (0);
	if ((k->v = calloc(n, sizeof(*k->v))) == NULL)
		return (-1);
	if (json_is_object(a))
		json_object_foreach(a, key, v)
			k->v[k->n++] = key;
	if (json_is_object(b))
		json_object_foreach(b, key, v)
			k->v[k->n++] = key;
	qsort(k->v, k->n, sizeof(*k->v), cfg_js_keycmp);
	for (i = j = 0; i < k->n; i++)
		if (j == 0 || strcmp(k->v[j - 1], k->v[i]) != 0)
			k->v[j++] = k->v[i];
	k->n = j;
	return (0);
}

/*
 * Byte length of the JavaScript whitespace character (\s, what trim()
 * removes) at s, or 0.  Input is valid UTF-8: jansson checked it.
 */
size_t
cfg_js_space(const unsigned char *s)
{
	unsigned int	cp;

	if (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		return (1);
	if (s[0] == 0xc2 && s[1] == 0xa0)
		return (2);
	if (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)
		return (3);
	if (s[0] < 0xe1 || s[0] > 0xe3 || s[1] == 0 || s[2] == 0)
		return (0);
	cp = ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
	if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
	    cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000)
		return (3);
	return (0);
}


/*
 * A number with no fractional part within [lo, hi], as an int: 0, or -1
 * for anything else (never a conversion that overflows).
 */
int
cfg_js_int(json_t *v, int lo, int hi, int *out)
{
	double	d;

	if (!cfg_js_is_int(v))
		return (-1);
	d = json_number_value(v);
	if (d < lo || d > hi)
		return (-1);
	*out = (int)d;
	return (0);
}
