/*
 * libFuzzer target for sessiond/agents.c: agents_front(), the YAML front
 * matter of *.agent.md and SKILL.md, on any bytes: the body starts within
 * the text (at a line's start), and the description found is at most the
 * characters asked for, NUL-terminated within its buffer.
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
	const char	*text = (const char *)data;
	char		 out[64];
	size_t		 body;
	int		 found;

	memset(out, 'x', sizeof(out));
	found = agents_front(text, size, "description", out, sizeof(out), 20,
	    &body);
	if ((found != 0 && found != 1) || body > size ||
	    (body > 0 && text[body - 1] != '\n' && body != size) ||
	    memchr(out, '\0', sizeof(out)) == NULL ||
	    utf8_count(out, strlen(out)) > 20 || (!found && out[0] != '\0'))
		abort();
	return (0);
}
