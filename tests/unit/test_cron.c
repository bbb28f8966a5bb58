/*
 * cron and tz: the calendar, zones read from the system's tz database and
 * from made-up TZif images, wall-clock times in DST gaps and overlaps, the
 * cron parser's refusals, and the next run of an expression with the clock
 * given by the test (UTC and zones with DST, both ways, a 30-minute DST and
 * a day a zone skipped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cron.h"
#include "common/tz.h"

/* Seconds of a UTC date and time. */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	return (tz_days(y, mo, d) * 86400 + h * 3600 + mi * 60);
}

static struct tz *
zone(const char *name)
{
	char		 err[256];
	struct tz	*z = tz_load(name, err, sizeof(err));

	if (z == NULL)
		fail_msg("%s: %s", name, err);
	return (z);
}

static int64_t
next(const char *expr, const struct tz *z, int64_t after)
{
	struct cron	c;
	char		err[256];

	if (cron_parse(expr, &c, err, sizeof(err)) == -1)
		fail_msg("%s: %s", expr, err);
	return (cron_next(&c, z, after));
}

static void
test_calendar(void **state)
{
	int64_t	d;
	int	y, m, dd, dow;

	assert_int_equal(tz_days(1970, 1, 1), 0);
	assert_int_equal(tz_days(2000, 3, 1), 11017);
	tz_civil(0, &y, &m, &dd, &dow);
	assert_int_equal(dow, 4);			/* a Thursday */
	tz_civil(-1, &y, &m, &dd, &dow);
	assert_true(y == 1969 && m == 12 && dd == 31 && dow == 3);
	for (d = -800000; d < 800000; d += 997) {
		tz_civil(d, &y, &m, &dd, &dow);
		assert_int_equal(tz_days(y, m, dd), d);
		assert_true(dd >= 1 && dd <= tz_mdays(y, m));
	}
	assert_int_equal(tz_mdays(2024, 2), 29);
	assert_int_equal(tz_mdays(2100, 2), 28);
	assert_int_equal(tz_mdays(2000, 2), 29);
	assert_int_equal(tz_mdays(2026, 13), 0);
}

static void
test_zone_offsets(void **state)
{
	struct tz	*ny = zone("America/New_York"), *utcz = zone("UTC");
	const char	*abbr;

	assert_int_equal(tz_offset(ny, utc(2026, 1, 15, 12, 0), &abbr), -18000);
	assert_string_equal(abbr, "EST");
	assert_int_equal(tz_offset(ny, utc(2026, 7, 1, 12, 0), &abbr), -14400);
	assert_string_equal(abbr, "EDT");
	/* Beyond the file's table: from its TZ rule. */
	assert_int_equal(tz_offset(ny, utc(2150, 7, 1, 12, 0), NULL), -14400);
	assert_int_equal(tz_offset(ny, utc(2150, 12, 1, 12, 0), NULL), -18000);
	/* The 2026 changes, to the second. */
	assert_int_equal(tz_offset(ny, utc(2026, 3, 8, 7, 0) - 1, NULL), -18000);
	assert_int_equal(tz_offset(ny, utc(2026, 3, 8, 7, 0), NULL), -14400);
	assert_int_equal(tz_offset(ny, utc(2026, 11, 1, 6, 0) - 1, NULL), -14400);
	assert_int_equal(tz_offset(ny, utc(2026, 11, 1, 6, 0), NULL), -18000);
	assert_int_equal(tz_offset(utcz, utc(2026, 7, 1, 0, 0), &abbr), 0);
	assert_string_equal(abbr, "UTC");
	assert_string_equal(tz_name(ny), "America/New_York");
	tz_free(ny);
	tz_free(utcz);
}

static void
test_local_times(void **state)
{
	struct tz	*ny = zone("America/New_York");
	int64_t		 u[2], gap = 0;

	/* An ordinary time. */
	assert_int_equal(tz_local(ny, utc(2026, 6, 1, 9, 0), u, &gap), 1);
	assert_int_equal(u[0], utc(2026, 6, 1, 13, 0));
	/* 02:30 on 8 March 2026 never happens: the clock jumps at 07:00Z. */
	assert_int_equal(tz_local(ny, utc(2026, 3, 8, 2, 30), u, &gap), 0);
	assert_int_equal(gap, utc(2026, 3, 8, 7, 0));
	/* 01:30 on 1 November 2026 happens twice. */
	assert_int_equal(tz_local(ny, utc(2026, 11, 1, 1, 30), u, &gap), 2);
	assert_int_equal(u[0], utc(2026, 11, 1, 5, 30));
	assert_int_equal(u[1], utc(2026, 11, 1, 6, 30));
	tz_free(ny);
}

static void
test_zone_names(void **state)
{
	char	err[256];

	assert_true(tz_name_ok("Europe/Paris"));
	assert_true(tz_name_ok("Etc/GMT+5"));
	assert_false(tz_name_ok(""));
	assert_false(tz_name_ok("/etc/passwd"));
	assert_false(tz_name_ok("../../etc/passwd"));
	assert_false(tz_name_ok("Europe/../../x"));
	assert_false(tz_name_ok("Europe/Par is"));
	assert_false(tz_name_ok(NULL));
	assert_null(tz_load("Mars/Olympus_Mons", err, sizeof(err)));
	assert_non_null(strstr(err, "unknown time zone \"Mars/Olympus_Mons\""));
	assert_null(tz_load("../etc/passwd", err, sizeof(err)));
	assert_non_null(strstr(err, "is not a time zone name"));
	/* A directory is no zone. */
	assert_null(tz_load("Europe", err, sizeof(err)));
}

/* A TZif v2 image with no transitions and footer rule. */
static size_t
tzif_image(unsigned char *b, size_t cap, const char *rule, int version,
    int leap)
{
	size_t		 n = 0;
	int		 pass;
	static const unsigned char type[6] = { 0, 0, 0, 0, 0, 0 };

	memset(b, 0, cap);
	for (pass = 0; pass < (version >= 2 ? 2 : 1); pass++) {
		memcpy(b + n, "TZif", 4);
		b[n + 4] = version >= 2 ? (unsigned char)('0' + version) : 0;
		b[n + 31] = (unsigned char)leap;	/* leapcnt */
		b[n + 39] = 1;				/* typecnt */
		b[n + 43] = 4;				/* charcnt */
		n += 44;
		memcpy(b + n, type, 6);
		n += 6;
		memcpy(b + n, "UTC", 4);
		n += 4;
		n += (size_t)leap * (pass == 0 ? 8 : 12);
	}
	if (version >= 2)
		n += (size_t)snprintf((char *)b + n, cap - n, "\n%s\n", rule);
	return (n);
}

static void
test_tzif_images(void **state)
{
	unsigned char	 b[512];
	char		 err[256];
	struct tz	*z;
	size_t		 n;
	const char	*abbr;

	/* Only a rule: central Europe, worked out for any year. */
	n = tzif_image(b, sizeof(b), "CET-1CEST,M3.5.0,M10.5.0/3", 2, 0);
	assert_non_null(z = tz_parse("x", b, n, err, sizeof(err)));
	assert_int_equal(tz_offset(z, utc(2031, 7, 1, 0, 0), &abbr), 7200);
	assert_string_equal(abbr, "CEST");
	assert_int_equal(tz_offset(z, utc(2031, 12, 1, 0, 0), &abbr), 3600);
	/* Last Sunday of March 2031 is the 30th: 01:00Z. */
	assert_int_equal(tz_offset(z, utc(2031, 3, 30, 1, 0) - 1, NULL), 3600);
	assert_int_equal(tz_offset(z, utc(2031, 3, 30, 1, 0), NULL), 7200);
	tz_free(z);
	/* The southern hemisphere, and a quoted numeric name. */
	n = tzif_image(b, sizeof(b), "<-03>3<-02>,M9.1.6/24,M4.1.6/24", 2, 0);
	assert_non_null(z = tz_parse("x", b, n, err, sizeof(err)));
	assert_int_equal(tz_offset(z, utc(2030, 1, 15, 0, 0), &abbr), -7200);
	assert_string_equal(abbr, "-02");
	assert_int_equal(tz_offset(z, utc(2030, 6, 15, 0, 0), NULL), -10800);
	tz_free(z);
	/* DST all year: the changes at the turn of the year cancel out. */
	n = tzif_image(b, sizeof(b), "EST5EDT,0/0,J365/25", 2, 0);
	assert_non_null(z = tz_parse("x", b, n, err, sizeof(err)));
	assert_int_equal(tz_offset(z, utc(2041, 1, 1, 12, 0), NULL), -14400);
	assert_int_equal(tz_offset(z, utc(2042, 6, 1, 12, 0), NULL), -14400);
	assert_int_equal(tz_offset(z, utc(2043, 12, 31, 12, 0), NULL), -14400);
	tz_free(z);
	/* Version 1: no rule. */
	n = tzif_image(b, sizeof(b), "", 1, 0);
	assert_non_null(z = tz_parse("x", b, n, err, sizeof(err)));
	assert_int_equal(tz_offset(z, utc(2030, 1, 1, 0, 0), NULL), 0);
	tz_free(z);
	/* Refused: leap seconds, bad magic, truncation, bad rules. */
	n = tzif_image(b, sizeof(b), "UTC0", 2, 1);
	assert_null(tz_parse("x", b, n, err, sizeof(err)));
	assert_string_equal(err, "a zone with leap seconds");
	n = tzif_image(b, sizeof(b), "UTC0", 2, 0);
	b[0] = 'X';
	assert_null(tz_parse("x", b, n, err, sizeof(err)));
	n = tzif_image(b, sizeof(b), "UTC0", 2, 0);
	assert_null(tz_parse("x", b, 60, err, sizeof(err)));
	assert_null(tz_parse("x", b, n - 2, err, sizeof(err)));
	n = tzif_image(b, sizeof(b), "CET-1CEST,M3.5.0", 2, 0);
	assert_null(tz_parse("x", b, n, err, sizeof(err)));
	n = tzif_image(b, sizeof(b), "CET-1CEST,M13.5.0,M10.5.0", 2, 0);
	assert_null(tz_parse("x", b, n, err, sizeof(err)));
	n = tzif_image(b, sizeof(b), "X-1", 2, 0);
	assert_null(tz_parse("x", b, n, err, sizeof(err)));
	n = tzif_image(b, sizeof(b), "<CET-1", 2, 0);
	assert_null(tz_parse("x", b, n, err, sizeof(err)));
	assert_null(tz_parse("x", b, 0, err, sizeof(err)));
}

static void
test_cron_refused(void **state)
{
	static const struct {
		const char	*expr, *why;
	} bad[] = {
		{ "", "Too few fields" },
		{ "* * * *", "Too few fields" },
		{ "0 * * * * *", "six fields" },
		{ "* * * * * * *", "Too many fields" },
		{ "60 * * * *", "Field value (60) is out of range" },
		{ "* 24 * * *", "out of range" },
		{ "* * 0 * *", "out of range" },
		{ "* * 32 * *", "out of range" },
		{ "* * * 13 *", "out of range" },
		{ "* * * * 8", "out of range" },
		{ "*/0 * * * *", "Field (minute) has a step of zero" },
		{ "5-1 * * * *", "Field (minute) has an invalid range" },
		{ "foo * * * *", "Unknown alias: foo" },
		{ "monday * * * *", "Unknown alias: day" },
		{ "L * * * *", "Unknown alias: l" },
		{ "? * * * *", "Field (minute) cannot be parsed" },
		{ "1,,2 * * * *", "cannot be parsed" },
		{ "5* * * * *", "invalid wildcard" },
		{ "*-5 * * * *", "cannot be parsed" },
		{ "-5 * * * *", "cannot be parsed" },
		{ "1-2-3 * * * *", "cannot be parsed" },
		{ "1/2/3 * * * *", "cannot be parsed" },
		{ "1234567890 * * * *", "cannot be parsed" },
		{ "@secondly", "at most once a minute" },
		{ "@annually", "Unknown alias: ann" },
	};
	struct cron	c;
	char		err[256], big[CRON_EXPR_MAX + 8];
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (cron_parse(bad[i].expr, &c, err, sizeof(err)) != -1)
			fail_msg("\"%s\" was accepted", bad[i].expr);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("\"%s\": \"%s\", not \"%s\"", bad[i].expr, err,
			    bad[i].why);
	}
	memset(big, '*', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cron_parse(big, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
}

static void
test_cron_fields(void **state)
{
	struct cron	c;
	char		err[256];

	assert_int_equal(cron_parse("  */15 9-17/2 1,15 jan-mar MON-fri ", &c,
	    err, sizeof(err)), 0);
	assert_true(c.min == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) |
	    (1ULL << 45)));
	assert_int_equal(c.hour, (1 << 9) | (1 << 11) | (1 << 13) | (1 << 15) |
	    (1 << 17));
	assert_int_equal(c.dom, (1 << 1) | (1 << 15));
	assert_int_equal(c.mon, (1 << 1) | (1 << 2) | (1 << 3));
	assert_int_equal(c.dow, 0x3e);
	/* 7 is Sunday, as 0; N/S runs to the end. */
	assert_int_equal(cron_parse("50/5 * * * 7", &c, err, sizeof(err)), 0);
	assert_int_equal(c.dow, 1);
	assert_true(c.min == ((1ULL << 50) | (1ULL << 55)));
	assert_int_equal(cron_parse("@weekdays", &c, err, sizeof(err)), 0);
	assert_int_equal(c.dow, 0x3e);
	assert_true(c.min == 1 && c.hour == 1);
	assert_int_equal(cron_parse("@HOURLY", &c, err, sizeof(err)), 0);
	assert_int_equal(c.hour, 0xffffff);
}

static void
test_cron_next_utc(void **state)
{
	struct tz	*z = zone("UTC");
	int64_t		 t = utc(2026, 5, 20, 12, 0) + 30;

	assert_int_equal(next("* * * * *", z, t), utc(2026, 5, 20, 12, 1));
	/* Exactly on a slot: the next one. */
	assert_int_equal(next("* * * * *", z, utc(2026, 5, 20, 12, 1)),
	    utc(2026, 5, 20, 12, 2));
	assert_int_equal(next("*/15 * * * *", z, t), utc(2026, 5, 20, 12, 15));
	assert_int_equal(next("0 9 * * 1-5", z, t), utc(2026, 5, 21, 9, 0));
	/* 2026-05-22 is a Friday: the next weekday after it is Monday. */
	assert_int_equal(next("0 9 * * 1-5", z, utc(2026, 5, 22, 10, 0)),
	    utc(2026, 5, 25, 9, 0));
	/* Day of month or day of week, when both are given. */
	assert_int_equal(next("0 0 13 * 5", z, utc(2026, 5, 20, 0, 0)),
	    utc(2026, 5, 22, 0, 0));
	assert_int_equal(next("0 0 13 * 5", z, utc(2026, 6, 12, 1, 0)),
	    utc(2026, 6, 13, 0, 0));
	/* The 29th of February: years away, still found. */
	assert_int_equal(next("0 0 29 2 *", z, utc(2097, 3, 1, 0, 0)),
	    utc(2104, 2, 29, 0, 0));
	assert_int_equal(next("0 0 31 2 *", z, t), -1);
	assert_int_equal(next("@yearly", z, t), utc(2027, 1, 1, 0, 0));
	tz_free(z);
}

/* America/New_York: into DST on 8 March 2026, out on 1 November. */
static void
test_cron_next_dst(void **state)
{
	struct tz	*ny = zone("America/New_York");

	/* A daily 09:00 keeps its wall-clock time across both changes. */
	assert_int_equal(next("0 9 * * *", ny, utc(2026, 3, 7, 15, 0)),
	    utc(2026, 3, 8, 13, 0));
	assert_int_equal(next("0 9 * * *", ny, utc(2026, 3, 6, 15, 0)),
	    utc(2026, 3, 7, 14, 0));
	assert_int_equal(next("0 9 * * *", ny, utc(2026, 10, 31, 14, 0)),
	    utc(2026, 11, 1, 14, 0));
	/* 02:30 does not happen on 8 March: it runs when the clock jumps. */
	assert_int_equal(next("30 2 * * *", ny, utc(2026, 3, 7, 8, 0)),
	    utc(2026, 3, 8, 7, 0));
	assert_int_equal(next("30 2 * * *", ny, utc(2026, 3, 8, 7, 0)),
	    utc(2026, 3, 9, 6, 30));
	/* Every 15 minutes: the skipped hour has nothing to run. */
	assert_int_equal(next("*/15 * * * *", ny, utc(2026, 3, 8, 6, 45)),
	    utc(2026, 3, 8, 7, 0));
	assert_int_equal(next("*/15 * * * *", ny, utc(2026, 3, 8, 7, 0)),
	    utc(2026, 3, 8, 7, 15));
	/* 01:30 happens twice on 1 November: a daily job runs once... */
	assert_int_equal(next("30 1 * * *", ny, utc(2026, 11, 1, 0, 0)),
	    utc(2026, 11, 1, 5, 30));
	assert_int_equal(next("30 1 * * *", ny, utc(2026, 11, 1, 5, 30)),
	    utc(2026, 11, 2, 6, 30));
	/* ...every half hour runs in both passes, one after the other. */
	assert_int_equal(next("*/30 * * * *", ny, utc(2026, 11, 1, 5, 30)),
	    utc(2026, 11, 1, 6, 0));
	assert_int_equal(next("*/30 * * * *", ny, utc(2026, 11, 1, 6, 0)),
	    utc(2026, 11, 1, 6, 30));
	assert_int_equal(next("*/30 * * * *", ny, utc(2026, 11, 1, 6, 30)),
	    utc(2026, 11, 1, 7, 0));
	/* Every minute through the night of the change: no step skipped. */
	{
		int64_t	t = utc(2026, 11, 1, 4, 58), n;
		int	k;

		for (k = 0; k < 200; k++) {
			n = next("* * * * *", ny, t);
			assert_int_equal(n, t - t % 60 + 60);
			t = n;
		}
	}
	tz_free(ny);
}

/* Lord Howe Island moves its clock by 30 minutes; Samoa skipped a day. */
static void
test_cron_next_odd_zones(void **state)
{
	struct tz	*lh = zone("Australia/Lord_Howe"), *ws = zone("Pacific/Apia");

	/* 2026-10-04 02:00 +10:30 becomes 02:30 +11: 02:15 never happens. */
	assert_int_equal(next("15 2 * * *", lh, utc(2026, 10, 3, 12, 0)),
	    utc(2026, 10, 3, 15, 30));
	/* 2026-04-05 02:00 +11 becomes 01:30 +10:30: 01:45 twice, once. */
	assert_int_equal(next("45 1 * * *", lh, utc(2026, 4, 4, 12, 0)),
	    utc(2026, 4, 4, 14, 45));
	assert_int_equal(next("45 1 * * *", lh, utc(2026, 4, 4, 14, 45)),
	    utc(2026, 4, 5, 15, 15));
	/* Samoa went from 29 to 31 December 2011: noon on the 30th ran at the jump. */
	assert_int_equal(next("0 12 * * *", ws, utc(2011, 12, 29, 23, 0)),
	    utc(2011, 12, 30, 10, 0));
	assert_int_equal(next("0 12 * * *", ws, utc(2011, 12, 30, 10, 0)),
	    utc(2011, 12, 30, 22, 0));
	tz_free(lh);
	tz_free(ws);
}

static void
due(const char *expr, const struct tz *z, int64_t next_ms, int64_t now_ms,
    int64_t grace_ms, struct cron_due *d)
{
	struct cron	c;
	char		err[256];

	if (cron_parse(expr, &c, err, sizeof(err)) == -1)
		fail_msg("%s: %s", expr, err);
	cron_due(&c, z, next_ms, now_ms, grace_ms, d);
}

#define MS(t)	((t) * INT64_C(1000))
#define HOUR	MS(3600)

/*
 * What is due, with the clock given: on time, after a wall-clock step
 * back (nothing twice) and forward (nothing skipped, what was passed over
 * runs once), after the bridge was down (within the grace, and beyond).
 */
static void
test_cron_due(void **state)
{
	struct tz	*z = zone("UTC"), *ny = zone("America/New_York");
	struct cron_due	 d;
	int64_t		 t10 = MS(utc(2026, 5, 20, 10, 0));

	/* Not due yet. */
	due("* * * * *", z, t10, t10 - 1, HOUR, &d);
	assert_true(d.run == -1 && d.missed == -1 && d.next == t10);
	/* On time, and a little late. */
	due("* * * * *", z, t10, t10 + 400, HOUR, &d);
	assert_true(d.run == t10 && d.missed == -1 && d.next == t10 + MS(60));
	/* The clock steps back an hour after 10:00 ran: 10:00 is not repeated. */
	due("* * * * *", z, t10 + MS(60), t10 - HOUR + MS(30), HOUR, &d);
	assert_true(d.run == -1 && d.missed == -1 && d.next == t10 + MS(60));
	due("* * * * *", z, t10 + MS(60), t10 + MS(60), HOUR, &d);
	assert_true(d.run == t10 + MS(60));
	/* A daily 10:00 and the clock steps from 09:59:50 to 10:00:30. */
	due("0 10 * * *", z, t10, t10 + MS(30), HOUR, &d);
	assert_true(d.run == t10 && d.missed == -1 &&
	    d.next == t10 + MS(86400));
	/* Stepped forward an hour: the slots passed over run once, the last. */
	due("* * * * *", z, t10 + MS(60), t10 + HOUR + MS(30), HOUR, &d);
	assert_true(d.run == t10 + HOUR && d.missed == t10 + MS(60) &&
	    d.next == t10 + HOUR + MS(60));
	/* Down 3 s over a one-off-like slot: runs at start. */
	due("0 10 * * *", z, t10, t10 + MS(3), HOUR, &d);
	assert_true(d.run == t10 && d.missed == -1);
	/* Down two hours: the daily run is missed, the next is tomorrow. */
	due("0 10 * * *", z, t10, t10 + 2 * HOUR, HOUR, &d);
	assert_true(d.run == -1 && d.missed == t10 &&
	    d.next == t10 + MS(86400));
	/* ... a minute task runs its last slot, within the grace. */
	due("* * * * *", z, t10, t10 + 2 * HOUR + MS(5), HOUR, &d);
	assert_true(d.run == t10 + 2 * HOUR && d.missed == t10 &&
	    d.next == t10 + 2 * HOUR + MS(60));
	/* No grace: only what is due this very millisecond runs. */
	due("* * * * *", z, t10, t10, 0, &d);
	assert_true(d.run == t10 && d.missed == -1);
	due("* * * * *", z, t10, t10 + 1, 0, &d);
	assert_true(d.run == -1 && d.missed == t10 && d.next == t10 + MS(60));
	/*
	 * Over the night New York falls back, hourly: each of the two
	 * 01:00s runs, one after the other, however the wall clock is read.
	 */
	due("0 * * * *", ny, MS(utc(2026, 11, 1, 5, 0)),
	    MS(utc(2026, 11, 1, 5, 0)), HOUR, &d);
	assert_true(d.run == MS(utc(2026, 11, 1, 5, 0)) &&
	    d.next == MS(utc(2026, 11, 1, 6, 0)));
	due("0 * * * *", ny, d.next, MS(utc(2026, 11, 1, 6, 0)) + 5, HOUR, &d);
	assert_true(d.run == MS(utc(2026, 11, 1, 6, 0)) &&
	    d.next == MS(utc(2026, 11, 1, 7, 0)));
	tz_free(z);
	tz_free(ny);
}

static void
test_iso(void **state)
{
	struct tz	*utcz = zone("UTC"), *paris = zone("Europe/Paris");
	int64_t		 ms;
	char		 err[256], buf[64];
	static const char *const bad[] = {
		"", "x", "2026-3-9", "2026-02-30T00:00Z", "2026-13-01",
		"2026-03-09T24:00Z", "2026-03-09T22:60Z", "2026-03-09T22:31:60Z",
		"2026-03-09T22:31:00+25:00", "2026-03-09T22:31:00 Z",
		"2026-03-09T22", "2026-03-09T22:31:00.", "2026-03-09T22:31:00.1234567890Z",
		"2026-03-09X22:31", "+02026-03-09", "2026-03-09T22:31Zjunk",
	};
	size_t		 i;

	assert_int_equal(tz_iso_parse("2026-03-09T22:31:00Z", utcz, &ms, err,
	    sizeof(err)), 0);
	assert_true(ms == utc(2026, 3, 9, 22, 31) * 1000);
	assert_int_equal(tz_iso_parse("2026-03-09T15:31:00.250-07:00", utcz,
	    &ms, err, sizeof(err)), 0);
	assert_true(ms == utc(2026, 3, 9, 22, 31) * 1000 + 250);
	assert_int_equal(tz_iso_parse("2026-03-09 22:31:05", utcz, &ms, err,
	    sizeof(err)), 0);
	assert_true(ms == (utc(2026, 3, 9, 22, 31) + 5) * 1000);
	assert_int_equal(tz_iso_parse("2026-03-09", paris, &ms, err,
	    sizeof(err)), 0);
	assert_true(ms == utc(2026, 3, 9, 0, 0) * 1000);
	/* Without an offset: the zone's wall clock (CEST in July). */
	assert_int_equal(tz_iso_parse("2026-07-01T09:00", paris, &ms, err,
	    sizeof(err)), 0);
	assert_true(ms == utc(2026, 7, 1, 7, 0) * 1000);
	assert_int_equal(tz_iso_parse("2026-07-01T09:00+0530", paris, &ms, err,
	    sizeof(err)), 0);
	assert_true(ms == utc(2026, 7, 1, 3, 30) * 1000);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tz_iso_parse(bad[i], utcz, &ms, err, sizeof(err)) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
	tz_iso_utc(utc(2026, 3, 9, 22, 31) * 1000 + 7, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-09T22:31:00.007Z");
	tz_sql_utc(utc(1969, 12, 31, 23, 59) * 1000 - 1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31 23:58:59");
	tz_human(utc(2026, 7, 1, 7, 5) * 1000, paris, buf, sizeof(buf));
	assert_string_equal(buf, "July 1, 2026 at 9:05 AM CEST");
	tz_human(utc(2026, 1, 1, 12, 0) * 1000, utcz, buf, sizeof(buf));
	assert_string_equal(buf, "January 1, 2026 at 12:00 PM UTC");
	tz_free(utcz);
	tz_free(paris);
}

static void
test_describe(void **state)
{
	static const struct {
		const char	*expr, *words;
	} d[] = {
		{ "* * * * *", "Every minute" },
		{ "*/5 * * * *", "Every 5 minutes" },
		{ "0 * * * *", "Every hour" },
		{ "30 * * * *", "At 30 minutes past the hour" },
		{ "0 9 * * 1-5", "At 09:00 AM, Monday through Friday" },
		{ "30 17 * * fri", "At 05:30 PM, only on Friday" },
		{ "0 0 1 * *", "At 12:00 AM, on day 1 of the month" },
		{ "0 12 * jan *", "At 12:00 PM, only in January" },
		{ "@daily", "At 12:00 AM" },
		{ "0 9 1,15 * *", "0 9 1,15 * *" },
		{ "nonsense", "nonsense" },
	};
	char	buf[128];
	size_t	i;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		cron_describe(d[i].expr, buf, sizeof(buf));
		assert_string_equal(buf, d[i].words);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calendar),
		cmocka_unit_test(test_zone_offsets),
		cmocka_unit_test(test_local_times),
		cmocka_unit_test(test_zone_names),
		cmocka_unit_test(test_tzif_images),
		cmocka_unit_test(test_cron_refused),
		cmocka_unit_test(test_cron_fields),
		cmocka_unit_test(test_cron_next_utc),
		cmocka_unit_test(test_cron_next_dst),
		cmocka_unit_test(test_cron_next_odd_zones),
		cmocka_unit_test(test_cron_due),
		cmocka_unit_test(test_iso),
		cmocka_unit_test(test_describe),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
