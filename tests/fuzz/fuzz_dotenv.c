/*
 * libFuzzer target for sessiond/dotenv.c: dotenv_parse() on any bytes
 * gives an object of UTF-8 strings whose keys are non-empty, have no "="
 * and no surrounding white space, and whose values hold no NUL.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "sessiond/wsconf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t		*vars, *v;
	const char	*k;
	size_t		 n;

	if ((vars = dotenv_parse((const char *)data, size, "/fuzz/.env")) ==
	    NULL)
		return (0);
	json_object_foreach(vars, k, v) {
		n = strlen(k);
		if (n == 0 || strchr(k, '=') != NULL || k[0] == ' ' ||
		    k[n - 1] == ' ' || k[0] == '#' || !utf8_valid(k, n) ||
		    !json_is_string(v) ||
		    memchr(json_string_value(v), '\0', json_string_length(v)) !=
		    NULL)
			abort();
	}
	json_decref(vars);
	return (0);
}
