/*
 * backoff: delay n is base * 2^n capped at max, then +-20% jitter, so a herd
 * of restarting workers spreads out while each delay stays close to what
 * the operator reads in the docs (1 s doubling to 60 s).
 */
#include <stdlib.h>

#include "backoff.h"

void
backoff_init(struct backoff *b, uint32_t base_ms, uint32_t max_ms)
{
	b->base_ms = base_ms;
	b->max_ms = max_ms;
	b->attempt = 0;
	b->first_free = 0;
	b->free_spent = 0;
}

void
backoff_first_free(struct backoff *b)
{
	b->first_free = 1;
}

uint32_t
backoff_next(struct backoff *b)
{
	uint64_t	d = b->base_ms;
	uint32_t	i, spread;

	if (b->first_free && !b->free_spent) {
		b->free_spent = 1;
		return (0);
	}
	for (i = 0; i < b->attempt && d < b->max_ms; i++)
		d *= 2;
	if (d > b->max_ms)
		d = b->max_ms;
	b->attempt++;
	spread = (uint32_t)(d * 2 / 5);
	return ((uint32_t)(d - spread / 2) +
	    (spread > 0 ? (uint32_t)random() % (spread + 1) : 0));
}

void
backoff_reset(struct backoff *b)
{
	b->attempt = 0;
	b->free_spent = 0;
}
