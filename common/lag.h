/*
 * lag: the event loop's longest stalls, logged each second; on only with
 * COPILOT_BRIDGE_TEST_LOOP_PROBE in the environment (see lag.c).
 */
#ifndef COMMON_LAG_H
#define COMMON_LAG_H

struct event_base;

int	 lag_start(struct event_base *);
void	 lag_stop(void);

#endif
