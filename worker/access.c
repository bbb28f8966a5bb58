/*
 * access: who may use a bot (see access.h).
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "common/jx.h"
#include "worker/access.h"

/* Does access object a list the user, by id or username? */
static int
access_lists(const json_t *a, const char *user_id, const char *username)
{
	const json_t	*u;
	const char	*s;
	size_t		 i;

	json_array_foreach(json_object_get(a, "users"), i, u) {
		if ((s = json_string_value(u)) == NULL)
			continue;
		if (*s == '@')
			s++;	/* normalised by config.c already; be sure */
		if ((user_id != NULL && *user_id != '\0' &&
		    strcasecmp(s, user_id) == 0) ||
		    (username != NULL && *username != '\0' &&
		    strcasecmp(s, username) == 0))
			return (1);
	}
	return (0);
}

/* 1 allows, 0 denies, -1 is "not configured" (or unreadable). */
static int
access_level(const json_t *a, const char *user_id, const char *username)
{
	const char	*mode;
	int		 listed;

	if (!json_is_object(a) ||
	    (mode = jx_str(a, "mode")) == NULL)
		return (-1);
	if (strcmp(mode, "open") == 0)
		return (1);
	listed = access_lists(a, user_id, username);
	if (strcmp(mode, "allowlist") == 0)
		return (listed);
	if (strcmp(mode, "blocklist") == 0)
		return (!listed);
	return (-1);
}

static int
access_blocks(const json_t *a, const char *user_id, const char *username)
{
	const char	*mode = jx_str(a, "mode");

	return (mode != NULL && strcmp(mode, "blocklist") == 0 &&
	    access_lists(a, user_id, username));
}

/*
 * Upstream's checkUserAccess (src/core/access-control.ts): nothing
 * configured denies (secure by default); a blocklist at either level that
 * lists the user denies; otherwise either level allowing is enough.
 */
int
access_allowed(const json_t *platform_access, const json_t *bot_access,
    const char *user_id, const char *username)
{
	int	p, b;

	p = access_level(platform_access, user_id, username);
	b = access_level(bot_access, user_id, username);
	if (p == -1 && b == -1)
		return (0);
	if (access_blocks(platform_access, user_id, username) ||
	    access_blocks(bot_access, user_id, username))
		return (0);
	return (p == 1 || b == 1);
}
