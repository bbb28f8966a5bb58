/*
 * cron: five-field cron expressions as upstream copilot-bridge's scheduler
 * (the "cron" npm package) reads them, and the next time one fires in a
 * time zone (common/tz.h).  Pure: the caller gives the clock.
 *
 * Syntax: minute hour day-of-month month day-of-week, each a list of
 * "*", "N", "A-B", with "/STEP" after "*", "A-B" or "N" (N to the end);
 * names jan..dec and sun..sat; day of week 0-7 (7 is Sunday again); the
 * presets @yearly @monthly @weekly @daily @hourly @minutely @weekdays
 * @weekends.  Case does not matter.  When both day fields are restricted,
 * a day matching either one matches.
 *
 * Daylight saving time, as cronie does: a wall-clock time the clock jumps
 * over fires once, when the jump happens, unless the hour field is "*"
 * (every hour: the skipped hour has nothing to run); a time the clock
 * passes twice fires the first time only, unless the hour field is "*".
 */
#ifndef COMMON_CRON_H
#define COMMON_CRON_H

#include <stddef.h>
#include <stdint.h>

#define CRON_EXPR_MAX	256		/* longer text is refused */
#define CRON_SEARCH_DAYS (366 * 9)	/* the next run is this close, or none */

struct tz;

struct cron {
	uint64_t	 min;		/* bits 0-59 */
	uint32_t	 hour;		/* bits 0-23 */
	uint32_t	 dom;		/* bits 1-31 */
	uint16_t	 mon;		/* bits 1-12 */
	uint8_t		 dow;		/* bits 0-6 */
};

/* 0, or -1 with err (what is wrong, for the agent or the user). */
int	 cron_parse(const char *expr, struct cron *, char *err, size_t len);
/* The first instant after `after` (seconds) it fires in z; -1: none. */
int64_t	 cron_next(const struct cron *, const struct tz *z, int64_t after);
/* The same in milliseconds. */
int64_t	 cron_next_ms(const struct cron *, const struct tz *z, int64_t after);
/*
 * What is due of a task whose next slot not yet run or missed is next_ms
 * (milliseconds, like now_ms and grace_ms): run, the slot to run now (-1:
 * none); missed, the first slot passed over without a run (-1: none);
 * next, the task's next slot after these.  Slots passed over together run
 * once, for the latest, if it is at most grace_ms late; a clock that went
 * back past next_ms has nothing due, so nothing runs twice.
 */
struct cron_due {
	int64_t	 run, missed, next;
};
void	 cron_due(const struct cron *, const struct tz *, int64_t next_ms,
	    int64_t now_ms, int64_t grace_ms, struct cron_due *);
/* In words ("At 09:00 AM, Monday through Friday"), or the expression. */
void	 cron_describe(const char *expr, char *buf, size_t len);

#endif
