/*
 * libFuzzer target for the previous version's sessions.json, read once when
 * sessiond first opens state.db (common/db.c, db_legacy_parse).  Whatever
 * the bytes: the document is refused with a reason, or every entry handed
 * over has a channel id and fields a database row can take, and each entry
 * refused is counted with a reason.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/db.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fuzz_entry(void *arg, const struct db_legacy *l)
{
	if (l->channel == NULL || *l->channel == '\0' ||
	    strlen(l->channel) > 256 || l->cursor < 0 ||
	    (l->sid != NULL && (*l->sid == '\0' || strlen(l->sid) > 256)) ||
	    (l->bot != NULL && (*l->bot == '\0' || strlen(l->bot) > 256)))
		abort();
	(*(size_t *)arg)++;
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	why[256];
	size_t	n = 0, skipped = 0;
	int	rc;

	why[0] = '\0';
	rc = db_legacy_parse((const char *)data, size, fuzz_entry, &n, &skipped,
	    why, sizeof(why));
	if (rc != 0 && rc != -1)
		abort();
	if ((rc == -1 || skipped > 0) && why[0] == '\0')
		abort();
	if (rc == -1 && n != 0)
		abort();
	return (0);
}
