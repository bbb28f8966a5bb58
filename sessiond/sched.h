/*
 * sched: scheduled tasks (docs/schedules.md).  A task sends its prompt to
 * its channel at a time (one-off) or on a cron expression (recurring), in
 * the channel's time zone, like a user message in quiet mode; tasks and
 * their runs are kept in state.db (upstream's scheduled_tasks and
 * scheduled_task_history), so they outlive sessiond and the bridge.
 *
 * The schedule tool (tool_sched.c) and /schedule (cmd_sched.c) read and
 * change them through this API; the channel layer reports the end of a
 * scheduled turn.  Changes are made in memory at once and saved by the
 * store's writer; a change's callback runs once that is done (error NULL:
 * saved), never after sched_shutdown().
 */
#ifndef SESSIOND_SCHED_H
#define SESSIOND_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct tz;

#define SCHED_PER_CHANNEL	100	/* tasks one channel may have */
#define SCHED_PROMPT_MAX	16384	/* bytes of a task's prompt */

/* A task as it is shown; strings valid until the next change. */
struct sched_view {
	const char	*id, *prompt, *cron, *run_at, *timezone, *description;
	int		 enabled;
	int64_t		 next_ms, last_ms;	/* -1: none */
	const struct tz	*tz;
};

/* A new task: cron or run_at; timezone NULL is the channel's. */
struct sched_new {
	const char	*channel, *bot, *prompt, *cron, *run_at, *timezone;
	const char	*description, *created_by;
};

typedef void	(*sched_done)(void *arg, const char *error);
typedef void	(*sched_rows)(void *arg, const json_t *runs, const char *error);

enum sched_op { SCHED_CANCEL, SCHED_PAUSE, SCHED_RESUME };

void		 sched_init(struct event_base *);
void		 sched_shutdown(void);
int		 sched_stopping(void);
/* The clock tasks run by (milliseconds since the epoch). */
int64_t		 sched_now_ms(void);

/* A channel's tasks, oldest first; returns how many (may exceed max). */
size_t		 sched_list(const char *channel, struct sched_view *, size_t max);
/*
 * Add a task: 0 with *out (its view) and done to come, or -1 with err
 * (the reason, for the agent: a bad expression, a time in the past...).
 */
int		 sched_add(const struct sched_new *, struct sched_view *out,
		    sched_done, void *arg, char *err, size_t len);
/* Cancel, pause or resume a channel's task: 0 (done to come), -1 none. */
int		 sched_change(const char *channel, const char *id, enum sched_op,
		    sched_done, void *arg);
/*
 * The channel's last runs, newest first: an array of {task, prompt,
 * description, timezone, status, fired_at, error}; -1 if it cannot be
 * asked (no database).
 */
int		 sched_history(const char *channel, int limit, sched_rows,
		    void *arg);

/* The channel layer: a scheduled turn failed; it ended (error: how). */
void		 sched_run_error(long long run, const char *error);
void		 sched_run_end(long long run, const char *error);

#endif
