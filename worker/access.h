/*
 * access: who may use a bot (upstream's checkUserAccess).  Platform-level
 * then bot-level access objects {mode, users}; users match by id or
 * username, case-insensitively.  Shared by every adapter.
 */
#ifndef WORKER_ACCESS_H
#define WORKER_ACCESS_H

#include <jansson.h>

int	access_allowed(const json_t *platform_access, const json_t *bot_access,
	    const char *user_id, const char *username);

#endif
