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
	int		first_free;	/* the first delay after a reset is 0 */
	int		free_spent;
};

void		backoff_init(struct backoff *, uint32_t base_ms, uint32_t max_ms);
/*
 * A restart after a reset is immediate: a one-off crash costs no delay,
 * and the doubling starts from the second failure in a row.
 */
void		backoff_first_free(struct backoff *);
uint32_t	backoff_next(struct backoff *);
void		backoff_reset(struct backoff *);

#endif
