/*
 * cfg_js: JavaScript's view of JSON values, as upstream's config code has
 * it.  Internal to the config files, but for cfg_js_space(), JavaScript's
 * white space, which sessiond's thread triggers match too.
 */
#ifndef COMMON_CFG_JS_H
#define COMMON_CFG_JS_H

#include <stddef.h>

#include <jansson.h>

/* A sorted set of keys; the strings belong to the objects they came from. */
struct cfg_js_keys {
	const char	**v;
	size_t		  n;
};

int	 cfg_js_truthy(json_t *);
int	 cfg_js_is_int(json_t *);
int	 cfg_js_str_in(json_t *, const char *const *set);
int	 cfg_js_eq(json_t *, json_t *);
int	 cfg_js_eq_opt(json_t *, json_t *);
char	*cfg_js_dump(json_t *);
int	 cfg_js_keys(json_t *, json_t *, struct cfg_js_keys *);
size_t	 cfg_js_space(const unsigned char *);
int	 cfg_js_int(json_t *, int lo, int hi, int *out);

#endif
