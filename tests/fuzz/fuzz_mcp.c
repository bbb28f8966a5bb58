/*
 * libFuzzer target for sessiond/mcp.c: mcp_parse() on any bytes either
 * fails with a "PATH:LINE:COL: message" and no servers, or gives servers
 * the runtime can take (sessiond/mcp.c says why that matters: a bad entry
 * stops every turn); mcp_expand() of the same bytes as an env value never
 * leaves a ${WORD} it could expand.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sessiond/wsconf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fuzz_strings(const json_t *v, int object)
{
	const char	*k;
	json_t		*e;
	size_t		 i;

	if (v == NULL)
		return (1);
	if (object) {
		if (!json_is_object(v))
			return (0);
		json_object_foreach((json_t *)v, k, e)
			if (!json_is_string(e))
				return (0);
		return (1);
	}
	if (!json_is_array(v))
		return (0);
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return (0);
	return (1);
}

static void
fuzz_check(const char *name, const json_t *s)
{
	const char	*type = json_string_value(json_object_get(s, "type"));
	const char	*k;
	json_t		*v;
	int		 local;

	if (name[0] == '\0' || strchr(name, '}') != NULL || !json_is_object(s))
		abort();
	json_object_foreach((json_t *)s, k, v)
		if (strcmp(k, "type") && strcmp(k, "command") && strcmp(k, "args") &&
		    strcmp(k, "env") && strcmp(k, "cwd") && strcmp(k, "url") &&
		    strcmp(k, "headers") && strcmp(k, "tools"))
			abort();
	if (json_object_get(s, "type") != NULL && type == NULL)
		abort();
	local = type == NULL || strcmp(type, "local") == 0 ||
	    strcmp(type, "stdio") == 0;
	if (!local && strcmp(type, "http") != 0 && strcmp(type, "sse") != 0)
		abort();
	if (!fuzz_strings(json_object_get(s, "tools"), 0) ||
	    json_object_get(s, "tools") == NULL)
		abort();
	if (local && (json_string_value(json_object_get(s, "command")) == NULL ||
	    !fuzz_strings(json_object_get(s, "args"), 0) ||
	    !fuzz_strings(json_object_get(s, "env"), 1)))
		abort();
	if (!local && (json_string_value(json_object_get(s, "url")) == NULL ||
	    !fuzz_strings(json_object_get(s, "headers"), 1)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const secrets[] = { "FUZZ_SECRET" };
	struct mcp_where	 w = { NULL, NULL, secrets, 1 };
	json_t			*servers, *s, *env;
	const char		*name;
	char			 err[256], *text, *x;

	err[0] = '\0';
	if (mcp_parse("/fuzz/mcp-config.json", (const char *)data, size,
	    &servers, err, sizeof(err)) == -1) {
		if (servers != NULL || (strncmp(err, "/fuzz/mcp-config.json:",
		    22) != 0 && strcmp(err, "out of memory") != 0))
			abort();
	} else {
		json_object_foreach(servers, name, s)
			fuzz_check(name, s);
		json_decref(servers);
	}
	/* The same bytes as a value to expand, with a .env of one name. */
	if ((text = strndup((const char *)data, size)) == NULL)
		return (0);
	if ((env = json_pack("{s:s}", "A", "${A}")) != NULL &&
	    (x = mcp_expand(text, env, &w)) != NULL) {
		/* One pass: what ${A} gave is not expanded again, and no secret. */
		if (strstr(text, "${A}") != NULL && strstr(x, "${A}") == NULL)
			abort();
		free(x);
	}
	json_decref(env);
	free(text);
	return (0);
}
