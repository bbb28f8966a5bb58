/*
 * hooks: hooks.json files in upstream's format (docs/architecture.md,
 * "Hooks"), read into an immutable, reference-counted table that sessiond runs
 * when the Copilot runtime calls hooks.invoke.  A reload builds a new table
 * and swaps it in; a hook run in progress keeps its own reference.
 */
#ifndef SESSIOND_HOOKS_H
#define SESSIOND_HOOKS_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

/* The six types upstream accepts, in its order. */
enum hook_type {
	HOOK_PRE_TOOL_USE,
	HOOK_POST_TOOL_USE,
	HOOK_USER_PROMPT_SUBMITTED,
	HOOK_SESSION_START,
	HOOK_SESSION_END,
	HOOK_ERROR_OCCURRED,
	HOOK_NTYPES
};

#define HOOK_TIMEOUT_SEC	30	/* timeoutSec when absent */

struct hook_cmd {
	char		*script;	/* the "bash" (or "powershell") text */
	int		 powershell;	/* run with powershell -c, not bash -c */
	char		*cwd;		/* absolute; "cwd" against the file's dir */
	unsigned int	 timeout_sec;
	char		**env;		/* "K=V" from "env", NULL-terminated, or NULL */
	char		*file;		/* the hooks.json it came from (logs) */
};

struct hookset {
	int		 refs;
	struct hook_cmd	*cmds[HOOK_NTYPES];
	size_t		 ncmds[HOOK_NTYPES];
	char		**files;	/* files read, lowest priority first */
	size_t		 nfiles;
	char		**dirs;		/* existing directories to watch */
	size_t		 ndirs;
};

/* Where to look (docs/configuration.md, `hooks`). */
struct hooks_where {
	const char	*home;		/* $HOME: plugins and ~/.copilot; NULL: none */
	const char	*cwd;		/* the channel's workingDirectory, or NULL */
	int		 workspace;	/* defaults.allowWorkspaceHooks */
};

int		 hook_type_from_name(const char *);	/* -1 if unknown */
const char	*hook_type_name(enum hook_type);

struct hookset	*hooks_new(void);
/*
 * Parse one file's text and append its commands to hs.  A JSON syntax error
 * returns -1 with err "PATH:LINE:COL: message" and leaves hs unchanged;
 * anything else wrong is skipped with upstream's warning.  -1 also for out
 * of memory (err says so).
 */
int		 hooks_parse(struct hookset *, const char *path, const char *text,
		    size_t len, char *err, size_t errlen);
/*
 * Discover and read every source.  NULL on a syntax error in any file (err
 * as above) or out of memory: the caller keeps its previous table.
 */
struct hookset	*hooks_load(const struct hooks_where *, char *err, size_t errlen);
size_t		 hooks_count(const struct hookset *);	/* commands, all types */
struct hookset	*hooks_ref(struct hookset *);
void		 hooks_unref(struct hookset *);

/*
 * hookrun: run the commands of one type for one hooks.invoke, in order,
 * without blocking the loop.  done is called exactly once, from the loop
 * (never from inside hookrun_start), with the merged output (a new
 * reference the callee owns) or NULL for no opinion.  For preToolUse the
 * first output whose permissionDecision is "deny" or "ask" ends the run.
 */
struct hookrun;
typedef void	(*hookrun_cb)(void *arg, json_t *output);

void		 hookrun_init(struct event_base *);
/* Names of environment variables no hook may see (the bridge's secrets). */
int		 hookrun_set_secrets(const char *const *names, size_t n);
struct hookrun	*hookrun_start(struct hookset *, enum hook_type,
		    const json_t *input, hookrun_cb, void *arg);
/* Kill its processes now; done is not called. */
void		 hookrun_cancel(struct hookrun *);
/* Kill everything still running (shutdown). */
void		 hookrun_shutdown(void);

#endif
