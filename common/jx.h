/*
 * jx: small accessors for JSON members, the one copy every file uses.
 * Each takes NULL or a non-object like a missing member.
 */
#ifndef COMMON_JX_H
#define COMMON_JX_H

#include <jansson.h>

/* A string member, or NULL when missing or not a string. */
static inline const char *
jx_str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/* A string member, or "" when missing or not a string. */
static inline const char *
jx_stre(const json_t *o, const char *key)
{
	const char	*s = jx_str(o, key);

	return (s != NULL ? s : "");
}

/* An integer member, or def when missing or not an integer. */
static inline json_int_t
jx_int(const json_t *o, const char *key, json_int_t def)
{
	const json_t	*v = json_object_get(o, key);

	return (json_is_integer(v) ? json_integer_value(v) : def);
}

/* A boolean member, or def when missing or not a boolean. */
static inline int
jx_bool(const json_t *o, const char *key, int def)
{
	const json_t	*v = json_object_get(o, key);

	return (json_is_boolean(v) ? json_is_true(v) : def);
}

#endif
