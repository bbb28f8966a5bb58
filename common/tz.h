/*
 * tz: time zones of the system's tz database, read by this code, and civil
 * time (dates, ISO 8601, the form a chat shows).
 *
 * A daemon must not change TZ and call localtime() to learn another zone's
 * time: the environment is process-wide and not thread-safe.  So a zone is
 * read from its TZif file (RFC 8536) under TZDIR (default
 * /usr/share/zoneinfo) into a table of transitions; the POSIX TZ rule at the
 * file's end is expanded into transitions up to TZ_LAST_YEAR.  Everything
 * else here is arithmetic on that table.  Times are seconds since the
 * epoch (UTC, no leap seconds); a "local" time is the same count as if the
 * wall clock of the zone were UTC.
 */
#ifndef COMMON_TZ_H
#define COMMON_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZ_LAST_YEAR	2200		/* transitions computed up to here */
#define TZ_FILE_MAX	(1024 * 1024)	/* a zone file larger is refused */

struct tz;

/* A zone by name ("UTC", "Europe/Paris"); NULL with err if unusable. */
struct tz	*tz_load(const char *name, char *err, size_t len);
/* A zone from a TZif image (tests, fuzzing); name is what tz_name says. */
struct tz	*tz_parse(const char *name, const unsigned char *buf, size_t n,
		    char *err, size_t len);
void		 tz_free(struct tz *);
const char	*tz_name(const struct tz *);
/* Can name be a zone's (no "..", no leading "/", [A-Za-z0-9_+-/])? */
int		 tz_name_ok(const char *name);

/* The offset east of UTC at t, in seconds; *abbr (if asked) its name. */
int32_t		 tz_offset(const struct tz *, int64_t t, const char **abbr);
/*
 * The instants whose wall clock reads local, earliest first: 1 usually,
 * 2 when the clock goes back over it, 0 when it jumps over it (a DST
 * gap), and then *gap_end is the instant the jump happens.
 */
int		 tz_local(const struct tz *, int64_t local, int64_t out[2],
		    int64_t *gap_end);

/* Civil dates (proleptic Gregorian).  dow: 0 Sunday .. 6 Saturday. */
int64_t		 tz_days(int y, int m, int d);
void		 tz_civil(int64_t days, int *y, int *m, int *d, int *dow);
int		 tz_mdays(int y, int m);

/*
 * ISO 8601 as JavaScript's Date reads it, and SQLite's datetime():
 * YYYY-MM-DD, then optionally T or a space, HH:MM, :SS, .fraction, and Z
 * or +HH:MM / +HHMM / +HH.  Without an offset the time is in zone z.
 * 0 with *ms; -1 with err if it is no such time.
 */
int		 tz_iso_parse(const char *s, const struct tz *z, int64_t *ms,
		    char *err, size_t len);
/* "2026-03-09T22:31:00.000Z", as JavaScript's toISOString() (25 bytes). */
void		 tz_iso_utc(int64_t ms, char *buf, size_t len);
/* "2026-03-09 22:31:00": SQLite's datetime('now') of ms (20 bytes). */
void		 tz_sql_utc(int64_t ms, char *buf, size_t len);
/* "March 9, 2026 at 3:31 PM PDT": ms in zone z, for people. */
void		 tz_human(int64_t ms, const struct tz *z, char *buf, size_t len);

#endif
