/*
 * shell: the commands a shell command line could run, for the permission
 * checks of policy.c (docs/architecture.md "Reading a shell command").
 * Pure: no I/O, no globals.  It reads; it decides nothing: what a command
 * may do is policy's.
 *
 * A small lexer does what bash does with quotes, escapes, separators,
 * redirections, here-documents and substitutions, well enough to find
 * every command the text could run.  shell_walk() shows a visitor each of
 * them and, in a deep walk, what they run in turn: a wrapper's command, a
 * shell's -c string, eval's words, what a command visibly prints into a
 * shell.  Where it cannot tell, it errs towards seeing one command too
 * many (a prompt too many), never one too few.  It is a check on text,
 * not a sandbox: what a command computes at run time ($X -rf /,
 * curl | sh) is beyond it.
 *
 * The work on one command is bounded (SHELL_BUDGET) and so is its nesting:
 * past either, shell_lex() and shell_walk() fail with SHELL_EBUDGET or
 * SHELL_EDEEP (policy.c denies such a command as too complex to check).
 */
#ifndef COMMON_SHELL_H
#define COMMON_SHELL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Work allowed on one command, in bytes lexed and words examined: linear in
 * its length, so that wrappers re-reading their arguments (eval "watch
 * eval ...") cannot make a short command take long.
 */
#define SHELL_BUDGET_BASE	65536
#define SHELL_BUDGET_BYTE	16
#define SHELL_BUDGET(len)	(SHELL_BUDGET_BASE + SHELL_BUDGET_BYTE * \
			    ((len) < (SIZE_MAX - SHELL_BUDGET_BASE) / \
			    SHELL_BUDGET_BYTE ? (len) : 0))

enum shell_error { SHELL_OK, SHELL_ENOMEM, SHELL_EDEEP, SHELL_EBUDGET };

struct shell_ctx {
	size_t			 budget;
	enum shell_error	 error;
};

/* One simple command. */
struct shell_cmd {
	char		**argv;
	size_t		  argc, argcap;
	char		**input;	/* its stdin: here-strings, here-docs */
	size_t		  ninput, inputcap;
	int		  piped;	/* reads the previous command's output */
	int		  writes;	/* redirects output into a file */
};

struct shell_list {
	struct shell_cmd *cmd;
	size_t		  ncmd, cmdcap;
	char		**sub;		/* $(...), `...`, <(...), >(...) */
	size_t		  nsub, subcap;
};

/* A growing string, always NUL-terminated once written. */
struct shell_buf {
	char		*b;
	size_t		 n, cap;
};

/*
 * A visitor sees each command as argv[0..argc) with name, the program:
 * argv[0] as written in a shallow walk, its last path component in a deep
 * one.  Nonzero stops the walk and is its result.
 */
typedef int	(*shell_visit)(void *, struct shell_ctx *, char *const *,
		    size_t, const struct shell_cmd *, const char *);

/*
 * Walk every command of cmd with a fresh budget, substitutions included;
 * deep: also what wrappers and shells run.  text (or NULL) sees each text
 * before it is lexed.  The visitor's result, or -1 with *err set.
 */
int		 shell_walk(const char *cmd, int deep, shell_visit visit,
		    int (*text)(void *, struct shell_ctx *, const char *,
		    size_t), void *arg, enum shell_error *err);
/* The commands and substitutions of s[0..len).  l is cleared on error. */
int		 shell_lex(struct shell_ctx *, const char *s, size_t len,
		    struct shell_list *l);
void		 shell_list_clear(struct shell_list *);
/* Spend n of the budget: -1 (ctx->error set) when it is spent. */
int		 shell_charge(struct shell_ctx *, size_t n);

/* Words. */
int		 shell_is_blank(char);
int		 shell_is_meta(char);		/* ends an unquoted word */
int		 shell_is_ident(char);
int		 shell_is_assign(const char *);	/* NAME=..., NAME+=... */
int		 shell_is_opt(const char *);
int		 shell_is_wrapper(const char *name); /* a shell or a wrapper */
const char	*shell_base(const char *);	/* /usr/bin/rm is rm */
int		 shell_in_set(const char *, const char *const *set,
		    size_t n);
int		 shell_harmless_sink(const char *); /* /dev/null, ... */

/* Buffers and string vectors: -1 out of memory. */
int		 shell_buf_add(struct shell_buf *, const char *s, size_t n);
int		 shell_buf_addc(struct shell_buf *, char c);
/* Room for one more element in *v (n used of *cap). */
int		 shell_grow(void *v, size_t *cap, size_t n, size_t size);
/* Appends s, or frees it; s NULL is out of memory. */
int		 shell_strv_push(char ***v, size_t *n, size_t *cap, char *s);
void		 shell_strv_free(char **v, size_t n);

#endif
