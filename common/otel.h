/*
 * otel: this process's spans, exported over OTLP/HTTP JSON (or to a file as
 * JSON lines), batched, from the libevent loop, never blocking it.
 *
 * Every function accepts a NULL span and does nothing with it, and
 * otel_span_start() returns NULL while telemetry is off, so callers never
 * test whether it is on.
 *
 * Single-threaded: call it only from the thread that runs the event_base
 * given to otel_configure().
 */
#ifndef COMMON_OTEL_H
#define COMMON_OTEL_H

#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#define OTEL_TRACEPARENT_LEN	56	/* "00-<32>-<16>-01" + NUL */

#define OTEL_BATCH_MAX	256	/* spans per export request */
#define OTEL_BATCH_MS	1000	/* longest a queued span waits for company */
#define OTEL_QUEUE_MAX	2048	/* queued spans; then the oldest are dropped */

struct otel_span;

struct otel_stats {
	uint64_t	 queued;	/* spans waiting to be sent */
	uint64_t	 sent;		/* spans the collector accepted */
	uint64_t	 dropped;	/* spans thrown away: queue full or gave up */
	uint64_t	 retries;	/* export attempts retried (5xx, 429, I/O) */
};

/*
 * (Re)configure from the config's "telemetry" object (NULL or no endpoint /
 * file: off).  role is "supervisor", "sessiond" or "worker"; bot and gen
 * describe a worker (NULL and 0 elsewhere).  A previous exporter is flushed
 * in the background for at most OTEL_FLUSH_MS, then freed; spans ended from
 * now on go to the new one.  Returns 0, or -1 (logged) leaving telemetry off.
 */
#define OTEL_FLUSH_MS	2000
int		 otel_configure(struct event_base *, const json_t *telemetry,
		    const char *role, const char *bot, int gen);
/*
 * At exit: send what is queued, waiting at most wait_ms.  It runs the loop;
 * called from inside one of the loop's callbacks (a daemon exiting from its
 * SHUTDOWN handler) it sends with blocking requests instead, as bounded.
 */
void		 otel_shutdown(int wait_ms);
/*
 * otel_configure() when telemetry differs from what otel_apply() applied
 * last (always the first time): 1 if rebuilt, 0 if unchanged.
 */
int		 otel_apply(struct event_base *, const json_t *telemetry,
		    const char *role, const char *bot, int gen);
int		 otel_enabled(void);
/* Start sending every queued span now, without waiting for a full batch. */
void		 otel_flush(void);
/* Counts since the first otel_configure() after start or otel_shutdown(). */
void		 otel_get_stats(struct otel_stats *);

/* A span; parent is a W3C traceparent string, or NULL for a new trace. */
struct otel_span *otel_span_start(const char *name, const char *parent);
void		 otel_span_str(struct otel_span *, const char *key, const char *v);
void		 otel_span_int(struct otel_span *, const char *key, int64_t v);
/* A timestamped event on the span, with one optional string attribute. */
void		 otel_span_event(struct otel_span *, const char *name,
		    const char *key, const char *value);
/* error != NULL: status ERROR with that message; else OK. */
void		 otel_span_status(struct otel_span *, const char *error);
/* Its traceparent, for a child in this or another process; "" if NULL. */
const char	*otel_span_traceparent(const struct otel_span *,
		    char buf[OTEL_TRACEPARENT_LEN]);
/* End it and queue it for export; the span is freed. */
void		 otel_span_end(struct otel_span *);
/* Free it without exporting (the work it measured was abandoned). */
void		 otel_span_drop(struct otel_span *);

#endif
