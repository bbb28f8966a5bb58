/*
 * backoff: restart and reconnect delays, doubling with jitter.
 */
#ifndef COMMON_BACKOFF_H
#define COMMON_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t	base_ms;	/* first delay */
	uint32_t	max_ms;		/* cap */
	uint32_t	attempt;	/* failures so far */
};

void		backoff_init(struct backoff *, uint32_t base_ms, uint32_t max_ms);
uint32_t	backoff_next(struct backoff *);
void		backoff_reset(struct backoff *);

#endif
