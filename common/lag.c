/*
 * lag: how long an event loop goes without getting to its events.  A timer
 * due every LAG_TICK_MS (a timerfd: libevent's own timers may fire a
 * kernel tick late) is read late by as much as the loop was busy, or
 * blocked (a disk sync, say), when it fell due, and also by however long the
 * process waited for a CPU.  That last part is the machine's, not the
 * loop's: the kernel counts it (the second field of
 * /proc/thread-self/schedstat, time spent runnable but not running), and
 * it is taken off to give the loop's own stall.  The longest of both in
 * each LAG_REPORT_MS is logged.
 *
 * Off unless COPILOT_BRIDGE_TEST_LOOP_PROBE is set in the environment: it
 * exists for tests and `make bench` (docs/testing.md), and costs a wakeup
 * a millisecond.
 */
#include <sys/timerfd.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "util.h"
#include "lag.h"

#define LAG_ENV		"COPILOT_BRIDGE_TEST_LOOP_PROBE"
#define LAG_TICK_MS	1
#define LAG_REPORT_MS	1000
#define LAG_OVER_MS	5	/* what a stall must never reach */

static struct {
	struct event	*ev;
	int		 tfd;		/* the timerfd */
	int		 fd;		/* /proc/thread-self/schedstat, or -1 */
	uint64_t	 waited_ns;	/* runnable, not running, so far */
	uint64_t	 due_us;	/* when the timer should fire */
	uint64_t	 since_us;	/* start of this report's window */
	uint64_t	 max_us;	/* the longest lateness in it */
	uint64_t	 own_us;	/* the longest, less waiting for a CPU */
	unsigned int	 over;		/* own stalls over LAG_OVER_MS */
	unsigned int	 ticks;
} L = { .tfd = -1, .fd = -1 };

/* How long this thread has waited for a CPU, in ns; 0 if unknown. */
static uint64_t
lag_waited_ns(void)
{
	char		buf[128];
	ssize_t		n;
	uint64_t	run, wait;

	if (L.fd == -1 || (n = pread(L.fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return (0);
	buf[n] = '\0';
	if (sscanf(buf, "%" SCNu64 " %" SCNu64, &run, &wait) != 2)
		return (0);
	return (wait);
}

static void
lag_tick(int fd, short what, void *arg)
{
	uint64_t	now = util_now_us(), waited = lag_waited_ns(), n;
	uint64_t	late = now > L.due_us ? now - L.due_us : 0, cpu;

	if (read(L.tfd, &n, sizeof(n)) != sizeof(n)) {
		if (errno != EAGAIN)
			log_warn("loop: probe");
		return;
	}
	/* The first expiry not read yet was due at due_us. */
	L.due_us += n * LAG_TICK_MS * 1000;
	cpu = waited > L.waited_ns ? (waited - L.waited_ns) / 1000 : 0;
	L.waited_ns = waited;
	if (late > L.max_us)
		L.max_us = late;
	if (late > cpu && late - cpu > L.own_us)
		L.own_us = late - cpu;
	if (late > cpu && late - cpu > LAG_OVER_MS * 1000)
		L.over++;
	L.ticks++;
	if (now - L.since_us >= LAG_REPORT_MS * 1000) {
		log_info("loop: longest stall %.2f ms, %.2f ms of it not waiting "
		    "for a CPU, %u such over %d ms, in %.0f ms (%u ticks)",
		    (double)L.max_us / 1000, (double)L.own_us / 1000, L.over,
		    LAG_OVER_MS, (double)(now - L.since_us) / 1000, L.ticks);
		L.since_us = now;
		L.max_us = L.own_us = 0;
		L.over = L.ticks = 0;
	}
}

int
lag_start(struct event_base *base)
{
	struct itimerspec	its = { { 0, LAG_TICK_MS * 1000000L },
				    { 0, LAG_TICK_MS * 1000000L } };

	if (getenv(LAG_ENV) == NULL || L.ev != NULL)
		return (0);
	if ((L.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1 || (L.ev = event_new(base, L.tfd, EV_READ |
	    EV_PERSIST, lag_tick, NULL)) == NULL || event_add(L.ev, NULL) == -1)
		return (-1);
	/* Without it (no schedstats) both figures are the same. */
	L.fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	L.waited_ns = lag_waited_ns();
	L.since_us = util_now_us();
	L.due_us = L.since_us + LAG_TICK_MS * 1000;
	if (timerfd_settime(L.tfd, 0, &its, NULL) == -1)
		return (-1);
	log_info("loop: probe on (%s)", LAG_ENV);
	return (0);
}

void
lag_stop(void)
{
	if (L.ev != NULL)
		event_free(L.ev);
	if (L.tfd != -1)
		(void)close(L.tfd);
	if (L.fd != -1)
		(void)close(L.fd);
	L.ev = NULL;
	L.tfd = L.fd = -1;
}
