/*
 * cfg_diff: what changed between two loads of the config, classified as
 * upstream's reload does (applied live, restartNeeded) plus our
 * botReloadNeeded and telemetryReloadNeeded, and the /reload config reply.
 *
 * The diff compares two validated roots and nothing else: runtime state
 * (grace channels, discovered DMs, resolved handles) lives outside the
 * root, so reloading an unchanged file always reports nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_js.h"
#include "config.h"
#include "util.h"

struct cfg_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

/* ------------------------------------------------------------ text */

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

	os = cfg_js_dump(ov);
	ns = cfg_js_dump(nv);
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
	struct cfg_js_keys	 k = { NULL, 0 };
	json_t		*od, *nd, *ov, *nv;
	size_t		 i;

	od = cfg_defaults_merged(x->o->root);
	nd = cfg_defaults_merged(x->n->root);
	if (od == NULL || nd == NULL || cfg_js_keys(od, nd, &k) == -1)
		x->failed = 1;
	for (i = 0; !x->failed && i < k.n; i++) {
		ov = json_object_get(od, k.v[i]);
		nv = json_object_get(nd, k.v[i]);
		if (cfg_js_eq(ov, nv))
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
	if (!cfg_js_eq_opt(json_object_get(x->o->root, key),
	    json_object_get(x->n->root, key)))
		cfg_d_change(x, "%s", text);
}

static void
cfg_d_providers(struct cfg_dctx *x)
{
	struct cfg_js_keys	 k = { NULL, 0 };
	json_t		*op, *np, *a, *b;
	size_t		 i;

	op = json_object_get(x->o->root, "providers");
	np = json_object_get(x->n->root, "providers");
	if (cfg_js_keys(op, np, &k) == -1) {
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
		else if (!cfg_js_eq(a, b))
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
	struct cfg_js_keys	 k = { NULL, 0 };
	struct cfg_buf	 b = { NULL, 0, 0, 0 };
	size_t		 i;
	char		*s;

	if (cfg_js_keys(o, n, &k) == -1) {
		x->failed = 1;
		return;
	}
	for (i = 0; i < k.n; i++)
		if (!cfg_js_eq(json_object_get(o, k.v[i]),
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
		else if (!cfg_js_eq(och, nch))
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
	struct cfg_js_keys	 k = { NULL, 0 };
	json_t		*opl, *npl, *op, *np;
	size_t		 i;

	opl = json_object_get(x->o->root, "platforms");
	npl = json_object_get(x->n->root, "platforms");
	if (cfg_js_keys(npl, NULL, &k) == -1) {
		x->failed = 1;
		return;
	}
	for (i = 0; i < k.n; i++) {
		np = json_object_get(npl, k.v[i]);
		if ((op = json_object_get(opl, k.v[i])) == NULL)
			continue;
		if (!cfg_js_eq(json_object_get(op, "access"),
		    json_object_get(np, "access")))
			cfg_d_change(x, "platform \"%s\": access updated",
			    k.v[i]);
		if (!cfg_js_eq(json_object_get(op, "admins"),
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
	struct cfg_js_keys	 k = { NULL, 0 };
	size_t		 i;
	int		 same = 1;

	if (a == NULL || b == NULL)
		return (a == b);
	if (cfg_js_keys(a, b, &k) == -1)
		return (-1);
	for (i = 0; same && i < k.n; i++) {
		if (strcmp(k.v[i], "token") == 0 ||
		    strcmp(k.v[i], "appToken") == 0)
			continue;
		same = cfg_js_eq(json_object_get(a, k.v[i]),
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
		if (!cfg_js_eq(json_object_get(op, "apiUrl"),
		    json_object_get(np, "apiUrl")))
			cfg_d_bot(x, nb->key, "url",
			    "platform \"%s\": apiUrl changed", nb->platform);
	} else if (!cfg_js_eq(json_object_get(op, "url"),
	    json_object_get(np, "url")))
		cfg_d_bot(x, nb->key, "url", "platform \"%s\": URL changed",
		    nb->platform);
}

/* A bot in both: credentials and address mean a reload, the rest is live. */
static void
cfg_d_bot_both(struct cfg_dctx *x, const struct cfg_bot *ob,
    const struct cfg_bot *nb)
{
	json_t	*oo = ob->obj;
	json_t	*no = nb->obj;
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
		    log_level_name(o->log_level),
		    log_level_name(n->log_level));
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
	if (o->platform_concurrency != n->platform_concurrency)
		cfg_d_change(x, "reloadPlatformConcurrency: %d \u2192 %d",
		    o->platform_concurrency, n->platform_concurrency);
	if (o->auto_reload_bots != n->auto_reload_bots)
		cfg_d_change(x, "autoReloadBots: %s \u2192 %s",
		    o->auto_reload_bots ? "true" : "false",
		    n->auto_reload_bots ? "true" : "false");
	if (o->watch_mode != n->watch_mode)
		cfg_d_change(x, "watch: \"%s\" \u2192 \"%s\"",
		    pollwatch_mode_name(o->watch_mode),
		    pollwatch_mode_name(n->watch_mode));
	if (o->watch_interval_ms != n->watch_interval_ms)
		cfg_d_change(x, "watchIntervalMs: %d \u2192 %d",
		    o->watch_interval_ms, n->watch_interval_ms);
}

static void
cfg_d_misc(struct cfg_dctx *x)
{
	json_t	*ov, *nv;

	cfg_d_section(x, "session", "session config updated");
	ov = json_object_get(x->o->root, "logDir");
	nv = json_object_get(x->n->root, "logDir");
	if (!cfg_js_eq(ov, nv))
		cfg_d_value(x, "", "logDir", ov != NULL ? ov : json_null(),
		    nv != NULL ? nv : json_null());
	/* A falsy "database" means the built-in store, like an absent one. */
	ov = json_object_get(x->o->root, "database");
	nv = json_object_get(x->n->root, "database");
	if (!cfg_js_eq_opt(cfg_js_truthy(ov) ? ov : NULL,
	    cfg_js_truthy(nv) ? nv : NULL))
		cfg_d_change(x, "database config updated");
}

static void
cfg_d_restart(struct cfg_dctx *x)
{
	static const char *const keys[] = { "stateDir", "controlSocket" };
	size_t	 i;
	char	*s;

	for (i = 0; i < nitems(keys); i++) {
		if (cfg_js_eq(json_object_get(x->o->root, keys[i]),
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
	if (!cfg_js_eq_opt(json_object_get(oldc->root, "telemetry"),
	    json_object_get(newc->root, "telemetry"))) {
		cfg_d_change(&x, "telemetry config updated");
		x.d->telemetry = 1;
	}
	cfg_d_section(&x, "memory", "memory config updated");
	cfg_d_section(&x, "hooks", "hooks config updated");
	cfg_d_section(&x, "scheduler", "scheduler config updated");
	cfg_d_section(&x, "files", "files config updated");
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

