/*
 * otel_int: what the files of the telemetry module share (common/otel.h
 * is the public API).  From the bottom up:
 *
 *   otel_enc.c    OTLP JSON: values, attributes, a span, a batch
 *   otel_span.c   the span model: ids, W3C traceparent, attributes, events
 *   otel_file.c   the file exporter's write (JSON lines)
 *   otel_exp.c    an exporter: the bounded queue, batches, the HTTP POST
 *                 with its retries, draining
 *   otel.c        config and apply: the exporter in force, spans' start
 *                 and end, flush, shutdown, stats
 *
 * Single-threaded: everything here runs on the loop thread.
 */
#ifndef COMMON_OTEL_INT_H
#define COMMON_OTEL_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "backoff.h"
#include "otel.h"

#define OTEL_SCOPE		"copilot-bridge"
#define OTEL_SOURCE		"copilot-bridge"
#define OTEL_RETRY_MS		500
#define OTEL_RETRY_MAX_MS	30000
#define OTEL_HTTP_MS		5000
#define OTEL_CONNECT_MS		2000
#define OTEL_LOG_MS		60000	/* one warning a minute per reason */
#define OTEL_ATTRS_MAX		64	/* per span or event: bounds memory */
#define OTEL_EVENTS_MAX		64
#define OTEL_VALUE_MAX		4096	/* bytes of a string value or name */

#define OTEL_KIND_INTERNAL	1
#define OTEL_STATUS_OK		1
#define OTEL_STATUS_ERROR	2

/* Reasons for exporter warnings besides HTTP statuses. */
#define OTEL_WHY_IO		(-1)
#define OTEL_WHY_FULL		(-2)
#define OTEL_WHY_NOMEM		(-3)
#define OTEL_WHY_FILE		(-4)

struct event;
struct event_base;
struct net;
struct net_req;

struct otel_span {
	TAILQ_ENTRY(otel_span)	 entry;
	uint8_t			 trace[16];
	uint8_t			 id[8];
	uint8_t			 parent[8];
	int			 has_parent;
	int			 status;	/* 0 unset, OK or ERROR */
	uint64_t		 start_ns, end_ns;
	uint64_t		 queued_ms;	/* monotonic, when it ended */
	char			*name;
	char			*status_msg;
	json_t			*attrs;		/* OTLP KeyValue list or NULL */
	json_t			*events;
};
TAILQ_HEAD(otel_spanq, otel_span);

enum otel_kind {
	OTEL_HTTP,
	OTEL_FILE
};

/* What an exporter was told to do (otel.c reads it from the config). */
struct otel_conf {
	enum otel_kind	 kind;
	const char	*endpoint;
	const char	*path;
	const char	*source;
	const char	*authenv;
};

/* Counts of exporters already freed, kept by otel.c. */
struct otel_totals {
	uint64_t	 sent, dropped, retries;
};

#define OTEL_HDRS_MAX	3	/* Content-Type, Authorization, NULL */
#define OTEL_RESP_MAX	(64 * 1024)	/* the collector's answer, unused */

TAILQ_HEAD(otel_exps, otel_exp);

struct otel_exp {
	TAILQ_ENTRY(otel_exp)	 entry;
	struct event_base	*base;
	enum otel_kind		 kind;
	char			*target;	/* URL or file path */
	json_t			*resource;	/* resource attributes */
	struct otel_spanq	 queue;
	size_t			 nqueue;
	int			 draining;
	int			 flush_now;
	struct event		*tick;		/* batch delay or retry backoff */
	struct event		*reap;		/* drain deadline, or drained */
	struct otel_exps	*list;		/* draining: the list it is on */
	struct otel_totals	*totals;	/* draining: where its counts go */

	/* HTTP: the batch out (or waiting to retry) and its request. */
	char			*body;
	size_t			 nbody;
	struct net		*net;
	struct net_req		*req;
	char			*hdrs[OTEL_HDRS_MAX];
	struct backoff		 bo;

	uint64_t		 sent, dropped, retries;
	long			 rep_why;	/* last reason logged, 0: none */
	uint64_t		 rep_ms;
};

/* otel_enc.c */
void	 otel_enc_hex(const uint8_t *, size_t, char *out);
json_t	*otel_enc_str(const char *);
char	*otel_enc_strdup(const char *);
json_t	*otel_enc_obj1(const char *key, json_t *value);
json_t	*otel_enc_kv(const char *key, json_t *value);
json_t	*otel_enc_val_str(const char *);
json_t	*otel_enc_val_int(int64_t);
void	 otel_enc_attr_set(json_t **list, const char *key, json_t *value);
json_t	*otel_enc_resource(const char *source, const char *role,
	    const char *bot, int gen);
char	*otel_enc_batch(const json_t *resource, const struct otel_spanq *,
	    int nl);

/* otel_span.c */
uint64_t	  otel_span_now_ns(void);
struct otel_span *otel_span_new(const char *name, const char *parent);
void		  otel_span_free(struct otel_span *);
void		  otel_spanq_free(struct otel_spanq *);

/* otel_file.c */
int	 otel_file_write(const char *path, const char *line, char *err,
	    size_t errlen);

/* otel_exp.c */
struct otel_exp	*otel_exp_new(struct event_base *, const struct otel_conf *,
		    const char *role, const char *bot, int gen);
void		 otel_exp_enqueue(struct otel_exp *, struct otel_span *);
void		 otel_exp_kick(struct otel_exp *);
void		 otel_exp_drain(struct otel_exp *, int ms, struct otel_exps *,
		    struct otel_totals *);
void		 otel_exp_retire(struct otel_exp *);
void		 otel_exp_run_sync(struct otel_exps *, uint64_t deadline);

#endif
