/*
 * tz: see tz.h.
 *
 * A zone is a sorted table of transitions, each naming the type (offset,
 * DST flag, abbreviation) in force from that instant on; type 0 is in force
 * before the first (RFC 8536, 3.2).  The TZif file's version 2+ block
 * (64-bit times) is read when there is one.  Files with leap seconds (the
 * "right/" zones) count time differently and are refused.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tz.h"
#include "util.h"

#define TZ_DEFAULT_DIR	"/usr/share/zoneinfo"
#define TZ_OFF_MAX	(26 * 3600)	/* |offset| beyond this is refused */
#define TZ_TRANS_MAX	65536
#define TZ_ABBR_MAX	12
#define TZ_RULE_MAX	256		/* the footer's TZ string */
/* A local time's instants lie within TZ_OFF_MAX of it; a margin beyond. */
#define TZ_FIRST_YEAR	1900		/* the rule is applied from here on */
#define TZ_WINDOW	(TZ_OFF_MAX + 3600)
/* Times beyond this many seconds from the epoch are not converted. */
#define TZ_T_MAX	(INT64_C(1) << 50)

struct tz_type {
	int32_t	 off;
	int	 isdst;
	char	 abbr[TZ_ABBR_MAX];
};

struct tz {
	char		 name[128];
	struct tz_type	*types;
	size_t		 ntypes;
	int64_t		*at;		/* transitions, strictly ascending */
	uint8_t		*ti;		/* the type each one starts */
	size_t		 n, cap;
};

/* ---- civil time -------------------------------------------------------- */

static int64_t
tz_floordiv(int64_t a, int64_t b)
{
	int64_t	q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0) ? q - 1 : q);
}

/* Days since 1970-01-01 of y-m-d (after H. Hinnant's algorithm). */
int64_t
tz_days(int y, int m, int d)
{
	int64_t	yy = (int64_t)y - (m <= 2), era, yoe, doy, doe;

	era = (yy >= 0 ? yy : yy - 399) / 400;
	yoe = yy - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

void
tz_civil(int64_t days, int *y, int *m, int *d, int *dow)
{
	int64_t	z = days + 719468, era, doe, yoe, doy, mp;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
	if (dow != NULL)
		*dow = (int)(((days % 7) + 11) % 7);
}

static int
tz_leap(int y)
{
	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

int
tz_mdays(int y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
	    31 };

	if (m < 1 || m > 12)
		return (0);
	return (md[m - 1] + (m == 2 && tz_leap(y)));
}

/* ---- the table --------------------------------------------------------- */

static struct tz *
tz_new(const char *name)
{
	struct tz	*z;

	if ((z = calloc(1, sizeof(*z))) == NULL)
		return (NULL);
	(void)snprintf(z->name, sizeof(z->name), "%s", name);
	return (z);
}

void
tz_free(struct tz *z)
{
	if (z == NULL)
		return;
	free(z->types);
	free(z->at);
	free(z->ti);
	free(z);
}

const char *
tz_name(const struct tz *z)
{
	return (z->name);
}

static int
tz_push(struct tz *z, int64_t at, size_t type)
{
	int64_t	*na;
	uint8_t	*nt;
	size_t	 cap;

	if (z->n > 0 && at <= z->at[z->n - 1])
		return (-1);
	if (z->n == z->cap) {
		if (z->n >= TZ_TRANS_MAX * 2)
			return (-1);
		cap = z->cap == 0 ? 64 : z->cap * 2;
		if ((na = reallocarray(z->at, cap, sizeof(*na))) == NULL)
			return (-1);
		z->at = na;
		if ((nt = reallocarray(z->ti, cap, sizeof(*nt))) == NULL)
			return (-1);
		z->ti = nt;
		z->cap = cap;
	}
	z->at[z->n] = at;
	z->ti[z->n++] = (uint8_t)type;
	return (0);
}

/* The type (off, isdst, abbr), added if new; -1 when there is no room. */
static int
tz_type(struct tz *z, int32_t off, int isdst, const char *abbr)
{
	struct tz_type	*t;
	size_t		 i;

	for (i = 0; i < z->ntypes; i++)
		if (z->types[i].off == off && z->types[i].isdst == isdst &&
		    strcmp(z->types[i].abbr, abbr) == 0)
			return ((int)i);
	if (z->ntypes >= 256 ||
	    (t = reallocarray(z->types, z->ntypes + 1, sizeof(*t))) == NULL)
		return (-1);
	z->types = t;
	t = &z->types[z->ntypes];
	t->off = off;
	t->isdst = isdst;
	(void)snprintf(t->abbr, sizeof(t->abbr), "%s", abbr);
	return ((int)z->ntypes++);
}

/* The index of the last transition at or before t, or -1. */
static ssize_t
tz_find(const struct tz *z, int64_t t)
{
	size_t	lo = 0, hi = z->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return ((ssize_t)lo - 1);
}

int32_t
tz_offset(const struct tz *z, int64_t t, const char **abbr)
{
	ssize_t			 i = tz_find(z, t);
	const struct tz_type	*ty = &z->types[i < 0 ? 0 : z->ti[i]];

	if (abbr != NULL)
		*abbr = ty->abbr;
	return (ty->off);
}

/*
 * Walk the stretches of constant offset that overlap the window around
 * local: each gives at most one instant (local - offset, if it lies in the
 * stretch); between two, a clock that jumps over local is a gap.
 */
int
tz_local(const struct tz *z, int64_t local, int64_t out[2], int64_t *gap_end)
{
	ssize_t	 k;
	size_t	 i;
	int64_t	 start, end, u, prev_u = 0;
	int32_t	 off;
	int	 n = 0, have_prev = 0, gap = 0;

	if (local < -TZ_T_MAX || local > TZ_T_MAX) {
		*gap_end = local;
		return (0);
	}
	k = tz_find(z, local - TZ_WINDOW);
	i = (size_t)(k + 1);
	start = k < 0 ? INT64_MIN : z->at[k];
	off = z->types[k < 0 ? 0 : z->ti[k]].off;
	for (;;) {
		end = i < z->n ? z->at[i] : INT64_MAX;
		u = local - off;
		/* Going from one stretch to the next jumped over local. */
		if (have_prev && !gap && n == 0 && prev_u >= start && u < start) {
			gap = 1;
			*gap_end = start;
		}
		if (u >= start && u < end && n < 2)
			out[n++] = u;
		if (i >= z->n || z->at[i] > local + TZ_WINDOW)
			break;
		prev_u = u;
		have_prev = 1;
		start = z->at[i];
		off = z->types[z->ti[i]].off;
		i++;
	}
	if (n == 0 && !gap)
		*gap_end = local - tz_offset(z, local, NULL);
	return (n);
}

/* ---- the POSIX TZ rule ------------------------------------------------- */

struct tz_date {
	char	 kind;		/* 'J' (1..365, no Feb 29), 'N' (0..365), 'M' */
	int	 n, m, w, d;
	int32_t	 secs;		/* local time of day of the change */
};

struct tz_rule {
	char		 std[TZ_ABBR_MAX], dst[TZ_ABBR_MAX];
	int32_t		 std_off, dst_off;	/* east of UTC */
	int		 has_dst;
	struct tz_date	 start, end;
};

static int
tz_num(const char **p, int lo, int hi, int *out)
{
	int	v = 0, digits = 0;

	while (**p >= '0' && **p <= '9' && digits < 4) {
		v = v * 10 + (**p - '0');
		(*p)++;
		digits++;
	}
	if (digits == 0 || v < lo || v > hi)
		return (-1);
	*out = v;
	return (0);
}

/* [+-]hh[:mm[:ss]], hh at most maxh; seconds, signed. */
static int
tz_hms(const char **p, int maxh, int32_t *out)
{
	int	sign = 1, h, m = 0, s = 0;

	if (**p == '+' || **p == '-')
		sign = *(*p)++ == '-' ? -1 : 1;
	if (tz_num(p, 0, maxh, &h) == -1)
		return (-1);
	if (**p == ':') {
		(*p)++;
		if (tz_num(p, 0, 59, &m) == -1)
			return (-1);
		if (**p == ':') {
			(*p)++;
			if (tz_num(p, 0, 59, &s) == -1)
				return (-1);
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	return (0);
}

static int
tz_abbr(const char **p, char *out)
{
	size_t	n = 0;
	char	c;

	if (**p == '<') {
		(*p)++;
		while ((c = **p) != '>') {
			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '+' || c == '-'))
				return (-1);
			if (n + 1 < TZ_ABBR_MAX)
				out[n++] = c;
			(*p)++;
		}
		(*p)++;
	} else
		while (((c = **p) >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
			if (n + 1 < TZ_ABBR_MAX)
				out[n++] = c;
			(*p)++;
		}
	out[n] = '\0';
	return (n >= 3 ? 0 : -1);
}

static int
tz_date(const char **p, struct tz_date *dt)
{
	memset(dt, 0, sizeof(*dt));
	dt->secs = 7200;		/* 02:00, the default */
	if (**p == 'J') {
		(*p)++;
		dt->kind = 'J';
		if (tz_num(p, 1, 365, &dt->n) == -1)
			return (-1);
	} else if (**p == 'M') {
		(*p)++;
		dt->kind = 'M';
		if (tz_num(p, 1, 12, &dt->m) == -1 || *(*p)++ != '.' ||
		    tz_num(p, 1, 5, &dt->w) == -1 || *(*p)++ != '.' ||
		    tz_num(p, 0, 6, &dt->d) == -1)
			return (-1);
	} else {
		dt->kind = 'N';
		if (tz_num(p, 0, 365, &dt->n) == -1)
			return (-1);
	}
	if (**p == '/') {
		(*p)++;
		/* RFC 8536 extends the hours to -167..167. */
		if (tz_hms(p, 167, &dt->secs) == -1)
			return (-1);
	}
	return (0);
}

static int
tz_rule_parse(const char *s, struct tz_rule *r)
{
	const char	*p = s;
	int32_t		 o;

	memset(r, 0, sizeof(*r));
	if (tz_abbr(&p, r->std) == -1 || tz_hms(&p, 24, &o) == -1)
		return (-1);
	r->std_off = -o;
	if (*p == '\0')
		return (0);
	if (tz_abbr(&p, r->dst) == -1)
		return (-1);
	r->has_dst = 1;
	r->dst_off = r->std_off + 3600;
	if (*p != ',' && *p != '\0') {
		if (tz_hms(&p, 24, &o) == -1)
			return (-1);
		r->dst_off = -o;
	}
	if (*p == '\0') {
		/* No rule: POSIX leaves it open; the US rule, as glibc. */
		p = ",M3.2.0,M11.1.0";
	}
	if (*p++ != ',' || tz_date(&p, &r->start) == -1 || *p++ != ',' ||
	    tz_date(&p, &r->end) == -1 || *p != '\0')
		return (-1);
	return (0);
}

/* The instant of date dt in year y, its clock at offset off before. */
static int64_t
tz_date_at(const struct tz_date *dt, int y, int32_t off)
{
	int64_t	days;
	int	first, day, yy, mm, dd;

	switch (dt->kind) {
	case 'J':
		days = tz_days(y, 1, 1) + dt->n - 1 +
		    (tz_leap(y) && dt->n >= 60);
		break;
	case 'N':
		days = tz_days(y, 1, 1) + dt->n;
		break;
	default:
		tz_civil(tz_days(y, dt->m, 1), &yy, &mm, &dd, &first);
		day = 1 + (dt->d - first + 7) % 7 + (dt->w - 1) * 7;
		while (day > tz_mdays(y, dt->m))
			day -= 7;
		days = tz_days(y, dt->m, day);
		break;
	}
	return (days * 86400 + dt->secs - off);
}

/*
 * Transitions of the rule from the year of the last one to TZ_LAST_YEAR.
 * Made for every year first, then sorted: with DST all year ("J365/25")
 * one year's end meets the next year's start, and of changes at one
 * instant the later one holds; a change to the type in force is none.
 */
static int
tz_expand(struct tz *z, const struct tz_rule *r)
{
	struct { int64_t at; int type; } *v, x;
	int64_t	 last = z->n > 0 ? z->at[z->n - 1] : INT64_MIN;
	int	 std, dst, y, y0 = 1970, mo, d, cur;
	size_t	 nv = 0, i, j;

	if (!r->has_dst)
		return (0);
	if ((std = tz_type(z, r->std_off, 0, r->std)) == -1 ||
	    (dst = tz_type(z, r->dst_off, 1, r->dst)) == -1)
		return (-1);
	if (z->n > 0)
		tz_civil(tz_floordiv(last, 86400), &y0, &mo, &d, NULL);
	if (y0 > TZ_LAST_YEAR)
		return (0);
	/* Before then, the rule's dates would be a guess of no use here. */
	if (y0 < TZ_FIRST_YEAR)
		y0 = TZ_FIRST_YEAR;
	if ((v = calloc((size_t)(TZ_LAST_YEAR - y0 + 1) * 2, sizeof(*v))) ==
	    NULL)
		return (-1);
	for (y = y0; y <= TZ_LAST_YEAR; y++) {
		v[nv].at = tz_date_at(&r->start, y, r->std_off);
		v[nv++].type = dst;
		v[nv].at = tz_date_at(&r->end, y, r->dst_off);
		v[nv++].type = std;
	}
	/* Insertion sort, stable: the list is nearly sorted already. */
	for (i = 1; i < nv; i++) {
		x = v[i];
		for (j = i; j > 0 && v[j - 1].at > x.at; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	cur = z->n > 0 ? z->ti[z->n - 1] : 0;
	for (i = 0; i < nv; i++) {
		if (v[i].at <= last || (i + 1 < nv && v[i + 1].at == v[i].at) ||
		    v[i].type == cur)
			continue;
		if (tz_push(z, v[i].at, (size_t)v[i].type) == -1) {
			free(v);
			return (-1);
		}
		cur = v[i].type;
	}
	free(v);
	return (0);
}

/* ---- TZif -------------------------------------------------------------- */

struct tzif_hdr {
	int		 version;
	uint32_t	 isut, isstd, leap, time, type, chars;
};

static uint32_t
be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3]);
}

static int64_t
be64(const unsigned char *p)
{
	return ((int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)));
}

static int
tzif_hdr(const unsigned char *p, size_t n, struct tzif_hdr *h)
{
	if (n < 44 || memcmp(p, "TZif", 4) != 0)
		return (-1);
	h->version = p[4] == 0 ? 1 : p[4] - '0';
	if (h->version < 1 || h->version > 9)
		return (-1);
	h->isut = be32(p + 20);
	h->isstd = be32(p + 24);
	h->leap = be32(p + 28);
	h->time = be32(p + 32);
	h->type = be32(p + 36);
	h->chars = be32(p + 40);
	if (h->type == 0 || h->type > 256 || h->chars == 0 ||
	    (h->isut != 0 && h->isut != h->type) ||
	    (h->isstd != 0 && h->isstd != h->type) || h->time > TZ_TRANS_MAX)
		return (-1);
	return (0);
}

/* The size of the data block after a header, with times of tsize bytes. */
static size_t
tzif_block(const struct tzif_hdr *h, size_t tsize)
{
	return ((size_t)h->time * (tsize + 1) + (size_t)h->type * 6 +
	    h->chars + (size_t)h->leap * (tsize + 4) + h->isstd + h->isut);
}

static int
tzif_types(struct tz *z, const struct tzif_hdr *h, const unsigned char *p,
    const unsigned char *chars, char *err, size_t len)
{
	uint32_t	i;
	size_t		k;
	int32_t		off;
	unsigned int	ci;
	char		abbr[TZ_ABBR_MAX];

	if ((z->types = calloc(h->type + 2, sizeof(*z->types))) == NULL)
		return (util_err(err, len, "out of memory"));
	for (i = 0; i < h->type; i++, p += 6) {
		off = (int32_t)be32(p);
		ci = p[5];
		if (off < -TZ_OFF_MAX || off > TZ_OFF_MAX || p[4] > 1 ||
		    ci >= h->chars)
			return (util_err(err, len, "a bad local time type"));
		for (k = 0; ci + k < h->chars && chars[ci + k] != '\0'; k++)
			if (k + 1 < sizeof(abbr))
				abbr[k] = (char)chars[ci + k];
		if (ci + k == h->chars)
			return (util_err(err, len, "an unterminated "
			    "abbreviation"));
		abbr[k < sizeof(abbr) ? k : sizeof(abbr) - 1] = '\0';
		z->types[i].off = off;
		z->types[i].isdst = p[4];
		(void)snprintf(z->types[i].abbr, TZ_ABBR_MAX, "%s", abbr);
	}
	z->ntypes = h->type;
	return (0);
}

/* The footer "\nTZ-string\n" at p (n bytes left), parsed into r. */
static int
tzif_footer(const unsigned char *p, size_t n, struct tz_rule *r, int *has)
{
	char	s[TZ_RULE_MAX];
	size_t	k;

	*has = 0;
	if (n == 0)
		return (0);
	if (p[0] != '\n')
		return (-1);
	for (k = 1; k < n && p[k] != '\n'; k++)
		if (k >= sizeof(s) || p[k] == '\0')
			return (-1);
	if (k == n)
		return (-1);
	if (k == 1)
		return (0);		/* an empty rule: none */
	memcpy(s, p + 1, k - 1);
	s[k - 1] = '\0';
	if (tz_rule_parse(s, r) == -1)
		return (-1);
	*has = 1;
	return (0);
}

struct tz *
tz_parse(const char *name, const unsigned char *buf, size_t n, char *err,
    size_t len)
{
	struct tzif_hdr		 h;
	struct tz		*z;
	struct tz_rule		 r;
	const unsigned char	*p = buf, *tt, *ix;
	size_t			 tsize = 4, blk, i;
	int			 has_rule = 0;

	if (tzif_hdr(p, n, &h) == -1) {
		(void)util_err(err, len, "not a TZif file");
		return (NULL);
	}
	if (h.version >= 2) {
		if ((blk = tzif_block(&h, 4)) > n - 44 ||
		    tzif_hdr(p + 44 + blk, n - 44 - blk, &h) == -1) {
			(void)util_err(err, len, "a truncated TZif file");
			return (NULL);
		}
		p += 44 + blk;
		n -= 44 + blk;
		tsize = 8;
	}
	if (h.leap != 0) {
		(void)util_err(err, len, "a zone with leap seconds");
		return (NULL);
	}
	if ((blk = tzif_block(&h, tsize)) > n - 44) {
		(void)util_err(err, len, "a truncated TZif file");
		return (NULL);
	}
	if ((z = tz_new(name)) == NULL) {
		(void)util_err(err, len, "out of memory");
		return (NULL);
	}
	tt = p + 44;
	ix = tt + (size_t)h.time * tsize;
	if (tzif_types(z, &h, ix + h.time, ix + h.time + (size_t)h.type * 6,
	    err, len) == -1)
		goto fail;
	for (i = 0; i < h.time; i++) {
		if (ix[i] >= h.type ||
		    tz_push(z, tsize == 8 ? be64(tt + i * 8) :
		    (int32_t)be32(tt + i * 4), ix[i]) == -1) {
			(void)util_err(err, len, "bad transitions");
			goto fail;
		}
	}
	if (tsize == 8 && tzif_footer(p + 44 + blk, n - 44 - blk, &r,
	    &has_rule) == -1) {
		(void)util_err(err, len, "a bad TZ rule at the end");
		goto fail;
	}
	if (has_rule && tz_expand(z, &r) == -1) {
		(void)util_err(err, len, "cannot expand its TZ rule");
		goto fail;
	}
	return (z);
fail:
	tz_free(z);
	return (NULL);
}

int
tz_name_ok(const char *name)
{
	const char	*p;

	if (name == NULL || *name == '\0' || *name == '/' ||
	    strlen(name) >= sizeof(((struct tz *)0)->name) ||
	    strstr(name, "..") != NULL)
		return (0);
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '+' || *p == '/'))
			return (0);
	return (1);
}

struct tz *
tz_load(const char *name, char *err, size_t len)
{
	struct tz	*z;
	const char	*dir = getenv("TZDIR");
	char		 path[4096], why[128];
	unsigned char	*buf;
	size_t		 n;

	if (!tz_name_ok(name)) {
		(void)util_err(err, len, "\"%s\" is not a time zone name",
		    name != NULL ? name : "");
		return (NULL);
	}
	/* Always known, with or without the tz database. */
	if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
		if ((z = tz_new(name)) == NULL ||
		    tz_type(z, 0, 0, "UTC") == -1) {
			tz_free(z);
			(void)util_err(err, len, "out of memory");
			return (NULL);
		}
		return (z);
	}
	(void)snprintf(path, sizeof(path), "%s/%s", dir != NULL && *dir != '\0' ?
	    dir : TZ_DEFAULT_DIR, name);
	if ((buf = (unsigned char *)util_read_file(path, TZ_FILE_MAX, &n)) ==
	    NULL) {
		(void)util_err(err, len, "unknown time zone \"%s\" (%s: %s)",
		    name, path, strerror(errno));
		return (NULL);
	}
	z = tz_parse(name, buf, n, why, sizeof(why));
	free(buf);
	if (z == NULL)
		(void)util_err(err, len, "time zone \"%s\": %s: %s", name, path,
		    why);
	return (z);
}

/* ---- ISO 8601 and display ---------------------------------------------- */

static int
tz_digits(const char **p, int n, int *out)
{
	int	v = 0, i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return (-1);
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return (0);
}

/* Z, +HH:MM, +HHMM, +HH; 0 and *off (east), or -1. */
static int
tz_iso_offset(const char **p, int32_t *off)
{
	int	sign, h, m = 0;

	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*off = 0;
		return (0);
	}
	if (**p != '+' && **p != '-')
		return (-1);
	sign = *(*p)++ == '-' ? -1 : 1;
	if (tz_digits(p, 2, &h) == -1 || h > 23)
		return (-1);
	if (**p == ':')
		(*p)++;
	if (**p != '\0' && (tz_digits(p, 2, &m) == -1 || m > 59))
		return (-1);
	*off = sign * (h * 3600 + m * 60);
	return (0);
}

int
tz_iso_parse(const char *s, const struct tz *z, int64_t *ms, char *err,
    size_t len)
{
	const char	*p = s;
	int		 y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, k, have_off = 0;
	int32_t		 off = 0;
	int64_t		 t, u[2];

	if (tz_digits(&p, 4, &y) == -1 || *p++ != '-' ||
	    tz_digits(&p, 2, &mo) == -1 || *p++ != '-' ||
	    tz_digits(&p, 2, &d) == -1 || mo < 1 || mo > 12 || d < 1 ||
	    d > tz_mdays(y, mo))
		return (util_err(err, len, "not a date (YYYY-MM-DD)"));
	if (*p == '\0')
		have_off = 1;		/* a bare date is UTC midnight, as JS */
	else {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return (util_err(err, len, "not a time (THH:MM)"));
		p++;
		if (tz_digits(&p, 2, &h) == -1 || h > 23 || *p++ != ':' ||
		    tz_digits(&p, 2, &mi) == -1 || mi > 59)
			return (util_err(err, len, "not a time (HH:MM)"));
		if (*p == ':') {
			p++;
			if (tz_digits(&p, 2, &sec) == -1 || sec > 59)
				return (util_err(err, len, "bad seconds"));
		}
		if (*p == '.' || *p == ',') {
			p++;
			if (*p < '0' || *p > '9')
				return (util_err(err, len, "a bad fraction"));
			for (k = 0; *p >= '0' && *p <= '9'; p++, k++)
				if (k < 3)
					frac = frac * 10 + (*p - '0');
				else if (k >= 9)
					return (util_err(err, len, "a bad "
					    "fraction"));
			for (; k < 3; k++)
				frac *= 10;
		}
		if (*p != '\0') {
			if (tz_iso_offset(&p, &off) == -1 || *p != '\0')
				return (util_err(err, len, "a bad UTC offset "
				    "(Z, +HH:MM)"));
			have_off = 1;
		}
	}
	t = tz_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	if (have_off)
		t -= off;
	else if (tz_local(z, t, u, &t) > 0)
		t = u[0];
	*ms = t * 1000 + frac;
	return (0);
}

/* The UTC date and time of ms: seconds of the day, *frac the ms. */
static int
tz_utc_fields(int64_t ms, int *y, int *m, int *d, int *frac)
{
	int64_t	s = tz_floordiv(ms, 1000), days = tz_floordiv(s, 86400);

	tz_civil(days, y, m, d, NULL);
	*frac = (int)(ms - s * 1000);
	return ((int)(s - days * 86400));
}

void
tz_iso_utc(int64_t ms, char *buf, size_t len)
{
	int	y, m, d, frac, sod = tz_utc_fields(ms, &y, &m, &d, &frac);

	(void)snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
	    sod / 3600, sod / 60 % 60, sod % 60, frac);
}

void
tz_sql_utc(int64_t ms, char *buf, size_t len)
{
	int	y, m, d, frac, sod = tz_utc_fields(ms, &y, &m, &d, &frac);

	(void)snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d", y, m, d,
	    sod / 3600, sod / 60 % 60, sod % 60);
}

void
tz_human(int64_t ms, const struct tz *z, char *buf, size_t len)
{
	static const char *const months[] = { "January", "February", "March",
	    "April", "May", "June", "July", "August", "September", "October",
	    "November", "December" };
	const char	*abbr;
	int64_t		 s = tz_floordiv(ms, 1000), local, days;
	int		 y, m, d, sod, h;

	local = s + tz_offset(z, s, &abbr);
	days = tz_floordiv(local, 86400);
	sod = (int)(local - days * 86400);
	tz_civil(days, &y, &m, &d, NULL);
	h = sod / 3600 % 12;
	(void)snprintf(buf, len, "%s %d, %d at %d:%02d %s %s", months[m - 1], d,
	    y, h == 0 ? 12 : h, sod / 60 % 60, sod < 43200 ? "AM" : "PM", abbr);
}
