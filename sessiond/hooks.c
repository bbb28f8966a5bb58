/*
 * hooks: discovery and parsing of hooks.json (docs/architecture.md, "Hooks").
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "hooks.h"
#include "wsfile.h"

#define HOOKS_FILE_MAX		(1024 * 1024)	/* bigger files are skipped */
#define HOOKS_PLUGIN_DEPTH	3		/* upstream's plugin walk */
/* hookrun turns this into a timeval; more is as good as forever anyway. */
#define HOOKS_TIMEOUT_MAX	(7U * 24 * 3600)

static const char *const hook_names[HOOK_NTYPES] = {
	[HOOK_PRE_TOOL_USE] = "preToolUse",
	[HOOK_POST_TOOL_USE] = "postToolUse",
	[HOOK_USER_PROMPT_SUBMITTED] = "userPromptSubmitted",
	[HOOK_SESSION_START] = "sessionStart",
	[HOOK_SESSION_END] = "sessionEnd",
	[HOOK_ERROR_OCCURRED] = "errorOccurred",
};

int
hook_type_from_name(const char *name)
{
	int	i;

	if (name == NULL)
		return (-1);
	for (i = 0; i < HOOK_NTYPES; i++)
		if (strcmp(hook_names[i], name) == 0)
			return (i);
	return (-1);
}

const char *
hook_type_name(enum hook_type t)
{
	return ((unsigned int)t < HOOK_NTYPES ? hook_names[t] : "?");
}

struct hookset *
hooks_new(void)
{
	struct hookset	*hs;

	if ((hs = calloc(1, sizeof(*hs))) == NULL)
		return (NULL);
	hs->refs = 1;
	return (hs);
}

size_t
hooks_count(const struct hookset *hs)
{
	size_t	i, n = 0;

	if (hs == NULL)
		return (0);
	for (i = 0; i < HOOK_NTYPES; i++)
		n += hs->ncmds[i];
	return (n);
}

struct hookset *
hooks_ref(struct hookset *hs)
{
	if (hs != NULL)
		hs->refs++;
	return (hs);
}

/* Free n strings of v, or up to its NULL when n is (size_t)-1. */
static void
hooks_free_strv(char **v, size_t n)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; n == (size_t)-1 ? v[i] != NULL : i < n; i++)
		free(v[i]);
	free(v);
}

static void
hook_cmd_clear(struct hook_cmd *c)
{
	free(c->script);
	free(c->cwd);
	free(c->file);
	hooks_free_strv(c->env, (size_t)-1);
}

void
hooks_unref(struct hookset *hs)
{
	size_t	t, i;

	if (hs == NULL || --hs->refs > 0)
		return;
	for (t = 0; t < HOOK_NTYPES; t++) {
		for (i = 0; i < hs->ncmds[t]; i++)
			hook_cmd_clear(&hs->cmds[t][i]);
		free(hs->cmds[t]);
	}
	hooks_free_strv(hs->files, hs->nfiles);
	hooks_free_strv(hs->dirs, hs->ndirs);
	free(hs);
}

static int
hooks_oom(char *err, size_t errlen)
{
	snprintf(err, errlen, "out of memory");
	return (-1);
}

/* The directory a hooks.json lives in: what "cwd" is relative to. */
static char *
hooks_dirname(const char *path)
{
	const char	*slash = strrchr(path, '/');

	if (slash == NULL)
		return (strdup("."));
	if (slash == path)
		return (strdup("/"));
	return (strndup(path, (size_t)(slash - path)));
}

/* Append one component to a path being normalized, or pop it for "..". */
static void
hooks_norm_seg(char *out, size_t *n, int abs, const char *seg)
{
	size_t	 k, len = strlen(seg);

	if (strcmp(seg, ".") == 0)
		return;
	if (strcmp(seg, "..") == 0) {
		for (k = *n; k > 0 && out[k - 1] != '/'; k--)
			;
		/* A relative base cannot be shortened past its own "..". */
		if (abs || (*n > 0 && strcmp(out + k, "..") != 0)) {
			*n = k > 0 ? k - 1 : 0;
			return;
		}
	}
	if (abs || *n > 0)
		out[(*n)++] = '/';
	memcpy(out + *n, seg, len);
	*n += len;
}

/*
 * "cwd" against the file's directory, lexically like upstream's
 * path.resolve(), so "." is the directory itself and not "dir/.".
 */
static char *
hooks_resolve(const char *dir, const char *rel)
{
	char	*p, *out, *seg, *save = NULL;
	size_t	 n = 0;
	int	 abs;

	if (rel[0] == '/')
		return (strdup(rel));
	if (asprintf(&p, "%s/%s", dir, rel) == -1)
		return (NULL);
	abs = p[0] == '/';
	if ((out = malloc(strlen(p) + 2)) == NULL) {
		free(p);
		return (NULL);
	}
	for (seg = strtok_r(p, "/", &save); seg != NULL;
	    seg = strtok_r(NULL, "/", &save))
		hooks_norm_seg(out, &n, abs, seg);
	free(p);
	if (n == 0)
		out[n++] = abs ? '/' : '.';
	out[n] = '\0';
	return (out);
}

static unsigned int
hooks_timeout(const json_t *v, const char *tname, const char *path)
{
	double		d;
	unsigned int	s;

	if (v == NULL)
		return (HOOK_TIMEOUT_SEC);
	d = json_is_number(v) ? json_number_value(v) : 0;
	if (!(d > 0)) {
		log_warnx("Invalid timeoutSec for \"%s\" in %s, using %ds",
		    tname, path, HOOK_TIMEOUT_SEC);
		return (HOOK_TIMEOUT_SEC);
	}
	if (d > HOOKS_TIMEOUT_MAX) {
		log_warnx("timeoutSec for \"%s\" in %s too large, using %us",
		    tname, path, HOOKS_TIMEOUT_MAX);
		return (HOOKS_TIMEOUT_MAX);
	}
	/* Round up: 0.5 must not become "no time at all". */
	s = (unsigned int)d;
	return (s < d ? s + 1 : s);
}

/* "env" as "K=V" strings; *out stays NULL when there is nothing usable. */
static int
hooks_env(const json_t *env, const char *tname, const char *path,
    char ***out)
{
	const char	*k;
	json_t		*v;
	char		**e;
	size_t		 n = 0;

	*out = NULL;
	if (env == NULL)
		return (0);
	if (!json_is_object(env)) {
		log_warnx("Invalid env for \"%s\" in %s, ignoring", tname, path);
		return (0);
	}
	if (json_object_size(env) == 0)
		return (0);
	if ((e = calloc(json_object_size(env) + 1, sizeof(*e))) == NULL)
		return (-1);
	json_object_foreach((json_t *)env, k, v) {
		if (!json_is_string(v) || *k == '\0' || strchr(k, '=') != NULL) {
			log_warnx("Invalid env entry \"%s\" for \"%s\" in %s, "
			    "skipping", k, tname, path);
			continue;
		}
		if (asprintf(&e[n], "%s=%s", k, json_string_value(v)) == -1) {
			e[n] = NULL;
			hooks_free_strv(e, (size_t)-1);
			return (-1);
		}
		n++;
	}
	if (n == 0)
		free(e);
	else
		*out = e;
	return (0);
}

/* The script to run, or NULL when the entry is not a valid command. */
static const char *
hooks_script(const json_t *e, int *powershell)
{
	const json_t	*b, *ps;

	if (!json_is_object(e) ||
	    !json_is_string(json_object_get(e, "type")) ||
	    strcmp(json_string_value(json_object_get(e, "type")),
	    "command") != 0)
		return (NULL);
	b = json_object_get(e, "bash");
	ps = json_object_get(e, "powershell");
	*powershell = 0;
	if (json_is_string(b) && json_string_length(b) > 0)
		return (json_string_value(b));
	*powershell = 1;
	if (json_is_string(ps) && json_string_length(ps) > 0)
		return (json_string_value(ps));
	return (NULL);
}

/*
 * One array entry into c.  1: done; 0: invalid, warned and skipped;
 * -1: out of memory (c freed).
 */
static int
hooks_entry(struct hook_cmd *c, const json_t *e, const char *tname,
    const char *path, const char *dir)
{
	const json_t	*cwd;
	const char	*script;

	memset(c, 0, sizeof(*c));
	if ((script = hooks_script(e, &c->powershell)) == NULL) {
		log_warnx("Invalid hook command for \"%s\" in %s, skipping",
		    tname, path);
		return (0);
	}
	cwd = json_object_get(e, "cwd");
	if (cwd != NULL && !json_is_string(cwd))
		log_warnx("Invalid cwd for \"%s\" in %s, using %s", tname,
		    path, dir);
	c->timeout_sec = hooks_timeout(json_object_get(e, "timeoutSec"),
	    tname, path);
	if ((c->script = strdup(script)) == NULL ||
	    (c->file = strdup(path)) == NULL ||
	    (c->cwd = json_is_string(cwd) ? hooks_resolve(dir,
	    json_string_value(cwd)) : strdup(dir)) == NULL ||
	    hooks_env(json_object_get(e, "env"), tname, path, &c->env) == -1) {
		hook_cmd_clear(c);
		return (-1);
	}
	return (1);
}

/* One "<type>": [...] member into the staging table st. */
static int
hooks_parse_type(struct hookset *st, const char *tname, const json_t *arr,
    const char *path, const char *dir)
{
	const json_t	*e;
	size_t		 i;
	int		 t, r;

	if ((t = hook_type_from_name(tname)) == -1) {
		log_warnx("Unknown hook type \"%s\" in %s, skipping", tname,
		    path);
		return (0);
	}
	if (!json_is_array(arr)) {
		log_warnx("Hook type \"%s\" must be an array in %s, skipping",
		    tname, path);
		return (0);
	}
	/* A JSON object has each key once, so a type comes here once. */
	if (json_array_size(arr) == 0)
		return (0);
	if ((st->cmds[t] = calloc(json_array_size(arr),
	    sizeof(*st->cmds[t]))) == NULL)
		return (-1);
	json_array_foreach(arr, i, e) {
		r = hooks_entry(&st->cmds[t][st->ncmds[t]], e, tname, path,
		    dir);
		if (r == -1)
			return (-1);
		st->ncmds[t] += (size_t)r;
	}
	return (0);
}

/*
 * Move every command of src to the end of dst.  All the arrays are grown
 * first, so a failure leaves dst's commands as they were.
 */
static int
hooks_merge(struct hookset *dst, struct hookset *src)
{
	struct hook_cmd	*n;
	size_t		 t;

	for (t = 0; t < HOOK_NTYPES; t++) {
		if (src->ncmds[t] == 0)
			continue;
		if ((n = reallocarray(dst->cmds[t], dst->ncmds[t] +
		    src->ncmds[t], sizeof(*n))) == NULL)
			return (-1);
		dst->cmds[t] = n;
	}
	for (t = 0; t < HOOK_NTYPES; t++) {
		if (src->ncmds[t] == 0)
			continue;
		memcpy(dst->cmds[t] + dst->ncmds[t], src->cmds[t],
		    src->ncmds[t] * sizeof(*src->cmds[t]));
		dst->ncmds[t] += src->ncmds[t];
		src->ncmds[t] = 0;
	}
	return (0);
}

/* Parse the "hooks" object into a staging table, then move it into hs. */
static int
hooks_parse_hooks(struct hookset *hs, const json_t *hooks, const char *path)
{
	struct hookset	*st;
	const char	*tname;
	json_t		*arr;
	char		*dir;
	int		 rv = -1;

	if ((dir = hooks_dirname(path)) == NULL)
		return (-1);
	if ((st = hooks_new()) == NULL) {
		free(dir);
		return (-1);
	}
	json_object_foreach((json_t *)hooks, tname, arr)
		if (hooks_parse_type(st, tname, arr, path, dir) == -1)
			goto done;
	rv = hooks_merge(hs, st);
done:
	hooks_unref(st);
	free(dir);
	return (rv);
}

int
hooks_parse(struct hookset *hs, const char *path, const char *text,
    size_t len, char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*root, *hooks;
	int		 rv;

	if (path == NULL)
		path = "hooks.json";
	if (text == NULL)
		len = 0;
	/* Like JSON.parse, any top-level value is syntactically fine. */
	root = json_loadb(text != NULL ? text : "", len, JSON_DECODE_ANY, &je);
	if (root == NULL) {
		if (json_error_code(&je) == json_error_out_of_memory)
			return (hooks_oom(err, errlen));
		snprintf(err, errlen, "%s:%d:%d: %s", path, je.line,
		    je.column, je.text);
		return (-1);
	}
	hooks = json_is_object(root) ? json_object_get(root, "hooks") : NULL;
	if (!json_is_object(hooks)) {
		log_warnx("Invalid hooks.json format (missing \"hooks\" key): "
		    "%s", path);
		json_decref(root);
		return (0);
	}
	rv = hooks_parse_hooks(hs, hooks, path);
	json_decref(root);
	if (rv == -1)
		return (hooks_oom(err, errlen));
	return (0);
}

/* Discovery (docs/configuration.md, `hooks`). */

/*
 * Read and parse one candidate.  Missing is normal; anything else that
 * keeps it from being read is a warning.  -1: syntax error or ENOMEM.
 */
static int
hooks_load_file(struct hookset *hs, const char *path, char *err,
    size_t errlen)
{
	char	*text;
	size_t	 len;
	int	 rv;

	if ((rv = wsfile_read(path, HOOKS_FILE_MAX, &text, &len)) != 1)
		return (rv == -1 ? hooks_oom(err, errlen) : 0);
	if (hooks_parse(hs, path, text, len, err, errlen) == -1) {
		free(text);
		return (-1);
	}
	free(text);
	if (wsfile_strv_add(&hs->files, &hs->nfiles, path) == -1)
		return (hooks_oom(err, errlen));
	log_debug("hooks: read %s", path);
	return (0);
}

struct hooks_walk {
	struct hookset	*hs;
	char		*err;
	size_t		 errlen;
};

/* One entry of the plugin walk: every hooks.json, its directory watched. */
static int
hooks_walk_entry(void *arg, const char *dir, const char *name,
    const struct stat *st, int depth)
{
	struct hooks_walk	*w = arg;
	char			*path;
	int			 rv;

	if (S_ISDIR(st->st_mode))
		return (1);
	if (strcmp(name, "hooks.json") != 0)
		return (0);
	if (wsfile_watch(&w->hs->dirs, &w->hs->ndirs, dir) == -1 ||
	    (path = wsfile_join(dir, name)) == NULL)
		return (hooks_oom(w->err, w->errlen));
	rv = hooks_load_file(w->hs, path, w->err, w->errlen);
	free(path);
	return (rv);
}

/* Plugins, then the user's file: both live under ~/.copilot. */
static int
hooks_load_home(struct hookset *hs, const char *home, char *err,
    size_t errlen)
{
	struct hooks_walk	 w = { hs, err, errlen };
	char			*copilot, *p = NULL;
	int			 rv = -1;

	if ((copilot = wsfile_join(home, ".copilot")) == NULL)
		return (hooks_oom(err, errlen));
	if (wsfile_watch(&hs->dirs, &hs->ndirs, copilot) == -1 ||
	    (p = wsfile_join(copilot, "installed-plugins")) == NULL) {
		rv = hooks_oom(err, errlen);
		goto done;
	}
	if (wsfile_walk(p, HOOKS_PLUGIN_DEPTH, hooks_walk_entry, &w) == -1) {
		/* A syntax error said so in err; else the walk ran out. */
		if (err[0] == '\0')
			(void)hooks_oom(err, errlen);
		goto done;
	}
	free(p);
	if ((p = wsfile_join(copilot, "hooks.json")) == NULL) {
		rv = hooks_oom(err, errlen);
		goto done;
	}
	rv = hooks_load_file(hs, p, err, errlen);
done:
	free(p);
	free(copilot);
	return (rv);
}

static int
hooks_load_workspace(struct hookset *hs, const char *cwd, char *err,
    size_t errlen)
{
	static const char *const files[] = {
		".github/hooks/hooks.json", ".github/hooks.json", "hooks.json"
	};
	static const char *const dirs[] = { ".", ".github", ".github/hooks" };
	char	*p;
	size_t	 i;
	int	 rv;

	for (i = 0; i < nitems(dirs); i++) {
		if ((p = i == 0 ? strdup(cwd) : wsfile_join(cwd, dirs[i])) ==
		    NULL)
			return (hooks_oom(err, errlen));
		rv = wsfile_watch(&hs->dirs, &hs->ndirs, p);
		free(p);
		if (rv == -1)
			return (hooks_oom(err, errlen));
	}
	for (i = 0; i < nitems(files); i++) {
		if ((p = wsfile_join(cwd, files[i])) == NULL)
			return (hooks_oom(err, errlen));
		rv = hooks_load_file(hs, p, err, errlen);
		free(p);
		if (rv == -1)
			return (-1);
	}
	return (0);
}

struct hookset *
hooks_load(const struct hooks_where *w, char *err, size_t errlen)
{
	struct hookset	*hs;

	if (errlen > 0)
		err[0] = '\0';
	if ((hs = hooks_new()) == NULL) {
		hooks_oom(err, errlen);
		return (NULL);
	}
	if ((w->home != NULL &&
	    hooks_load_home(hs, w->home, err, errlen) == -1) ||
	    (w->workspace && w->cwd != NULL &&
	    hooks_load_workspace(hs, w->cwd, err, errlen) == -1)) {
		hooks_unref(hs);
		return (NULL);
	}
	log_debug("hooks: %zu commands from %zu files", hooks_count(hs),
	    hs->nfiles);
	return (hs);
}
