/*
 * policy: the decision on one permission request (docs/architecture.md
 * "Permissions").  Pure: no I/O, no globals; paths are compared lexically.
 * Shell commands are read by shell.c: what they run is its to find, what
 * is allowed is decided here.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"
#include "util.h"
#include "shell.h"
#include "policy.h"

/* ---- paths --------------------------------------------------------------- */

/*
 * s against dir when relative (dir NULL: s as if at the root), with ".",
 * ".." and repeated slashes resolved: "/" or "/a/b".  *up (if not NULL)
 * counts the ".." that went above the root.
 */
static char *
path_norm(const char *dir, const char *s, size_t *up)
{
	struct shell_buf	 b = { NULL, 0, 0 };
	const char		*part[2], *p, *e;
	size_t			 i, n;
	int			 err = 0;

	if (up != NULL)
		*up = 0;
	part[0] = s[0] != '/' && dir != NULL ? dir : "";
	part[1] = s;
	for (i = 0; i < 2 && !err; i++) {
		for (p = part[i]; *p != '\0' && !err; p = e) {
			while (*p == '/')
				p++;
			if ((e = strchr(p, '/')) == NULL)
				e = p + strlen(p);
			n = (size_t)(e - p);
			if (n == 0 || (n == 1 && p[0] == '.'))
				continue;
			if (n == 2 && p[0] == '.' && p[1] == '.') {
				if (b.n == 0 && up != NULL)
					(*up)++;
				while (b.n > 0 && b.b[--b.n] != '/')
					;
				if (b.b != NULL)
					b.b[b.n] = '\0';
				continue;
			}
			err = shell_buf_addc(&b, '/') == -1 ||
			    shell_buf_add(&b, p, n) == -1;
		}
	}
	if (!err && b.n == 0)
		err = shell_buf_addc(&b, '/') == -1;
	if (err) {
		free(b.b);
		return (NULL);
	}
	return (b.b);
}

/* Is path (normalised) root or inside it? */
static int
path_inside(const char *path, const char *root)
{
	size_t	n = strlen(root);

	if (strcmp(root, "/") == 0)
		return (1);
	return (strncmp(path, root, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/'));
}

/* ---- hard-coded denies --------------------------------------------------- */

enum hard_rule {
	HD_LAUNCHCTL, HD_RM_ROOT, HD_RM_HOME, HD_MKFS, HD_DD, HD_FORKBOMB,
	HD_CHMOD, HD_CHOWN, HD_NRULES
};

static const struct {
	const char	*spec, *reason;
} hard_rules[HD_NRULES] = {
	[HD_LAUNCHCTL] = { "shell(launchctl unload)",
	    "unloading a launchd service is never allowed" },
	[HD_RM_ROOT] = { "shell(rm -rf /)",
	    "recursive forced removal of / is never allowed" },
	[HD_RM_HOME] = { "shell(rm -rf ~)",
	    "recursive forced removal of the home directory is never allowed" },
	[HD_MKFS] = { "shell(mkfs)", "making a file system is never allowed" },
	[HD_DD] = { "shell(dd … of=/dev/*)",
	    "dd onto a device is never allowed" },
	[HD_FORKBOMB] = { "shell(:(){ :|:& };:)",
	    "a fork bomb is never allowed" },
	[HD_CHMOD] = { "shell(chmod -R / /etc /usr /var ~)",
	    "recursive chmod of a system or home directory is never allowed" },
	[HD_CHOWN] = { "shell(chown -R / /etc /usr /var ~)",
	    "recursive chown of a system or home directory is never allowed" },
};

enum { T_OTHER, T_ROOT, T_HOME, T_SYS, T_ERR };

/*
 * What a target of rm, chmod or chown is: the root or all in it ("/",
 * "/" followed by "*", after resolving "." and ".."), the home directory,
 * all in it or an ancestor of it (~, ~/, ~user, $HOME, ${HOME}), a system
 * tree (/etc /usr /var and below), or anything else.
 */
static int
target_class(const char *t)
{
	const char	*r;
	char		*n;
	size_t		 up;
	int		 home = 0, cls = T_OTHER;

	if (t[0] == '~') {
		home = 1;
		if ((r = strchr(t, '/')) == NULL)
			return (T_HOME);
	} else if (strncmp(t, "$HOME", 5) == 0 && !shell_is_ident(t[5])) {
		home = 1;
		r = t + 5;
	} else if (strncmp(t, "${HOME}", 7) == 0) {
		home = 1;
		r = t + 7;
	} else if (t[0] == '/')
		r = t;
	else
		return (T_OTHER);
	if (*r != '\0' && *r != '/')
		return (T_OTHER);
	if ((n = path_norm(NULL, r, &up)) == NULL)
		return (T_ERR);
	if (strcmp(n, "/") == 0 ||
	    (up == 0 && strspn(n + 1, "*") == strlen(n + 1)))
		cls = home ? T_HOME : T_ROOT;
	else if (!home && (path_inside(n, "/etc") || path_inside(n, "/usr") ||
	    path_inside(n, "/var")))
		cls = T_SYS;
	free(n);
	return (cls);
}

#define BRACE_MAX	64	/* words one brace expansion may give */

/*
 * The classes of what brace expansion makes of t: {/,x} is "/" and "x".
 * Quotes are gone by now, so a quoted brace counts too (a check too
 * many).  *n counts the words made so far.
 */
static int
brace_expand(const char *t, int cls[T_ERR + 1], size_t *n)
{
	const char	*a, *b, *alt, *e;
	char		*w;
	size_t		 pre;
	int		 d, comma, rc = 0;

	for (a = strchr(t, '{'); a != NULL; a = strchr(a + 1, '{')) {
		for (d = 0, comma = 0, b = a; *b != '\0'; b++) {
			d += *b == '{' ? 1 : *b == '}' ? -1 : 0;
			comma |= d == 1 && *b == ',';
			if (d == 0)
				break;
		}
		if (*b == '}' && comma)
			break;
	}
	if (a == NULL) {
		if (++*n > BRACE_MAX)
			return (-1);
		if ((d = target_class(t)) == T_ERR)
			return (-1);
		cls[d] = 1;
		return (0);
	}
	pre = (size_t)(a - t);
	for (alt = a + 1; alt <= b && rc == 0; alt = e + 1) {
		for (d = 0, e = alt; e < b && (d > 0 || *e != ','); e++)
			d += *e == '{' ? 1 : *e == '}' ? -1 : 0;
		if (asprintf(&w, "%.*s%.*s%s", (int)pre, t, (int)(e - alt),
		    alt, b + 1) == -1)
			return (-1);
		rc = brace_expand(w, cls, n);
		free(w);
	}
	return (rc);
}

static int
brace_classes(const char *t, int cls[T_ERR + 1])
{
	size_t	n = 0;

	return (brace_expand(t, cls, &n));
}

/* Is w (after "--") a spelling of long option opt? GNU takes prefixes. */
static int
long_opt(const char *w, const char *opt)
{
	size_t	n = strcspn(w + 2, "=");

	return (w[0] == '-' && w[1] == '-' && n > 0 && n <= strlen(opt) &&
	    strncmp(w + 2, opt, n) == 0);
}

/* Flags of a command whose options may come anywhere before "--". */
struct flags {
	int	rec, force;
	int	cls[T_ERR + 1];		/* targets seen, by class */
};

static void
scan_flags(char *const *argv, size_t argc, const char *rec_short,
    struct flags *f)
{
	size_t	j;
	int	opts = 1;

	memset(f, 0, sizeof(*f));
	for (j = 1; j < argc; j++) {
		if (opts && strcmp(argv[j], "--") == 0) {
			opts = 0;
			continue;
		}
		if (opts && argv[j][0] == '-' && argv[j][1] == '-') {
			f->rec |= long_opt(argv[j], "recursive");
			f->force |= long_opt(argv[j], "force");
			continue;
		}
		if (opts && shell_is_opt(argv[j])) {
			f->rec |= strpbrk(argv[j] + 1, rec_short) != NULL;
			f->force |= strchr(argv[j] + 1, 'f') != NULL;
			continue;
		}
		if (brace_classes(argv[j], f->cls) == -1)
			f->cls[T_ERR] = 1;
	}
}

/* Does of= name a device?  Output that is thrown away is not. */
static int
dd_device(const char *t)
{
	char	*n;
	int	 dev;

	if (t[0] != '/' || (n = path_norm(NULL, t, NULL)) == NULL)
		return (t[0] == '/');
	dev = strncmp(n, "/dev/", 5) == 0 && !shell_harmless_sink(n);
	free(n);
	return (dev);
}

/* The rule a command breaks (after unwrapping), HD_NRULES if none. */
static int
hard_check(char *const *argv, size_t argc, const char *name)
{
	struct flags	f;
	size_t		j;

	if (strcmp(name, "launchctl") == 0) {
		for (j = 1; j < argc; j++)
			if (strcmp(argv[j], "unload") == 0 ||
			    strcmp(argv[j], "bootout") == 0)
				return (HD_LAUNCHCTL);
	} else if (strcmp(name, "rm") == 0) {
		scan_flags(argv, argc, "rR", &f);
		if (f.rec && f.force && (f.cls[T_ROOT] || f.cls[T_ERR]))
			return (HD_RM_ROOT);
		if (f.rec && f.force && f.cls[T_HOME])
			return (HD_RM_HOME);
	} else if (strncmp(name, "mkfs", 4) == 0 ||
	    strcmp(name, "mke2fs") == 0)
		return (HD_MKFS);
	else if (strcmp(name, "dd") == 0) {
		for (j = 1; j < argc; j++)
			if (strncmp(argv[j], "of=", 3) == 0 &&
			    dd_device(argv[j] + 3))
				return (HD_DD);
	} else if (strcmp(name, "chmod") == 0 || strcmp(name, "chown") == 0 ||
	    strcmp(name, "chgrp") == 0) {
		scan_flags(argv, argc, "R", &f);
		if (f.rec && (f.cls[T_ROOT] || f.cls[T_HOME] || f.cls[T_SYS] ||
		    f.cls[T_ERR]))
			return (name[2] == 'm' ? HD_CHMOD : HD_CHOWN);
	}
	return (HD_NRULES);
}

static int
hard_visit(void *arg, struct shell_ctx *ctx, char *const *argv,
    size_t argc, const struct shell_cmd *c, const char *name)
{
	int	*rule = arg;

	*rule = hard_check(argv, argc, name);
	/* rm, chmod, ... read all their words: charge them */
	if (*rule == HD_NRULES && (strcmp(name, "rm") == 0 ||
	    strncmp(name, "ch", 2) == 0 || strcmp(name, "dd") == 0 ||
	    strcmp(name, "launchctl") == 0) && shell_charge(ctx, argc) == -1)
		return (-1);
	return (*rule != HD_NRULES);
}

static int
name_char(char c)
{
	return (c != '\0' && !shell_is_meta(c) && c != '{' && c != '}');
}

/*
 * A function that pipes itself into itself in the background: NAME() {
 * ... NAME | NAME & ... }, any name and spacing (:(){ :|:& };:).
 */
static int
hard_forkbomb(void *arg, struct shell_ctx *ctx, const char *s, size_t len)
{
	int		*rule = arg;
	const char	*body, *end, *q;
	size_t		 i, k, e, j, n;

	for (i = 0; i < len; i++) {
		if (s[i] != '(')
			continue;
		for (e = i; e > 0 && shell_is_blank(s[e - 1]); e--)
			;
		for (k = e; k > 0 && name_char(s[k - 1]); k--)
			;
		if ((n = e - k) == 0)
			continue;
		for (j = i + 1; j < len && shell_is_blank(s[j]); j++)
			;
		if (j >= len || s[j] != ')')
			continue;
		for (j++; j < len && (shell_is_blank(s[j]) || s[j] == '\n');
		    j++)
			;
		if (j >= len || (s[j] != '{' && s[j] != '('))
			continue;
		body = s + j + 1;
		end = s + len;
		if ((q = memchr(body, s[j] == '{' ? '}' : ')',
		    (size_t)(end - body))) != NULL)
			end = q;
		if (shell_charge(ctx, (size_t)(end - body)) == -1)
			return (-1);
		if (memchr(body, '&', (size_t)(end - body)) == NULL)
			continue;
		for (q = body; q + n <= end; q++) {
			if (memcmp(q, s + k, n) != 0 ||
			    (q > body && name_char(q[-1])))
				continue;
			for (j = n; q + j < end && shell_is_blank(q[j]); j++)
				;
			if (q + j >= end || q[j] != '|')
				continue;
			for (j++; q + j < end && shell_is_blank(q[j]); j++)
				;
			if (q + j + n <= end && memcmp(q + j, s + k, n) == 0 &&
			    (q + j + n == end || !name_char(q[j + n]))) {
				*rule = HD_FORKBOMB;
				return (1);
			}
		}
	}
	return (0);
}

static void
decision(struct policy_decision *d, enum policy_verdict v,
    enum policy_source src, const char *reason, const char *rule)
{
	size_t	n;

	d->verdict = v;
	d->source = src;
	d->reason = reason;
	n = rule != NULL ? utf8_cut_bytes(rule, strlen(rule),
	    sizeof(d->rule) - 1) : 0;
	memcpy(d->rule, rule != NULL ? rule : "", n);
	d->rule[n] = '\0';
}

static void
unchecked(struct policy_decision *d, enum policy_source src,
    enum shell_error err)
{
	decision(d, POLICY_DENY, src, err == SHELL_ENOMEM ?
	    "out of memory while checking the command" :
	    "the command is too complex to check", "(unchecked)");
}

int
policy_hard_deny(const char *command, struct policy_decision *d)
{
	enum shell_error	err;
	int			rule = HD_NRULES, rc;

	decision(d, POLICY_ASK, POLICY_SRC_NONE, NULL, NULL);
	if (command == NULL)
		return (0);
	rc = shell_walk(command, 1, hard_visit, hard_forkbomb, &rule, &err);
	if (rc == -1) {
		unchecked(d, POLICY_SRC_HARD, err);
		return (1);
	}
	if (rc == 0)
		return (0);
	decision(d, POLICY_DENY, POLICY_SRC_HARD, hard_rules[rule].reason,
	    hard_rules[rule].spec);
	return (1);
}

const char *
policy_hard_rule(size_t i)
{
	return (i < HD_NRULES ? hard_rules[i].spec : NULL);
}

/* ---- URLs ---------------------------------------------------------------- */

#define HOST_MAX	256

/*
 * A host name, lowercase, without a trailing dot and with no empty label;
 * an IPv6 literal without its brackets.  -1 if it is neither.
 */
static int
host_norm(const char *h, size_t n, char out[HOST_MAX])
{
	size_t	i;

	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
		if (n == 0 || n >= HOST_MAX ||
		    strspn(h, "0123456789abcdefABCDEF:.") < n)
			return (-1);
		for (i = 0; i < n; i++)
			out[i] = (char)tolower((unsigned char)h[i]);
		out[n] = '\0';
		return (strchr(out, ':') != NULL ? 0 : -1);
	}
	if (n > 0 && h[n - 1] == '.')
		n--;
	if (n == 0 || n >= HOST_MAX || h[0] == '.')
		return (-1);
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' &&
		    h[i] != '_' && h[i] != '.')
			return (-1);
		if (h[i] == '.' && h[i + 1] == '.')
			return (-1);
		out[i] = (char)tolower((unsigned char)h[i]);
	}
	out[n] = '\0';
	return (0);
}

/*
 * The host of an http(s) URL.  -1 for another scheme, or anything a
 * browser-style parser might read differently (whitespace, control
 * characters, backslashes, percent-encoding in the host, two "@").
 */
static int
url_host(const char *url, char out[HOST_MAX])
{
	const char	*a, *e, *at, *h, *colon;
	size_t		 i;

	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f ||
		    url[i] == '\\')
			return (-1);
	if (strncasecmp(url, "http://", 7) == 0)
		a = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		a = url + 8;
	else
		return (-1);
	e = a + strcspn(a, "/?#");
	h = a;
	if ((at = memchr(a, '@', (size_t)(e - a))) != NULL) {
		if (memchr(at + 1, '@', (size_t)(e - at - 1)) != NULL)
			return (-1);
		h = at + 1;
	}
	if (*h == '[') {
		if ((colon = memchr(h, ']', (size_t)(e - h))) == NULL)
			return (-1);
		colon++;
		if (colon < e && *colon != ':')
			return (-1);
	} else if ((colon = memchr(h, ':', (size_t)(e - h))) == NULL)
		colon = e;
	if (colon < e && strspn(colon + 1, "0123456789") !=
	    (size_t)(e - colon - 1))
		return (-1);
	return (host_norm(h, (size_t)(colon - h), out));
}

/* host is entry or a subdomain of it (not for IP addresses). */
static int
host_match(const char *host, const char *entry)
{
	size_t	hl = strlen(host), el = strlen(entry);

	if (strcmp(host, entry) == 0)
		return (1);
	if (strchr(entry, ':') != NULL ||
	    strspn(entry, "0123456789.") == el)
		return (0);
	return (hl > el && host[hl - el - 1] == '.' &&
	    strcmp(host + hl - el, entry) == 0);
}

/* ---- the config's rules -------------------------------------------------- */

enum rule_kind { K_SHELL, K_READ, K_WRITE, K_URL, K_OTHER };

struct crule {
	char		*spec;		/* as written, trimmed */
	char		*kind;
	enum rule_kind	 k;
	char		*arg;		/* NULL: the whole kind */
	char		**words;	/* shell: the command's words */
	size_t		 nwords;
	char		*path;		/* read, write: normalised */
	char		 host[HOST_MAX]; /* url */
};

struct policy_config {
	struct crule	*rules[2];	/* deny, allow */
	size_t		 nrules[2];
	char		**paths;	/* allowPaths, normalised */
	size_t		 npaths;
	char		(*hosts)[HOST_MAX]; /* allowUrls */
	size_t		 nhosts;
	char		*home;
};

enum { DENY, ALLOW };

static void
crule_clear(struct crule *r)
{
	free(r->spec);
	free(r->kind);
	free(r->arg);
	shell_strv_free(r->words, r->nwords);
	free(r->path);
}

void
policy_config_free(struct policy_config *cfg)
{
	size_t	i, j;

	if (cfg == NULL)
		return;
	for (i = 0; i < 2; i++) {
		for (j = 0; j < cfg->nrules[i]; j++)
			crule_clear(&cfg->rules[i][j]);
		free(cfg->rules[i]);
	}
	shell_strv_free(cfg->paths, cfg->npaths);
	free(cfg->hosts);
	free(cfg->home);
	free(cfg);
}

static char *
trimdup(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return (strndup(s, n));
}

/* "~", "~/x" against home; an absolute path; else NULL with *bad set. */
static char *
abs_path(const char *p, const char *home, int *bad)
{
	*bad = 0;
	if (p[0] == '~' && (p[1] == '\0' || p[1] == '/')) {
		if (home == NULL || home[0] != '/') {
			*bad = 1;
			return (NULL);
		}
		return (path_norm(home, p[1] == '/' ? p + 2 : "", NULL));
	}
	if (p[0] != '/') {
		*bad = 1;
		return (NULL);
	}
	return (path_norm(NULL, p, NULL));
}

/* A shell rule's argument: one simple command, its words. */
static int
crule_words(struct crule *r)
{
	struct shell_ctx	 ctx = { SHELL_BUDGET(strlen(r->arg)),
	    SHELL_OK };
	struct shell_list	 l;
	struct shell_cmd	*c;

	if (shell_lex(&ctx, r->arg, strlen(r->arg), &l) == -1)
		return (ctx.error == SHELL_ENOMEM ? -2 : -1);
	/* No command at all leaves l.cmd NULL. */
	if (l.ncmd != 1 || l.nsub != 0 || l.cmd[0].argc == 0 ||
	    l.cmd[0].ninput != 0 || l.cmd[0].writes) {
		shell_list_clear(&l);
		return (-1);
	}
	c = &l.cmd[0];
	r->words = c->argv;
	r->nwords = c->argc;
	c->argv = NULL;
	c->argc = 0;
	shell_list_clear(&l);
	return (0);
}

/* An allowUrls entry or url() argument: a host, or a URL's host. */
static int
host_entry(const char *e, char out[HOST_MAX])
{
	if (strstr(e, "://") != NULL)
		return (url_host(e, out));
	return (host_norm(e, strlen(e), out));
}

/* The argument of kind(arg), by kind: NULL or the problem with it. */
static const char *
crule_arg(struct crule *r, const char *home, int *oom)
{
	int	bad, rc;

	switch (r->k) {
	case K_SHELL:
		if ((rc = crule_words(r)) == -2)
			break;
		return (rc == -1 ? "shell() takes one simple command, without "
		    "; | & ( ) < > or substitutions" : NULL);
	case K_READ:
	case K_WRITE:
		if ((r->path = abs_path(r->arg, home, &bad)) == NULL && !bad)
			break;
		return (bad ? "the path must be absolute (or ~/..., with a "
		    "home directory)" : NULL);
	case K_URL:
		return (host_entry(r->arg, r->host) == -1 ? "url() takes a "
		    "host name, without port or path" : NULL);
	default:
		return (NULL);
	}
	*oom = 1;
	return ("out of memory");
}

/*
 * "kind" or "kind(arg)".  Returns NULL or the problem with it; -1 from
 * *oom when out of memory.
 */
static const char *
crule_parse(struct crule *r, const char *spec, const char *home, int *oom)
{
	const char	*lp;
	char		*t;
	size_t		 n;

	*oom = 0;
	memset(r, 0, sizeof(*r));
	if ((r->spec = t = trimdup(spec, strlen(spec))) == NULL)
		goto nomem;
	if (*t == '\0')
		return ("empty rule");
	if ((lp = strchr(t, '(')) == NULL) {
		if (strchr(t, ')') != NULL)
			return ("\")\" without \"(\"");
		r->kind = strdup(t);
	} else {
		n = strlen(t);
		if (t[n - 1] != ')')
			return ("no closing \")\"");
		r->kind = trimdup(t, (size_t)(lp - t));
		if (r->kind != NULL &&
		    (r->arg = trimdup(lp + 1, n - 2 - (size_t)(lp - t))) == NULL)
			goto nomem;
	}
	if (r->kind == NULL)
		goto nomem;
	if (r->kind[0] == '\0')
		return ("no kind before \"(\"");
	for (t = r->kind; *t != '\0'; t++)
		if (isspace((unsigned char)*t) || *t == ')')
			return ("a kind is one word");
	if (r->arg != NULL && r->arg[0] == '\0')
		return ("empty \"()\"");
	r->k = strcmp(r->kind, "shell") == 0 ? K_SHELL :
	    strcmp(r->kind, "read") == 0 ? K_READ :
	    strcmp(r->kind, "write") == 0 ? K_WRITE :
	    strcmp(r->kind, "url") == 0 ? K_URL : K_OTHER;
	return (r->arg != NULL ? crule_arg(r, home, oom) : NULL);
nomem:
	*oom = 1;
	return ("out of memory");
}

/* Quote a config entry in an error message, cut to a sane length. */
static int
entry_err(char *err, size_t errlen, const char *list, size_t i,
    const char *entry, const char *why)
{
	size_t	n = utf8_cut_bytes(entry, strlen(entry), 80);

	return (util_err(err, errlen, "permissions.%s[%zu] \"%.*s%s\": %s",
	    list, i, (int)n, entry, entry[n] != '\0' ? "…" : "", why));
}

static const json_t *
string_list(const json_t *perm, const char *key, char *err, size_t errlen,
    int *bad)
{
	const json_t	*a = json_object_get(perm, key), *v;
	size_t		 i;

	*bad = 0;
	if (a == NULL || json_is_null(a))
		return (NULL);
	if (!json_is_array(a)) {
		*bad = 1;
		util_err(err, errlen, "permissions.%s must be an array of "
		    "strings", key);
		return (NULL);
	}
	json_array_foreach(a, i, v)
		if (!json_is_string(v)) {
			*bad = 1;
			util_err(err, errlen, "permissions.%s[%zu] must be a "
			    "string", key, i);
			return (NULL);
		}
	return (a);
}

static int
parse_rules(struct policy_config *cfg, const json_t *perm, int which,
    char *err, size_t errlen)
{
	static const char *const names[2] = { "deny", "allow" };
	const json_t	*a, *v;
	struct crule	*r;
	const char	*why;
	size_t		 i, cap = 0;
	int		 bad, oom;

	if ((a = string_list(perm, names[which], err, errlen, &bad)) == NULL)
		return (bad ? -1 : 0);
	json_array_foreach(a, i, v) {
		if (shell_grow(&cfg->rules[which], &cap, cfg->nrules[which],
		    sizeof(*r)) == -1)
			return (util_err(err, errlen, "out of memory"));
		r = &cfg->rules[which][cfg->nrules[which]++];
		if ((why = crule_parse(r, json_string_value(v), cfg->home,
		    &oom)) != NULL)
			return (oom ? util_err(err, errlen, "out of memory") :
			    entry_err(err, errlen, names[which], i,
			    json_string_value(v), why));
	}
	return (0);
}

static int
parse_paths(struct policy_config *cfg, const json_t *perm, char *err,
    size_t errlen)
{
	const json_t	*a, *v;
	size_t		 i, cap = 0;
	char		*p;
	int		 bad;

	if ((a = string_list(perm, "allowPaths", err, errlen, &bad)) == NULL)
		return (bad ? -1 : 0);
	json_array_foreach(a, i, v) {
		p = abs_path(json_string_value(v), cfg->home, &bad);
		if (bad)
			return (entry_err(err, errlen, "allowPaths", i,
			    json_string_value(v), "the path must be absolute "
			    "(or ~/..., with a home directory)"));
		if (shell_strv_push(&cfg->paths, &cfg->npaths, &cap, p) == -1)
			return (util_err(err, errlen, "out of memory"));
	}
	return (0);
}

static int
parse_hosts(struct policy_config *cfg, const json_t *perm, char *err,
    size_t errlen)
{
	const json_t	*a, *v;
	size_t		 i, cap = 0;
	int		 bad;

	if ((a = string_list(perm, "allowUrls", err, errlen, &bad)) == NULL)
		return (bad ? -1 : 0);
	json_array_foreach(a, i, v) {
		if (shell_grow(&cfg->hosts, &cap, cfg->nhosts, HOST_MAX) == -1)
			return (util_err(err, errlen, "out of memory"));
		if (host_entry(json_string_value(v),
		    cfg->hosts[cfg->nhosts++]) == -1)
			return (entry_err(err, errlen, "allowUrls", i,
			    json_string_value(v), "not a host name (a host "
			    "covers its subdomains; no port, path or *)"));
	}
	return (0);
}

struct policy_config *
policy_config_parse(const json_t *perm, const char *home, char *err,
    size_t errlen)
{
	struct policy_config	*cfg;

	if (perm != NULL && !json_is_null(perm) && !json_is_object(perm)) {
		util_err(err, errlen, "permissions must be an object");
		return (NULL);
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (home != NULL && (cfg->home = strdup(home)) == NULL)) {
		util_err(err, errlen, "out of memory");
		policy_config_free(cfg);
		return (NULL);
	}
	if (perm != NULL && (parse_rules(cfg, perm, DENY, err, errlen) == -1 ||
	    parse_rules(cfg, perm, ALLOW, err, errlen) == -1 ||
	    parse_paths(cfg, perm, err, errlen) == -1 ||
	    parse_hosts(cfg, perm, err, errlen) == -1)) {
		policy_config_free(cfg);
		return (NULL);
	}
	return (cfg);
}

/* ---- evaluating a request ------------------------------------------------ */

static int
kind_is(const struct policy_request *req, const char *kind)
{
	return (req->kind != NULL && strcmp(req->kind, kind) == 0);
}

/*
 * The request's paths, absolute and normalised: path, then resolved_path.
 * A relative one is against the working directory; one that cannot be
 * resolved (~user, relative without a directory) makes the set unusable.
 */
struct rpaths {
	char	*p[2];
	size_t	 n;
	int	 unusable;
	int	 oom;
};

static void
rpaths_get(const struct policy_request *req, const char *home,
    struct rpaths *rp)
{
	const char	*src[2] = { req->path, req->resolved_path }, *s;
	const char	*cwd = req->cwd != NULL && req->cwd[0] == '/' ?
			    req->cwd : NULL;
	size_t		 i;
	int		 bad;

	memset(rp, 0, sizeof(*rp));
	for (i = 0; i < 2; i++) {
		if ((s = src[i]) == NULL || *s == '\0')
			continue;
		if (s[0] == '~' || s[0] == '/')
			rp->p[rp->n] = abs_path(s, home, &bad);
		else if (cwd != NULL) {
			rp->p[rp->n] = path_norm(cwd, s, NULL);
			bad = 0;
		} else
			bad = 1;
		if (bad)
			rp->unusable = 1;
		else if (rp->p[rp->n] == NULL)
			rp->oom = rp->unusable = 1;
		else
			rp->n++;
	}
}

static void
rpaths_free(struct rpaths *rp)
{
	free(rp->p[0]);
	free(rp->p[1]);
}

/* Inside root: any of the paths (any), or all of them (all). */
static int
rpaths_inside(const struct rpaths *rp, const char *root, int any)
{
	size_t	i, in = 0;

	for (i = 0; i < rp->n; i++)
		in += path_inside(rp->p[i], root);
	return (any ? in > 0 : !rp->unusable && rp->n > 0 && in == rp->n);
}

/* Do the rule's words start the command's (name for argv[0] as well)? */
static int
words_match(const struct crule *r, char *const *argv, size_t argc,
    const char *name)
{
	size_t	i;

	if (r->nwords > argc)
		return (0);
	if (strcmp(r->words[0], argv[0]) != 0 &&
	    (name == NULL || strcmp(r->words[0], name) != 0))
		return (0);
	for (i = 1; i < r->nwords; i++)
		if (strcmp(r->words[i], argv[i]) != 0)
			return (0);
	return (1);
}

/* The first shell(CMD) deny rule that any command run matches. */
struct dmatch {
	const struct policy_config	*cfg;
	size_t				 first;	/* nrules[DENY]: none */
};

static int
deny_visit(void *arg, struct shell_ctx *ctx, char *const *argv,
    size_t argc, const struct shell_cmd *c, const char *name)
{
	struct dmatch		*m = arg;
	const struct crule	*r;
	size_t			 i;

	if (shell_charge(ctx, m->first) == -1)
		return (-1);
	for (i = 0; i < m->first; i++) {
		r = &m->cfg->rules[DENY][i];
		if (r->k == K_SHELL && r->arg != NULL &&
		    words_match(r, argv, argc, name)) {
			m->first = i;
			break;
		}
	}
	return (m->first == 0);		/* nothing comes before the first */
}

/*
 * Does a rule that is not shell(command) cover the request: its whole
 * kind, an MCP server or one of its tools, a path, a host.  For a path,
 * a deny needs any of the request's paths inside, an allow all of them.
 */
static int
crule_match(const struct crule *r, const struct policy_request *req,
    const struct rpaths *rp, int which)
{
	char	host[HOST_MAX];

	if (kind_is(req, "mcp") && req->server != NULL &&
	    strcmp(r->kind, req->server) == 0)
		return (r->arg == NULL || (req->tool != NULL &&
		    strcmp(r->arg, req->tool) == 0));
	if (!kind_is(req, r->kind))
		return (0);
	if (r->arg == NULL)
		return (1);
	switch (r->k) {
	case K_READ:
	case K_WRITE:
		return (rpaths_inside(rp, r->path, which == DENY));
	case K_URL:
		return (req->url != NULL && url_host(req->url, host) == 0 &&
		    host_match(host, r->host));
	case K_OTHER:
		return (req->tool != NULL && strcmp(r->arg, req->tool) == 0);
	default:
		return (0);
	}
}

static const char *const admin_shell[] = { "cp", "mkdir", "curl",
    "launchctl", "mv", "touch", "chmod" };

/* Is every command of a shell request allowed, each by some rule? */
struct sallow {
	const struct policy_config	*cfg;
	int				 admin;
	size_t				 ncmd;
	unsigned char			*used;	/* allow rules that matched */
	int				 by_admin;
};

static int
sallow_visit(void *arg, struct shell_ctx *ctx, char *const *argv,
    size_t argc, const struct shell_cmd *c, const char *name)
{
	struct sallow		*sa = arg;
	const struct crule	*r;
	size_t			 i;

	if (argc == 0)
		return (c->writes);
	sa->ncmd++;
	/* FOO=1 cmd and cmd > file are not what a rule for cmd allows. */
	if (c->writes || shell_is_assign(argv[0]))
		return (1);
	for (i = 0; sa->cfg != NULL && i < sa->cfg->nrules[ALLOW]; i++) {
		r = &sa->cfg->rules[ALLOW][i];
		if (r->k == K_SHELL && r->arg != NULL &&
		    words_match(r, argv, argc, NULL)) {
			sa->used[i] = 1;
			return (0);
		}
	}
	if (sa->admin && shell_in_set(argv[0], admin_shell,
	    nitems(admin_shell))) {
		sa->by_admin = 1;
		return (0);
	}
	return (1);
}

/* "shell(a), shell(b)": the rules that allowed. */
static void
used_rules(const struct sallow *sa, char *buf, size_t len)
{
	size_t	i, n = 0;

	buf[0] = '\0';
	for (i = 0; sa->cfg != NULL && i < sa->cfg->nrules[ALLOW]; i++)
		if (sa->used[i])
			n += (size_t)snprintf(buf + (n < len ? n : len - 1),
			    n < len ? len - n : 1, "%s%s", n > 0 ? ", " : "",
			    sa->cfg->rules[ALLOW][i].spec);
	if (sa->by_admin)
		(void)snprintf(buf + (n < len ? n : len - 1),
		    n < len ? len - n : 1, "%s%s", n > 0 ? ", " : "",
		    "admin bot shell commands");
}

static enum policy_verdict
config_shell_allow(const struct policy_config *cfg,
    const struct policy_request *req, struct policy_decision *d)
{
	struct sallow		sa;
	enum shell_error	err;
	char			rules[POLICY_RULE_MAX * 2];
	int			rc;

	memset(&sa, 0, sizeof(sa));
	sa.cfg = cfg;
	sa.admin = req->admin;
	if ((sa.used = calloc((cfg != NULL ? cfg->nrules[ALLOW] : 0) + 1,
	    1)) == NULL) {
		unchecked(d, POLICY_SRC_CONFIG, SHELL_ENOMEM);
		return (POLICY_DENY);
	}
	rc = shell_walk(req->command, 0, sallow_visit, NULL, &sa, &err);
	if (rc == 0 && sa.ncmd > 0) {
		used_rules(&sa, rules, sizeof(rules));
		decision(d, POLICY_ALLOW, POLICY_SRC_CONFIG,
		    "allowed by the config", rules);
	}
	free(sa.used);
	return (d->verdict);
}

/*
 * Which shell(CMD) deny rule comes first among those matching what the
 * command may run: one walk for them all.  -1 if it cannot be read.
 */
static int
config_shell_deny(const struct policy_config *cfg,
    const struct policy_request *req, size_t *first,
    struct policy_decision *d)
{
	struct dmatch		m = { cfg, cfg->nrules[DENY] };
	enum shell_error	err;
	size_t			i;

	*first = cfg->nrules[DENY];
	for (i = 0; i < cfg->nrules[DENY]; i++)
		if (cfg->rules[DENY][i].k == K_SHELL &&
		    cfg->rules[DENY][i].arg != NULL)
			break;
	if (i == cfg->nrules[DENY] || req->command == NULL ||
	    !kind_is(req, "shell"))
		return (0);
	if (shell_walk(req->command, 1, deny_visit, NULL, &m, &err) == -1) {
		unchecked(d, POLICY_SRC_CONFIG, err);
		return (-1);
	}
	*first = m.first;
	return (0);
}

/* read/write inside the working directory or an allowed path. */
static enum policy_verdict
config_paths(const struct policy_config *cfg,
    const struct policy_request *req, const struct rpaths *rp,
    struct policy_decision *d)
{
	const char *const	*wp;
	char			*cwd, buf[POLICY_RULE_MAX];
	size_t			 i;
	int			 in;

	if (req->cwd != NULL && req->cwd[0] == '/') {
		if ((cwd = path_norm(NULL, req->cwd, NULL)) == NULL) {
			unchecked(d, POLICY_SRC_CONFIG, SHELL_ENOMEM);
			return (POLICY_DENY);
		}
		in = rpaths_inside(rp, cwd, 0);
		free(cwd);
		if (in) {
			decision(d, POLICY_ALLOW, POLICY_SRC_CONFIG,
			    "inside the working directory", "workingDirectory");
			return (POLICY_ALLOW);
		}
	}
	for (wp = req->workspace_paths; wp != NULL && *wp != NULL; wp++) {
		if ((*wp)[0] != '/' || (cwd = path_norm(NULL, *wp, NULL)) ==
		    NULL)
			continue;
		in = rpaths_inside(rp, cwd, 0);
		free(cwd);
		if (in) {
			snprintf(buf, sizeof(buf), "workspace allowPaths: %s",
			    *wp);
			decision(d, POLICY_ALLOW, POLICY_SRC_CONFIG,
			    "inside the workspace's allowed paths", buf);
			return (POLICY_ALLOW);
		}
	}
	for (i = 0; cfg != NULL && i < cfg->npaths; i++)
		if (rpaths_inside(rp, cfg->paths[i], 0)) {
			snprintf(buf, sizeof(buf), "allowPaths: %s",
			    cfg->paths[i]);
			decision(d, POLICY_ALLOW, POLICY_SRC_CONFIG,
			    "inside allowPaths", buf);
			return (POLICY_ALLOW);
		}
	return (POLICY_ASK);
}

enum policy_verdict
policy_config_eval(const struct policy_config *cfg,
    const struct policy_request *req, struct policy_decision *d)
{
	const struct crule	*r;
	struct rpaths		 rp;
	char			 host[HOST_MAX], buf[POLICY_RULE_MAX];
	size_t			 i, first;
	int			 shell = kind_is(req, "shell");

	decision(d, POLICY_ASK, POLICY_SRC_NONE, NULL, NULL);
	rpaths_get(req, cfg != NULL ? cfg->home : NULL, &rp);
	if (rp.oom) {
		rpaths_free(&rp);
		unchecked(d, POLICY_SRC_CONFIG, SHELL_ENOMEM);
		return (POLICY_DENY);
	}
	if (cfg != NULL && config_shell_deny(cfg, req, &first, d) == -1) {
		rpaths_free(&rp);
		return (POLICY_DENY);
	}
	for (i = 0; cfg != NULL && i < cfg->nrules[DENY] &&
	    d->verdict == POLICY_ASK; i++) {
		r = &cfg->rules[DENY][i];
		if (r->k == K_SHELL && r->arg != NULL ? i == first :
		    crule_match(r, req, &rp, DENY))
			decision(d, POLICY_DENY, POLICY_SRC_CONFIG,
			    "denied by the config", r->spec);
	}
	for (i = 0; cfg != NULL && i < cfg->nrules[ALLOW] &&
	    d->verdict == POLICY_ASK; i++) {
		r = &cfg->rules[ALLOW][i];
		if ((r->k != K_SHELL || r->arg == NULL) &&
		    crule_match(r, req, &rp, ALLOW))
			decision(d, POLICY_ALLOW, POLICY_SRC_CONFIG,
			    "allowed by the config", r->spec);
	}
	if (d->verdict == POLICY_ASK && shell && req->command != NULL &&
	    ((cfg != NULL && cfg->nrules[ALLOW] > 0) || req->admin))
		(void)config_shell_allow(cfg, req, d);
	if (d->verdict == POLICY_ASK && (kind_is(req, "read") ||
	    kind_is(req, "write")))
		(void)config_paths(cfg, req, &rp, d);
	if (d->verdict == POLICY_ASK && kind_is(req, "url") &&
	    req->url != NULL && cfg != NULL && url_host(req->url, host) == 0)
		for (i = 0; i < cfg->nhosts; i++)
			if (host_match(host, cfg->hosts[i])) {
				snprintf(buf, sizeof(buf), "allowUrls: %s",
				    cfg->hosts[i]);
				decision(d, POLICY_ALLOW, POLICY_SRC_CONFIG,
				    "host in allowUrls", buf);
				break;
			}
	rpaths_free(&rp);
	return (d->verdict);
}

/* ---- stored rules -------------------------------------------------------- */

/*
 * What stored rules match a request by: for a shell command the program
 * of each command it runs (substitutions included; a keyword before it
 * skipped), for a read its path, otherwise nothing (the tool's "*").
 * blocked: one of those commands is a wrapper or shell, sets a variable
 * or writes a file, which no rule for its program allows.
 */
struct names {
	char	**v;
	size_t	  n, cap;
	int	  blocked;
};

static int
names_visit(void *arg, struct shell_ctx *ctx, char *const *argv,
    size_t argc, const struct shell_cmd *c, const char *name)
{
	struct names	*nm = arg;
	size_t		 i = 0;

	if (c->writes)
		nm->blocked = 1;
	while (i < argc && shell_is_assign(argv[i])) {
		nm->blocked = 1;
		i++;
	}
	if (i >= argc)
		return (0);
	if (shell_is_wrapper(shell_base(argv[i])) || argv[i][0] == '\0')
		nm->blocked = 1;
	if (argv[i][0] == '\0')
		return (0);
	for (name = argv[i], i = 0; i < nm->n; i++)
		if (strcmp(nm->v[i], name) == 0)
			return (0);
	return (shell_strv_push(&nm->v, &nm->n, &nm->cap, strdup(name)));
}

static int
names_get(const struct policy_request *req, struct names *nm)
{
	struct rpaths		rp;
	enum shell_error	err;
	int			rc = 0;

	memset(nm, 0, sizeof(*nm));
	if (kind_is(req, "shell") && req->command != NULL)
		rc = shell_walk(req->command, 0, names_visit, NULL, nm, &err);
	else if (kind_is(req, "read") && req->path != NULL &&
	    req->path[0] != '\0') {
		rpaths_get(req, NULL, &rp);
		rc = shell_strv_push(&nm->v, &nm->n, &nm->cap,
		    strdup(rp.n > 0 && rp.p[0] != NULL && !rp.unusable ?
		    rp.p[0] : req->path));
		rpaths_free(&rp);
	}
	if (rc != 0) {
		shell_strv_free(nm->v, nm->n);
		memset(nm, 0, sizeof(*nm));
		return (-1);
	}
	return (0);
}

/* The tool stored rules are kept under: toolName, else the kind. */
static const char *
stored_tool(const struct policy_request *req)
{
	if (req->tool != NULL)
		return (req->tool);
	return (req->kind != NULL ? req->kind : "unknown");
}

/* The first rule of tool for cmd ("*": only a "*" rule), or NULL. */
static const struct policy_rule *
stored_lookup(const struct policy_rule *rules, size_t n, const char *tool,
    const char *cmd)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (rules[i].tool != NULL && rules[i].pattern != NULL &&
		    strcmp(rules[i].tool, tool) == 0 &&
		    (strcmp(rules[i].pattern, "*") == 0 ||
		    strcmp(rules[i].pattern, cmd) == 0))
			return (&rules[i]);
	return (NULL);
}

static void
stored_decision(struct policy_decision *d, const struct policy_rule *r)
{
	char	spec[POLICY_RULE_MAX];

	(void)policy_rule_spec(r->tool, r->pattern, spec, sizeof(spec));
	decision(d, r->allow ? POLICY_ALLOW : POLICY_DENY, POLICY_SRC_STORED,
	    r->allow ? "allowed by a stored rule" : "denied by a stored rule",
	    spec);
}

enum policy_verdict
policy_stored_eval(const struct policy_rule *rules, size_t nrules,
    const struct policy_request *req, struct policy_decision *d)
{
	const struct policy_rule	*r, *deny = NULL, *first = NULL;
	struct names			 nm;
	const char			*tool = stored_tool(req);
	char				 mcp[HOST_MAX + 8];
	size_t				 i, allowed = 0;

	decision(d, POLICY_ASK, POLICY_SRC_NONE, NULL, NULL);
	if (kind_is(req, "mcp") && req->server != NULL) {
		snprintf(mcp, sizeof(mcp), "mcp:%s", req->server);
		if (strlen(req->server) < HOST_MAX &&
		    (r = stored_lookup(rules, nrules, mcp, "*")) != NULL) {
			stored_decision(d, r);
			return (d->verdict);
		}
	}
	if (names_get(req, &nm) == -1)
		return (POLICY_ASK);	/* as the store failing: the prompt */
	if (nm.n == 0) {
		if ((r = stored_lookup(rules, nrules, tool, "*")) != NULL)
			stored_decision(d, r);
		return (d->verdict);
	}
	for (i = 0; i < nm.n; i++) {
		if ((r = stored_lookup(rules, nrules, tool, nm.v[i])) == NULL)
			continue;
		if (first == NULL)
			first = r;
		if (r->allow)
			allowed++;
		else if (deny == NULL)
			deny = r;
	}
	if (allowed == nm.n && !nm.blocked)
		stored_decision(d, first);
	else if (deny != NULL)
		stored_decision(d, deny);
	shell_strv_free(nm.v, nm.n);
	return (d->verdict);
}

/* n rules of tool in one allocation; pats NULL: one pattern "*". */
static struct policy_rule *
rules_block(const char *tool, char *const *pats, size_t n, int allow)
{
	struct policy_rule	*r;
	size_t			 size = n * sizeof(*r), i;
	char			*p;

	for (i = 0; i < n; i++)
		size += strlen(tool) + 1 + strlen(pats ? pats[i] : "*") + 1;
	if ((r = malloc(size)) == NULL)
		return (NULL);
	p = (char *)(r + n);
	for (i = 0; i < n; i++) {
		r[i].tool = strcpy(p, tool);
		p += strlen(p) + 1;
		r[i].pattern = strcpy(p, pats ? pats[i] : "*");
		p += strlen(p) + 1;
		r[i].allow = allow != 0;
	}
	return (r);
}

int
policy_remember(const struct policy_request *req, int allow,
    struct policy_rule **rules, size_t *n)
{
	struct names	 nm;
	char		*mcp;
	size_t		 k;

	*rules = NULL;
	*n = 0;
	if (kind_is(req, "mcp") && req->server != NULL) {
		if (asprintf(&mcp, "mcp:%s", req->server) == -1)
			return (-1);
		*rules = rules_block(mcp, NULL, 1, allow);
		free(mcp);
		k = 1;
	} else {
		if (names_get(req, &nm) == -1)
			return (-1);
		/* A shell command with no program is not stored as "*". */
		k = nm.n > 0 ? nm.n : kind_is(req, "shell") ? 0 : 1;
		if (k > 0)
			*rules = rules_block(stored_tool(req), nm.n > 0 ?
			    nm.v : NULL, k, allow);
		shell_strv_free(nm.v, nm.n);
	}
	if (k > 0 && *rules == NULL)
		return (-1);
	*n = k;
	return (0);
}

int
policy_rule_spec(const char *tool, const char *pattern, char *buf,
    size_t len)
{
	int	n;

	if (pattern == NULL || strcmp(pattern, "*") == 0)
		n = snprintf(buf, len, "%s", tool);
	else
		n = snprintf(buf, len, "%s(%s)", tool, pattern);
	if (n >= 0 && (size_t)n >= len && len > 0)
		buf[utf8_cut_bytes(buf, len - 1, len - 1)] = '\0';
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

int
policy_rule_spec_parse(const char *spec, char **tool, char **pattern)
{
	const char	*lp;
	size_t		 n = strlen(spec);

	*tool = *pattern = NULL;
	if ((lp = strchr(spec, '(')) != NULL) {
		if (n == 0 || spec[n - 1] != ')')
			return (-1);
		*tool = trimdup(spec, (size_t)(lp - spec));
		*pattern = trimdup(lp + 1, n - 2 - (size_t)(lp - spec));
	} else {
		*tool = trimdup(spec, n);
		*pattern = strdup("*");
	}
	if (*tool == NULL || *pattern == NULL || **tool == '\0' ||
	    **pattern == '\0' || strchr(*tool, ')') != NULL) {
		free(*tool);
		free(*pattern);
		*tool = *pattern = NULL;
		return (-1);
	}
	return (0);
}

/* ---- the order ----------------------------------------------------------- */

void
policy_decide(const struct policy_request *req,
    const struct policy_config *cfg, int autopilot,
    const struct policy_rule *stored, size_t nstored, int bridge_tool,
    struct policy_decision *d)
{
	decision(d, POLICY_ASK, POLICY_SRC_NONE, NULL, NULL);
	if (kind_is(req, "shell") && policy_hard_deny(req->command, d))
		return;
	if (bridge_tool && kind_is(req, "custom-tool")) {
		decision(d, POLICY_ALLOW, POLICY_SRC_BRIDGE, "a bridge tool",
		    req->tool);
		return;
	}
	if (autopilot) {
		decision(d, POLICY_ALLOW, POLICY_SRC_AUTOPILOT, "autopilot",
		    "permissionMode: autopilot");
		return;
	}
	if (policy_config_eval(cfg, req, d) != POLICY_ASK)
		return;
	(void)policy_stored_eval(stored, nstored, req, d);
}
