/*
 * libFuzzer target for sessiond/models.c: the bytes are a models.list
 * result from the runtime with, beside "models", the config's "providers"
 * and the names typed to /model ("inputs").  Beyond not crashing: a match
 * is one of the list's models and never among its own alternatives, an
 * error says why, and the listing is valid UTF-8 when every name is.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/utf8.h"
#include "sessiond/models.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_resolve(const struct models *ms, const char *input)
{
	struct models_match	r;
	size_t			i;

	models_resolve(ms, input, &r);
	if (r.model == NULL) {
		if (r.error[0] == '\0')
			abort();
		return;
	}
	if (r.model < ms->v || r.model >= ms->v + ms->n ||
	    r.nalt > MODELS_ALT_MAX)
		abort();
	for (i = 0; i < r.nalt; i++)
		if (r.alt[i] == r.model)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t		*doc, *v;
	struct models	*ms;
	const char	*k;
	char		*s;
	size_t		 i;

	if ((doc = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return (0);
	if ((ms = models_build(doc, json_object_get(doc, "providers"))) ==
	    NULL) {
		json_decref(doc);
		return (0);
	}
	json_array_foreach(json_object_get(doc, "inputs"), i, v)
		if (json_is_string(v))
			fuzz_resolve(ms, json_string_value(v));
	fuzz_resolve(ms, "a");
	fuzz_resolve(ms, "");
	for (i = 0; i < ms->nprov; i++) {
		if ((s = models_listing(ms, "x", ms->providers[i],
		    ms->providers[i], 1)) == NULL)
			abort();
		free(s);
	}
	if ((s = models_listing(ms, ms->n > 0 ? ms->v[0].id : NULL, NULL, NULL,
	    0)) == NULL || !utf8_valid(s, strlen(s)))
		abort();
	free(s);
	json_object_foreach(doc, k, v)
		(void)models_provider(ms, k);
	models_free(ms);
	json_decref(doc);
	return (0);
}
