/*
 * libFuzzer target for the thread triggers taken out of a chat message
 * (sessiond/thread.c), which every INBOUND's text goes through.  Whatever
 * the bytes: the text never grows; a text without a trigger is left as it
 * is; one with a trigger keeps none ("🧵", ":thread:" in any case) and
 * starts and ends with no white space; well-formed UTF-8 stays so.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cfg_js.h"
#include "common/utf8.h"
#include "sessiond/thread.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fuzz_has_trigger(const char *s)
{
	for (; *s != '\0'; s++)
		if (strncmp(s, "\xf0\x9f\xa7\xb5", 4) == 0 ||
		    strncasecmp(s, ":thread:", 8) == 0)
			return (1);
	return (0);
}

/* Does s end with JavaScript white space? */
static int
fuzz_ends_space(const char *s)
{
	size_t	k;
	int	last = 0;

	while (*s != '\0')
		if ((k = cfg_js_space((const unsigned char *)s)) > 0) {
			s += k;
			last = 1;
		} else {
			s++;
			last = 0;
		}
	return (last);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*in, *t;
	size_t	 len;
	int	 asked;

	if ((in = malloc(size + 1)) == NULL)
		return (0);
	memcpy(in, data, size);
	in[size] = '\0';
	len = strlen(in);		/* a NUL ends the text, as in JSON */
	if ((t = strdup(in)) == NULL) {
		free(in);
		return (0);
	}
	asked = thread_strip(t);
	if (strlen(t) > len)
		abort();
	if (!asked && strcmp(t, in) != 0)
		abort();
	if (asked && (fuzz_has_trigger(t) ||
	    cfg_js_space((const unsigned char *)t) > 0 || fuzz_ends_space(t)))
		abort();
	if (utf8_valid(in, len) && !utf8_valid(t, strlen(t)))
		abort();
	free(t);
	free(in);
	return (0);
}
