/*
 * platform: what the platform adapters share: reporting a failure, timers
 * whose failure to arm is never silent, the first connection's deadline,
 * the bearer token header.
 */
#ifndef WORKER_PLATFORM_H
#define WORKER_PLATFORM_H

#include <stdint.h>

#include <jansson.h>

#include "worker/adapter.h"

struct event;

void	platform_failed(const struct adapter_events *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Arm timer ev in ms; a timer that cannot be armed fails the worker. */
int	platform_arm(const struct adapter_events *, struct event *, uint64_t ms,
	    const char *what);
/* Disarm timer ev; a failure is logged. */
void	platform_disarm(struct event *, const char *what);
/*
 * How long the first connection may take: a little under the
 * supervisor's reconnectTimeoutMs (a tenth, at most 500 ms), so that the
 * worker's reason, not the supervisor's timeout, is what the operator
 * reads.
 */
int	platform_deadline_ms(const json_t *config);
/* "Authorization: Bearer <tok>" into *out; -1 for no usable token. */
int	platform_auth_header(char **out, const char *tok, const char *prefix);

#endif
