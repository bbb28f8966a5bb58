/*
 * config: see config.h.
 *
 * Validation follows upstream's validateAndNormalize() check by check, in
 * the same order and with the same texts, so an operator who moves a file
 * from the Node bridge gets the same first complaint.  Upstream tests
 * JavaScript truthiness ("!p.url") in some places and presence
 * ("!== undefined") in others; cfg_truthy() and a NULL test reproduce each.
 * Where upstream would crash or silently accept a value no part of the
 * bridge can use (a numeric token, a string "bots"), we reject it with a
 * text in the same style.
 *
 * The diff compares two validated roots and nothing else: runtime state
 * (grace channels, discovered DMs, resolved handles) lives outside the
 * root, so reloading an unchanged file always reports nothing.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

#define CFG_STATE_DIR		"~/.copilot-bridge"
#define CFG_MILLIS_MAX		600000
#define CFG_ENOMEM		"out of memory"

struct cfg_err {
	char	*buf;
	size_t	 len;
};

struct cfg_keys {
	const char	**v;
	size_t		  n;
};

struct cfg_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

static const char *const cfg_level_names[] = { "debug", "info", "warn",
    "error" };

/* ---------------------------------------------------------------- helpers */

static int cfg_fail(struct cfg_err *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
cfg_fail(struct cfg_err *e, const char *fmt, ...)
{
	va_list	ap;

	if (e != NULL && e->buf != NULL && e->len > 0) {
		va_start(ap, fmt);
		vsnprintf(e->buf, e->len, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

/* JavaScript truthiness, for upstream's "if (!p.url)" style checks. */
static int
cfg_truthy(json_t *v)
{
	double	d;

	if (v == NULL || json_is_null(v) || json_is_false(v))
		return (0);
	if (json_is_string(v))
		return (json_string_length(v) > 0);
	if (json_is_number(v)) {
		d = json_number_value(v);
		return (d != 0 && !isnan(d));
	}
	return (1);
}

/* A number with no fractional part: JSON has one number type, so 5.0 is 5. */
static int
cfg_is_int(json_t *v)
{
	double	d;

	if (json_is_integer(v))
		return (1);
	if (!json_is_real(v))
		return (0);
	d = json_real_value(v);
	return (isfinite(d) && d == trunc(d));
}

static int
cfg_str_in(json_t *v, const char *const *set)
{
	const char	*s;

	if (!json_is_string(v))
		return (0);
	s = json_string_value(v);
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return (1);
	return (0);
}

/*
 * Deep equality where numbers compare by value (1 == 1.0, as in
 * JavaScript) and object key order does not matter.  NULL means absent.
 */
static int
cfg_jeq(json_t *a, json_t *b)
{
	const char	*k;
	json_t		*v;
	size_t		 i;

	if (a == NULL || b == NULL)
		return (a == b);
	if (json_is_integer(a) && json_is_integer(b))
		return (json_integer_value(a) == json_integer_value(b));
	if (json_is_number(a) && json_is_number(b))
		return (json_number_value(a) == json_number_value(b));
	if (json_typeof(a) != json_typeof(b))
		return (0);
	switch (json_typeof(a)) {
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return (0);
		json_object_foreach(a, k, v)
			if (!cfg_jeq(v, json_object_get(b, k)))
				return (0);
		return (1);
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return (0);
		for (i = 0; i < json_array_size(a); i++)
			if (!cfg_jeq(json_array_get(a, i),
			    json_array_get(b, i)))
				return (0);
		return (1);
	case JSON_STRING:
		return (json_string_length(a) == json_string_length(b) &&
		    memcmp(json_string_value(a), json_string_value(b),
		    json_string_length(a)) == 0);
	default:
		return (1);
	}
}

/* Upstream's "(x ?? {})" comparison: absent and null equal an empty object. */
static int
cfg_jeq_opt(json_t *a, json_t *b)
{
	if (a != NULL && json_is_null(a))
		a = NULL;
	if (b != NULL && json_is_null(b))
		b = NULL;
	if (a == NULL && b != NULL)
		return (json_is_object(b) && json_object_size(b) == 0);
	if (b == NULL && a != NULL)
		return (json_is_object(a) && json_object_size(a) == 0);
	return (cfg_jeq(a, b));
}

/*
 * Compact JSON of a value as JSON.stringify() shows it in upstream's change
 * strings: "undefined" for absent, integral reals without ".0".
 */
static char *
cfg_dump(json_t *v)
{
	char	*s;
	double	 d;

	if (v == NULL)
		return (strdup("undefined"));
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (isfinite(d) && d == trunc(d) && fabs(d) < 1e21) {
			if (asprintf(&s, "%.0f", d == 0 ? 0.0 : d) == -1)
				return (NULL);
			return (s);
		}
	}
	return (json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT));
}

static int
cfg_keycmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/*
 * The sorted, de-duplicated union of the keys of two objects (either may be
 * NULL or not an object).  The strings belong to the objects.
 */
static int
cfg_keys_union(json_t *a, json_t *b, struct cfg_keys *k)
{
	const char	*key;
	json_t		*v;
	size_t		 n, i, j;

	k->v = NULL;
	k->n = 0;
	n = (json_is_object(a) ? json_object_size(a) : 0) +
	    (json_is_object(b) ? json_object_size(b) : 0);
	if (n == 0)
		return (0);
	if ((k->v = calloc(n, sizeof(*k->v))) == NULL)
		return (-1);
	if (json_is_object(a))
		json_object_foreach(a, key, v)
			k->v[k->n++] = key;
	if (json_is_object(b))
		json_object_foreach(b, key, v)
			k->v[k->n++] = key;
	qsort(k->v, k->n, sizeof(*k->v), cfg_keycmp);
	for (i = j = 0; i < k->n; i++)
		if (j == 0 || strcmp(k->v[j - 1], k->v[i]) != 0)
			k->v[j++] = k->v[i];
	k->n = j;
	return (0);
}

static void
cfg_buf_add(struct cfg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cfg_buf_add(struct cfg_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*np;
	size_t	 ncap;
	int	 m;

	if (b->failed)
		return;
	va_start(ap, fmt);
	m = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (m < 0) {
		b->failed = 1;
		return;
	}
	if (b->len + (size_t)m + 1 > b->cap) {
		ncap = b->cap == 0 ? 256 : b->cap;
		while (ncap < b->len + (size_t)m + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)m;
}

/* Hand the buffer over, or NULL if any append failed. */
static char *
cfg_buf_take(struct cfg_buf *b)
{
	if (b->failed || b->p == NULL) {
		free(b->p);
		return (NULL);
	}
	return (b->p);
}

/*
 * Byte length of the JavaScript whitespace character (\s, what trim()
 * removes) at s, or 0.  Input is valid UTF-8: jansson checked it.
 */
static size_t
cfg_js_space(const unsigned char *s)
{
	unsigned int	cp;

	if (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		return (1);
	if (s[0] == 0xc2 && s[1] == 0xa0)
		return (2);
	if (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)
		return (3);
	if (s[0] < 0xe1 || s[0] > 0xe3 || s[1] == 0 || s[2] == 0)
		return (0);
	cp = ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
	if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
	    cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000)
		return (3);
	return (0);
}

/* Upstream's u.trim().replace(/^@/, ''), as a new string. */
static json_t *
cfg_user_norm(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s, *end;
	size_t			 n;

	while ((n = cfg_js_space(p)) > 0)
		p += n;
	end = p;
	while (*p != '\0') {
		if ((n = cfg_js_space(p)) > 0) {
			p += n;
			continue;
		}
		p++;
		end = p;
	}
	p = (const unsigned char *)s;
	while ((n = cfg_js_space(p)) > 0)
		p += n;
	if (p < end && *p == '@')
		p++;
	return (json_stringn((const char *)p, (size_t)(end - p)));
}

static int
cfg_user_empty(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n;

	while ((n = cfg_js_space(p)) > 0)
		p += n;
	return (*p == '\0');
}

/*
 * Check a user list and normalise it in place (the document is not yet a
 * loaded cfg).  Returns 0, 1 for a bad entry, -1 when out of memory.
 */
static int
cfg_userlist(json_t *arr)
{
	json_t	*u, *nu;
	size_t	 i;

	json_array_foreach(arr, i, u) {
		if (!json_is_string(u) || cfg_user_empty(json_string_value(u)))
			return (1);
	}
	json_array_foreach(arr, i, u) {
		if ((nu = cfg_user_norm(json_string_value(u))) == NULL)
			return (-1);
		if (json_array_set_new(arr, i, nu) == -1)
			return (-1);
	}
	return (0);
}

static const char *
cfg_home(void)
{
	const char	*h;
	struct passwd	*pw;

	if ((h = getenv("HOME")) != NULL && *h != '\0')
		return (h);
	if ((pw = getpwuid(getuid())) != NULL && pw->pw_dir != NULL &&
	    *pw->pw_dir != '\0')
		return (pw->pw_dir);
	return (NULL);
}

/* Expand a leading "~" or "~/"; anything else is copied. */
static int
cfg_expand(struct cfg_err *e, const char *key, const char *s, char **out)
{
	const char	*home;

	if (s[0] != '~' || (s[1] != '\0' && s[1] != '/')) {
		if ((*out = strdup(s)) == NULL)
			return (cfg_fail(e, CFG_ENOMEM));
		return (0);
	}
	if ((home = cfg_home()) == NULL)
		return (cfg_fail(e, "%s: cannot expand \"~\": HOME is not set",
		    key));
	if (asprintf(out, "%s%s", home, s + 1) == -1) {
		*out = NULL;
		return (cfg_fail(e, CFG_ENOMEM));
	}
	return (0);
}

/* ------------------------------------------------------- field predicates */

struct cfg_field {
	const char	*name;
	int		(*ok)(json_t *);
	const char	*msg;
};

static int
cfg_ok_string(json_t *v)
{
	return (json_is_string(v));
}

static int
cfg_ok_nonempty(json_t *v)
{
	return (json_is_string(v) && json_string_length(v) > 0);
}

static int
cfg_ok_bool(json_t *v)
{
	return (json_is_boolean(v));
}

static int
cfg_ok_posnum(json_t *v)
{
	return (json_is_number(v) && json_number_value(v) > 0);
}

static int
cfg_ok_nonnegnum(json_t *v)
{
	return (json_is_number(v) && json_number_value(v) >= 0);
}

static int
cfg_ok_posint(json_t *v)
{
	return (cfg_is_int(v) && json_number_value(v) >= 1);
}

static int
cfg_ok_nonnegint(json_t *v)
{
	return (cfg_is_int(v) && json_number_value(v) >= 0);
}

static int
cfg_ok_logsize(json_t *v)
{
	return (json_is_number(v) && json_number_value(v) >= 1024);
}

static int
cfg_ok_tier(json_t *v)
{
	double	d;

	if (!cfg_is_int(v))
		return (0);
	d = json_number_value(v);
	return (d == 0 || d == 1 || d == 2);
}

static int
cfg_ok_millis(json_t *v)
{
	return (cfg_is_int(v) && json_number_value(v) >= 1 &&
	    json_number_value(v) <= CFG_MILLIS_MAX);
}

static int
cfg_ok_exporter(json_t *v)
{
	static const char *const set[] = { "otlp-http", "file", NULL };

	return (cfg_str_in(v, set));
}

static int
cfg_ok_wireapi(json_t *v)
{
	static const char *const set[] = { "completions", "responses", NULL };

	return (cfg_str_in(v, set));
}

static int
cfg_ok_provtype(json_t *v)
{
	static const char *const set[] = { "openai", "azure", "anthropic",
	    NULL };

	return (cfg_str_in(v, set));
}

static int
cfg_ok_backend(json_t *v)
{
	static const char *const set[] = { "copilot", "echo", NULL };

	return (cfg_str_in(v, set));
}

static int
cfg_ok_object(json_t *v)
{
	return (json_is_object(v));
}

/* Check each present field of obj; upstream tests "!== undefined". */
static int
cfg_fields(struct cfg_err *e, json_t *obj, const struct cfg_field *f, size_t n)
{
	json_t	*v;
	size_t	 i;

	for (i = 0; i < n; i++) {
		v = json_object_get(obj, f[i].name);
		if (v != NULL && !f[i].ok(v))
			return (cfg_fail(e, "%s", f[i].msg));
	}
	return (0);
}

/* ------------------------------------------------------ platform checks */

static int
cfg_v_userlist(struct cfg_err *e, json_t *arr, const char *p,
    const char *label, const char *what)
{
	switch (cfg_userlist(arr)) {
	case 0:
		return (0);
	case 1:
		return (cfg_fail(e, "%s:%s %s", p, label, what));
	default:
		return (cfg_fail(e, CFG_ENOMEM));
	}
}

static int
cfg_v_access(struct cfg_err *e, const char *p, const char *label, json_t *a)
{
	static const char *const modes[] = { "allowlist", "blocklist", "open",
	    NULL };
	json_t	*users;

	if (a == NULL)
		return (0);
	/* typeof [] is "object" upstream: an array fails on its mode. */
	if (!json_is_object(a) && !json_is_array(a))
		return (cfg_fail(e, "%s:%s access must be an object", p,
		    label));
	if (!cfg_str_in(json_object_get(a, "mode"), modes))
		return (cfg_fail(e, "%s:%s access.mode must be one of: "
		    "allowlist, blocklist, open", p, label));
	if ((users = json_object_get(a, "users")) == NULL)
		return (0);
	if (!json_is_array(users))
		return (cfg_fail(e, "%s:%s access.users must be an array", p,
		    label));
	return (cfg_v_userlist(e, users, p, label,
	    "access.users entries must be non-empty strings"));
}

/* New: who may run admin commands; normalised like access.users. */
static int
cfg_v_admins(struct cfg_err *e, const char *p, const char *label, json_t *a)
{
	if (a == NULL)
		return (0);
	if (!json_is_array(a))
		return (cfg_fail(e, "%s:%s admins must be an array of "
		    "non-empty strings", p, label));
	return (cfg_v_userlist(e, a, p, label,
	    "admins must be an array of non-empty strings"));
}

static int
cfg_v_bot(struct cfg_err *e, const char *p, const char *b, json_t *bot,
    int slack)
{
	json_t	*tok = json_object_get(bot, "token");
	json_t	*app = json_object_get(bot, "appToken");

	if (!cfg_truthy(tok))
		return (cfg_fail(e, "Platform \"%s\" bot \"%s\" missing "
		    "\"token\"", p, b));
	if (slack && !cfg_truthy(app))
		return (cfg_fail(e, "Platform \"%s\" bot \"%s\" missing "
		    "\"appToken\" (required for Socket Mode)", p, b));
	if (cfg_v_access(e, p, b, json_object_get(bot, "access")) == -1 ||
	    cfg_v_admins(e, p, b, json_object_get(bot, "admins")) == -1)
		return (-1);
	if (!json_is_string(tok))
		return (cfg_fail(e, "Platform \"%s\" bot \"%s\" \"token\" must "
		    "be a string", p, b));
	if (slack && !json_is_string(app))
		return (cfg_fail(e, "Platform \"%s\" bot \"%s\" \"appToken\" "
		    "must be a string", p, b));
	return (0);
}

/* What upstream checks before access; then our type checks. */
static int
cfg_v_platform_head(struct cfg_err *e, const char *name, json_t *p, int slack)
{
	json_t	*bots = json_object_get(p, "bots");
	json_t	*url = json_object_get(p, "url");
	json_t	*bt = json_object_get(p, "botToken");

	if (slack) {
		if (!cfg_truthy(bots))
			return (cfg_fail(e, "Platform \"slack\" requires "
			    "\"bots\" with bot tokens"));
		return (0);
	}
	if (!cfg_truthy(url))
		return (cfg_fail(e, "Platform \"%s\" missing \"url\"", name));
	if (!cfg_truthy(bt) && !cfg_truthy(bots))
		return (cfg_fail(e, "Platform \"%s\" needs either \"botToken\" "
		    "or \"bots\"", name));
	return (0);
}

static int
cfg_v_platform_types(struct cfg_err *e, const char *name, json_t *p, int slack)
{
	json_t	*v;

	if (slack) {
		v = json_object_get(p, "apiUrl");
		if (v != NULL && !cfg_ok_nonempty(v))
			return (cfg_fail(e, "Platform \"slack\" apiUrl must "
			    "be a non-empty string"));
		return (0);
	}
	if (!json_is_string(json_object_get(p, "url")))
		return (cfg_fail(e, "Platform \"%s\" \"url\" must be a string",
		    name));
	v = json_object_get(p, "botToken");
	if (cfg_truthy(v) && !json_is_string(v))
		return (cfg_fail(e, "Platform \"%s\" \"botToken\" must be a "
		    "string", name));
	return (0);
}

/*
 * One entry of "platforms".  A value that is not an object is read as {}:
 * upstream reads its missing fields the same way.
 */
static int
cfg_v_platform(struct cfg_err *e, const char *name, json_t *p)
{
	const char	*bname;
	json_t		*bots, *bot;
	int		 slack = strcmp(name, "slack") == 0;

	if (cfg_v_platform_head(e, name, p, slack) == -1 ||
	    cfg_v_access(e, name, "(platform)",
	    json_object_get(p, "access")) == -1 ||
	    cfg_v_admins(e, name, "(platform)",
	    json_object_get(p, "admins")) == -1 ||
	    cfg_v_platform_types(e, name, p, slack) == -1)
		return (-1);
	bots = json_object_get(p, "bots");
	if (!cfg_truthy(bots))
		return (0);
	if (!json_is_object(bots))
		return (cfg_fail(e, "Platform \"%s\" \"bots\" must be an "
		    "object", name));
	json_object_foreach(bots, bname, bot)
		if (cfg_v_bot(e, name, bname, bot, slack) == -1)
			return (-1);
	return (0);
}

/* ------------------------------------------------------ section checks */

static int
cfg_s_platforms(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	const char	*name;
	json_t		*p;

	if (!json_is_object(v))
		return (cfg_fail(e, "Config must have a \"platforms\" object"));
	json_object_foreach(v, name, p)
		if (cfg_v_platform(e, name, p) == -1)
			return (-1);
	return (0);
}

static int
cfg_v_chan_bot(struct cfg_err *e, const char *id, json_t *bot, json_t *plat)
{
	char		 avail[CFG_ERR_MAX];
	const char	*k;
	json_t		*bots = json_object_get(plat, "bots"), *v;
	size_t		 off = 0;
	int		 m;

	if (!cfg_truthy(bot))
		return (0);
	if (!json_is_string(bot))
		return (cfg_fail(e, "Channel \"%s\" bot must be a string", id));
	if (!cfg_truthy(bots) ||
	    json_object_get(bots, json_string_value(bot)) != NULL)
		return (0);
	avail[0] = '\0';
	json_object_foreach(bots, k, v) {
		m = snprintf(avail + off, sizeof(avail) - off, "%s%s",
		    off > 0 ? ", " : "", k);
		if (m < 0 || (size_t)m >= sizeof(avail) - off)
			break;
		off += (size_t)m;
	}
	return (cfg_fail(e, "Channel \"%s\" references unknown bot \"%s\" "
	    "(available: %s)", id, json_string_value(bot), avail));
}

static int
cfg_v_channel(struct cfg_err *e, json_t *ch, json_t *plats)
{
	json_t		*id = json_object_get(ch, "id");
	json_t		*pl = json_object_get(ch, "platform");
	json_t		*wd = json_object_get(ch, "workingDirectory");
	json_t		*plat;
	const char	*ids;

	if (!cfg_truthy(id))
		return (cfg_fail(e, "Each channel must have an \"id\""));
	if (!json_is_string(id))
		return (cfg_fail(e, "Each channel \"id\" must be a string"));
	ids = json_string_value(id);
	if (!cfg_truthy(pl))
		return (cfg_fail(e, "Channel \"%s\" missing \"platform\"",
		    ids));
	if (!cfg_truthy(wd))
		return (cfg_fail(e, "Channel \"%s\" missing "
		    "\"workingDirectory\"", ids));
	if (!json_is_string(pl))
		return (cfg_fail(e, "Channel \"%s\" platform must be a string",
		    ids));
	if ((plat = json_object_get(plats, json_string_value(pl))) == NULL)
		return (cfg_fail(e, "Channel \"%s\" references unknown "
		    "platform \"%s\"", ids, json_string_value(pl)));
	if (!json_is_string(wd))
		return (cfg_fail(e, "Channel \"%s\" workingDirectory must be a "
		    "string", ids));
	return (cfg_v_chan_bot(e, ids, json_object_get(ch, "bot"), plat));
}

/* A missing or non-array "channels" becomes [] (DMs are discovered). */
static int
cfg_s_channels(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	json_t	*plats = json_object_get(root, "platforms"), *ch;
	size_t	 i;

	if (!json_is_array(v)) {
		if (json_object_set_new(root, key, json_array()) == -1)
			return (cfg_fail(e, CFG_ENOMEM));
		return (0);
	}
	json_array_foreach(v, i, ch)
		if (cfg_v_channel(e, ch, plats) == -1)
			return (-1);
	return (0);
}

static int
cfg_s_interagent(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "defaultTimeout", cfg_ok_posnum,
		    "interAgent.defaultTimeout must be a positive number" },
		{ "maxTimeout", cfg_ok_posnum,
		    "interAgent.maxTimeout must be a positive number" },
		{ "maxDepth", cfg_ok_posint,
		    "interAgent.maxDepth must be a positive integer" },
	};
	const char	*bot;
	json_t		*allow, *p, *x;

	if (!cfg_truthy(v))
		return (0);
	if (!json_is_boolean(json_object_get(v, "enabled")))
		return (cfg_fail(e, "interAgent.enabled must be a boolean"));
	if (cfg_fields(e, v, f, nitems(f)) == -1)
		return (-1);
	if (!cfg_truthy(allow = json_object_get(v, "allow")))
		return (0);
	if (!json_is_object(allow))
		return (cfg_fail(e, "interAgent.allow must be an object "
		    "mapping bot names to permissions"));
	json_object_foreach(allow, bot, p) {
		x = json_object_get(p, "canCall");
		if (cfg_truthy(x) && !json_is_array(x))
			return (cfg_fail(e, "interAgent.allow.%s.canCall must "
			    "be an array", bot));
		x = json_object_get(p, "canBeCalledBy");
		if (cfg_truthy(x) && !json_is_array(x))
			return (cfg_fail(e, "interAgent.allow.%s.canBeCalledBy "
			    "must be an array", bot));
	}
	return (0);
}

/* JavaScript's /[:\s]/ over a provider name. */
static int
cfg_bad_provname(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	if (*p == '\0')
		return (1);
	for (; *p != '\0'; p++)
		if (*p == ':' || cfg_js_space(p) > 0)
			return (1);
	return (0);
}

static int
cfg_v_models(struct cfg_err *e, const char *name, json_t *models)
{
	json_t		*m, *id, *x;
	size_t		 i;

	if (!json_is_array(models) || json_array_size(models) == 0)
		return (cfg_fail(e, "Provider \"%s\" requires a non-empty "
		    "\"models\" array", name));
	json_array_foreach(models, i, m) {
		id = json_object_get(m, "id");
		if (!cfg_truthy(id) || !json_is_string(id))
			return (cfg_fail(e, "Provider \"%s\" models entries "
			    "must have a string \"id\"", name));
		x = json_object_get(m, "contextWindow");
		if (x != NULL && !cfg_ok_posint(x))
			return (cfg_fail(e, "Provider \"%s\" model \"%s\" "
			    "contextWindow must be a positive integer", name,
			    json_string_value(id)));
		x = json_object_get(m, "wireApi");
		if (x != NULL && !cfg_ok_wireapi(x))
			return (cfg_fail(e, "Provider \"%s\" model \"%s\" "
			    "wireApi must be \"completions\" or \"responses\"",
			    name, json_string_value(id)));
	}
	return (0);
}

static int
cfg_v_provider_tail(struct cfg_err *e, const char *name, json_t *p)
{
	static const char *const strs[] = { "apiKey", "apiKeyEnv",
	    "bearerToken", "bearerTokenEnv" };
	json_t	*x, *az;
	size_t	 i;

	for (i = 0; i < nitems(strs); i++) {
		x = json_object_get(p, strs[i]);
		if (x != NULL && !json_is_string(x))
			return (cfg_fail(e, "Provider \"%s\" %s must be a "
			    "string", name, strs[i]));
	}
	if ((az = json_object_get(p, "azure")) != NULL) {
		if (!json_is_object(az))
			return (cfg_fail(e, "Provider \"%s\" azure must be an "
			    "object", name));
		x = json_object_get(az, "apiVersion");
		if (x != NULL && !json_is_string(x))
			return (cfg_fail(e, "Provider \"%s\" azure.apiVersion "
			    "must be a string", name));
	}
	x = json_object_get(p, "wireApi");
	if (x != NULL && !cfg_ok_wireapi(x))
		return (cfg_fail(e, "Provider \"%s\" wireApi must be "
		    "\"completions\" or \"responses\"", name));
	return (0);
}

static int
cfg_v_provider(struct cfg_err *e, const char *name, json_t *p)
{
	json_t	*x;

	if (cfg_bad_provname(name))
		return (cfg_fail(e, "Provider name \"%s\" is invalid "
		    "\u2014 must be non-empty and cannot contain ':' or "
		    "whitespace", name));
	if (!json_is_object(p))
		return (cfg_fail(e, "Provider \"%s\" must be an object", name));
	x = json_object_get(p, "type");
	if (x != NULL && !cfg_ok_provtype(x))
		return (cfg_fail(e, "Provider \"%s\" type must be one of: "
		    "openai, azure, anthropic", name));
	x = json_object_get(p, "baseUrl");
	if (!cfg_truthy(x) || !json_is_string(x))
		return (cfg_fail(e, "Provider \"%s\" requires a \"baseUrl\" "
		    "string", name));
	if (cfg_v_models(e, name, json_object_get(p, "models")) == -1)
		return (-1);
	return (cfg_v_provider_tail(e, name, p));
}

static int
cfg_s_providers(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	const char	*name;
	json_t		*p;

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"providers\" must be an object mapping "
		    "provider names to configs"));
	json_object_foreach(v, name, p)
		if (cfg_v_provider(e, name, p) == -1)
			return (-1);
	return (0);
}

static int
cfg_s_loglevel(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const char *const set[] = { "debug", "info", "warn", "error",
	    NULL };

	if (v != NULL && !cfg_str_in(v, set))
		return (cfg_fail(e, "logLevel must be one of: debug, info, "
		    "warn, error"));
	return (0);
}

static int
cfg_s_logging(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "maxSize", cfg_ok_logsize,
		    "logging.maxSize must be a number >= 1024 (bytes)" },
		{ "maxFiles", cfg_ok_nonnegint,
		    "logging.maxFiles must be a non-negative integer" },
		{ "compress", cfg_ok_bool,
		    "logging.compress must be a boolean" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"logging\" must be an object"));
	return (cfg_fields(e, v, f, nitems(f)));
}

static int
cfg_s_telemetry(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "otlpEndpoint", cfg_ok_string,
		    "telemetry.otlpEndpoint must be a string" },
		{ "exporterType", cfg_ok_exporter,
		    "telemetry.exporterType must be \"otlp-http\" or "
		    "\"file\"" },
		{ "filePath", cfg_ok_string,
		    "telemetry.filePath must be a string" },
		{ "sourceName", cfg_ok_string,
		    "telemetry.sourceName must be a string" },
		{ "captureContent", cfg_ok_bool,
		    "telemetry.captureContent must be a boolean" },
		{ "authEnv", cfg_ok_string,
		    "telemetry.authEnv must be a string (env var name)" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"telemetry\" must be an object"));
	return (cfg_fields(e, v, f, nitems(f)));
}

static int
cfg_s_memory(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "tier", cfg_ok_tier, "memory.tier must be 0, 1, or 2" },
		{ "cloudMemory", cfg_ok_bool,
		    "memory.cloudMemory must be a boolean" },
		{ "consolidation", cfg_ok_object,
		    "memory.consolidation must be an object" },
	};
	static const struct cfg_field fc[] = {
		{ "model", cfg_ok_string,
		    "memory.consolidation.model must be a string" },
		{ "idleMinutes", cfg_ok_nonnegnum,
		    "memory.consolidation.idleMinutes must be a non-negative "
		    "number" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"memory\" must be an object"));
	if (cfg_fields(e, v, f, nitems(f)) == -1)
		return (-1);
	return (cfg_fields(e, json_object_get(v, "consolidation"), fc,
	    nitems(fc)));
}

static int
cfg_s_database(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	if (cfg_truthy(v) && !json_is_string(json_object_get(v, "module")))
		return (cfg_fail(e, "database.module must be a string when "
		    "database config is present"));
	return (0);
}

static int
cfg_s_millis(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	if (v != NULL && !cfg_ok_millis(v))
		return (cfg_fail(e, "%s must be an integer between 1 and %d "
		    "(milliseconds)", key, CFG_MILLIS_MAX));
	return (0);
}

static int
cfg_s_bool(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	if (v != NULL && !json_is_boolean(v))
		return (cfg_fail(e, "%s must be a boolean", key));
	return (0);
}

static int
cfg_s_session(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "backend", cfg_ok_backend,
		    "session.backend must be \"copilot\" or \"echo\"" },
		{ "runtimePath", cfg_ok_nonempty,
		    "session.runtimePath must be a non-empty string" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"session\" must be an object"));
	return (cfg_fields(e, v, f, nitems(f)));
}

static int
cfg_s_hooks(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	static const struct cfg_field f[] = {
		{ "notifyOnAutoReload", cfg_ok_bool,
		    "hooks.notifyOnAutoReload must be a boolean" },
	};

	if (v == NULL)
		return (0);
	if (!json_is_object(v))
		return (cfg_fail(e, "\"hooks\" must be an object"));
	return (cfg_fields(e, v, f, nitems(f)));
}

static int
cfg_s_path(struct cfg_err *e, const char *key, json_t *v, json_t *root)
{
	if (v != NULL && !cfg_ok_nonempty(v))
		return (cfg_fail(e, "%s must be a non-empty string", key));
	return (0);
}

/*
 * Top-level sections in upstream's validation order, then ours.  Keys not
 * listed (defaults, permissions, infiniteSessions, _comment...) are not
 * validated, as upstream.
 */
static const struct cfg_section {
	const char	*key;
	int		(*check)(struct cfg_err *, const char *, json_t *,
			    json_t *);
} cfg_sections[] = {
	{ "platforms",			cfg_s_platforms },
	{ "channels",			cfg_s_channels },
	{ "interAgent",			cfg_s_interagent },
	{ "providers",			cfg_s_providers },
	{ "logLevel",			cfg_s_loglevel },
	{ "logging",			cfg_s_logging },
	{ "telemetry",			cfg_s_telemetry },
	{ "memory",			cfg_s_memory },
	{ "database",			cfg_s_database },
	{ "reloadDrainTimeoutMs",	cfg_s_millis },
	{ "reconnectTimeoutMs",		cfg_s_millis },
	{ "autoReloadBots",		cfg_s_bool },
	{ "session",			cfg_s_session },
	{ "hooks",			cfg_s_hooks },
	{ "stateDir",			cfg_s_path },
	{ "logDir",			cfg_s_path },
	{ "controlSocket",		cfg_s_path },
};

static int
cfg_validate(struct cfg_err *e, json_t *root)
{
	size_t	i;

	for (i = 0; i < nitems(cfg_sections); i++)
		if (cfg_sections[i].check(e, cfg_sections[i].key,
		    json_object_get(root, cfg_sections[i].key), root) == -1)
			return (-1);
	return (0);
}

/* ------------------------------------------------------------- building */

/* The bot object behind a bot, or NULL for the botToken shorthand. */
static json_t *
cfg_bot_obj(json_t *root, const char *platform, const char *name)
{
	json_t	*p = json_object_get(json_object_get(root, "platforms"),
		    platform);
	json_t	*bots = json_object_get(p, "bots");

	if (!cfg_truthy(bots))
		return (NULL);
	return (json_object_get(bots, name));
}

static char *
cfg_strip_slash(const char *s)
{
	size_t	n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		n--;
	return (strndup(s, n));
}

static int
cfg_bot_add(struct cfg *c, const char *plat, const char *name, json_t *p,
    json_t *bot)
{
	struct cfg_bot	*nb, *b;
	json_t		*tok;
	int		 slack = strcmp(plat, "slack") == 0;

	if ((nb = reallocarray(c->bots, c->nbots + 1, sizeof(*nb))) == NULL)
		return (-1);
	c->bots = nb;
	b = &c->bots[c->nbots];
	memset(b, 0, sizeof(*b));
	c->nbots++;
	tok = bot != NULL ? json_object_get(bot, "token") :
	    json_object_get(p, "botToken");
	b->admin = cfg_truthy(json_object_get(bot, "admin"));
	b->has_adapter = slack || strcmp(plat, "mattermost") == 0;
	if ((b->platform = strdup(plat)) == NULL ||
	    (b->name = strdup(name)) == NULL ||
	    (b->token = strdup(json_string_value(tok))) == NULL)
		return (-1);
	if (asprintf(&b->key, "%s:%s", plat, name) == -1) {
		b->key = NULL;
		return (-1);
	}
	if (slack) {
		b->app_token = strdup(json_string_value(json_object_get(bot,
		    "appToken")));
		return (b->app_token == NULL ? -1 : 0);
	}
	b->url = cfg_strip_slash(json_string_value(json_object_get(p, "url")));
	return (b->url == NULL ? -1 : 0);
}

/* bots[] in platform order, then bot order, both sorted. */
static int
cfg_build_bots(struct cfg *c)
{
	struct cfg_keys	 pk = { NULL, 0 }, bk = { NULL, 0 };
	json_t		*plats = json_object_get(c->root, "platforms"), *p;
	json_t		*bots;
	size_t		 i, j;
	int		 rc = -1;

	if (cfg_keys_union(plats, NULL, &pk) == -1)
		return (-1);
	for (i = 0; i < pk.n; i++) {
		p = json_object_get(plats, pk.v[i]);
		bots = json_object_get(p, "bots");
		if (!cfg_truthy(bots)) {
			if (cfg_bot_add(c, pk.v[i], "default", p, NULL) == -1)
				goto out;
			continue;
		}
		if (cfg_keys_union(bots, NULL, &bk) == -1)
			goto out;
		for (j = 0; j < bk.n; j++)
			if (cfg_bot_add(c, pk.v[i], bk.v[j], p,
			    json_object_get(bots, bk.v[j])) == -1)
				goto out;
		free(bk.v);
		bk.v = NULL;
	}
	rc = 0;
out:
	free(bk.v);
	free(pk.v);
	return (rc);
}

static int
cfg_build_paths(struct cfg *c, struct cfg_err *e)
{
	json_t		*v;
	const char	*sd;

	v = json_object_get(c->root, "stateDir");
	sd = v != NULL ? json_string_value(v) : CFG_STATE_DIR;
	if (cfg_expand(e, "stateDir", sd, &c->state_dir) == -1)
		return (-1);
	if ((v = json_object_get(c->root, "logDir")) != NULL &&
	    cfg_expand(e, "logDir", json_string_value(v), &c->log_dir) == -1)
		return (-1);
	if ((v = json_object_get(c->root, "controlSocket")) != NULL)
		return (cfg_expand(e, "controlSocket", json_string_value(v),
		    &c->control_socket));
	if (asprintf(&c->control_socket, "%s/control.sock", c->state_dir) ==
	    -1) {
		c->control_socket = NULL;
		return (cfg_fail(e, CFG_ENOMEM));
	}
	return (0);
}

/*
 * The control socket a config file names, even when the file does not
 * validate: `ctl reload` must reach the running bridge to report what is
 * wrong with the file it was just given.  Falls back to the default under
 * the default stateDir when the file cannot be parsed at all.
 */
int
cfg_control_socket_hint(const char *path, char *out, size_t len)
{
	struct cfg	 c;
	struct cfg_err	 e = { NULL, 0 };
	json_t		*root;
	int		 rc = -1;

	memset(&c, 0, sizeof(c));
	root = path != NULL ? json_load_file(path, 0, NULL) : NULL;
	c.root = json_is_object(root) ? root : NULL;
	if (c.root != NULL) {
		/* Keep only well-typed keys: the hint must not fail on them. */
		if (!json_is_string(json_object_get(root, "stateDir")))
			json_object_del(root, "stateDir");
		if (!json_is_string(json_object_get(root, "controlSocket")))
			json_object_del(root, "controlSocket");
		json_object_del(root, "logDir");
	} else
		c.root = json_object();
	if (c.root != NULL && cfg_build_paths(&c, &e) == 0 &&
	    (size_t)snprintf(out, len, "%s", c.control_socket) < len)
		rc = 0;
	free(c.state_dir);
	free(c.log_dir);
	free(c.control_socket);
	json_decref(c.root);
	return (rc);
}

static int
cfg_build(struct cfg *c, struct cfg_err *e)
{
	json_t	*v;
	char	*s;
	int	 rc;

	c->log_level = LOG_LINFO;
	if ((v = json_object_get(c->root, "logLevel")) != NULL)
		(void)log_parse_level(json_string_value(v), &c->log_level);
	v = json_object_get(c->root, "reloadDrainTimeoutMs");
	c->drain_timeout_ms = v != NULL ? (int)json_number_value(v) :
	    CFG_DEFAULT_DRAIN_MS;
	v = json_object_get(c->root, "reconnectTimeoutMs");
	c->reconnect_timeout_ms = v != NULL ? (int)json_number_value(v) :
	    CFG_DEFAULT_RECONNECT_MS;
	c->auto_reload_bots = json_is_true(json_object_get(c->root,
	    "autoReloadBots"));
	if (cfg_build_paths(c, e) == -1)
		return (-1);
	if (cfg_build_bots(c) == -1)
		return (cfg_fail(e, CFG_ENOMEM));
	if ((s = json_dumps(c->root, JSON_SORT_KEYS | JSON_COMPACT)) == NULL)
		return (cfg_fail(e, CFG_ENOMEM));
	rc = util_sha256_hex(s, strlen(s), c->hash);
	free(s);
	if (rc == -1)
		return (cfg_fail(e, "cannot hash the configuration"));
	return (0);
}

/* ----------------------------------------------------------- public: load */

static int
cfg_copy_path(char *out, size_t len, const char *a, const char *b)
{
	int	n;

	n = snprintf(out, len, "%s%s", a, b);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

int
cfg_resolve_path(const char *arg, char *out, size_t len)
{
	char		 cand[PATH_MAX], cwd[PATH_MAX];
	const char	*env, *home;

	if (arg != NULL)
		return (cfg_copy_path(out, len, arg, ""));
	if ((env = getenv("COPILOT_BRIDGE_CONFIG")) != NULL && *env != '\0')
		return (cfg_copy_path(out, len, env, ""));
	if ((home = cfg_home()) != NULL &&
	    cfg_copy_path(cand, sizeof(cand), home,
	    "/.copilot-bridge/config.json") == 0 && access(cand, F_OK) == 0)
		return (cfg_copy_path(out, len, cand, ""));
	/* Absolute, so the watcher and reloads do not depend on our cwd. */
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return (-1);
	return (cfg_copy_path(out, len, cwd, "/config.json"));
}

struct cfg *
cfg_load(const char *path, char *err, size_t errlen)
{
	struct cfg_err	 e = { err, errlen };
	struct cfg	*c;
	char		*buf;
	size_t		 len;

	if ((buf = util_read_file(path, CFG_FILE_MAX, &len)) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			cfg_fail(&e, "Config file not found: %s. Copy "
			    "config.sample.json to config.json and edit it.",
			    path);
		else if (errno == EFBIG)
			cfg_fail(&e, "%s: file is larger than %d bytes", path,
			    CFG_FILE_MAX);
		else
			cfg_fail(&e, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	c = cfg_parse(buf, len, path, err, errlen);
	free(buf);
	return (c);
}

struct cfg *
cfg_parse(const char *buf, size_t len, const char *path, char *err,
    size_t errlen)
{
	struct cfg_err	 e = { err, errlen };
	struct cfg	*c;
	json_error_t	 je;
	json_t		*root;

	if (buf == NULL)
		buf = "";
	/* Any top-level value parses; a non-object fails like upstream's. */
	if ((root = json_loadb(buf, len, JSON_DECODE_ANY, &je)) == NULL) {
		if (path != NULL)
			cfg_fail(&e, "%s:%d:%d: %s", path, je.line, je.column,
			    je.text);
		else
			cfg_fail(&e, "%d:%d: %s", je.line, je.column, je.text);
		return (NULL);
	}
	if (!json_is_object(root)) {
		json_decref(root);
		cfg_fail(&e, "Config must have a \"platforms\" object");
		return (NULL);
	}
	if (cfg_validate(&e, root) == -1) {
		json_decref(root);
		return (NULL);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(root);
		cfg_fail(&e, CFG_ENOMEM);
		return (NULL);
	}
	c->root = root;
	if ((c->grace = json_array()) == NULL ||
	    (path != NULL && (c->path = strdup(path)) == NULL)) {
		cfg_fail(&e, CFG_ENOMEM);
		cfg_free(c);
		return (NULL);
	}
	if (cfg_build(c, &e) == -1) {
		cfg_free(c);
		return (NULL);
	}
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return (c);
}

void
cfg_free(struct cfg *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nbots; i++) {
		free(c->bots[i].platform);
		free(c->bots[i].name);
		free(c->bots[i].key);
		free(c->bots[i].token);
		free(c->bots[i].app_token);
		free(c->bots[i].url);
	}
	free(c->bots);
	json_decref(c->root);
	json_decref(c->grace);
	free(c->path);
	free(c->state_dir);
	free(c->log_dir);
	free(c->control_socket);
	free(c);
}

const struct cfg_bot *
cfg_find_bot(const struct cfg *c, const char *key)
{
	size_t	i;

	if (c == NULL || key == NULL)
		return (NULL);
	for (i = 0; i < c->nbots; i++)
		if (strcmp(c->bots[i].key, key) == 0)
			return (&c->bots[i]);
	return (NULL);
}

/* ------------------------------------------------------------ grace */

static int
cfg_has_channel(json_t *arr, json_t *id)
{
	json_t	*ch;
	size_t	 i;

	json_array_foreach(arr, i, ch)
		if (cfg_jeq(json_object_get(ch, "id"), id))
			return (1);
	return (0);
}

/* Append copies of src's channels that are in neither avoid nor dst. */
static int
cfg_grace_add(json_t *dst, json_t *src, json_t *avoid)
{
	json_t	*ch, *id;
	size_t	 i;

	json_array_foreach(src, i, ch) {
		id = json_object_get(ch, "id");
		if (cfg_has_channel(avoid, id) || cfg_has_channel(dst, id))
			continue;
		if (json_array_append_new(dst, json_deep_copy(ch)) == -1)
			return (-1);
	}
	return (0);
}

/*
 * Static channels removed from the file keep serving until restart, as
 * upstream; they live in grace, outside the root, so the next diff of the
 * same file does not report them again (upstream's repeated report).
 */
int
cfg_carry_grace(struct cfg *newc, const struct cfg *oldc)
{
	json_t	*g, *nch;

	if (newc == NULL || oldc == NULL)
		return (0);
	nch = json_object_get(newc->root, "channels");
	if ((g = json_array()) == NULL ||
	    cfg_grace_add(g, oldc->grace, nch) == -1 ||
	    cfg_grace_add(g, json_object_get(oldc->root, "channels"),
	    nch) == -1) {
		json_decref(g);
		return (-1);
	}
	json_decref(newc->grace);
	newc->grace = g;
	return (0);
}

/* ------------------------------------------------------------ worker */

/* Set key to val (stolen); remembers any failure in *bad. */
static void
cfg_jset(json_t *obj, const char *key, json_t *val, int *bad)
{
	if (val == NULL || json_object_set_new(obj, key, val) == -1)
		*bad = 1;
}

static json_t *
cfg_copy_or_null(json_t *v)
{
	return (v != NULL ? json_deep_copy(v) : json_null());
}

/* Platform admins then bot admins, without repeats. */
static json_t *
cfg_worker_admins(json_t *p, json_t *bot)
{
	json_t	*out, *lists[2], *u;
	size_t	 i, j, k;
	int	 dup;

	if ((out = json_array()) == NULL)
		return (NULL);
	lists[0] = json_object_get(p, "admins");
	lists[1] = json_object_get(bot, "admins");
	for (i = 0; i < 2; i++)
		json_array_foreach(lists[i], j, u) {
			for (dup = 0, k = 0; k < json_array_size(out); k++)
				dup |= cfg_jeq(json_array_get(out, k), u);
			if (!dup && json_array_append(out, u) == -1) {
				json_decref(out);
				return (NULL);
			}
		}
	return (out);
}

/* The bot a channel is served by: its "bot", else the first (sorted). */
static const char *
cfg_chan_bot(const struct cfg *c, json_t *ch, const char *plat)
{
	json_t	*b = json_object_get(ch, "bot");
	size_t	 i;

	if (cfg_truthy(b) && json_is_string(b))
		return (json_string_value(b));
	for (i = 0; i < c->nbots; i++)
		if (strcmp(c->bots[i].platform, plat) == 0)
			return (c->bots[i].name);
	return ("default");
}

static int
cfg_worker_chans(const struct cfg *c, const struct cfg_bot *b, json_t *src,
    json_t *out)
{
	json_t		*ch;
	const char	*pl;
	size_t		 i;

	json_array_foreach(src, i, ch) {
		pl = json_string_value(json_object_get(ch, "platform"));
		if (pl == NULL || strcmp(pl, b->platform) != 0 ||
		    strcmp(cfg_chan_bot(c, ch, pl), b->name) != 0)
			continue;
		if (json_array_append_new(out, json_deep_copy(ch)) == -1)
			return (-1);
	}
	return (0);
}

static json_t *
cfg_worker_url(json_t *p)
{
	json_t		*v = json_object_get(p, "apiUrl");
	const char	*s = v != NULL ? json_string_value(v) :
			    CFG_DEFAULT_SLACK_API;
	char		*t;
	json_t		*r;

	/* Methods are appended to it, so it ends in exactly one '/'. */
	if (s == NULL || (t = cfg_strip_slash(s)) == NULL)
		return (NULL);
	r = json_sprintf("%s/", t);
	free(t);
	return (r);
}

json_t *
cfg_worker_json(const struct cfg *c, const struct cfg_bot *b)
{
	json_t	*w, *p, *bot, *chans;
	int	 bad = 0, slack;

	if (c == NULL || b == NULL || (w = json_object()) == NULL)
		return (NULL);
	p = json_object_get(json_object_get(c->root, "platforms"), b->platform);
	bot = cfg_bot_obj(c->root, b->platform, b->name);
	slack = strcmp(b->platform, "slack") == 0;
	cfg_jset(w, "platform", json_string(b->platform), &bad);
	cfg_jset(w, "bot", json_string(b->name), &bad);
	cfg_jset(w, "key", json_string(b->key), &bad);
	if (slack)
		cfg_jset(w, "apiUrl", cfg_worker_url(p), &bad);
	else
		cfg_jset(w, "url", json_string(b->url), &bad);
	cfg_jset(w, "token", json_string(b->token), &bad);
	if (slack)
		cfg_jset(w, "appToken", json_string(b->app_token), &bad);
	cfg_jset(w, "admin", json_boolean(b->admin), &bad);
	cfg_jset(w, "access", cfg_copy_or_null(json_object_get(p, "access")),
	    &bad);
	cfg_jset(w, "botAccess", cfg_copy_or_null(json_object_get(bot,
	    "access")), &bad);
	cfg_jset(w, "admins", cfg_worker_admins(p, bot), &bad);
	cfg_jset(w, "channels", chans = json_array(), &bad);
	if (!bad && (cfg_worker_chans(c, b, json_object_get(c->root,
	    "channels"), chans) == -1 ||
	    cfg_worker_chans(c, b, c->grace, chans) == -1))
		bad = 1;
	cfg_jset(w, "reconnectTimeoutMs", json_integer(c->reconnect_timeout_ms),
	    &bad);
	cfg_jset(w, "logLevel", json_string(cfg_level_names[c->log_level]),
	    &bad);
	cfg_jset(w, "logDir", c->log_dir != NULL ? json_string(c->log_dir) :
	    json_null(), &bad);
	/*
	 * Each worker exports its own spans.  A telemetry change is
	 * telemetryReloadNeeded, never botReloadNeeded (bot reasons come from
	 * tokens and URLs only), and the worker's config hash is only
	 * reported, never compared, so it may change with it.
	 */
	cfg_jset(w, "telemetry", cfg_copy_or_null(json_object_get(c->root,
	    "telemetry")), &bad);
	if (bad) {
		json_decref(w);
		return (NULL);
	}
	return (w);
}

/* ------------------------------------------------------------ diff */

struct cfg_dctx {
	struct cfg_diff		*d;
	const struct cfg	*o;
	const struct cfg	*n;
	int			 failed;
};

static int
cfg_sl_has(const struct cfg_strlist *sl, const char *s)
{
	size_t	i;

	for (i = 0; i < sl->n; i++)
		if (strcmp(sl->v[i], s) == 0)
			return (1);
	return (0);
}

/* Append s (owned) to sl; frees it on failure or when uniq and present. */
static int
cfg_sl_push(struct cfg_strlist *sl, char *s, int uniq)
{
	char	**nv;

	if (s == NULL)
		return (-1);
	if (uniq && cfg_sl_has(sl, s)) {
		free(s);
		return (0);
	}
	if ((nv = reallocarray(sl->v, sl->n + 1, sizeof(*nv))) == NULL) {
		free(s);
		return (-1);
	}
	sl->v = nv;
	sl->v[sl->n++] = s;
	return (0);
}

static void
cfg_sl_free(struct cfg_strlist *sl)
{
	size_t	i;

	for (i = 0; i < sl->n; i++)
		free(sl->v[i]);
	free(sl->v);
	sl->v = NULL;
	sl->n = 0;
}

static char *cfg_vfmt(const char *, va_list)
    __attribute__((format(printf, 1, 0)));

static char *
cfg_vfmt(const char *fmt, va_list ap)
{
	char	*s;

	if (vasprintf(&s, fmt, ap) == -1)
		return (NULL);
	return (s);
}

static void cfg_d_change(struct cfg_dctx *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
cfg_d_change(struct cfg_dctx *x, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (cfg_sl_push(&x->d->changes, cfg_vfmt(fmt, ap), 0) == -1)
		x->failed = 1;
	va_end(ap);
}

static struct cfg_botreload *
cfg_d_botent(struct cfg_dctx *x, const char *key)
{
	struct cfg_botreload	*nb, *b;
	size_t			 i;

	for (i = 0; i < x->d->nbots; i++)
		if (strcmp(x->d->bots[i].key, key) == 0)
			return (&x->d->bots[i]);
	nb = reallocarray(x->d->bots, x->d->nbots + 1, sizeof(*nb));
	if (nb == NULL)
		return (NULL);
	x->d->bots = nb;
	b = &nb[x->d->nbots];
	memset(b, 0, sizeof(*b));
	if ((b->key = strdup(key)) == NULL)
		return (NULL);
	x->d->nbots++;
	return (b);
}

static void cfg_d_bot(struct cfg_dctx *, const char *, const char *,
    const char *, ...) __attribute__((format(printf, 4, 5)));

/* Record that bot key needs a reload for reason, explained by the text. */
static void
cfg_d_bot(struct cfg_dctx *x, const char *key, const char *reason,
    const char *fmt, ...)
{
	struct cfg_botreload	*b;
	va_list			 ap;

	if (x->failed || (b = cfg_d_botent(x, key)) == NULL) {
		x->failed = 1;
		return;
	}
	va_start(ap, fmt);
	if (cfg_sl_push(&b->reasons, strdup(reason), 1) == -1 ||
	    cfg_sl_push(&b->texts, cfg_vfmt(fmt, ap), 1) == -1)
		x->failed = 1;
	va_end(ap);
}

static json_t *
cfg_defaults_merged(json_t *root)
{
	json_t	*d, *raw;

	d = json_pack("{s:s, s:n, s:s, s:b, s:b, s:s}",
	    "model", "claude-sonnet-4.6", "agent", "triggerMode", "mention",
	    "threadedReplies", 1, "verbose", 0,
	    "permissionMode", "interactive");
	raw = json_object_get(root, "defaults");
	if (d != NULL && json_is_object(raw) &&
	    json_object_update(d, raw) == -1) {
		json_decref(d);
		return (NULL);
	}
	return (d);
}

/* "<prefix><key>: <old> \u2192 <new>" */
static void
cfg_d_value(struct cfg_dctx *x, const char *prefix, const char *key,
    json_t *ov, json_t *nv)
{
	char	*os, *ns;

	os = cfg_dump(ov);
	ns = cfg_dump(nv);
	if (os == NULL || ns == NULL)
		x->failed = 1;
	else
		cfg_d_change(x, "%s%s: %s \u2192 %s", prefix, key, os, ns);
	free(os);
	free(ns);
}

/* defaults.<key>, over the built-ins, keys sorted (upstream: key order). */
static void
cfg_d_defaults(struct cfg_dctx *x)
{
	struct cfg_keys	 k = { NULL, 0 };
	json_t		*od, *nd, *ov, *nv;
	size_t		 i;

	od = cfg_defaults_merged(x->o->root);
	nd = cfg_defaults_merged(x->n->root);
	if (od == NULL || nd == NULL || cfg_keys_union(od, nd, &k) == -1)
		x->failed = 1;
	for (i = 0; !x->failed && i < k.n; i++) {
		ov = json_object_get(od, k.v[i]);
		nv = json_object_get(nd, k.v[i]);
		if (cfg_jeq(ov, nv))
			continue;
		cfg_d_value(x, "defaults.", k.v[i], ov, nv);
	}
	free(k.v);
	json_decref(od);
	json_decref(nd);
}

static void
cfg_d_section(struct cfg_dctx *x, const char *key, const char *text)
{
	if (!cfg_jeq_opt(json_object_get(x->o->root, key),
	    json_object_get(x->n->root, key)))
		cfg_d_change(x, "%s", text);
}

static void
cfg_d_providers(struct cfg_dctx *x)
{
	struct cfg_keys	 k = { NULL, 0 };
	json_t		*op, *np, *a, *b;
	size_t		 i;

	op = json_object_get(x->o->root, "providers");
	np = json_object_get(x->n->root, "providers");
	if (cfg_keys_union(op, np, &k) == -1) {
		x->failed = 1;
		return;
	}
	for (i = 0; i < k.n; i++) {
		a = json_object_get(op, k.v[i]);
		b = json_object_get(np, k.v[i]);
		if (a == NULL)
			cfg_d_change(x, "provider \"%s\": added", k.v[i]);
		else if (b == NULL)
			cfg_d_change(x, "provider \"%s\": removed", k.v[i]);
		else if (!cfg_jeq(a, b))
			cfg_d_change(x, "provider \"%s\": config updated",
			    k.v[i]);
	}
	free(k.v);
}

/* id -> channel; a repeated id keeps its first place and its last value. */
static json_t *
cfg_chan_index(json_t *chans)
{
	json_t	*idx, *ch;
	size_t	 i;

	if ((idx = json_object()) == NULL)
		return (NULL);
	json_array_foreach(chans, i, ch)
		if (json_object_set(idx, json_string_value(json_object_get(ch,
		    "id")), ch) == -1) {
			json_decref(idx);
			return (NULL);
		}
	return (idx);
}

/* "channel "<id>": f1, f2 changed", fields sorted (upstream: key order). */
static void
cfg_d_chan_fields(struct cfg_dctx *x, const char *id, json_t *o, json_t *n)
{
	struct cfg_keys	 k = { NULL, 0 };
	struct cfg_buf	 b = { NULL, 0, 0, 0 };
	size_t		 i;
	char		*s;

	if (cfg_keys_union(o, n, &k) == -1) {
		x->failed = 1;
		return;
	}
	for (i = 0; i < k.n; i++)
		if (!cfg_jeq(json_object_get(o, k.v[i]),
		    json_object_get(n, k.v[i])))
			cfg_buf_add(&b, "%s%s", b.len > 0 ? ", " : "", k.v[i]);
	free(k.v);
	if ((s = cfg_buf_take(&b)) == NULL) {
		x->failed = 1;
		return;
	}
	cfg_d_change(x, "channel \"%s\": %s changed", id, s);
	free(s);
}

static void
cfg_d_channels(struct cfg_dctx *x)
{
	json_t		*oi, *ni, *och, *nch;
	const char	*id;

	oi = cfg_chan_index(json_object_get(x->o->root, "channels"));
	ni = cfg_chan_index(json_object_get(x->n->root, "channels"));
	if (oi == NULL || ni == NULL) {
		x->failed = 1;
		goto out;
	}
	json_object_foreach(ni, id, nch) {
		if ((och = json_object_get(oi, id)) == NULL)
			cfg_d_change(x, "channel \"%s\": added", id);
		else if (!cfg_jeq(och, nch))
			cfg_d_chan_fields(x, id, och, nch);
	}
	json_object_foreach(oi, id, och)
		if (json_object_get(ni, id) == NULL)
			cfg_d_change(x, "channel \"%s\": removed from config "
			    "(still active in-memory)", id);
out:
	json_decref(oi);
	json_decref(ni);
}

/* Live platform-level fields upstream applied but never reported. */
static void
cfg_d_platforms(struct cfg_dctx *x)
{
	struct cfg_keys	 k = { NULL, 0 };
	json_t		*opl, *npl, *op, *np;
	size_t		 i;

	opl = json_object_get(x->o->root, "platforms");
	npl = json_object_get(x->n->root, "platforms");
	if (cfg_keys_union(npl, NULL, &k) == -1) {
		x->failed = 1;
		return;
	}
	for (i = 0; i < k.n; i++) {
		np = json_object_get(npl, k.v[i]);
		if ((op = json_object_get(opl, k.v[i])) == NULL)
			continue;
		if (!cfg_jeq(json_object_get(op, "access"),
		    json_object_get(np, "access")))
			cfg_d_change(x, "platform \"%s\": access updated",
			    k.v[i]);
		if (!cfg_jeq(json_object_get(op, "admins"),
		    json_object_get(np, "admins")))
			cfg_d_change(x, "platform \"%s\": admins updated",
			    k.v[i]);
	}
	free(k.v);
}

static int
cfg_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/* Equal apart from the credentials, which are a reload, not live. */
static int
cfg_bot_same(json_t *a, json_t *b)
{
	struct cfg_keys	 k = { NULL, 0 };
	size_t		 i;
	int		 same = 1;

	if (a == NULL || b == NULL)
		return (a == b);
	if (cfg_keys_union(a, b, &k) == -1)
		return (-1);
	for (i = 0; same && i < k.n; i++) {
		if (strcmp(k.v[i], "token") == 0 ||
		    strcmp(k.v[i], "appToken") == 0)
			continue;
		same = cfg_jeq(json_object_get(a, k.v[i]),
		    json_object_get(b, k.v[i]));
	}
	free(k.v);
	return (same);
}

/* The platform's connection address changed: url, or Slack's apiUrl. */
static void
cfg_d_bot_url(struct cfg_dctx *x, const struct cfg_bot *nb)
{
	json_t	*op, *np;

	op = json_object_get(json_object_get(x->o->root, "platforms"),
	    nb->platform);
	np = json_object_get(json_object_get(x->n->root, "platforms"),
	    nb->platform);
	if (strcmp(nb->platform, "slack") == 0) {
		if (!cfg_jeq(json_object_get(op, "apiUrl"),
		    json_object_get(np, "apiUrl")))
			cfg_d_bot(x, nb->key, "url",
			    "platform \"%s\": apiUrl changed", nb->platform);
	} else if (!cfg_jeq(json_object_get(op, "url"),
	    json_object_get(np, "url")))
		cfg_d_bot(x, nb->key, "url", "platform \"%s\": URL changed",
		    nb->platform);
}

/* A bot in both: credentials and address mean a reload, the rest is live. */
static void
cfg_d_bot_both(struct cfg_dctx *x, const struct cfg_bot *ob,
    const struct cfg_bot *nb)
{
	json_t	*oo = cfg_bot_obj(x->o->root, ob->platform, ob->name);
	json_t	*no = cfg_bot_obj(x->n->root, nb->platform, nb->name);
	int	 same;

	if (!cfg_streq(ob->token, nb->token)) {
		if (oo == NULL && no == NULL)
			cfg_d_bot(x, nb->key, "token",
			    "platform \"%s\": botToken changed", nb->platform);
		else
			cfg_d_bot(x, nb->key, "token",
			    "bot \"%s\": token changed", nb->key);
	}
	if (!cfg_streq(ob->app_token, nb->app_token))
		cfg_d_bot(x, nb->key, "appToken",
		    "bot \"%s\": appToken changed", nb->key);
	cfg_d_bot_url(x, nb);
	if ((same = cfg_bot_same(oo, no)) == -1)
		x->failed = 1;
	else if (!same)
		cfg_d_change(x, "bot \"%s\": config updated", nb->key);
}

static int
cfg_has_platform(const struct cfg *c, const char *p)
{
	return (json_object_get(json_object_get(c->root, "platforms"), p) !=
	    NULL);
}

static void
cfg_d_bots(struct cfg_dctx *x)
{
	const struct cfg_bot	*ob, *nb;
	size_t			 i;

	for (i = 0; i < x->n->nbots; i++) {
		nb = &x->n->bots[i];
		if ((ob = cfg_find_bot(x->o, nb->key)) != NULL)
			cfg_d_bot_both(x, ob, nb);
		else if (!cfg_has_platform(x->o, nb->platform))
			cfg_d_bot(x, nb->key, "added", "platform \"%s\": added "
			    "(new adapter + WebSocket needed)", nb->platform);
		else
			cfg_d_bot(x, nb->key, "added",
			    "bot \"%s\": added (new adapter needed)", nb->key);
	}
	for (i = 0; i < x->o->nbots; i++) {
		ob = &x->o->bots[i];
		if (cfg_find_bot(x->n, ob->key) != NULL)
			continue;
		if (!cfg_has_platform(x->n, ob->platform))
			cfg_d_bot(x, ob->key, "removed", "platform \"%s\": "
			    "removed (adapter still running)", ob->platform);
		else
			cfg_d_bot(x, ob->key, "removed",
			    "bot \"%s\": removed (adapter still running)",
			    ob->key);
	}
}

/* Scalars upstream applied but never reported; effective values shown. */
static void
cfg_d_scalars(struct cfg_dctx *x)
{
	const struct cfg	*o = x->o, *n = x->n;
	int			 oi, ni;

	if (o->log_level != n->log_level)
		cfg_d_change(x, "logLevel: \"%s\" \u2192 \"%s\"",
		    cfg_level_names[o->log_level],
		    cfg_level_names[n->log_level]);
	oi = json_is_true(json_object_get(o->root, "infiniteSessions"));
	ni = json_is_true(json_object_get(n->root, "infiniteSessions"));
	if (oi != ni)
		cfg_d_change(x, "infiniteSessions: %s \u2192 %s",
		    oi ? "true" : "false", ni ? "true" : "false");
	if (o->drain_timeout_ms != n->drain_timeout_ms)
		cfg_d_change(x, "reloadDrainTimeoutMs: %d \u2192 %d",
		    o->drain_timeout_ms, n->drain_timeout_ms);
	if (o->reconnect_timeout_ms != n->reconnect_timeout_ms)
		cfg_d_change(x, "reconnectTimeoutMs: %d \u2192 %d",
		    o->reconnect_timeout_ms, n->reconnect_timeout_ms);
	if (o->auto_reload_bots != n->auto_reload_bots)
		cfg_d_change(x, "autoReloadBots: %s \u2192 %s",
		    o->auto_reload_bots ? "true" : "false",
		    n->auto_reload_bots ? "true" : "false");
}

static void
cfg_d_misc(struct cfg_dctx *x)
{
	json_t	*ov, *nv;

	cfg_d_section(x, "session", "session config updated");
	ov = json_object_get(x->o->root, "logDir");
	nv = json_object_get(x->n->root, "logDir");
	if (!cfg_jeq(ov, nv))
		cfg_d_value(x, "", "logDir", ov != NULL ? ov : json_null(),
		    nv != NULL ? nv : json_null());
	/* A falsy "database" means the built-in store, like an absent one. */
	ov = json_object_get(x->o->root, "database");
	nv = json_object_get(x->n->root, "database");
	if (!cfg_jeq_opt(cfg_truthy(ov) ? ov : NULL,
	    cfg_truthy(nv) ? nv : NULL))
		cfg_d_change(x, "database config updated");
}

static void
cfg_d_restart(struct cfg_dctx *x)
{
	static const char *const keys[] = { "stateDir", "controlSocket" };
	size_t	 i;
	char	*s;

	for (i = 0; i < nitems(keys); i++) {
		if (cfg_jeq(json_object_get(x->o->root, keys[i]),
		    json_object_get(x->n->root, keys[i])))
			continue;
		if (asprintf(&s, "%s changed (requires restart)",
		    keys[i]) == -1)
			s = NULL;
		if (cfg_sl_push(&x->d->restart, s, 0) == -1)
			x->failed = 1;
	}
}

static int
cfg_botreload_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct cfg_botreload *)a)->key,
	    ((const struct cfg_botreload *)b)->key));
}

struct cfg_diff *
cfg_diff(const struct cfg *oldc, const struct cfg *newc)
{
	struct cfg_dctx	x;

	if (oldc == NULL || newc == NULL)
		return (NULL);
	memset(&x, 0, sizeof(x));
	x.o = oldc;
	x.n = newc;
	if ((x.d = calloc(1, sizeof(*x.d))) == NULL)
		return (NULL);
	cfg_d_defaults(&x);
	cfg_d_section(&x, "permissions", "permissions updated");
	cfg_d_section(&x, "interAgent", "interAgent config updated");
	cfg_d_providers(&x);
	if (!cfg_jeq_opt(json_object_get(oldc->root, "telemetry"),
	    json_object_get(newc->root, "telemetry"))) {
		cfg_d_change(&x, "telemetry config updated");
		x.d->telemetry = 1;
	}
	cfg_d_section(&x, "memory", "memory config updated");
	cfg_d_section(&x, "hooks", "hooks config updated");
	/* Live here: files are rotated by logrotate and reopened. */
	cfg_d_section(&x, "logging", "logging config updated");
	cfg_d_channels(&x);
	cfg_d_platforms(&x);
	cfg_d_bots(&x);
	cfg_d_scalars(&x);
	cfg_d_misc(&x);
	cfg_d_restart(&x);
	if (x.failed) {
		cfg_diff_free(x.d);
		return (NULL);
	}
	if (x.d->nbots > 1)
		qsort(x.d->bots, x.d->nbots, sizeof(*x.d->bots),
		    cfg_botreload_cmp);
	return (x.d);
}

int
cfg_diff_empty(const struct cfg_diff *d)
{
	return (d == NULL || (d->changes.n == 0 && d->nbots == 0 &&
	    !d->telemetry && d->restart.n == 0));
}

/* The /reload config reply, upstream's shape plus our two new blocks. */
char *
cfg_diff_markdown(const struct cfg_diff *d)
{
	struct cfg_buf	 b = { NULL, 0, 0, 0 };
	size_t		 i, j;

	if (cfg_diff_empty(d)) {
		cfg_buf_add(&b, "\u2705 Config reloaded \u2014 no changes "
		    "detected.");
		return (cfg_buf_take(&b));
	}
	cfg_buf_add(&b, "\u2705 Config reloaded.");
	if (d->changes.n > 0)
		cfg_buf_add(&b, "\n**Applied:**");
	for (i = 0; i < d->changes.n; i++)
		cfg_buf_add(&b, "\n  \u2713 %s", d->changes.v[i]);
	if (d->nbots > 0)
		cfg_buf_add(&b, "\n**Bot reload needed:**");
	for (i = 0; i < d->nbots; i++) {
		for (j = 0; j < d->bots[i].texts.n; j++)
			cfg_buf_add(&b, "\n  \u26a0\ufe0f %s",
			    d->bots[i].texts.v[j]);
		cfg_buf_add(&b, "\n  \u2192 /reload bot %s", d->bots[i].key);
	}
	if (d->telemetry)
		cfg_buf_add(&b, "\n**Telemetry reload needed:**");
	if (d->restart.n > 0)
		cfg_buf_add(&b, "\n**Restart needed:**");
	for (i = 0; i < d->restart.n; i++)
		cfg_buf_add(&b, "\n  \u26a0\ufe0f %s", d->restart.v[i]);
	return (cfg_buf_take(&b));
}

void
cfg_diff_free(struct cfg_diff *d)
{
	size_t	i;

	if (d == NULL)
		return;
	cfg_sl_free(&d->changes);
	cfg_sl_free(&d->restart);
	for (i = 0; i < d->nbots; i++) {
		free(d->bots[i].key);
		cfg_sl_free(&d->bots[i].reasons);
		cfg_sl_free(&d->bots[i].texts);
	}
	free(d->bots);
	free(d);
}
