/*
 * cron: see cron.h.  The parser follows the "cron" npm package's
 * CronTime._parse() (the texts of its errors too), except that a sixth
 * field (seconds) is refused: this scheduler works in minutes.
 *
 * The next run is found day by day in local time: each matching day's
 * matching minutes are turned into instants with tz_local(), and the
 * earliest one after the given instant wins.  Within a day the first
 * instant of a wall-clock time never decreases as the time grows, so the
 * scan of a day stops at the first one past the best found.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "tz.h"
#include "util.h"

enum { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_N };

static const struct {
	const char	*unit;		/* as the npm package names it */
	int		 lo, hi;
} cron_fields[F_N] = {
	{ "minute", 0, 59 }, { "hour", 0, 23 }, { "dayOfMonth", 1, 31 },
	{ "month", 1, 12 }, { "dayOfWeek", 0, 7 },
};

static const struct {
	const char	*name, *expr;
} cron_presets[] = {
	{ "@yearly", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },
	{ "@hourly", "0 * * * *" }, { "@minutely", "* * * * *" },
	{ "@weekdays", "0 0 * * 1-5" }, { "@weekends", "0 0 * * 0,6" },
};

static const char *const cron_aliases[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat",	/* 0-6 */
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
	"oct", "nov", "dec",					/* 1-12 */
};

/* ---- parsing --------------------------------------------------------- */

/*
 * expr lower-cased, trimmed, a preset replaced, and every three-letter
 * name replaced by its number, into out.
 */
static int
cron_normalize(const char *expr, char *out, size_t olen, char *err,
    size_t len)
{
	char	 in[CRON_EXPR_MAX + 1], word[4];
	size_t	 n = strlen(expr), i, j, k, o = 0;
	int	 v;

	if (n > CRON_EXPR_MAX)
		return (util_err(err, len, "a cron expression of more than %d "
		    "characters", CRON_EXPR_MAX));
	for (i = 0; i <= n; i++)
		in[i] = (char)tolower((unsigned char)expr[i]);
	for (i = 0; isspace((unsigned char)in[i]); i++)
		;
	while (n > i && isspace((unsigned char)in[n - 1]))
		in[--n] = '\0';
	for (k = 0; k < nitems(cron_presets); k++)
		if (strcmp(in + i, cron_presets[k].name) == 0) {
			(void)snprintf(out, olen, "%s", cron_presets[k].expr);
			return (0);
		}
	if (strcmp(in + i, "@secondly") == 0)
		return (util_err(err, len, "@secondly: this scheduler runs "
		    "tasks at most once a minute"));
	for (; i < n; i++) {
		if (!isalpha((unsigned char)in[i])) {
			if (o + 1 >= olen)
				return (util_err(err, len, "too long"));
			out[o++] = in[i];
			continue;
		}
		/* As the package: letters are read three at a time. */
		for (j = 0; j < 3 && isalpha((unsigned char)in[i + j]); j++)
			word[j] = in[i + j];
		word[j] = '\0';
		for (k = 0; k < nitems(cron_aliases); k++)
			if (strcmp(word, cron_aliases[k]) == 0)
				break;
		if (k == nitems(cron_aliases))
			return (util_err(err, len, "Unknown alias: %s", word));
		v = k < 7 ? (int)k : (int)k - 6;
		if (o + 3 >= olen)
			return (util_err(err, len, "too long"));
		o += (size_t)snprintf(out + o, olen - o, "%d", v);
		i += j - 1;
	}
	out[o] = '\0';
	return (0);
}

/* A decimal number of at most 9 digits at *p. */
static int
cron_num(const char **p, int *out)
{
	int	v = 0, digits = 0;

	while (isdigit((unsigned char)**p)) {
		if (++digits > 9)
			return (-1);
		v = v * 10 + (*(*p)++ - '0');
	}
	*out = v;
	return (digits > 0 ? 0 : -1);
}

/* One comma-separated element ("*", "N", "A-B", with "/S") into bits. */
static int
cron_elem(const char *s, size_t n, int f, uint64_t *bits, char *err,
    size_t len)
{
	const char	*unit = cron_fields[f].unit, *p = s, *end = s + n;
	int		 lo = cron_fields[f].lo, hi = cron_fields[f].hi;
	int		 a, b, step = 1, has_b = 0, has_step = 0, v;
	char		 el[64];

	(void)snprintf(el, sizeof(el), "%.*s", (int)n, s);
	if (memchr(s, '*', n) != NULL && s[0] != '*')
		return (util_err(err, len, "Field (%s) has an invalid wildcard "
		    "expression", el));
	if (*p == '*') {
		p++;
		a = lo;
		b = hi;
		has_b = 1;
	} else if (cron_num(&p, &a) == -1)
		return (util_err(err, len, "Field (%s) cannot be parsed", unit));
	if (p < end && *p == '-' && s[0] != '*') {
		p++;
		if (cron_num(&p, &b) == -1)
			return (util_err(err, len, "Field (%s) cannot be parsed",
			    unit));
		has_b = 1;
	}
	if (p < end && *p == '/') {
		p++;
		if (cron_num(&p, &step) == -1)
			return (util_err(err, len, "Field (%s) cannot be parsed",
			    unit));
		has_step = 1;
	}
	if (p != end)
		return (util_err(err, len, "Field (%s) cannot be parsed", unit));
	if (step == 0)
		return (util_err(err, len, "Field (%s) has a step of zero",
		    unit));
	if (has_b && a > b)
		return (util_err(err, len, "Field (%s) has an invalid range",
		    unit));
	if (a < lo || (has_b && b > hi) || (!has_b && a > hi))
		return (util_err(err, len, "Field value (%s) is out of range",
		    el));
	if (!has_b)
		b = has_step ? hi : a;
	for (v = a; v <= b; v += step)
		*bits |= UINT64_C(1) << (f == F_DOW && v == 7 ? 0 : v);
	return (0);
}

static int
cron_field(const char *s, size_t n, int f, uint64_t *bits, char *err,
    size_t len)
{
	const char	*comma;
	size_t		 k;

	*bits = 0;
	for (;;) {
		comma = memchr(s, ',', n);
		k = comma != NULL ? (size_t)(comma - s) : n;
		if (cron_elem(s, k, f, bits, err, len) == -1)
			return (-1);
		if (comma == NULL)
			return (0);
		s += k + 1;
		n -= k + 1;
	}
}

int
cron_parse(const char *expr, struct cron *c, char *err, size_t len)
{
	char		 norm[CRON_EXPR_MAX * 2 + 16];
	const char	*p, *w[F_N + 2];
	size_t		 wl[F_N + 2], nw = 0;
	uint64_t	 bits[F_N];
	int		 f;

	memset(c, 0, sizeof(*c));
	if (cron_normalize(expr, norm, sizeof(norm), err, len) == -1)
		return (-1);
	for (p = norm; *p != '\0'; ) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		if (nw == nitems(w))
			return (util_err(err, len, "Too many fields"));
		w[nw] = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		wl[nw] = (size_t)(p - w[nw]);
		nw++;
	}
	if (nw < F_N)
		return (util_err(err, len, "Too few fields"));
	if (nw == F_N + 1)
		return (util_err(err, len, "six fields: seconds are not "
		    "supported, this scheduler runs tasks at most once a "
		    "minute (use minute hour day-of-month month day-of-week)"));
	if (nw > F_N)
		return (util_err(err, len, "Too many fields"));
	for (f = 0; f < F_N; f++)
		if (cron_field(w[f], wl[f], f, &bits[f], err, len) == -1)
			return (-1);
	c->min = bits[F_MIN];
	c->hour = (uint32_t)bits[F_HOUR];
	c->dom = (uint32_t)bits[F_DOM];
	c->mon = (uint16_t)bits[F_MON];
	c->dow = (uint8_t)bits[F_DOW];
	return (0);
}

/* ---- the next run ------------------------------------------------------ */

#define CRON_ALL_HOURS	0xffffffu
#define CRON_ALL_DOM	0xfffffffeu
#define CRON_ALL_DOW	0x7fu

static int
cron_day(const struct cron *c, int64_t days)
{
	int	y, m, d, dow, dom_r, dow_r, in_dom, in_dow;

	tz_civil(days, &y, &m, &d, &dow);
	if (!(c->mon & (1u << m)))
		return (0);
	dom_r = c->dom != CRON_ALL_DOM;
	dow_r = c->dow != CRON_ALL_DOW;
	in_dom = (c->dom >> d) & 1;
	in_dow = (c->dow >> dow) & 1;
	if (dom_r && dow_r)
		return (in_dom || in_dow);
	return ((!dom_r || in_dom) && (!dow_r || in_dow));
}

/* Milliseconds to whole seconds, rounding down. */
static int64_t
tz_floordiv_ms(int64_t ms)
{
	return (ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
}

static int32_t
cron_min32(int32_t a, int32_t b)
{
	return (a < b ? a : b);
}

int64_t
cron_next(const struct cron *c, const struct tz *z, int64_t after)
{
	int64_t	 d0, day, lt, u[2], gap, best = -1, skip;
	int32_t	 off_lo;
	int	 i, h, m, n, every_hour = c->hour == CRON_ALL_HOURS, stop;

	if (after < -(INT64_C(1) << 40) || after > (INT64_C(1) << 40))
		return (-1);
	/*
	 * Wall-clock times before `skip` cannot be after `after`: the zone's
	 * offsets around it, and an hour of margin.
	 */
	off_lo = cron_min32(tz_offset(z, after, NULL), cron_min32(
	    tz_offset(z, after + 86400, NULL), tz_offset(z, after + 2 * 86400,
	    NULL)));
	skip = after + off_lo - 3600;
	d0 = (after + tz_offset(z, after, NULL)) / 86400 - 1 -
	    (after + tz_offset(z, after, NULL) < 0);
	for (i = 0; i < CRON_SEARCH_DAYS; i++) {
		day = d0 + i;
		if (!cron_day(c, day))
			continue;
		stop = 0;
		for (h = 0; h < 24 && !stop; h++) {
			if (!((c->hour >> h) & 1))
				continue;
			for (m = 0; m < 60 && !stop; m++) {
				if (!((c->min >> m) & 1))
					continue;
				lt = day * 86400 + h * 3600 + m * 60;
				if (lt < skip)
					continue;
				n = tz_local(z, lt, u, &gap);
				if (n == 0) {
					if (!every_hour && gap > after &&
					    (best == -1 || gap < best))
						best = gap;
					continue;
				}
				if (best != -1 && u[0] >= best) {
					stop = 1;
					continue;
				}
				if (u[0] > after)
					best = u[0];
				else if (n == 2 && every_hour && u[1] > after &&
				    (best == -1 || u[1] < best))
					best = u[1];
			}
		}
		if (best != -1)
			return (best);
	}
	return (-1);
}

int64_t
cron_next_ms(const struct cron *c, const struct tz *z, int64_t ms)
{
	int64_t	s = cron_next(c, z, tz_floordiv_ms(ms));

	return (s == -1 ? -1 : s * 1000);
}

void
cron_due(const struct cron *c, const struct tz *z, int64_t next_ms,
    int64_t now_ms, int64_t grace_ms, struct cron_due *d)
{
	int64_t	lo = next_ms > now_ms - grace_ms ? next_ms : now_ms - grace_ms;
	int64_t	s, x;

	d->run = d->missed = -1;
	d->next = next_ms;
	if (next_ms < 0 || next_ms > now_ms)
		return;
	/* The first slot within the grace: next_ms, or one after it. */
	s = next_ms >= lo ? next_ms : cron_next_ms(c, z, lo - 1);
	if (s == -1 || s > now_ms) {
		d->missed = next_ms;
		d->next = cron_next_ms(c, z, now_ms);
		return;
	}
	while ((x = cron_next_ms(c, z, s)) != -1 && x <= now_ms)
		s = x;
	d->run = s;
	d->missed = next_ms < s ? next_ms : -1;
	d->next = cron_next_ms(c, z, s);
}

/* ---- in words ---------------------------------------------------------- */

static const char *const cron_day_names[] = { "Sunday", "Monday", "Tuesday",
	"Wednesday", "Thursday", "Friday", "Saturday", "Sunday" };
static const char *const cron_month_names[] = { "", "January", "February",
	"March", "April", "May", "June", "July", "August", "September",
	"October", "November", "December" };

/* A field that is one number: it, else -1. */
static int
cron_single(const char *s, size_t n)
{
	int		 v;
	const char	*p = s;

	if (cron_num(&p, &v) == -1 || p != s + n)
		return (-1);
	return (v);
}

void
cron_describe(const char *expr, char *buf, size_t len)
{
	char		 norm[CRON_EXPR_MAX * 2 + 16], err[8];
	const char	*p, *w[F_N];
	size_t		 wl[F_N], nw = 0, k;
	struct cron	 c;
	int		 mi, hr, a, b, dom, mon;
	FILE		*f;

	(void)snprintf(buf, len, "%s", expr);
	if (cron_parse(expr, &c, err, sizeof(err)) == -1 ||
	    cron_normalize(expr, norm, sizeof(norm), err, sizeof(err)) == -1)
		return;
	for (p = norm; *p != '\0' && nw < F_N; ) {
		while (isspace((unsigned char)*p))
			p++;
		w[nw] = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		wl[nw] = (size_t)(p - w[nw]);
		nw++;
	}
	if ((f = fmemopen(buf, len, "w")) == NULL)
		return;
	mi = cron_single(w[F_MIN], wl[F_MIN]);
	hr = cron_single(w[F_HOUR], wl[F_HOUR]);
	dom = cron_single(w[F_DOM], wl[F_DOM]);
	mon = cron_single(w[F_MON], wl[F_MON]);
#define STAR(i)	(wl[i] == 1 && w[i][0] == '*')
	if (STAR(F_MIN) && STAR(F_HOUR))
		fprintf(f, "Every minute");
	else if (wl[F_MIN] > 2 && strncmp(w[F_MIN], "*/", 2) == 0 &&
	    STAR(F_HOUR) && (a = cron_single(w[F_MIN] + 2, wl[F_MIN] - 2)) > 0)
		fprintf(f, "Every %d minutes", a);
	else if (mi == 0 && STAR(F_HOUR))
		fprintf(f, "Every hour");
	else if (mi >= 0 && STAR(F_HOUR))
		fprintf(f, "At %d minutes past the hour", mi);
	else if (mi >= 0 && hr >= 0)
		fprintf(f, "At %02d:%02d %s", hr % 12 == 0 ? 12 : hr % 12, mi,
		    hr < 12 ? "AM" : "PM");
	else
		goto raw;
	if (dom > 0 && STAR(F_DOW))
		fprintf(f, ", on day %d of the month", dom);
	else if (!STAR(F_DOM))
		goto raw;
	if (STAR(F_DOW))
		;
	else if ((a = cron_single(w[F_DOW], wl[F_DOW])) >= 0)
		fprintf(f, ", only on %s", cron_day_names[a]);
	else if (sscanf(w[F_DOW], "%d-%d%zn", &a, &b, &k) == 2 &&
	    k == wl[F_DOW] && a <= 7 && b <= 7)
		fprintf(f, ", %s through %s", cron_day_names[a],
		    cron_day_names[b]);
	else
		goto raw;
	if (mon > 0)
		fprintf(f, ", only in %s", cron_month_names[mon]);
	else if (!STAR(F_MON))
		goto raw;
#undef STAR
	if (fclose(f) == EOF)
		(void)snprintf(buf, len, "%s", expr);
	return;
raw:
	(void)fclose(f);
	(void)snprintf(buf, len, "%s", expr);
}
