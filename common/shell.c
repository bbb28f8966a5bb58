/*
 * shell: the commands a shell command line could run (shell.h).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "shell.h"

#define SH_DEPTH_MAX	16	/* command strings in command strings */
#define SH_NEST_MAX	64	/* nested quotes and parentheses in one */

static int
sh_fail(struct shell_ctx *ctx, enum shell_error e)
{
	if (ctx->error == SHELL_OK)
		ctx->error = e;
	return (-1);
}

int
shell_charge(struct shell_ctx *ctx, size_t n)
{
	if (ctx->error != SHELL_OK)
		return (-1);
	if (n > ctx->budget)
		return (sh_fail(ctx, SHELL_EBUDGET));
	ctx->budget -= n;
	return (0);
}

int
shell_buf_add(struct shell_buf *b, const char *s, size_t n)
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

int
shell_buf_addc(struct shell_buf *b, char c)
{
	return (shell_buf_add(b, &c, 1));
}

/* A copy of b's text ("" for none). */
static char *
buf_dup(const struct shell_buf *b)
{
	return (b->b != NULL ? strndup(b->b, b->n) : strdup(""));
}

/* Room for one more element in *v (n used of *cap). */
int
shell_grow(void *vp, size_t *cap, size_t n, size_t size)
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

int
shell_strv_push(char ***v, size_t *n, size_t *cap, char *s)
{
	if (s == NULL || shell_grow(v, cap, *n, sizeof(**v)) == -1) {
		free(s);
		return (-1);
	}
	(*v)[(*n)++] = s;
	return (0);
}

void
shell_strv_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
sh_cmd_clear(struct shell_cmd *c)
{
	shell_strv_free(c->argv, c->argc);
	shell_strv_free(c->input, c->ninput);
	memset(c, 0, sizeof(*c));
}

void
shell_list_clear(struct shell_list *l)
{
	size_t	i;

	for (i = 0; i < l->ncmd; i++)
		sh_cmd_clear(&l->cmd[i]);
	free(l->cmd);
	shell_strv_free(l->sub, l->nsub);
	memset(l, 0, sizeof(*l));
}

/* ---- words --------------------------------------------------------------- */

int
shell_is_blank(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v');
}

/* Ends an unquoted word. */
int
shell_is_meta(char c)
{
	return (shell_is_blank(c) || c == '\n' || c == ';' || c == '&' ||
	    c == '|' || c == '(' || c == ')' || c == '<' || c == '>');
}

int
shell_is_ident(char c)
{
	return (isalnum((unsigned char)c) || c == '_');
}

/* NAME=... or NAME+=..., a variable assignment before a command. */
int
shell_is_assign(const char *w)
{
	size_t	i = 0;

	if (!isalpha((unsigned char)w[0]) && w[0] != '_')
		return (0);
	while (shell_is_ident(w[i]))
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

int
shell_is_opt(const char *w)
{
	return (w[0] == '-' && w[1] != '\0');
}

/* The last component of a path: /usr/bin/rm is rm. */
const char *
shell_base(const char *w)
{
	const char	*s = strrchr(w, '/');

	return (s != NULL ? s + 1 : w);
}

int
shell_in_set(const char *w, const char *const *set, size_t n)
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
	return (shell_in_set(name, shells, nitems(shells)));
}

/* A program that runs another command: a shell or a wrapper. */
int
shell_is_wrapper(const char *name)
{
	return (is_shell(name) ||
	    shell_in_set(name, wrappers, nitems(wrappers)));
}

/* ---- the lexer ----------------------------------------------------------- */

struct heredoc {
	char		*delim;
	int		 strip;		/* <<-: leading tabs */
	int		 quoted;	/* no expansion in the body */
	size_t		 cmd;
};

struct lx {
	struct shell_ctx	*ctx;
	const char		*s;
	size_t			 len, p;
	struct shell_list	*l;
	struct shell_buf	 w;		/* the word being read */
	int			 inword;	/* w holds a word, maybe "" */
	int			 wquoted;	/* w had quotes or escapes */
	/* reading a redirection's target */
	int			 target;
	/* the last command takes words */
	int			 open;
	/* the next command reads a pipe */
	int			 piped;
	int			 nest;
	struct heredoc		*hd;
	size_t			 nhd, hdcap;
};

static char
lx_at(const struct lx *lx, size_t i)
{
	return (i < lx->len ? lx->s[i] : '\0');
}

static int
lx_oom(struct lx *lx)
{
	return (sh_fail(lx->ctx, SHELL_ENOMEM));
}

static int
lx_sub(struct lx *lx, size_t a, size_t b)
{
	struct shell_list	*l = lx->l;

	if (b < a)
		b = a;
	if (shell_strv_push(&l->sub, &l->nsub, &l->subcap,
	    strndup(lx->s + a, b - a)) == -1)
		return (lx_oom(lx));
	return (0);
}

static struct shell_cmd *
lx_cmd(struct lx *lx)
{
	struct shell_list	*l = lx->l;

	if (!lx->open) {
		if (shell_grow(&l->cmd, &l->cmdcap, l->ncmd,
		    sizeof(*l->cmd)) == -1) {
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
	struct shell_cmd	*c;

	if (!lx->inword)
		return (0);
	if ((c = lx_cmd(lx)) == NULL)
		return (-1);
	if (shell_strv_push(&c->argv, &c->argc, &c->argcap,
	    buf_dup(&lx->w)) == -1)
		return (lx_oom(lx));
	lx->w.n = 0;
	lx->inword = lx->wquoted = 0;
	return (0);
}

static int
lx_cmd_end(struct lx *lx, int pipe)
{
	struct shell_list	*l = lx->l;
	struct shell_cmd	*c;
	size_t			 i;

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
		return (sh_fail(lx->ctx, SHELL_EDEEP));
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
	struct shell_buf	 b = { NULL, 0, 0 };
	struct shell_list	*l = lx->l;
	char			 c;

	for (; i < end; i++) {
		c = lx->s[i];
		if (c == '\\' && i + 1 < end && (lx->s[i + 1] == '`' ||
		    lx->s[i + 1] == '\\' || lx->s[i + 1] == '$'))
			c = lx->s[++i];
		if (shell_buf_addc(&b, c) == -1) {
			free(b.b);
			return (lx_oom(lx));
		}
	}
	if (shell_strv_push(&l->sub, &l->nsub, &l->subcap, buf_dup(&b)) == -1) {
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
	while (i < b && lx->ctx->error == SHELL_OK) {
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
	return (lx->ctx->error == SHELL_OK ? 0 : -1);
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
buf_addcp(struct shell_buf *b, uint32_t cp)
{
	char	u[4];

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	if (cp < 0x80)
		return (shell_buf_addc(b, (char)cp));
	if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		return (shell_buf_add(b, u, 2));
	}
	if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		return (shell_buf_add(b, u, 3));
	}
	u[0] = (char)(0xf0 | cp >> 18);
	u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	u[3] = (char)(0x80 | (cp & 0x3f));
	return (shell_buf_add(b, u, 4));
}

/* The escape after a backslash, at s[i]; returns where it ends. */
static size_t
ansi_escape(const char *s, size_t n, size_t i, struct shell_buf *out, int *err)
{
	static const char	 from[] = "abefnrtv", to[] = "\a\b\033\f\n\r\t\v";
	const char		*e;
	size_t			 k, max;
	uint32_t		 cp;
	int			 h, base = 16;

	if (s[i] != '\0' && (e = strchr(from, s[i])) != NULL) {
		*err |= shell_buf_addc(out, to[e - from]) == -1;
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
			*err |= shell_buf_addc(out, '\\') == -1;
		*err |= shell_buf_addc(out, s[i]) == -1;
		return (i + 1);
	}
	for (cp = 0, k = 0; k < max && i < n; k++, i++) {
		if ((h = hexval(s[i])) == -1 || h >= base)
			break;
		cp = cp * (uint32_t)base + (uint32_t)h;
	}
	if (base == 8 || max == 2) {	/* a byte; a NUL is dropped */
		if ((char)cp != '\0')
			*err |= shell_buf_addc(out, (char)cp) == -1;
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
ansi_decode(const char *s, size_t n, int term, struct shell_buf *out, int *err)
{
	size_t	i = 0;

	while (i < n && (term == -1 || s[i] != term)) {
		if (s[i] == '\\' && i + 1 < n)
			i = ansi_escape(s, n, i + 1, out, err);
		else {
			if (s[i] != '\0')
				*err |= shell_buf_addc(out, s[i]) == -1;
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
		    strncmp(s + p + 2, "IFS", 3) == 0 &&
		    !shell_is_ident(s[p + 5])) {
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
	    p + 4 <= lx->len && !shell_is_ident(lx_at(lx, p + 4))) {
		lx->p = p + 4;
		return (lx_word_end(lx));
	} else {
		lx->p++;
		return (shell_buf_addc(&lx->w, '$') == -1 ? lx_oom(lx) : 0);
	}
	/* The substitution stays in the word as written. */
	j = j < lx->len ? j + 1 : lx->len;
	lx->p = j;
	return (shell_buf_add(&lx->w, s + p, j - p) == -1 ? lx_oom(lx) : 0);
}

static int
lx_backtick(struct lx *lx)
{
	size_t	p = lx->p, j = lx_skip_bt(lx, p + 1);

	if (lx_sub_bt(lx, p + 1, j > p + 1 && lx->s[j - 1] == '`' &&
	    j <= lx->len ? j - 1 : j) == -1)
		return (-1);
	lx->p = j;
	return (shell_buf_add(&lx->w, lx->s + p, j - p) == -1 ? lx_oom(lx) : 0);
}

static int
lx_dquote(struct lx *lx)
{
	const char	*s = lx->s;
	char		 c;

	lx->p++;
	while (lx->p < lx->len && lx->ctx->error == SHELL_OK) {
		c = s[lx->p];
		if (c == '"') {
			lx->p++;
			return (0);
		}
		if (c == '\\' && lx->p + 1 < lx->len &&
		    strchr("$`\"\\\n", s[lx->p + 1]) != NULL) {
			if (s[lx->p + 1] != '\n' &&
			    shell_buf_addc(&lx->w, s[lx->p + 1]) == -1)
				return (lx_oom(lx));
			lx->p += 2;
		} else if (c == '$') {
			if (lx_dollar(lx, 1) == -1)
				return (-1);
		} else if (c == '`') {
			if (lx_backtick(lx) == -1)
				return (-1);
		} else {
			if (shell_buf_addc(&lx->w, c) == -1)
				return (lx_oom(lx));
			lx->p++;
		}
	}
	return (lx->ctx->error == SHELL_OK ? 0 : -1);
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
			return (shell_buf_addc(&lx->w, '\\') == -1 ?
			    lx_oom(lx) : 0);
		}
		lx->p += 2;
		if (s[p + 1] == '\n') {		/* a continued line */
			lx->inword = was;
			return (0);
		}
		return (shell_buf_addc(&lx->w, s[p + 1]) == -1 ? lx_oom(lx) :
		    0);
	case '\'':
		lx->wquoted = 1;
		j = lx_skip_sq(lx, p + 1);
		lx->p = j;
		if (j > p + 1 && s[j - 1] == '\'')
			j--;
		return (shell_buf_add(&lx->w, s + p + 1, j - (p + 1)) == -1 ?
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
		return (shell_buf_addc(&lx->w, s[p]) == -1 ? lx_oom(lx) : 0);
	}
}

/* A redirection's target word, into a new string (*quoted: had quotes). */
static char *
lx_target(struct lx *lx, int *quoted)
{
	struct shell_buf	 save = lx->w;
	int			 sin = lx->inword, sq = lx->wquoted;
	char			*t;

	memset(&lx->w, 0, sizeof(lx->w));
	lx->inword = lx->wquoted = 0;
	lx->target = 1;
	while (lx->p < lx->len && shell_is_blank(lx->s[lx->p]))
		lx->p++;
	while (lx->p < lx->len && !shell_is_meta(lx->s[lx->p]) &&
	    lx->ctx->error == SHELL_OK)
		if (lx_wordch(lx) == -1)
			break;
	lx->target = 0;
	*quoted = lx->wquoted;
	t = lx->ctx->error == SHELL_OK ? buf_dup(&lx->w) : NULL;
	if (t == NULL)
		lx_oom(lx);
	free(lx->w.b);
	lx->w = save;
	lx->inword = sin;
	lx->wquoted = sq;
	return (t);
}

/* Output into this is not a write to a file. */
int
shell_harmless_sink(const char *t)
{
	static const char *const sinks[] = { "/dev/null", "/dev/stdout",
	    "/dev/stderr", "/dev/tty", "/dev/zero" };
	size_t	i;

	if (shell_in_set(t, sinks, nitems(sinks)))
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
	struct shell_cmd	*c;
	struct heredoc		*h;
	char			*t;
	int			 quoted;

	if ((t = lx_target(lx, &quoted)) == NULL)
		return (-1);
	if ((c = lx_cmd(lx)) == NULL) {
		free(t);
		return (-1);
	}
	switch (kind) {
	case R_WRITE:
		c->writes |= !shell_harmless_sink(t);
		break;
	case R_DUP:	/* >&2 duplicates; >&file writes stdout and stderr */
		c->writes |= !all_digits(t, strlen(t)) &&
		    strcmp(t, "-") != 0 && !shell_harmless_sink(t);
		break;
	case R_HERESTR:
		if (shell_strv_push(&c->input, &c->ninput, &c->inputcap,
		    t) == -1)
			return (lx_oom(lx));
		return (0);
	case R_HEREDOC:
		if (shell_grow(&lx->hd, &lx->hdcap, lx->nhd,
		    sizeof(*lx->hd)) == -1) {
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
		return (shell_buf_add(&lx->w, s + p, j - p) == -1 ?
		    lx_oom(lx) : 0);
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
	struct heredoc		*h;
	struct shell_cmd	*c;
	const char		*s = lx->s, *nl;
	size_t			 i, start, end, eol, k, dl;
	int			 rc = 0;

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
		if (rc == 0 && shell_charge(lx->ctx, end - start) == -1)
			rc = -1;
		if (rc == 0 && h->cmd < lx->l->ncmd) {
			c = &lx->l->cmd[h->cmd];
			if (shell_strv_push(&c->input, &c->ninput, &c->inputcap,
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

	while ((p = lx->p) < lx->len && lx->ctx->error == SHELL_OK) {
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
			    lx->w.b[lx->w.n - 1] == '=' &&
			    shell_is_assign(lx->w.b)) {
				j = lx_close(lx, p + 1, '(', ')');
				if (lx_collect(lx, p + 1, j) == -1)
					return (-1);
				j = j < lx->len ? j + 1 : lx->len;
				lx->p = j;
				if (shell_buf_add(&lx->w, s + p, j - p) == -1)
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
	if (lx->ctx->error != SHELL_OK || lx_cmd_end(lx, 0) == -1)
		return (-1);
	return (lx_heredocs(lx));
}

/* The commands and substitutions of s[0..len).  l is cleared on error. */
int
shell_lex(struct shell_ctx *ctx, const char *s, size_t len,
    struct shell_list *l)
{
	struct lx	lx;
	size_t		i;
	int		rc;

	memset(l, 0, sizeof(*l));
	if (shell_charge(ctx, len + 1) == -1)
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
	if (rc == -1 || ctx->error != SHELL_OK) {
		shell_list_clear(l);
		return (-1);
	}
	return (0);
}

/* ---- walking the commands ------------------------------------------------ */

struct walk {
	struct shell_ctx	*ctx;
	int			 deep;	/* also what wrappers and shells run */
	shell_visit		 visit;
	/* Sees each text before it is lexed; or NULL. */
	int			(*text)(void *, struct shell_ctx *,
			    const char *, size_t);
	void			*arg;
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
		b = shell_base(argv[j]);
		if (is_shell(b))
			return (!shell_has_c(argv + j, argc - j));
		if (j == 0 && !shell_is_wrapper(b) && !shell_is_assign(argv[j]))
			return (0);
	}
	return (0);
}

static int
walk_join(struct walk *w, char *const *argv, size_t argc, int depth)
{
	struct shell_buf	b = { NULL, 0, 0 };
	size_t			j;
	int			rc, err = 0;

	for (j = 0; j < argc && !err; j++)
		err = (j > 0 && shell_buf_addc(&b, ' ') == -1) ||
		    shell_buf_add(&b, argv[j], strlen(argv[j])) == -1;
	if (err) {
		free(b.b);
		return (sh_fail(w->ctx, SHELL_ENOMEM));
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

	if (shell_in_set(name, c_runners, nitems(c_runners))) {
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
		for (j = 1; j < argc && shell_is_opt(argv[j]); j++)
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
walk_argv(struct walk *w, const struct shell_cmd *c, char *const *argv,
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
		return (sh_fail(w->ctx, SHELL_ENOMEM));
	}
	stack[n++] = 0;
	seen[0] = 1;
	while (n > 0 && rc == 0) {
		i = stack[--n];
		/* Skipped words are queued ones: each start is read once. */
		while (i < argc && (shell_is_assign(argv[i]) ||
		    is_keyword(argv[i])))
			if (++i < argc && seen[i])
				i = argc;
			else if (i < argc)
				seen[i] = 1;
		if (i >= argc || shell_is_opt(argv[i]))
			continue;
		if (shell_charge(w->ctx, 1) == -1) {
			rc = -1;
			break;
		}
		name = shell_base(argv[i]);
		if (*name == '\0')
			continue;
		if ((rc = w->visit(w->arg, w->ctx, argv + i, argc - i, c,
		    name)) != 0)
			break;
		if (is_shell(name) && shell_charge(w->ctx, argc - i) == -1)
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
		else if (shell_in_set(name, wrappers, nitems(wrappers))) {
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
printf_render(struct shell_ctx *ctx, char *const *argv, size_t argc,
    struct shell_buf *out)
{
	const char	*f = argv[0];
	size_t		 n = strlen(f), a = 1, j;
	int		 err = 0, used;

	do {
		for (used = 0, j = 0; j < n && !err; ) {
			if (f[j] == '\\' && j + 1 < n)
				j = ansi_escape(f, n, j + 1, out, &err);
			else if (f[j] == '%' && f[j + 1] == '%') {
				err = shell_buf_addc(out, '%') == -1;
				j += 2;
			} else if (f[j] == '%') {
				j += 1 + strspn(f + j + 1, "-+ #0123456789.*");
				j += j < n;
				if (a < argc) {
					err = shell_buf_add(out, argv[a],
					    strlen(argv[a])) == -1;
					a++;
					used = 1;
				}
			} else
				err = shell_buf_addc(out, f[j++]) == -1;
		}
		if (!err && out->n > ctx->budget)
			return (sh_fail(ctx, SHELL_EBUDGET));
	} while (!err && used && a < argc);
	return (err ? sh_fail(ctx, SHELL_ENOMEM) : 0);
}

/*
 * What the program av[0] prints, as far as the text shows it: the
 * arguments of echo (with escapes read, as dash's echo does) and of printf
 * (its format applied), and what cat copies from c's here-document or
 * here-string.  Anything else prints nothing seen.  Appended to out.
 */
static int
prog_output(struct shell_ctx *ctx, const struct shell_cmd *c, char *const *av,
    size_t ac, struct shell_buf *out)
{
	const char	*name = shell_base(av[0]);
	size_t		 j;
	int		 err = 0;

	if (strcmp(name, "echo") == 0) {
		for (j = 1; j < ac && av[j][0] == '-' && av[j][1] != '\0' &&
		    strspn(av[j] + 1, "neE") == strlen(av[j] + 1); j++)
			;
		for (; j < ac && !err; j++) {
			(void)ansi_decode(av[j], strlen(av[j]), -1, out, &err);
			err |= shell_buf_addc(out, j + 1 < ac ? ' ' : '\n') ==
			    -1;
		}
	} else if (strcmp(name, "printf") == 0 && ac > 1 &&
	    strcmp(av[1], "-v") != 0) {
		j = strcmp(av[1], "--") == 0 ? 2 : 1;
		if (j < ac)
			err = printf_render(ctx, av + j, ac - j, out) == -1;
	} else if (strcmp(name, "cat") == 0)
		for (j = 0; j < c->ninput && !err; j++)
			err = shell_buf_add(out, c->input[j],
			    strlen(c->input[j])) == -1 ||
			    shell_buf_addc(out, '\n') == -1;
	if (err)
		return (sh_fail(ctx, SHELL_ENOMEM));
	return (shell_charge(ctx, out->n));
}

/*
 * What a command prints (prog_output).  Under a wrapper (sudo printf ...)
 * each operand is tried as the start of the program it runs, as
 * walk_argv() does: what more is seen printed can only deny more.
 */
static int
cmd_output(struct shell_ctx *ctx, const struct shell_cmd *c,
    struct shell_buf *out)
{
	size_t	k = skip_keywords(c->argv, c->argc), j;
	int	rc;

	if (k >= c->argc)
		return (0);
	rc = prog_output(ctx, c, c->argv + k, c->argc - k, out);
	if (shell_in_set(shell_base(c->argv[k]), wrappers, nitems(wrappers)))
		for (j = k + 1; j < c->argc && rc == 0; j++)
			rc = prog_output(ctx, c, c->argv + j, c->argc - j, out);
	return (rc);
}

/* What the commands of a text print (cmd_output), into out. */
static int
text_output(struct shell_ctx *ctx, const char *s, size_t len,
    struct shell_buf *out)
{
	struct shell_list	l;
	size_t			i;
	int			rc = 0;

	if (shell_lex(ctx, s, len, &l) == -1)
		return (-1);
	for (i = 0; i < l.ncmd && rc == 0; i++)
		rc = cmd_output(ctx, &l.cmd[i], out);
	shell_list_clear(&l);
	return (rc);
}

/* Walk what a text prints, as the commands of a shell that reads it. */
static int
walk_output(struct walk *w, const char *s, size_t len, int depth)
{
	struct shell_buf	b = { NULL, 0, 0 };
	int			rc;

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
subst_join(struct walk *w, char *const *argv, size_t argc, struct shell_buf *b,
    int *changed)
{
	struct shell_list	 dummy;
	struct lx		 lx;
	struct shell_buf	 o;
	size_t			 j, p, e, a, z;
	int			 err = 0;

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
				err = shell_buf_add(b, o.b, o.n) == -1;
			} else if (!err)
				err = shell_buf_add(b, argv[j] + p, e - p) ==
				    -1;
			free(o.b);
		}
		if (!err && j + 1 < argc)
			err = shell_buf_addc(b, ' ') == -1;
	}
	if (err)
		return (w->ctx->error != SHELL_OK ? -1 : sh_fail(w->ctx,
		    SHELL_ENOMEM));
	return (0);
}

/* Walk a command again with what its substitutions print in their place. */
static int
walk_substituted(struct walk *w, char *const *argv, size_t argc, int depth)
{
	struct shell_buf	b = { NULL, 0, 0 };
	size_t			j;
	int			rc = 0, changed;

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
walk_stdin(struct walk *w, const struct shell_list *l, size_t i, int depth)
{
	const struct shell_cmd	*c = &l->cmd[i];
	struct shell_buf	 b = { NULL, 0, 0 };
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
	struct shell_list	 l;
	const struct shell_cmd	*c;
	char *const		*av;
	size_t			 i, k;
	int			 rc = 0;

	if (depth > SH_DEPTH_MAX)
		return (sh_fail(w->ctx, SHELL_EDEEP));
	if (w->text != NULL && (rc = w->text(w->arg, w->ctx, s, len)) != 0)
		return (rc);
	if (shell_lex(w->ctx, s, len, &l) == -1)
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
	shell_list_clear(&l);
	return (rc);
}

/* Walk a command with a fresh budget: the visitor's result, or -1. */
int
shell_walk(const char *cmd, int deep, shell_visit visit,
    int (*text)(void *, struct shell_ctx *, const char *, size_t), void *arg,
    enum shell_error *err)
{
	struct shell_ctx	ctx = { SHELL_BUDGET(strlen(cmd)), SHELL_OK };
	struct walk		w = { &ctx, deep, visit, text, arg };
	int			rc;

	rc = walk_text(&w, cmd, strlen(cmd), 0);
	if (rc == -1 && ctx.error == SHELL_OK)
		ctx.error = SHELL_ENOMEM;
	*err = rc == -1 ? ctx.error : SHELL_OK;
	return (rc);
}
