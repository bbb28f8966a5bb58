/*
 * adapter: the table of platform adapters (see adapter.h).
 */
#include <stddef.h>
#include <string.h>

#include "common/util.h"
#include "worker/adapter.h"

static const struct adapter_ops *const adapters[] = {
	&mm_adapter,
	&slack_adapter,
};

const struct adapter_ops *
adapter_find(const char *platform)
{
	size_t	i;

	for (i = 0; platform != NULL && i < nitems(adapters); i++)
		if (strcmp(adapters[i]->platform, platform) == 0)
			return (adapters[i]);
	return (NULL);
}
