/*
 * libFuzzer target for the ids stored with a catch-up cursor, read back
 * when sessiond starts (sessiond/seen.c, seen_parse).  Whatever the bytes:
 * refused with a reason and an empty list, or a list of at most SEEN_MAX
 * ids, each non-empty and short enough, in time order within the cursor's
 * span, that writes back to text that parses to the same list.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc.h"
#include "sessiond/seen.h"

#define FUZZ_CURSOR	1700000000000LL

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_check(const struct seen *s)
{
	size_t	i, l;

	if (s->n > SEEN_MAX)
		abort();
	for (i = 0; i < s->n; i++) {
		l = strlen(s->v[i].id);
		if (l == 0 || l > SEEN_ID_MAX ||
		    s->v[i].ms > FUZZ_CURSOR ||
		    s->v[i].ms < FUZZ_CURSOR - IPC_CATCHUP_MARGIN_MS ||
		    (i > 0 && s->v[i].ms < s->v[i - 1].ms))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen	 s = { 0 }, again = { 0 };
	char		 why[256], *text, *back;
	size_t		 i;
	int		 rc;

	if ((text = malloc(size + 1)) == NULL)
		return (0);
	memcpy(text, data, size);
	text[size] = '\0';
	why[0] = '\0';
	rc = seen_parse(&s, text, FUZZ_CURSOR, why, sizeof(why));
	free(text);
	if (rc == -1 && (why[0] == '\0' || s.n != 0 || s.v != NULL))
		abort();
	if (rc != 0) {
		if (rc != -1 && rc != -2)
			abort();
		return (0);
	}
	fuzz_check(&s);
	if ((back = seen_text(&s)) != NULL) {
		if (seen_parse(&again, back, FUZZ_CURSOR, why, sizeof(why)) !=
		    0 || again.n != s.n)
			abort();
		for (i = 0; i < s.n; i++)
			if (strcmp(again.v[i].id, s.v[i].id) != 0 ||
			    again.v[i].ms != s.v[i].ms)
				abort();
		free(back);
		seen_free(&again);
	}
	seen_free(&s);
	return (0);
}
