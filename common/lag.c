/*
 * lag: how long an event loop goes without getting to its events.  A timer
 * due every LAG_TICK_MS is late by as much as the loop was busy (or waiting
 * on something, a disk sync say) when it fell due; the longest lateness of
 * each LAG_REPORT_MS is logged.
 *
 * Off unless COPILOT_BRIDGE_TEST_LOOP_PROBE is set in the environment: it
 * exists for tests and `make bench` (docs/testing.md), and costs a wakeup
 * a millisecond.
 */
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>

#include "log.h"
#include "util.h"
#include "lag.h"

#define LAG_ENV		"COPILOT_BRIDGE_TEST_LOOP_PROBE"
#define LAG_TICK_MS	1
#define LAG_REPORT_MS	1000

static struct {
	struct event	*ev;
	uint64_t	 due_us;	/* when the timer should fire */
	uint64_t	 since_us;	/* start of this report's window */
	uint64_t	 max_us;	/* the longest lateness in it */
	unsigned int	 ticks;
} L;

static void
lag_tick(int fd, short what, void *arg)
{
	uint64_t	now = util_now_us();

	if (now > L.due_us && now - L.due_us > L.max_us)
		L.max_us = now - L.due_us;
	L.ticks++;
	if (now - L.since_us >= LAG_REPORT_MS * 1000) {
		log_info("loop: longest stall %.2f ms in %.0f ms (%u ticks)",
		    (double)L.max_us / 1000, (double)(now - L.since_us) / 1000,
		    L.ticks);
		L.since_us = now;
		L.max_us = 0;
		L.ticks = 0;
	}
	L.due_us = util_now_us() + LAG_TICK_MS * 1000;
	if (util_timer_ms(L.ev, LAG_TICK_MS) == -1)
		log_warnx("loop: cannot re-arm the probe; it stops");
}

int
lag_start(struct event_base *base)
{
	if (getenv(LAG_ENV) == NULL || L.ev != NULL)
		return (0);
	if ((L.ev = evtimer_new(base, lag_tick, NULL)) == NULL)
		return (-1);
	L.since_us = util_now_us();
	L.due_us = L.since_us + LAG_TICK_MS * 1000;
	if (util_timer_ms(L.ev, LAG_TICK_MS) == -1)
		return (-1);
	log_info("loop: probe on (%s)", LAG_ENV);
	return (0);
}

void
lag_stop(void)
{
	if (L.ev != NULL)
		event_free(L.ev);
	L.ev = NULL;
}
