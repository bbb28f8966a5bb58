/*
 * policy: the decision on one permission request (docs/architecture.md
 * "Permissions").  Pure: no I/O, no globals; paths are compared lexically.
 *
 * Shell commands are read by a small lexer that does what bash does with
 * quotes, escapes, separators, redirections, here-documents and
 * substitutions, well enough to find every command the text could run.
 * Where it cannot tell, it errs towards seeing one command too many
 * (a prompt too many), never one too few.  It is a check on text, not a
 * sandbox: what a command computes at run time ($X -rf /, curl | sh) is
 * beyond it.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"
#include "util.h"
#include "policy.h"

#define SH_DEPTH_MAX	16	/* command strings in command strings */
#define SH_NEST_MAX	64	/* nested quotes and parentheses in one */
/*
 * Work allowed on one command, in bytes lexed and words examined: linear in
 * its length, so that wrappers re-reading their arguments (eval "watch
 * eval ...") cannot make a short command take long.
 */
#define SH_BUDGET_BASE	65536
#define SH_BUDGET_BYTE	16
#define SH_BUDGET(len)	(SH_BUDGET_BASE + SH_BUDGET_BYTE * \
			    ((len) < (SIZE_MAX - SH_BUDGET_BASE) / \
			    SH_BUDGET_BYTE ? (len) : 0))

enum sh_error { SH_OK, SH_ENOMEM, SH_EDEEP, SH_EBUDGET };

struct sh_ctx {
	size_t		 budget;
	enum sh_error	 error;
};

/* One simple command. */
struct sh_cmd {
	char		**argv;
	size_t		  argc, argcap;
	char		**input;	/* its stdin: here-strings, here-docs */
	size_t		  ninput, inputcap;
	int		  piped;	/* reads the previous command's output */
	int		  writes;	/* redirects output into a file */
};

struct sh_list {
	struct sh_cmd	 *cmd;
	size_t		  ncmd, cmdcap;
	char		**sub;		/* $(...), `...`, <(...), >(...) */
	size_t		  nsub, subcap;
};

struct buf {
	char		*b;
	size_t		 n, cap;
};

static int
sh_fail(struct sh_ctx *ctx, enum sh_error e)
{
	if (ctx->error == SH_OK)
		ctx->error = e;
	return (-1);
}

static int
sh_charge(struct sh_ctx *ctx, size_t n)
{
	if (ctx->error != SH_OK)
		return (-1);
	if (n > ctx->budget)
		return (sh_fail(ctx, SH_EBUDGET));
	ctx->budget -= n;
	return (0);
}

static int
buf_add(struct buf *b, const char *s, size_t n)
{
	char	*nb;
	size_t	 cap;

	if (b->n + n + 1 > b->cap) {
		cap = b->cap != 0 ? b->cap : 32;
		while (cap < b->n + n + 1)
			cap *= 2;
		if ((nb = realloc(b->b, cap)) == NULL)
			return (-1);
		b->b = nb;
		b->cap = cap;
	}
	memcpy(b->b + b->n, s, n);
	b->n += n;
	b->b[b->n] = '\0';
	return (0);
}

static int
buf_addc(struct buf *b, char c)
{
	return (buf_add(b, &c, 1));
}

/* A copy of b's text ("" for none). */
static char *
buf_dup(const struct buf *b)
{
	return (b->b != NULL ? strndup(b->b, b->n) : strdup(""));
}

/* Room for one more element in *v (n used of *cap). */
static int
grow(void *vp, size_t *cap, size_t n, size_t size)
{
	void	**v = vp, *nv;
	size_t	  nc;

	if (n < *cap)
		return (0);
	nc = *cap != 0 ? *cap * 2 : 8;
	if ((nv = reallocarray(*v, nc, size)) == NULL)
		return (-1);
	*v = nv;
	*cap = nc;
	return (0);
}

static int
strv_push(char ***v, size_t *n, size_t *cap, char *s)
{
	if (s == NULL || grow(v, cap, *n, sizeof(**v)) == -1) {
		free(s);
		return (-1);
	}
	(*v)[(*n)++] = s;
	return (0);
}

static void
strv_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
sh_cmd_clear(struct sh_cmd *c)
{
	strv_free(c->argv, c->argc);
	strv_free(c->input, c->ninput);
	memset(c, 0, sizeof(*c));
}

static void
sh_list_clear(struct sh_list *l)
{
	size_t	i;

	for (i = 0; i < l->ncmd; i++)
		sh_cmd_clear(&l->cmd[i]);
	free(l->cmd);
	strv_free(l->sub, l->nsub);
	memset(l, 0, sizeof(*l));
}

/* ---- words --------------------------------------------------------------- */

static int
is_blank(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v');
}

/* Ends an unquoted word. */
static int
is_meta(char c)
{
	return (is_blank(c) || c == '\n' || c == ';' || c == '&' || c == '|' ||
	    c == '(' || c == ')' || c == '<' || c == '>');
}

static int
is_ident(char c)
{
	return (isalnum((unsigned char)c) || c == '_');
}

/* NAME=... or NAME+=..., a variable assignment before a command. */
static int
is_assign(const char *w)
{
	size_t	i = 0;

	if (!isalpha((unsigned char)w[0]) && w[0] != '_')
		return (0);
	while (is_ident(w[i]))
		i++;
	return (w[i] == '=' || (w[i] == '+' && w[i + 1] == '='));
}

/* Reserved words that come before a command, or end a compound one. */
static int
is_keyword(const char *w)
{
	static const char *const kw[] = { "!", "{", "}", "if", "then", "else",
	    "elif", "fi", "do", "done", "while", "until", "esac" };
	size_t	i;

	for (i = 0; i < nitems(kw); i++)
		if (strcmp(w, kw[i]) == 0)
			return (1);
	return (0);
}

static int
is_opt(const char *w)
{
	return (w[0] == '-' && w[1] != '\0');
}

/* The last component of a path: /usr/bin/rm is rm. */
static const char *
base(const char *w)
{
	const char	*s = strrchr(w, '/');

	return (s != NULL ? s + 1 : w);
}

static int
in_set(const char *w, const char *const *set, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(w, set[i]) == 0)
			return (1);
	return (0);
}

static const char *const shells[] = { "sh", "bash", "zsh", "dash", "ksh",
    "mksh", "ash", "fish", "csh", "tcsh", "yash", "posh" };
/* Run the rest of their arguments as a command, after options. */
static const char *const wrappers[] = { "sudo", "doas", "env", "nohup",
    "xargs", "exec", "eval", "command", "builtin", "time", "nice", "ionice",
    "timeout", "stdbuf", "setsid", "chroot", "busybox", "unbuffer",
    "taskset", "chrt", "flock", "nsenter", "unshare", "strace", "ltrace",
    "watch", "su", "runuser", "script" };
/* Run the argument of their -c (or --command) through a shell. */
static const char *const c_runners[] = { "su", "runuser", "script", "flock" };

static int
is_shell(const char *name)
{
	return (in_set(name, shells, nitems(shells)));
}

/* A program that runs another command: a shell or a wrapper. */
static int
is_wrapper(const char *name)
{
	return (is_shell(name) || in_set(name, wrappers, nitems(wrappers)));
}

/* ---- the lexer ----------------------------------------------------------- */

struct heredoc {
	char		*delim;
	int		 strip;		/* <<-: leading tabs */
	int		 quoted;	/* no expansion in the body */
	size_t		 cmd;
};

struct lx {
	struct sh_ctx	*ctx;
	const char	*s;
	size_t		 len, p;
	struct sh_list	*l;
	struct buf	 w;		/* the word being read */
	int		 inword;	/* w holds a word, maybe "" */
	int		 wquoted;	/* w had quotes or escapes */
	int		 target;	/* reading a redirection's target */
	int		 open;		/* the last command takes words */
	int		 piped;		/* the next command reads a pipe */
	int		 nest;
	struct heredoc	*hd;
	size_t		 nhd, hdcap;
};

static char
lx_at(const struct lx *lx, size_t i)
{
	return (i < lx->len ? lx->s[i] : '\0');
}

static int
lx_oom(struct lx *lx)
{
	return (sh_fail(lx->ctx, SH_ENOMEM));
}

static int
lx_sub(struct lx *lx, size_t a, size_t b)
{
	struct sh_list	*l = lx->l;

	if (b < a)
		b = a;
	if (strv_push(&l->sub, &l->nsub, &l->subcap,
	    strndup(lx->s + a, b - a)) == -1)
		return (lx_oom(lx));
	return (0);
}

static struct sh_cmd *
lx_cmd(struct lx *lx)
{
	struct sh_list	*l = lx->l;

	if (!lx->open) {
		if (grow(&l->cmd, &l->cmdcap, l->ncmd, sizeof(*l->cmd)) == -1) {
			lx_oom(lx);
			return (NULL);
		}
		memset(&l->cmd[l->ncmd], 0, sizeof(*l->cmd));
		l->cmd[l->ncmd++].piped = lx->piped;
		lx->piped = 0;
		lx->open = 1;
	}
	return (&l->cmd[l->ncmd - 1]);
}

static int
lx_word_end(struct lx *lx)
{
	struct sh_cmd	*c;

	if (!lx->inword)
		return (0);
	if ((c = lx_cmd(lx)) == NULL)
		return (-1);
	if (strv_push(&c->argv, &c->argc, &c->argcap, buf_dup(&lx->w)) == -1)
		return (lx_oom(lx));
	lx->w.n = 0;
	lx->inword = lx->wquoted = 0;
	return (0);
}

static int
lx_cmd_end(struct lx *lx, int pipe)
{
	struct sh_list	*l = lx->l;
	struct sh_cmd	*c;
	size_t		 i;

	if (lx_word_end(lx) == -1)
		return (-1);
	if (lx->open) {
		lx->open = 0;
		c = &l->cmd[l->ncmd - 1];
		for (i = 0; i < lx->nhd; i++)
			if (lx->hd[i].cmd == l->ncmd - 1)
				break;
		if (c->argc == 0 && c->ninput == 0 && !c->writes &&
		    i == lx->nhd) {
			sh_cmd_clear(c);
			l->ncmd--;
		}
	}
	lx->piped = pipe;
	return (0);
}

static size_t	lx_close(struct lx *, size_t, char, char);

static size_t
lx_skip_sq(struct lx *lx, size_t i)
{
	const char	*q;

	if (i >= lx->len)
		return (lx->len);
	q = memchr(lx->s + i, '\'', lx->len - i);
	return (q != NULL ? (size_t)(q - lx->s) + 1 : lx->len);
}

static size_t
lx_skip_bt(struct lx *lx, size_t i)
{
	while (i < lx->len) {
		if (lx->s[i] == '\\')
			i += 2;
		else if (lx->s[i] == '`')
			return (i + 1);
		else
			i++;
	}
	return (lx->len);
}

static int
lx_deeper(struct lx *lx)
{
	if (++lx->nest > SH_NEST_MAX) {
		lx->nest--;
		return (sh_fail(lx->ctx, SH_EDEEP));
	}
	return (0);
}

/* Past the closing quote of a "..." whose text starts at i. */
static size_t
lx_skip_dq(struct lx *lx, size_t i)
{
	if (lx_deeper(lx) == -1)
		return (lx->len);
	while (i < lx->len) {
		switch (lx->s[i]) {
		case '\\':
			i += 2;
			continue;
		case '"':
			lx->nest--;
			return (i + 1);
		case '`':
			i = lx_skip_bt(lx, i + 1);
			continue;
		case '$':
			if (lx_at(lx, i + 1) == '(') {
				i = lx_close(lx, i + 2, '(', ')') + 1;
				continue;
			}
			break;
		}
		i++;
	}
	lx->nest--;
	return (lx->len);
}

/*
 * The close character matching an open one that ends just before i, or
 * len: ")" for "(" and "$(", "}" for "${", "]" for "$[".  Quotes, escapes
 * and substitutions inside are skipped.
 */
static size_t
lx_close(struct lx *lx, size_t i, char open, char close)
{
	int	d = 1;

	if (lx_deeper(lx) == -1)
		return (lx->len);
	for (; i < lx->len; i++) {
		switch (lx->s[i]) {
		case '\\':
			i++;
			continue;
		case '\'':
			i = lx_skip_sq(lx, i + 1) - 1;
			continue;
		case '"':
			i = lx_skip_dq(lx, i + 1) - 1;
			continue;
		case '`':
			i = lx_skip_bt(lx, i + 1) - 1;
			continue;
		case '$':
			if (close != ')' && lx_at(lx, i + 1) == '(')
				i = lx_close(lx, i + 2, '(', ')');
			continue;
		}
		if (lx->s[i] == open)
			d++;
		else if (lx->s[i] == close && --d == 0)
			break;
	}
	lx->nest--;
	return (i < lx->len ? i : lx->len);
}

/* The text of `...` from i (after the backquote) to end, unescaped. */
static int
lx_sub_bt(struct lx *lx, size_t i, size_t end)
{
	struct buf	 b = { NULL, 0, 0 };
	struct sh_list	*l = lx->l;
	char		 c;

	for (; i < end; i++) {
		c = lx->s[i];
		if (c == '\\' && i + 1 < end && (lx->s[i + 1] == '`' ||
		    lx->s[i + 1] == '\\' || lx->s[i + 1] == '$'))
			c = lx->s[++i];
		if (buf_addc(&b, c) == -1) {
			free(b.b);
			return (lx_oom(lx));
		}
	}
	if (strv_push(&l->sub, &l->nsub, &l->subcap, buf_dup(&b)) == -1) {
		free(b.b);
		return (lx_oom(lx));
	}
	free(b.b);
	return (0);
}

/*
 * After "$((" at i: the end of the arithmetic "))", or of a command
 * substitution of a subshell when the inner ")" is not followed by ")".
 * *arith says which.
 */
static size_t
lx_close_dparen(struct lx *lx, size_t i, int *arith)
{
	size_t	inner = lx_close(lx, i + 1, '(', ')');

	*arith = lx_at(lx, inner + 1) == ')';
	return (*arith ? inner + 1 : lx_close(lx, i, '(', ')'));
}

/* Substitutions in s[a..b), text that is expanded but not split. */
static int
lx_collect(struct lx *lx, size_t a, size_t b)
{
	size_t	i = a, j;
	int	dq = 0, arith;

	if (lx_deeper(lx) == -1)
		return (-1);
	while (i < b && lx->ctx->error == SH_OK) {
		switch (lx->s[i]) {
		case '\\':
			i += 2;
			continue;
		case '\'':
			if (!dq) {
				i = lx_skip_sq(lx, i + 1);
				continue;
			}
			break;
		case '"':
			dq = !dq;
			break;
		case '`':
			j = lx_skip_bt(lx, i + 1);
			if (lx_sub_bt(lx, i + 1, j > i + 1 && j <= lx->len &&
			    lx->s[j - 1] == '`' ? j - 1 : j) == -1)
				return (-1);
			i = j;
			continue;
		case '$':
			if (lx_at(lx, i + 1) == '(' && lx_at(lx, i + 2) == '(') {
				j = lx_close_dparen(lx, i + 2, &arith);
				if ((arith ? lx_collect(lx, i + 3, j) :
				    lx_sub(lx, i + 2, j)) == -1)
					return (-1);
				i = j + 1;
				continue;
			}
			if (lx_at(lx, i + 1) == '(') {
				j = lx_close(lx, i + 2, '(', ')');
				if (lx_sub(lx, i + 2, j) == -1)
					return (-1);
				i = j + 1;
				continue;
			}
			if (lx_at(lx, i + 1) == '{') {
				j = lx_close(lx, i + 2, '{', '}');
				if (lx_collect(lx, i + 2, j) == -1)
					return (-1);
				i = j + 1;
				continue;
			}
			break;
		}
		i++;
	}
	lx->nest--;
	return (lx->ctx->error == SH_OK ? 0 : -1);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = (char)tolower((unsigned char)c);
	return (c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1);
}

static int
buf_addcp(struct buf *b, uint32_t cp)
{
	char	u[4];

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	if (cp < 0x80)
		return (buf_addc(b, (char)cp));
	if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		return (buf_add(b, u, 2));
	}
	if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		return (buf_add(b, u, 3));
	}
	u[0] = (char)(0xf0 | cp >> 18);
	u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	u[3] = (char)(0x80 | (cp & 0x3f));
	return (buf_add(b, u, 4));
}

/* The escape after a backslash, at s[i]; returns where it ends. */
static size_t
ansi_escape(const char *s, size_t n, size_t i, struct buf *out, int *err)
{
	static const char	 from[] = "abefnrtv", to[] = "\a\b\033\f\n\r\t\v";
	const char		*e;
	size_t			 k, max;
	uint32_t		 cp;
	int			 h, base = 16;

	if (s[i] != '\0' && (e = strchr(from, s[i])) != NULL) {
		*err |= buf_addc(out, to[e - from]) == -1;
		return (i + 1);
	}
	if (s[i] == 'c') {		/* \cX: control-X */
		if (i + 1 < n)
			*err |= buf_addcp(out, (uint32_t)(s[i + 1] & 0x1f)) ==
			    -1;
		return (i + 1 < n ? i + 2 : i + 1);
	}
	if (s[i] == 'x' || s[i] == 'u' || s[i] == 'U') {
		max = s[i] == 'x' ? 2 : s[i] == 'u' ? 4 : 8;
		i++;
	} else if (s[i] >= '0' && s[i] <= '7') {
		base = 8;
		max = 3;
	} else {		/* \\ \' \" \? and unknown ones */
		if (s[i] != '\\' && s[i] != '\'' && s[i] != '"' && s[i] != '?')
			*err |= buf_addc(out, '\\') == -1;
		*err |= buf_addc(out, s[i]) == -1;
		return (i + 1);
	}
	for (cp = 0, k = 0; k < max && i < n; k++, i++) {
		if ((h = hexval(s[i])) == -1 || h >= base)
			break;
		cp = cp * (uint32_t)base + (uint32_t)h;
	}
	if (base == 8 || max == 2) {	/* a byte; a NUL is dropped */
		if ((char)cp != '\0')
			*err |= buf_addc(out, (char)cp) == -1;
	} else
		*err |= buf_addcp(out, cp) == -1;
	return (i);
}

/*
 * Backslash escapes as $'...' and echo -e read them, from s[0..n) up to
 * an unescaped term (-1: none); returns the bytes read, term excluded.  A
 * NUL is dropped.
 */
static size_t
ansi_decode(const char *s, size_t n, int term, struct buf *out, int *err)
{
	size_t	i = 0;

	while (i < n && (term == -1 || s[i] != term)) {
		if (s[i] == '\\' && i + 1 < n)
			i = ansi_escape(s, n, i + 1, out, err);
		else {
			if (s[i] != '\0')
				*err |= buf_addc(out, s[i]) == -1;
			i++;
		}
	}
	return (i);
}

/* $ at p: a substitution, ${...}, $'...', $"...", $IFS or a plain $. */
static int
lx_dollar(struct lx *lx, int dq)
{
	size_t		 p = lx->p, j;
	char		 n1 = lx_at(lx, p + 1);
	const char	*s = lx->s;
	int		 arith, err = 0;

	if (n1 == '(') {
		if (lx_at(lx, p + 2) == '(') {
			j = lx_close_dparen(lx, p + 2, &arith);
			if ((arith ? lx_collect(lx, p + 3, j) :
			    lx_sub(lx, p + 2, j)) == -1)
				return (-1);
		} else {
			j = lx_close(lx, p + 2, '(', ')');
			if (lx_sub(lx, p + 2, j) == -1)
				return (-1);
		}
	} else if (n1 == '{') {
		j = lx_close(lx, p + 2, '{', '}');
		/* ${IFS} unquoted splits words: rm${IFS}-rf${IFS}/ */
		if (!dq && !lx->target && j >= p + 5 &&
		    strncmp(s + p + 2, "IFS", 3) == 0 && !is_ident(s[p + 5])) {
			lx->p = j + 1;
			return (lx_word_end(lx));
		}
		if (lx_collect(lx, p + 2, j) == -1)
			return (-1);
	} else if (n1 == '[') {
		/* $[...]: old arithmetic, where << is no here-document */
		j = lx_close(lx, p + 2, '[', ']');
		if (lx_collect(lx, p + 2, j) == -1)
			return (-1);
	} else if (n1 == '\'' && !dq) {
		lx->wquoted = 1;
		j = p + 2 + ansi_decode(s + p + 2, lx->len - (p + 2), '\'',
		    &lx->w, &err);
		lx->p = j + 1;
		return (err ? lx_oom(lx) : 0);
	} else if (n1 == '"' && !dq) {
		lx->p++;	/* $"..." is "..." */
		return (0);
	} else if (!dq && !lx->target && strncmp(s + p + 1, "IFS", 3) == 0 &&
	    p + 4 <= lx->len && !is_ident(lx_at(lx, p + 4))) {
		lx->p = p + 4;
		return (lx_word_end(lx));
	} else {
		lx->p++;
		return (buf_addc(&lx->w, '$') == -1 ? lx_oom(lx) : 0);
	}
	/* The substitution stays in the word as written. */
	j = j < lx->len ? j + 1 : lx->len;
	lx->p = j;
	return (buf_add(&lx->w, s + p, j - p) == -1 ? lx_oom(lx) : 0);
}

static int
lx_backtick(struct lx *lx)
{
	size_t	p = lx->p, j = lx_skip_bt(lx, p + 1);

	if (lx_sub_bt(lx, p + 1, j > p + 1 && lx->s[j - 1] == '`' &&
	    j <= lx->len ? j - 1 : j) == -1)
		return (-1);
	lx->p = j;
	return (buf_add(&lx->w, lx->s + p, j - p) == -1 ? lx_oom(lx) : 0);
}

static int
lx_dquote(struct lx *lx)
{
	const char	*s = lx->s;
	char		 c;

	lx->p++;
	while (lx->p < lx->len && lx->ctx->error == SH_OK) {
		c = s[lx->p];
		if (c == '"') {
			lx->p++;
			return (0);
		}
		if (c == '\\' && lx->p + 1 < lx->len &&
		    strchr("$`\"\\\n", s[lx->p + 1]) != NULL) {
			if (s[lx->p + 1] != '\n' &&
			    buf_addc(&lx->w, s[lx->p + 1]) == -1)
				return (lx_oom(lx));
			lx->p += 2;
		} else if (c == '$') {
			if (lx_dollar(lx, 1) == -1)
				return (-1);
		} else if (c == '`') {
			if (lx_backtick(lx) == -1)
				return (-1);
		} else {
			if (buf_addc(&lx->w, c) == -1)
				return (lx_oom(lx));
			lx->p++;
		}
	}
	return (lx->ctx->error == SH_OK ? 0 : -1);
}

/* One piece of a word at p: a character, an escape, a quote, an expansion. */
static int
lx_wordch(struct lx *lx)
{
	const char	*s = lx->s;
	size_t		 p = lx->p, j;
	int		 was = lx->inword;

	lx->inword = 1;
	switch (s[p]) {
	case '\\':
		lx->wquoted = 1;
		if (p + 1 >= lx->len) {
			lx->p++;
			return (buf_addc(&lx->w, '\\') == -1 ? lx_oom(lx) : 0);
		}
		lx->p += 2;
		if (s[p + 1] == '\n') {		/* a continued line */
			lx->inword = was;
			return (0);
		}
		return (buf_addc(&lx->w, s[p + 1]) == -1 ? lx_oom(lx) : 0);
	case '\'':
		lx->wquoted = 1;
		j = lx_skip_sq(lx, p + 1);
		lx->p = j;
		if (j > p + 1 && s[j - 1] == '\'')
			j--;
		return (buf_add(&lx->w, s + p + 1, j - (p + 1)) == -1 ?
		    lx_oom(lx) : 0);
	case '"':
		lx->wquoted = 1;
		return (lx_dquote(lx));
	case '$':
		return (lx_dollar(lx, 0));
	case '`':
		return (lx_backtick(lx));
	default:
		lx->p++;
		return (buf_addc(&lx->w, s[p]) == -1 ? lx_oom(lx) : 0);
	}
}

/* A redirection's target word, into a new string (*quoted: had quotes). */
static char *
lx_target(struct lx *lx, int *quoted)
{
	struct buf	 save = lx->w;
	int		 sin = lx->inword, sq = lx->wquoted;
	char		*t;

	memset(&lx->w, 0, sizeof(lx->w));
	lx->inword = lx->wquoted = 0;
	lx->target = 1;
	while (lx->p < lx->len && is_blank(lx->s[lx->p]))
		lx->p++;
	while (lx->p < lx->len && !is_meta(lx->s[lx->p]) &&
	    lx->ctx->error == SH_OK)
		if (lx_wordch(lx) == -1)
			break;
	lx->target = 0;
	*quoted = lx->wquoted;
	t = lx->ctx->error == SH_OK ? buf_dup(&lx->w) : NULL;
	if (t == NULL)
		lx_oom(lx);
	free(lx->w.b);
	lx->w = save;
	lx->inword = sin;
	lx->wquoted = sq;
	return (t);
}

/* Output into this is not a write to a file. */
static int
harmless_sink(const char *t)
{
	static const char *const sinks[] = { "/dev/null", "/dev/stdout",
	    "/dev/stderr", "/dev/tty", "/dev/zero" };
	size_t	i;

	if (in_set(t, sinks, nitems(sinks)))
		return (1);
	if (strncmp(t, "/dev/fd/", 8) == 0 && t[8] != '\0') {
		for (i = 8; t[i] != '\0'; i++)
			if (!isdigit((unsigned char)t[i]))
				return (0);
		return (1);
	}
	return (0);
}

static int
all_digits(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return (0);
	return (n > 0);
}

enum { R_READ, R_WRITE, R_DUP, R_HERESTR, R_HEREDOC };

static int
lx_redir_target(struct lx *lx, int kind, int strip)
{
	struct sh_cmd	*c;
	struct heredoc	*h;
	char		*t;
	int		 quoted;

	if ((t = lx_target(lx, &quoted)) == NULL)
		return (-1);
	if ((c = lx_cmd(lx)) == NULL) {
		free(t);
		return (-1);
	}
	switch (kind) {
	case R_WRITE:
		c->writes |= !harmless_sink(t);
		break;
	case R_DUP:	/* >&2 duplicates; >&file writes stdout and stderr */
		c->writes |= !all_digits(t, strlen(t)) &&
		    strcmp(t, "-") != 0 && !harmless_sink(t);
		break;
	case R_HERESTR:
		if (strv_push(&c->input, &c->ninput, &c->inputcap, t) == -1)
			return (lx_oom(lx));
		return (0);
	case R_HEREDOC:
		if (grow(&lx->hd, &lx->hdcap, lx->nhd, sizeof(*lx->hd)) == -1) {
			free(t);
			return (lx_oom(lx));
		}
		h = &lx->hd[lx->nhd++];
		h->delim = t;
		h->strip = strip;
		h->quoted = quoted;
		h->cmd = lx->l->ncmd - 1;
		return (0);
	}
	free(t);
	return (0);
}

/* < or > at p: a redirection, or a process substitution <(...) >(...). */
static int
lx_redir(struct lx *lx)
{
	const char	*s = lx->s;
	size_t		 p = lx->p, j;
	int		 kind, strip = 0;

	if (lx_at(lx, p + 1) == '(') {
		if (lx_word_end(lx) == -1)
			return (-1);
		j = lx_close(lx, p + 2, '(', ')');
		if (lx_sub(lx, p + 2, j) == -1)
			return (-1);
		j = j < lx->len ? j + 1 : lx->len;
		lx->inword = 1;
		lx->p = j;
		return (buf_add(&lx->w, s + p, j - p) == -1 ? lx_oom(lx) : 0);
	}
	/* 2>file: the digits before it name a descriptor. */
	if (lx->inword && !lx->wquoted && all_digits(lx->w.b, lx->w.n)) {
		lx->w.n = 0;
		lx->inword = 0;
	} else if (lx_word_end(lx) == -1)
		return (-1);
	if (s[p] == '<') {
		if (lx_at(lx, p + 1) == '<' && lx_at(lx, p + 2) == '<') {
			kind = R_HERESTR;
			p += 3;
		} else if (lx_at(lx, p + 1) == '<') {
			kind = R_HEREDOC;
			p += 2;
			if (lx_at(lx, p) == '-') {
				strip = 1;
				p++;
			}
		} else if (lx_at(lx, p + 1) == '&') {
			kind = R_READ;
			p += 2;
		} else if (lx_at(lx, p + 1) == '>') {
			kind = R_WRITE;
			p += 2;
		} else {
			kind = R_READ;
			p++;
		}
	} else if (lx_at(lx, p + 1) == '&') {
		kind = R_DUP;
		p += 2;
	} else {
		kind = R_WRITE;
		p += lx_at(lx, p + 1) == '>' || lx_at(lx, p + 1) == '|' ? 2 : 1;
	}
	lx->p = p;
	return (lx_redir_target(lx, kind, strip));
}

/*
 * After an unquoted newline: the bodies of the here-documents opened on
 * the line, each up to a line that is its delimiter.  An unquoted
 * delimiter leaves substitutions in the body live.
 */
static int
lx_heredocs(struct lx *lx)
{
	struct heredoc	*h;
	struct sh_cmd	*c;
	const char	*s = lx->s, *nl;
	size_t		 i, start, end, eol, k, dl;
	int		 rc = 0;

	for (i = 0; i < lx->nhd; i++) {
		h = &lx->hd[i];
		dl = strlen(h->delim);
		start = end = lx->p;
		for (;;) {
			if (lx->p >= lx->len) {
				end = lx->len;
				break;
			}
			nl = memchr(s + lx->p, '\n', lx->len - lx->p);
			eol = nl != NULL ? (size_t)(nl - s) : lx->len;
			k = lx->p;
			while (h->strip && k < eol && s[k] == '\t')
				k++;
			if (eol - k == dl && memcmp(s + k, h->delim, dl) == 0) {
				end = lx->p;
				lx->p = eol < lx->len ? eol + 1 : lx->len;
				break;
			}
			lx->p = eol < lx->len ? eol + 1 : lx->len;
		}
		if (rc == 0 && sh_charge(lx->ctx, end - start) == -1)
			rc = -1;
		if (rc == 0 && h->cmd < lx->l->ncmd) {
			c = &lx->l->cmd[h->cmd];
			if (strv_push(&c->input, &c->ninput, &c->inputcap,
			    strndup(s + start, end - start)) == -1)
				rc = lx_oom(lx);
		}
		if (rc == 0 && !h->quoted && lx_collect(lx, start, end) == -1)
			rc = -1;
	}
	for (i = 0; i < lx->nhd; i++)
		free(lx->hd[i].delim);
	lx->nhd = 0;
	return (rc);
}

/* The lexer's loop: one case per kind of character outside a word. */
static int
lx_run(struct lx *lx)
{
	const char	*s = lx->s;
	size_t		 p, j;
	int		 arith;

	while ((p = lx->p) < lx->len && lx->ctx->error == SH_OK) {
		switch (s[p]) {
		case ' ': case '\t': case '\r': case '\f': case '\v':
			lx->p++;
			if (lx_word_end(lx) == -1)
				return (-1);
			break;
		case '\n':
			lx->p++;
			if (lx_cmd_end(lx, 0) == -1 || lx_heredocs(lx) == -1)
				return (-1);
			break;
		case ';':
		case ')':
			lx->p++;
			if (lx_cmd_end(lx, 0) == -1)
				return (-1);
			break;
		case '&':
			if (lx_at(lx, p + 1) == '>') {		/* &> &>> */
				if (lx_word_end(lx) == -1)
					return (-1);
				lx->p += lx_at(lx, p + 2) == '>' ? 3 : 2;
				if (lx_redir_target(lx, R_WRITE, 0) == -1)
					return (-1);
				break;
			}
			lx->p += lx_at(lx, p + 1) == '&' ? 2 : 1;
			if (lx_cmd_end(lx, 0) == -1)
				return (-1);
			break;
		case '|':
			if (lx_at(lx, p + 1) == '|') {
				lx->p += 2;
				if (lx_cmd_end(lx, 0) == -1)
					return (-1);
				break;
			}
			lx->p += lx_at(lx, p + 1) == '&' ? 2 : 1;
			if (lx_cmd_end(lx, 1) == -1)
				return (-1);
			break;
		case '(':
			/* ((...)): arithmetic, where << is no here-document */
			if (lx_at(lx, p + 1) == '(' && !lx->inword) {
				j = lx_close_dparen(lx, p + 1, &arith);
				if (arith) {
					if (lx_collect(lx, p + 2, j) == -1)
						return (-1);
					lx->p = j < lx->len ? j + 1 : lx->len;
					break;
				}
			}
			/* a=(x y): an array, one word */
			if (lx->inword && !lx->wquoted && lx->w.n > 1 &&
			    lx->w.b[lx->w.n - 1] == '=' && is_assign(lx->w.b)) {
				j = lx_close(lx, p + 1, '(', ')');
				if (lx_collect(lx, p + 1, j) == -1)
					return (-1);
				j = j < lx->len ? j + 1 : lx->len;
				lx->p = j;
				if (buf_add(&lx->w, s + p, j - p) == -1)
					return (lx_oom(lx));
				break;
			}
			lx->p++;
			if (lx_cmd_end(lx, 0) == -1)
				return (-1);
			break;
		case '<':
		case '>':
			if (lx_redir(lx) == -1)
				return (-1);
			break;
		case '#':
			/* A word that starts with # starts a comment. */
			if (!lx->inword) {
				while (lx->p < lx->len && s[lx->p] != '\n')
					lx->p++;
				break;
			}
			/* FALLTHROUGH */
		default:
			if (lx_wordch(lx) == -1)
				return (-1);
			break;
		}
	}
	if (lx->ctx->error != SH_OK || lx_cmd_end(lx, 0) == -1)
		return (-1);
	return (lx_heredocs(lx));
}

/* The commands and substitutions of s[0..len).  l is cleared on error. */
static int
sh_lex(struct sh_ctx *ctx, const char *s, size_t len, struct sh_list *l)
{
	struct lx	lx;
	size_t		i;
	int		rc;

	memset(l, 0, sizeof(*l));
	if (sh_charge(ctx, len + 1) == -1)
		return (-1);
	memset(&lx, 0, sizeof(lx));
	lx.ctx = ctx;
	lx.s = s;
	lx.len = len;
	lx.l = l;
	rc = lx_run(&lx);
	free(lx.w.b);
	for (i = 0; i < lx.nhd; i++)
		free(lx.hd[i].delim);
	free(lx.hd);
	if (rc == -1 || ctx->error != SH_OK) {
		sh_list_clear(l);
		return (-1);
	}
	return (0);
}

/* ---- walking the commands ------------------------------------------------ */

/*
 * A visitor sees each command as argv[0..argc) with name, the program:
 * argv[0] as written in a shallow walk, its last path component in a deep
 * one.  Nonzero stops the walk and is its result.
 */
typedef int	(*sh_visit)(void *, struct sh_ctx *, char *const *, size_t,
		    const struct sh_cmd *, const char *);

struct walk {
	struct sh_ctx	*ctx;
	int		 deep;		/* also what wrappers and shells run */
	sh_visit	 visit;
	/* Sees each text before it is lexed; or NULL. */
	int		(*text)(void *, struct sh_ctx *, const char *, size_t);
	void		*arg;
};

static int	walk_text(struct walk *, const char *, size_t, int);
static int	walk_output(struct walk *, const char *, size_t, int);

/* Does a shell with these arguments run a -c string? */
static int
shell_has_c(char *const *argv, size_t argc)
{
	size_t	j;

	for (j = 1; j < argc; j++)
		if (argv[j][0] == '-' && argv[j][1] != '-' &&
		    strchr(argv[j] + 1, 'c') != NULL)
			return (1);
	return (0);
}

/* Does this command run a shell that reads its commands from stdin? */
static int
stdin_shell(char *const *argv, size_t argc)
{
	size_t		 j;
	const char	*b;

	for (j = 0; j < argc; j++) {
		b = base(argv[j]);
		if (is_shell(b))
			return (!shell_has_c(argv + j, argc - j));
		if (j == 0 && !is_wrapper(b) && !is_assign(argv[j]))
			return (0);
	}
	return (0);
}

static int
walk_join(struct walk *w, char *const *argv, size_t argc, int depth)
{
	struct buf	b = { NULL, 0, 0 };
	size_t		j;
	int		rc, err = 0;

	for (j = 0; j < argc && !err; j++)
		err = (j > 0 && buf_addc(&b, ' ') == -1) ||
		    buf_add(&b, argv[j], strlen(argv[j])) == -1;
	if (err) {
		free(b.b);
		return (sh_fail(w->ctx, SH_ENOMEM));
	}
	rc = walk_text(w, b.b != NULL ? b.b : "", b.n, depth);
	free(b.b);
	return (rc);
}

/*
 * The string a wrapper runs through a shell, if argv[j] introduces one:
 * su -c CMD, su --command=CMD, env -S CMD, env --split-string=CMD.
 */
static const char *
wrapper_string(char *const *argv, size_t argc, size_t j, const char *name)
{
	const char	*a = argv[j], *next = j + 1 < argc ? argv[j + 1] : NULL;
	const char	*lopt, *sopt;

	if (in_set(name, c_runners, nitems(c_runners))) {
		lopt = "--command";
		sopt = "c";
	} else if (strcmp(name, "env") == 0) {
		lopt = "--split-string";
		sopt = "S";
	} else
		return (NULL);
	if (strncmp(a, lopt, strlen(lopt)) == 0 && a[strlen(lopt)] == '=')
		return (a + strlen(lopt) + 1);
	if (strcmp(a, lopt) == 0)
		return (next);
	if (a[0] != '-' || a[1] == '-' || (a = strpbrk(a + 1, sopt)) == NULL)
		return (NULL);
	/* env -S'cmd' is attached; su -lc CMD takes the next word */
	return (a[1] != '\0' && sopt[0] == 'S' ? a + 1 : next);
}

/* What a wrapper runs through a shell: su -c CMD, env -S CMD, watch CMD. */
static int
walk_wrapper_strings(struct walk *w, char *const *argv, size_t argc,
    const char *name, int depth)
{
	const char	*str;
	size_t		 j;
	int		 rc = 0;

	if (strcmp(name, "watch") == 0) {
		/* watch [options] CMD...: -n and --interval take a value */
		for (j = 1; j < argc && is_opt(argv[j]); j++)
			if (strcmp(argv[j], "-n") == 0 ||
			    strcmp(argv[j], "--interval") == 0)
				j++;
		return (j < argc ? walk_join(w, argv + j, argc - j,
		    depth + 1) : 0);
	}
	for (j = 1; j < argc && rc == 0; j++)
		if ((str = wrapper_string(argv, argc, j, name)) != NULL)
			rc = walk_text(w, str, strlen(str), depth + 1);
	return (rc);
}

/*
 * Every command that argv may run.  A wrapper's operands are each tried as
 * the start of the command it runs (sudo -u root rm: "root ..." and
 * "rm ..."), so no option table is needed; each start is queued once.
 */
static int
walk_argv(struct walk *w, const struct sh_cmd *c, char *const *argv,
    size_t argc, int depth)
{
	unsigned char	*seen;
	size_t		*stack, n = 0, i, j;
	const char	*name;
	int		 rc = 0;

	if (argc == 0)
		return (0);
	seen = calloc(argc, 1);
	stack = reallocarray(NULL, argc, sizeof(*stack));
	if (seen == NULL || stack == NULL) {
		free(seen);
		free(stack);
		return (sh_fail(w->ctx, SH_ENOMEM));
	}
	stack[n++] = 0;
	seen[0] = 1;
	while (n > 0 && rc == 0) {
		i = stack[--n];
		/* Skipped words are queued ones: each start is read once. */
		while (i < argc && (is_assign(argv[i]) || is_keyword(argv[i])))
			if (++i < argc && seen[i])
				i = argc;
			else if (i < argc)
				seen[i] = 1;
		if (i >= argc || is_opt(argv[i]))
			continue;
		if (sh_charge(w->ctx, 1) == -1) {
			rc = -1;
			break;
		}
		name = base(argv[i]);
		if (*name == '\0')
			continue;
		if ((rc = w->visit(w->arg, w->ctx, argv + i, argc - i, c,
		    name)) != 0)
			break;
		if (is_shell(name) && sh_charge(w->ctx, argc - i) == -1)
			rc = -1;
		else if (is_shell(name) && shell_has_c(argv + i, argc - i)) {
			/* Every word: the string may look like an option. */
			for (j = i + 1; j < argc && rc == 0; j++)
				rc = walk_text(w, argv[j], strlen(argv[j]),
				    depth + 1);
		} else if (is_shell(name) || strcmp(name, "source") == 0 ||
		    strcmp(name, ".") == 0) {
			/* bash <(echo ...): a script made by a command */
			for (j = i + 1; j < argc && rc == 0; j++)
				if (strncmp(argv[j], "<(", 2) == 0)
					rc = walk_output(w, argv[j] + 2,
					    strlen(argv[j]) - 2, depth);
		} else if (strcmp(name, "eval") == 0)
			rc = walk_join(w, argv + i + 1, argc - i - 1,
			    depth + 1);
		else if (in_set(name, wrappers, nitems(wrappers))) {
			rc = walk_wrapper_strings(w, argv + i, argc - i, name,
			    depth);
			for (j = argc - 1; j > i; j--)
				if (!seen[j]) {
					seen[j] = 1;
					stack[n++] = j;
				}
		}
	}
	free(seen);
	free(stack);
	return (rc);
}

/*
 * Where the command starts after the reserved words before it; a
 * function's or coprocess's name is skipped too, so that the body that
 * follows it is read as the command (function f { rm ...; }).
 */
static size_t
skip_keywords(char *const *argv, size_t argc)
{
	size_t	k = 0;

	while (k < argc) {
		if (is_keyword(argv[k]))
			k++;
		else if (strcmp(argv[k], "function") == 0)
			k += 2;
		else if (strcmp(argv[k], "coproc") == 0)
			k += k + 2 < argc && strcmp(argv[k + 2], "{") == 0 ?
			    2 : 1;
		else
			break;
	}
	return (k < argc ? k : argc);
}

/* printf FORMAT ARGS: the format again while arguments remain. */
static int
printf_render(struct sh_ctx *ctx, char *const *argv, size_t argc,
    struct buf *out)
{
	const char	*f = argv[0];
	size_t		 n = strlen(f), a = 1, j;
	int		 err = 0, used;

	do {
		for (used = 0, j = 0; j < n && !err; ) {
			if (f[j] == '\\' && j + 1 < n)
				j = ansi_escape(f, n, j + 1, out, &err);
			else if (f[j] == '%' && f[j + 1] == '%') {
				err = buf_addc(out, '%') == -1;
				j += 2;
			} else if (f[j] == '%') {
				j += 1 + strspn(f + j + 1, "-+ #0123456789.*");
				j += j < n;
				if (a < argc) {
					err = buf_add(out, argv[a],
					    strlen(argv[a])) == -1;
					a++;
					used = 1;
				}
			} else
				err = buf_addc(out, f[j++]) == -1;
		}
		if (!err && out->n > ctx->budget)
			return (sh_fail(ctx, SH_EBUDGET));
	} while (!err && used && a < argc);
	return (err ? sh_fail(ctx, SH_ENOMEM) : 0);
}

/*
 * What the program av[0] prints, as far as the text shows it: the
 * arguments of echo (with escapes read, as dash's echo does) and of printf
 * (its format applied), and what cat copies from c's here-document or
 * here-string.  Anything else prints nothing seen.  Appended to out.
 */
static int
prog_output(struct sh_ctx *ctx, const struct sh_cmd *c, char *const *av,
    size_t ac, struct buf *out)
{
	const char	*name = base(av[0]);
	size_t		 j;
	int		 err = 0;

	if (strcmp(name, "echo") == 0) {
		for (j = 1; j < ac && av[j][0] == '-' && av[j][1] != '\0' &&
		    strspn(av[j] + 1, "neE") == strlen(av[j] + 1); j++)
			;
		for (; j < ac && !err; j++) {
			(void)ansi_decode(av[j], strlen(av[j]), -1, out, &err);
			err |= buf_addc(out, j + 1 < ac ? ' ' : '\n') == -1;
		}
	} else if (strcmp(name, "printf") == 0 && ac > 1 &&
	    strcmp(av[1], "-v") != 0) {
		j = strcmp(av[1], "--") == 0 ? 2 : 1;
		if (j < ac)
			err = printf_render(ctx, av + j, ac - j, out) == -1;
	} else if (strcmp(name, "cat") == 0)
		for (j = 0; j < c->ninput && !err; j++)
			err = buf_add(out, c->input[j], strlen(c->input[j])) ==
			    -1 || buf_addc(out, '\n') == -1;
	if (err)
		return (sh_fail(ctx, SH_ENOMEM));
	return (sh_charge(ctx, out->n));
}

/*
 * What a command prints (prog_output).  Under a wrapper (sudo printf ...)
 * each operand is tried as the start of the program it runs, as
 * walk_argv() does: what more is seen printed can only deny more.
 */
static int
cmd_output(struct sh_ctx *ctx, const struct sh_cmd *c, struct buf *out)
{
	size_t	k = skip_keywords(c->argv, c->argc), j;
	int	rc;

	if (k >= c->argc)
		return (0);
	rc = prog_output(ctx, c, c->argv + k, c->argc - k, out);
	if (in_set(base(c->argv[k]), wrappers, nitems(wrappers)))
		for (j = k + 1; j < c->argc && rc == 0; j++)
			rc = prog_output(ctx, c, c->argv + j, c->argc - j, out);
	return (rc);
}

/* What the commands of a text print (cmd_output), into out. */
static int
text_output(struct sh_ctx *ctx, const char *s, size_t len, struct buf *out)
{
	struct sh_list	l;
	size_t		i;
	int		rc = 0;

	if (sh_lex(ctx, s, len, &l) == -1)
		return (-1);
	for (i = 0; i < l.ncmd && rc == 0; i++)
		rc = cmd_output(ctx, &l.cmd[i], out);
	sh_list_clear(&l);
	return (rc);
}

/* Walk what a text prints, as the commands of a shell that reads it. */
static int
walk_output(struct walk *w, const char *s, size_t len, int depth)
{
	struct buf	b = { NULL, 0, 0 };
	int		rc;

	if ((rc = text_output(w->ctx, s, len, &b)) == 0 && b.n > 0)
		rc = walk_text(w, b.b, b.n, depth + 1);
	free(b.b);
	return (rc);
}

/*
 * The words of a command with each $(...) and `...` that prints something
 * seen replaced by that (trailing newlines cut, as the shell does), joined
 * by spaces; *changed if any was.  $(echo rm) -rf / is rm -rf /.
 */
static int
subst_join(struct walk *w, char *const *argv, size_t argc, struct buf *b,
    int *changed)
{
	struct sh_list	 dummy;
	struct lx	 lx;
	struct buf	 o;
	size_t		 j, p, e, a, z;
	int		 err = 0;

	*changed = 0;
	memset(&dummy, 0, sizeof(dummy));
	for (j = 0; j < argc && !err; j++) {
		memset(&lx, 0, sizeof(lx));
		lx.ctx = w->ctx;
		lx.s = argv[j];
		lx.len = strlen(argv[j]);
		lx.l = &dummy;
		for (p = 0; p < lx.len && !err; p = e) {
			a = z = e = p + 1;
			if (argv[j][p] == '$' && lx_at(&lx, p + 1) == '(' &&
			    lx_at(&lx, p + 2) != '(') {
				a = p + 2;
				z = lx_close(&lx, a, '(', ')');
				e = z < lx.len ? z + 1 : lx.len;
			} else if (argv[j][p] == '`') {
				a = p + 1;
				e = lx_skip_bt(&lx, a);
				z = e > a && argv[j][e - 1] == '`' ? e - 1 : e;
			}
			memset(&o, 0, sizeof(o));
			if (z > a && text_output(w->ctx, argv[j] + a, z - a,
			    &o) == -1)
				err = 1;
			while (o.n > 0 && o.b[o.n - 1] == '\n')
				o.n--;
			if (!err && o.n > 0) {
				*changed = 1;
				err = buf_add(b, o.b, o.n) == -1;
			} else if (!err)
				err = buf_add(b, argv[j] + p, e - p) == -1;
			free(o.b);
		}
		if (!err && j + 1 < argc)
			err = buf_addc(b, ' ') == -1;
	}
	if (err)
		return (w->ctx->error != SH_OK ? -1 : sh_fail(w->ctx,
		    SH_ENOMEM));
	return (0);
}

/* Walk a command again with what its substitutions print in their place. */
static int
walk_substituted(struct walk *w, char *const *argv, size_t argc, int depth)
{
	struct buf	b = { NULL, 0, 0 };
	size_t		j;
	int		rc = 0, changed;

	for (j = 0; j < argc; j++)
		if (strstr(argv[j], "$(") != NULL ||
		    strchr(argv[j], '`') != NULL)
			break;
	if (j == argc)
		return (0);
	if ((rc = subst_join(w, argv, argc, &b, &changed)) == 0 && changed)
		rc = walk_text(w, b.b, b.n, depth + 1);
	free(b.b);
	return (rc);
}

/*
 * What a shell reading stdin gets: its here-strings and here-documents,
 * and what the command before it in a pipe prints.
 */
static int
walk_stdin(struct walk *w, const struct sh_list *l, size_t i, int depth)
{
	const struct sh_cmd	*c = &l->cmd[i];
	struct buf		 b = { NULL, 0, 0 };
	size_t			 j;
	int			 rc = 0;

	for (j = 0; j < c->ninput && rc == 0; j++)
		rc = walk_text(w, c->input[j], strlen(c->input[j]), depth + 1);
	if (rc != 0 || !c->piped || i == 0)
		return (rc);
	if ((rc = cmd_output(w->ctx, &l->cmd[i - 1], &b)) == 0 && b.n > 0)
		rc = walk_text(w, b.b, b.n, depth + 1);
	free(b.b);
	return (rc);
}

/* Every command of s[0..len), substitutions included. */
static int
walk_text(struct walk *w, const char *s, size_t len, int depth)
{
	static char *const	 noargs[1];
	struct sh_list		 l;
	const struct sh_cmd	*c;
	char *const		*av;
	size_t			 i, k;
	int			 rc = 0;

	if (depth > SH_DEPTH_MAX)
		return (sh_fail(w->ctx, SH_EDEEP));
	if (w->text != NULL && (rc = w->text(w->arg, w->ctx, s, len)) != 0)
		return (rc);
	if (sh_lex(w->ctx, s, len, &l) == -1)
		return (-1);
	for (i = 0; i < l.ncmd && rc == 0; i++) {
		c = &l.cmd[i];
		k = skip_keywords(c->argv, c->argc);
		av = c->argc > 0 ? c->argv + k : noargs;
		if (!w->deep)
			rc = w->visit(w->arg, w->ctx, av, c->argc - k, c,
			    k < c->argc ? c->argv[k] : NULL);
		else if ((rc = walk_argv(w, c, av, c->argc - k, depth)) == 0 &&
		    (rc = walk_substituted(w, av, c->argc - k, depth)) == 0 &&
		    stdin_shell(av, c->argc - k))
			rc = walk_stdin(w, &l, i, depth);
	}
	for (i = 0; i < l.nsub && rc == 0; i++)
		rc = walk_text(w, l.sub[i], strlen(l.sub[i]), depth + 1);
	sh_list_clear(&l);
	return (rc);
}

/* Walk a command with a fresh budget: the visitor's result, or -1. */
static int
walk(const char *cmd, int deep, sh_visit visit,
    int (*text)(void *, struct sh_ctx *, const char *, size_t), void *arg,
    enum sh_error *err)
{
	struct sh_ctx	ctx = { SH_BUDGET(strlen(cmd)), SH_OK };
	struct walk	w = { &ctx, deep, visit, text, arg };
	int		rc;

	rc = walk_text(&w, cmd, strlen(cmd), 0);
	if (rc == -1 && ctx.error == SH_OK)
		ctx.error = SH_ENOMEM;
	*err = rc == -1 ? ctx.error : SH_OK;
	return (rc);
}

/* ---- paths --------------------------------------------------------------- */

/*
 * s against dir when relative (dir NULL: s as if at the root), with ".",
 * ".." and repeated slashes resolved: "/" or "/a/b".  *up (if not NULL)
 * counts the ".." that went above the root.
 */
static char *
path_norm(const char *dir, const char *s, size_t *up)
{
	struct buf	 b = { NULL, 0, 0 };
	const char	*part[2], *p, *e;
	size_t		 i, n;
	int		 err = 0;

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
			err = buf_addc(&b, '/') == -1 || buf_add(&b, p, n) == -1;
		}
	}
	if (!err && b.n == 0)
		err = buf_addc(&b, '/') == -1;
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
	} else if (strncmp(t, "$HOME", 5) == 0 && !is_ident(t[5])) {
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
		if (opts && is_opt(argv[j])) {
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
	dev = strncmp(n, "/dev/", 5) == 0 && !harmless_sink(n);
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
hard_visit(void *arg, struct sh_ctx *ctx, char *const *argv,
    size_t argc, const struct sh_cmd *c, const char *name)
{
	int	*rule = arg;

	*rule = hard_check(argv, argc, name);
	/* rm, chmod, ... read all their words: charge them */
	if (*rule == HD_NRULES && (strcmp(name, "rm") == 0 ||
	    strncmp(name, "ch", 2) == 0 || strcmp(name, "dd") == 0 ||
	    strcmp(name, "launchctl") == 0) && sh_charge(ctx, argc) == -1)
		return (-1);
	return (*rule != HD_NRULES);
}

static int
name_char(char c)
{
	return (c != '\0' && !is_meta(c) && c != '{' && c != '}');
}

/*
 * A function that pipes itself into itself in the background: NAME() {
 * ... NAME | NAME & ... }, any name and spacing (:(){ :|:& };:).
 */
static int
hard_forkbomb(void *arg, struct sh_ctx *ctx, const char *s, size_t len)
{
	int		*rule = arg;
	const char	*body, *end, *q;
	size_t		 i, k, e, j, n;

	for (i = 0; i < len; i++) {
		if (s[i] != '(')
			continue;
		for (e = i; e > 0 && is_blank(s[e - 1]); e--)
			;
		for (k = e; k > 0 && name_char(s[k - 1]); k--)
			;
		if ((n = e - k) == 0)
			continue;
		for (j = i + 1; j < len && is_blank(s[j]); j++)
			;
		if (j >= len || s[j] != ')')
			continue;
		for (j++; j < len && (is_blank(s[j]) || s[j] == '\n'); j++)
			;
		if (j >= len || (s[j] != '{' && s[j] != '('))
			continue;
		body = s + j + 1;
		end = s + len;
		if ((q = memchr(body, s[j] == '{' ? '}' : ')',
		    (size_t)(end - body))) != NULL)
			end = q;
		if (sh_charge(ctx, (size_t)(end - body)) == -1)
			return (-1);
		if (memchr(body, '&', (size_t)(end - body)) == NULL)
			continue;
		for (q = body; q + n <= end; q++) {
			if (memcmp(q, s + k, n) != 0 ||
			    (q > body && name_char(q[-1])))
				continue;
			for (j = n; q + j < end && is_blank(q[j]); j++)
				;
			if (q + j >= end || q[j] != '|')
				continue;
			for (j++; q + j < end && is_blank(q[j]); j++)
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
    enum sh_error err)
{
	decision(d, POLICY_DENY, src, err == SH_ENOMEM ?
	    "out of memory while checking the command" :
	    "the command is too complex to check", "(unchecked)");
}

int
policy_hard_deny(const char *command, struct policy_decision *d)
{
	enum sh_error	err;
	int		rule = HD_NRULES, rc;

	decision(d, POLICY_ASK, POLICY_SRC_NONE, NULL, NULL);
	if (command == NULL)
		return (0);
	rc = walk(command, 1, hard_visit, hard_forkbomb, &rule, &err);
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
	strv_free(r->words, r->nwords);
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
	strv_free(cfg->paths, cfg->npaths);
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
shell_words(struct crule *r)
{
	struct sh_ctx	 ctx = { SH_BUDGET(strlen(r->arg)), SH_OK };
	struct sh_list	 l;
	struct sh_cmd	*c;

	if (sh_lex(&ctx, r->arg, strlen(r->arg), &l) == -1)
		return (ctx.error == SH_ENOMEM ? -2 : -1);
	/* No command at all leaves l.cmd NULL. */
	if (l.ncmd != 1 || l.nsub != 0 || l.cmd[0].argc == 0 ||
	    l.cmd[0].ninput != 0 || l.cmd[0].writes) {
		sh_list_clear(&l);
		return (-1);
	}
	c = &l.cmd[0];
	r->words = c->argv;
	r->nwords = c->argc;
	c->argv = NULL;
	c->argc = 0;
	sh_list_clear(&l);
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
		if ((rc = shell_words(r)) == -2)
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
		if (grow(&cfg->rules[which], &cap, cfg->nrules[which],
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
		if (strv_push(&cfg->paths, &cfg->npaths, &cap, p) == -1)
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
		if (grow(&cfg->hosts, &cap, cfg->nhosts, HOST_MAX) == -1)
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
deny_visit(void *arg, struct sh_ctx *ctx, char *const *argv,
    size_t argc, const struct sh_cmd *c, const char *name)
{
	struct dmatch		*m = arg;
	const struct crule	*r;
	size_t			 i;

	if (sh_charge(ctx, m->first) == -1)
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
sallow_visit(void *arg, struct sh_ctx *ctx, char *const *argv,
    size_t argc, const struct sh_cmd *c, const char *name)
{
	struct sallow		*sa = arg;
	const struct crule	*r;
	size_t			 i;

	if (argc == 0)
		return (c->writes);
	sa->ncmd++;
	/* FOO=1 cmd and cmd > file are not what a rule for cmd allows. */
	if (c->writes || is_assign(argv[0]))
		return (1);
	for (i = 0; sa->cfg != NULL && i < sa->cfg->nrules[ALLOW]; i++) {
		r = &sa->cfg->rules[ALLOW][i];
		if (r->k == K_SHELL && r->arg != NULL &&
		    words_match(r, argv, argc, NULL)) {
			sa->used[i] = 1;
			return (0);
		}
	}
	if (sa->admin && in_set(argv[0], admin_shell, nitems(admin_shell))) {
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
	struct sallow	sa;
	enum sh_error	err;
	char		rules[POLICY_RULE_MAX * 2];
	int		rc;

	memset(&sa, 0, sizeof(sa));
	sa.cfg = cfg;
	sa.admin = req->admin;
	if ((sa.used = calloc((cfg != NULL ? cfg->nrules[ALLOW] : 0) + 1,
	    1)) == NULL) {
		unchecked(d, POLICY_SRC_CONFIG, SH_ENOMEM);
		return (POLICY_DENY);
	}
	rc = walk(req->command, 0, sallow_visit, NULL, &sa, &err);
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
	struct dmatch	m = { cfg, cfg->nrules[DENY] };
	enum sh_error	err;
	size_t		i;

	*first = cfg->nrules[DENY];
	for (i = 0; i < cfg->nrules[DENY]; i++)
		if (cfg->rules[DENY][i].k == K_SHELL &&
		    cfg->rules[DENY][i].arg != NULL)
			break;
	if (i == cfg->nrules[DENY] || req->command == NULL ||
	    !kind_is(req, "shell"))
		return (0);
	if (walk(req->command, 1, deny_visit, NULL, &m, &err) == -1) {
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
			unchecked(d, POLICY_SRC_CONFIG, SH_ENOMEM);
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
		unchecked(d, POLICY_SRC_CONFIG, SH_ENOMEM);
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
names_visit(void *arg, struct sh_ctx *ctx, char *const *argv,
    size_t argc, const struct sh_cmd *c, const char *name)
{
	struct names	*nm = arg;
	size_t		 i = 0;

	if (c->writes)
		nm->blocked = 1;
	while (i < argc && is_assign(argv[i])) {
		nm->blocked = 1;
		i++;
	}
	if (i >= argc)
		return (0);
	if (is_wrapper(base(argv[i])) || argv[i][0] == '\0')
		nm->blocked = 1;
	if (argv[i][0] == '\0')
		return (0);
	for (name = argv[i], i = 0; i < nm->n; i++)
		if (strcmp(nm->v[i], name) == 0)
			return (0);
	return (strv_push(&nm->v, &nm->n, &nm->cap, strdup(name)));
}

static int
names_get(const struct policy_request *req, struct names *nm)
{
	struct rpaths	rp;
	enum sh_error	err;
	int		rc = 0;

	memset(nm, 0, sizeof(*nm));
	if (kind_is(req, "shell") && req->command != NULL)
		rc = walk(req->command, 0, names_visit, NULL, nm, &err);
	else if (kind_is(req, "read") && req->path != NULL &&
	    req->path[0] != '\0') {
		rpaths_get(req, NULL, &rp);
		rc = strv_push(&nm->v, &nm->n, &nm->cap,
		    strdup(rp.n > 0 && rp.p[0] != NULL && !rp.unusable ?
		    rp.p[0] : req->path));
		rpaths_free(&rp);
	}
	if (rc != 0) {
		strv_free(nm->v, nm->n);
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
	strv_free(nm.v, nm.n);
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
		strv_free(nm.v, nm.n);
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
